"""The schema comes only from Alembic: it runs clean from empty, matches the models, and downgrades."""

from __future__ import annotations

import itertools
import json
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from alembic import command
from tracker.db import make_engine
from tracker.models import Base

from .conftest import ROOT

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server = request.getfixturevalue("postgres")
    name = f"empty_{next(_names)}"
    server.execute(f"CREATE DATABASE {name}")
    return server.url(name).replace("postgresql://", "postgresql+psycopg://")


def alembic(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["skip_logging"] = True
    return cfg


def test_migrations_run_from_empty_match_the_models_and_downgrade(empty_url):
    command.upgrade(alembic(empty_url), "head")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        command.downgrade(alembic(empty_url), "base")
        assert inspect(engine).get_table_names() == ["alembic_version"]
        command.upgrade(alembic(empty_url), "head")  # and up again, cleanly
    finally:
        engine.dispose()


def test_the_note_age_migration_dates_each_note_from_the_history(empty_url):
    command.upgrade(alembic(empty_url), "0005")
    engine = make_engine(empty_url)
    t = {name: sa.table(name, *(sa.column(c) for c in cols)) for name, cols in _ROWS_0005.items()}
    t["vacancy_update"].append_column(sa.column("state", sa.JSON))
    at = [datetime(2026, 11, day, 9, 0) for day in (20, 21, 22)]
    home = dict(address="", postcode="", locality_id=1, phone="", listed_publicly=True, link_version=1)
    history = dict(home_id=1, region_id=1, region_prev_seq=0, channel="web", actor="t", changed=True)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(t["region"]).values(id=1, name="R"))
            connection.execute(sa.insert(t["locality"]).values(id=1, name="L", region_id=1))
            for home_id, note in ((1, "Hoist"), (2, "No history")):
                row = {**home, "id": home_id, "name": f"H{home_id}", "admissions_open": True, "note": note}
                connection.execute(sa.insert(t["care_home"]).values(**row))
            for seq, (when, note) in enumerate(zip(at, ("Old words", "Hoist", "Hoist"), strict=True), 1):
                values = {**history, "seq": seq, "recorded_at": when, "state": {"note": note}}
                connection.execute(sa.insert(t["vacancy_update"]).values(**values))
        command.upgrade(alembic(empty_url), "head")
        with engine.connect() as connection:
            found = dict(connection.execute(sa.text("SELECT id, note_at FROM care_home ORDER BY id")).all())
        assert {k: v and str(v)[:16] for k, v in found.items()} == {1: "2026-11-21 09:00", 2: None}
    finally:
        engine.dispose()


_ROWS_0005 = {
    "region": ["id", "name"],
    "locality": ["id", "name", "region_id"],
    "care_home": [
        "id",
        "name",
        "address",
        "postcode",
        "locality_id",
        "phone",
        "listed_publicly",
        "link_version",
        "admissions_open",
        "note",
    ],  # fmt: skip
    "vacancy_update": ["seq", "home_id", "region_id", "region_prev_seq", "recorded_at", "channel", "actor", "changed"],
}


def test_the_people_migration_moves_names_and_numbers_into_references_and_keeps_the_guards(empty_url):
    command.upgrade(alembic(empty_url), "0009")
    engine = make_engine(empty_url)
    row = dict(home_id=1, region_id=1, region_prev_seq=0, recorded_at=datetime(2026, 11, 20, 9), changed=True)
    history = [
        ("sms", "Jo (manager) +447700900123"),
        ("voice", "Jo +447700900123 (phone call)"),
        ("sms", "Sam +447700900999"),  # a contact removed since: no one to refer to
        ("api", "Treliske hub (API)"),
        ("web", "manager (web form)"),
    ]
    audit = [
        (1, "Ade <admin@example.nhs.uk>", "home.create", {"name": [None, "H1"]}),
        (None, "command line", "contact.add", {"contact": [None, "Jo (manager) +447700900123"]}),
        (None, "command line", "contact.remove", {"contact": ["+447700900999", None]}),
    ]
    try:
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO region (id, name, last_seq) VALUES (1, 'R', 5)"))
            c.execute(sa.text("INSERT INTO locality (id, name, region_id, escalation_name) VALUES (1, 'L', 1, '')"))
            c.execute(
                sa.text(
                    "INSERT INTO care_home (id, name, address, postcode, locality_id, phone, listed_publicly, "
                    "link_version, admissions_open, note, last_seq, confirmed_by, public_counts, reminders_sent) "
                    "VALUES (1, 'H1', '', '', 1, '', true, 1, true, '', 2, 'Jo +447700900123 (phone call)', false, 0)"
                )
            )
            c.execute(sa.text("INSERT INTO contact (id, home_id, phone, name) VALUES (7, 1, '+447700900123', 'Jo')"))
            c.execute(
                sa.text(
                    "INSERT INTO api_token (id, name, role, token_hash, created_at) "
                    "VALUES (3, 'Treliske hub', 'coordinator', 'x', '2026-11-01 00:00:00')"
                )
            )
            c.execute(
                sa.text(
                    "INSERT INTO user_account (id, email, name, password_hash, role, active) "
                    "VALUES (1, 'admin@example.nhs.uk', 'Ade', '!', 'admin', true)"
                )
            )
            for seq, (channel, actor) in enumerate(history, 1):
                values = {**row, "seq": seq, "channel": channel, "actor": actor, "state": {}}
                c.execute(sa.insert(_history_table).values(**values))
            for user_id, actor, action, changes in audit:
                values = dict(at=datetime(2026, 11, 20, 9), user_id=user_id, actor=actor, action=action)
                values |= dict(target_type="CareHome", target_id=1, target_name="H1", changes=changes, summary="")
                c.execute(sa.insert(_audit_table).values(**values))
        command.upgrade(alembic(empty_url), "head")
        with engine.connect() as c:
            found = c.execute(sa.text("SELECT actor, contact_id, token_id FROM vacancy_update ORDER BY seq")).all()
            events = c.execute(sa.text("SELECT actor, changes FROM audit_event ORDER BY id")).all()
            confirmed_by = c.execute(sa.text("SELECT confirmed_by FROM care_home")).scalar_one()
        assert [tuple(r) for r in found] == [
            ("text message from a contact", 7, None),
            ("phone call from a contact", 7, None),
            ("text message from a contact", None, None),
            ("API token 'Treliske hub'", None, 3),
            ("manager (web form)", None, None),
        ]
        assert confirmed_by == "phone call from a contact"
        changes = [c if isinstance(c, dict) else json.loads(c) for _, c in events]
        assert [a for a, _ in events] == ["signed-in user", "command line", "command line"]
        assert changes[1:] == [{"contact_id": [None, 7]}, {"contact_id": [None, None]}]
        # The tables are append-only again once the migration is done.
        for table in ("vacancy_update", "audit_event"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text(f"UPDATE {table} SET actor = 'someone else'"))
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
                c.execute(sa.text(f"DELETE FROM {table}"))
    finally:
        engine.dispose()


_history_table = sa.table(
    "vacancy_update",
    *(sa.column(c) for c in ("seq", "home_id", "region_id", "region_prev_seq", "channel", "actor", "changed")),
    sa.column("recorded_at", sa.DateTime),
    sa.column("state", sa.JSON),
)
_audit_table = sa.table(
    "audit_event",
    *(sa.column(c) for c in ("user_id", "actor", "action", "target_type", "target_id", "target_name", "summary")),
    sa.column("at", sa.DateTime),
    sa.column("changes", sa.JSON),
)


def test_the_token_hospital_migration_keeps_every_token_with_no_hospital(empty_url):
    command.upgrade(alembic(empty_url), "0011")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO api_token (id, name, role, token_hash, created_at) "
                    "VALUES (1, 'Treliske hub', 'coordinator', :hash, :at)"
                ),
                {"hash": "a" * 64, "at": datetime(2026, 11, 20, 9)},
            )
        command.upgrade(alembic(empty_url), "0013")
        with engine.connect() as c:
            rows = c.execute(sa.text("SELECT id, name, token_hash, hospital_id FROM api_token")).all()
        assert [tuple(r) for r in rows] == [(1, "Treliske hub", "a" * 64, None)]
    finally:
        engine.dispose()
