"""`flask seed-demo`: a believable Cornwall and Isles of Scilly region, never in production."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tracker.admin import demo
from tracker.availability import Freshness, freshness
from tracker.db import session
from tracker.models import CareHome, Hospital, OutboundMessage, Update

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_it_loads_a_region_with_fresh_ageing_stale_and_closed_homes(app):
    demo.seed(NOW)
    homes = session.scalars(select(CareHome)).all()
    assert 70 <= len(homes) <= 90
    assert {h.locality.name for h in homes} >= {"West Cornwall", "Mid Cornwall", "East Cornwall", "Isles of Scilly"}
    assert any(h.postcode.startswith("TR21") for h in homes)  # St Mary's
    config = app.config
    ages = Counter(freshness(h.confirmed_at, NOW, config["AGEING_AFTER"], config["UNVERIFIED_AFTER"]) for h in homes)
    assert ages[Freshness.FRESH] > ages[Freshness.AGEING] > 0 and ages[Freshness.UNVERIFIED] > 0
    assert any(not h.admissions_open and h.closed_reason for h in homes)
    for home in homes:
        assert 5 <= sum(o.capacity for o in home.offers) <= 80
        assert all(o.available is None or 0 <= o.available <= o.capacity for o in home.offers)
    assert session.scalar(select(func.count()).select_from(Hospital)) == 4


def test_it_arrives_with_the_chaser_lived_in_escalating_only_homes_that_do_not_answer(app):
    demo.seed(NOW)
    homes = session.scalars(select(CareHome)).all()
    escalated = [h for h in homes if h.escalated_at]
    assert escalated and all(h.confirmed_at is None or NOW - h.confirmed_at > timedelta(hours=36) for h in escalated)
    assert any(h.reminders_sent and not h.escalated_at for h in homes)
    assert all(h.locality.escalation_phone for h in homes)
    sent = session.scalars(select(OutboundMessage)).all()
    assert {m.purpose for m in sent} == {"reminder", "escalation"}
    assert len({m.dedupe_key for m in sent}) == len(sent)  # no home got the same reminder twice


def test_its_history_went_through_the_write_path_in_time_order(app):
    demo.seed(NOW)
    rows = session.scalars(select(Update).order_by(Update.seq)).all()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert [r.recorded_at for r in rows] == sorted(r.recorded_at for r in rows)


def test_seed_demo_prints_the_sign_ins_and_is_a_no_op_when_asked_if_empty(runner):
    first = runner.invoke(args=["seed-demo", "--if-empty"])
    assert first.exit_code == 0 and "treliske@demo.tracker.nhs.uk" in first.output and "demo-password" in first.output
    count = session.scalar(select(func.count()).select_from(CareHome))
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "The demo region is loaded" in again.output
    assert session.scalar(select(func.count()).select_from(CareHome)) == count
    assert runner.invoke(args=["seed-demo"]).exit_code == 1


def test_it_never_runs_in_production(make_app, environ):
    app = make_app({**environ, "TRACKER_ENV": "production", "PUBLIC_BASE_URL": "https://beds.example"})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["seed-demo"])
        assert result.exit_code == 1 and "Refusing to load demo data" in result.output
        assert session.scalar(select(func.count()).select_from(CareHome)) == 0
