"""Holds (docs/holds.md): a bed held for a hospital, placed and ended only through the write path."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.test_concurrency import run_concurrently
from tracker import scheduler
from tracker.auth import hash_password
from tracker.availability import countable, held
from tracker.db import session
from tracker.managers import links
from tracker.models import AuditEvent, CareHome, Channel, Hold, HoldEnd, Hospital, Role, Update, User
from tracker.vacancies import Change, HoldRequest, UpdateRejected, record_update

T0 = datetime(2031, 5, 6, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def just_after_t0():
    """Every test here runs a minute after T0, whatever today's date: the board's and the form's
    endpoints read the clock, and the homes here confirmed their numbers at T0."""
    with time_machine.travel(T0 + timedelta(minutes=1), tick=True):
        yield


@pytest.fixture
def hospital():
    found = Hospital(name="Royal Cornwall", site="Truro", latitude=50.27, longitude=-5.09)
    session.add(found)
    session.commit()
    return session.get(Hospital, found.id)


@pytest.fixture
def home(make_home):
    made = make_home(offers={"NUR": 10, "RES": 5})
    record_update(made.id, Change(counts={"NUR": 1, "RES": 0}), channel=Channel.WEB, actor="t", now=T0)
    return session.get(CareHome, made.id)


def hold(home_id, hospital_id, kind="NUR", until=None, now=T0, **kw):
    change = Change(hold=HoldRequest(kind, hospital_id, until))
    return record_update(home_id, change, channel=Channel.WEB, actor="signed-in user", user_id=7, now=now, **kw)


def refusal(call) -> str:
    with pytest.raises(UpdateRejected) as caught:
        call()
    return caught.value.errors["hold"]


def beds(home_id, kind="NUR", now=T0) -> int | None:
    row = session.scalars(select(Update).where(Update.home_id == home_id).order_by(Update.seq.desc())).first()
    state = row.state
    return countable(state["kinds"][kind]["available"], True, True, held(state["holds"], kind, now))


def test_it_holds_a_bed_for_the_default_time_and_counts_it_out(app, home, hospital):
    row = hold(home.id, hospital.id, now=T0 + timedelta(minutes=5))
    (shown,) = row.state["holds"]
    assert shown["kind"] == "NUR" and shown["hospital"] == "Royal Cornwall"
    assert datetime.fromisoformat(shown["until"]) == T0 + timedelta(minutes=5, hours=4)
    assert row.hold_id == shown["id"] and row.changed
    assert beds(home.id) == 0
    # The hold is not the home confirming: its confirmation time stays as it was.
    assert row.state["confirmed_at"] == T0.isoformat()
    stored = session.get(Hold, shown["id"])
    assert (stored.held_by_user_id, stored.hospital_id, stored.ended_at) == (7, hospital.id, None)
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == stored.id)).all() == ["hold.place"]


def test_two_holds_cannot_take_the_last_bed(app, home, hospital):
    hold(home.id, hospital.id)
    assert refusal(lambda: hold(home.id, hospital.id)) == "Trelawney House has no nursing bed left to hold."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (Change(hold=HoldRequest("DNUR", 0)), "does not offer"),
        (Change(hold=HoldRequest("RES", 0)), "has no residential bed left"),
        (Change(hold=HoldRequest("NUR", 0, T0 + timedelta(hours=25))), "at most 24 hours"),
        (Change(hold=HoldRequest("NUR", 0, T0 - timedelta(minutes=1))), "a time still to come"),
        (Change(hold=HoldRequest("NUR", -1)), "Choose the hospital"),
        (Change(hold=HoldRequest("NUR", 0), note="x"), "on its own"),
        (Change(release_hold=999), "no such hold"),
    ],
)
def test_it_refuses_a_hold_it_cannot_place_and_records_nothing(app, home, hospital, change, message):
    if isinstance(change.hold, HoldRequest) and change.hold.hospital_id == 0:
        change = Change(hold=HoldRequest(change.hold.kind, hospital.id, change.hold.until), note=change.note)
    before = session.scalar(select(Update.seq).order_by(Update.seq.desc()).limit(1))
    assert message in refusal(lambda: record_update(home.id, change, channel=Channel.WEB, actor="t", now=T0))
    assert session.scalar(select(Update.seq).order_by(Update.seq.desc()).limit(1)) == before


def test_it_refuses_a_hold_at_a_home_just_closed(app, home, hospital):
    change = Change(admissions="closed", closed_reason="Outbreak")
    record_update(home.id, change, channel=Channel.WEB, actor="t", now=T0)
    assert (
        refusal(lambda: hold(home.id, hospital.id))
        == "Trelawney House is closed to admissions, so no bed can be held there."
    )


def test_it_refuses_a_hold_on_a_bed_just_filled(app, home, hospital):
    record_update(home.id, Change(counts={"NUR": 0}), channel=Channel.WEB, actor="t", now=T0)
    assert "no nursing bed left" in refusal(lambda: hold(home.id, hospital.id))


def test_a_release_frees_the_bed_once(app, home, hospital):
    hold_id = hold(home.id, hospital.id).hold_id
    row = record_update(home.id, Change(release_hold=hold_id), channel=Channel.WEB, actor="t", now=T0)
    assert row.state["holds"] == [] and beds(home.id) == 1
    assert session.get(Hold, hold_id).ended_how == HoldEnd.RELEASED
    again = Change(release_hold=hold_id)
    assert "already ended (released)" in refusal(lambda: record_update(home.id, again, channel=Channel.WEB, actor="t"))


def test_an_admission_ends_the_hold_and_takes_the_bed(app, home, hospital):
    hold_id = hold(home.id, hospital.id).hold_id
    row = record_update(home.id, Change(admit_hold=hold_id), channel=Channel.WEB, actor="t", now=T0)
    assert row.state["holds"] == [] and row.state["kinds"]["NUR"]["available"] == 0
    assert session.get(CareHome, home.id).offer("NUR").available == 0
    assert session.get(Hold, hold_id).ended_how == HoldEnd.ADMITTED
    assert "hold.admit" in session.scalars(select(AuditEvent.action)).all()


def test_a_hold_is_counted_until_its_time_then_expires_exactly_once(app, home, hospital):
    home = type("Ids", (), {"id": home.id})  # the clock's pass ends the session: keep plain ids
    hold_id = hold(home.id, hospital.id, until=T0 + timedelta(hours=2)).hold_id
    assert scheduler.expire_holds(now=T0 + timedelta(hours=1)) == 0
    early = Change(expire_hold=hold_id)
    assert "has not expired" in refusal(lambda: record_update(home.id, early, channel=Channel.CLOCK, actor="c"))
    assert beds(home.id, now=T0 + timedelta(hours=1, minutes=59)) == 0
    assert beds(home.id, now=T0 + timedelta(hours=2)) == 1  # counted out only while it stands

    assert scheduler.expire_holds(now=T0 + timedelta(hours=2, minutes=1)) == 1
    assert scheduler.expire_holds(now=T0 + timedelta(hours=2, minutes=2)) == 0
    rows = session.scalars(select(Update).where(Update.hold_id == hold_id).order_by(Update.seq)).all()
    assert [r.channel for r in rows] == [Channel.WEB, Channel.CLOCK]
    assert rows[-1].state["holds"] == []
    assert session.get(Hold, hold_id).ended_how == HoldEnd.EXPIRED


def test_two_clocks_and_a_release_at_once_end_a_hold_once(app, home, hospital):
    home = type("Ids", (), {"id": home.id})
    hold_id = hold(home.id, hospital.id, until=T0 + timedelta(hours=1)).hold_id
    later = T0 + timedelta(hours=2)

    def act(i):
        if i == 2:
            try:
                record_update(home.id, Change(release_hold=hold_id), channel=Channel.WEB, actor="t", now=later)
                return 1
            except UpdateRejected:
                return 0
        return scheduler.expire_holds(now=later)

    session.remove()  # SQLite: this thread's open transaction would hold the write lock
    assert sum(run_concurrently(app, act, 3)) == 1
    assert session.scalar(select(Update.seq).where(Update.hold_id == hold_id).order_by(Update.seq.desc()).limit(1))
    assert len(session.scalars(select(Update).where(Update.hold_id == hold_id)).all()) == 2


def test_concurrent_coordinators_cannot_both_hold_the_last_bed(app, home, hospital):
    def coordinator(i):
        try:
            return hold(home.id, hospital.id).hold_id
        except UpdateRejected:
            return None

    home, hospital = type("Ids", (), {"id": home.id}), type("Ids", (), {"id": hospital.id})
    session.remove()
    placed = [h for h in run_concurrently(app, coordinator, 6) if h is not None]
    assert len(placed) == 1
    assert session.scalars(select(Hold.id).where(Hold.ended_at.is_(None))).all() == placed


def test_a_holds_board_event_keeps_the_homes_confirmation_and_reminder_flag(app, home, hospital):
    from tracker.coordinators import board

    row = hold(home.id, hospital.id, now=T0 + timedelta(hours=3))
    event = board.update_event(row, regional=False)["home"]
    assert event["confirmed_at"] == T0.isoformat() and "not_answering_since" not in event
    assert [h["hospital"] for h in event["holds"]] == ["Royal Cornwall"]


def test_a_hold_names_its_hospital_by_id_too_in_events_and_snapshots(app, home, hospital):
    """The board matches the viewer's hospital by id to offer Admitted and Release."""
    from tracker.coordinators import board

    row = hold(home.id, hospital.id, now=T0 + timedelta(hours=3))
    (in_event,) = board.update_event(row, regional=False)["home"]["holds"]
    (in_snapshot,) = board.snapshot_homes(None)[0]["holds"]
    assert in_event == in_snapshot
    assert (in_event["hospital_id"], in_event["hospital"]) == (hospital.id, "Royal Cornwall")


def board_data(client) -> dict:
    page = client.get("/board").get_data(as_text=True)
    return json.loads(re.search(r'<script id="board-data" type="application/json">(.*?)</script>', page).group(1))


@pytest.fixture
def admin(client):
    """An administrator signed in: no hospital of their own."""
    session.add(User(email="admin@example.nhs.uk", name="Ade", password_hash=hash_password(PASSWORD), role=Role.ADMIN))
    session.commit()
    assert client.post("/login", data={"email": "admin@example.nhs.uk", "password": PASSWORD}).status_code == 302
    return client


def test_the_board_page_tells_the_hold_buttons_whose_beds_they_hold_and_for_how_long(app, signed_in, coordinator):
    app.config["HOLD_DEFAULT"] = timedelta(hours=2, minutes=30)
    app.config["HOLD_MAX"] = timedelta(hours=12)
    data = board_data(signed_in)
    assert data["holds"] == {
        "admin": False,
        "may_place": True,
        "hospital": "West Cornwall Hospital",
        "default_minutes": 150,
        "hours": [2, 4, 8, 12],  # the durations offered, none past HOLD_MAX
    }
    assert data["own_hospital_id"] == coordinator.hospital_id
    assert 'id="hold-hospital"' not in signed_in.get("/board").get_data(as_text=True)  # a coordinator's is fixed


def test_an_admins_board_offers_every_hospital_to_hold_for(app, admin, hospital):
    data = board_data(admin)
    assert (data["holds"]["admin"], data["holds"]["may_place"], data["own_hospital_id"]) == (True, True, None)
    page = admin.get("/board").get_data(as_text=True)
    chooser = re.search(r'<select id="hold-hospital".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="(\d*)">([^<]*)</option>', chooser) == [
        ("", "Choose a hospital…"),
        (str(hospital.id), "Royal Cornwall"),
    ]
    assert '<label for="hold-hospital">Hold beds for</label>' in page


# ---- from the board -------------------------------------------------------------------------


def test_a_coordinator_holds_a_bed_for_their_own_hospital_and_releases_it(app, signed_in, coordinator, home):
    # The home confirmed at T0, a minute ago on the test's clock: its numbers are verified.
    placed = signed_in.post("/board/holds", data={"home_id": home.id, "kind": "NUR", "hospital_id": "999"})
    assert placed.status_code == 201, placed.json
    assert placed.json["hold"]["hospital"] == "West Cornwall Hospital"
    again = signed_in.post("/board/holds", data={"home_id": home.id, "kind": "NUR"})
    assert (again.status_code, again.json["error"]) == (409, "Trelawney House has no nursing bed left to hold.")
    hold_id = placed.json["hold"]["id"]
    assert signed_in.post(f"/board/holds/{hold_id}/release").status_code == 200
    ended = signed_in.post(f"/board/holds/{hold_id}/release")
    assert (ended.status_code, ended.json["error"]) == (409, "That hold has already ended (released).")


def test_a_coordinator_cannot_end_another_hospitals_hold(app, signed_in, coordinator, home, hospital):
    hold_id = hold(home.id, hospital.id).hold_id
    refused = signed_in.post(f"/board/holds/{hold_id}/admit")
    assert (refused.status_code, refused.json["error"]) == (404, "There is no such hold for your hospital.")
    assert session.get(Hold, hold_id).ended_at is None


def test_an_admin_holds_for_the_hospital_they_name_for_the_hours_they_choose(app, admin, home, hospital):
    unnamed = admin.post("/board/holds", data={"home_id": home.id, "kind": "NUR", "hours": "8"})
    assert (unnamed.status_code, unnamed.json["error"]) == (400, "Choose the hospital the bed is held for.")
    chosen = {"home_id": home.id, "kind": "NUR", "hours": "8", "hospital_id": hospital.id}
    placed = admin.post("/board/holds", data=chosen)
    assert placed.status_code == 201, placed.json
    stored = session.get(Hold, placed.json["hold"]["id"])
    lasts = stored.until - stored.created_at  # both read the clock, which ticks on between them
    assert stored.hospital_id == hospital.id and timedelta(hours=8) - timedelta(seconds=1) < lasts <= timedelta(hours=8)


def test_holding_from_the_board_needs_a_sign_in_and_the_csrf_token(app, client, home):
    assert client.post("/board/holds", data={"home_id": home.id, "kind": "NUR"}).status_code == 302
    assert FlaskClient(app).post("/board/holds", data={"home_id": home.id, "kind": "NUR"}).status_code == 400


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "NUR"}, "Choose the care home."),
        ({"home_id": "x", "kind": "NUR"}, "Choose the care home."),
        ({"home_id": "HOME", "kind": "NUR", "hours": "0"}, "Hold for 1 to 24 hours."),
        ({"home_id": "HOME", "kind": "NUR", "hours": "four"}, "Hold for a whole number of hours, like 4."),
    ],
)
def test_it_refuses_a_malformed_hold_from_the_board(app, signed_in, home, data, message):
    data = {k: str(home.id) if v == "HOME" else v for k, v in data.items()}
    refused = signed_in.post("/board/holds", data=data)
    assert (refused.status_code, refused.json["error"]) == (400, message)


def test_the_board_admits_and_every_board_hears_the_hold_and_its_end(app, signed_in, board_client, home):
    board = board_client()
    board.get_received("/board")
    hold_id = signed_in.post("/board/holds", data={"home_id": home.id, "kind": "NUR", "hours": "2"}).json["hold"]["id"]
    assert signed_in.post(f"/board/holds/{hold_id}/admit").status_code == 200
    updates = [e["args"][0] for e in board.get_received("/board") if e["name"] == "update"]
    assert [[h["id"] for h in u["home"]["holds"]] for u in updates] == [[hold_id], []]
    assert updates[-1]["home"]["kinds"]["NUR"]["available"] == 0
    # A board reconnecting from before the hold replays both.
    first = updates[0]["seq"] - 1
    replayed = [
        e["args"][0] for e in board_client(auth={"since": first}).get_received("/board") if e["name"] == "update"
    ]
    assert [u["home"]["holds"] for u in replayed] == [u["home"]["holds"] for u in updates]


# ---- from the home's form --------------------------------------------------------------------


def form_path(home) -> str:
    return "/h/" + links.link_token(home)


def test_the_homes_form_lists_its_holds_and_releases_one(app, client, home, hospital):
    hold_id = hold(home.id, hospital.id, until=datetime(2031, 5, 6, 15, 0, tzinfo=UTC)).hold_id
    page = client.get(form_path(home)).get_data(as_text=True)
    assert "1 nursing bed held for Royal Cornwall until 16:00 on Tuesday 6 May 2031" in page
    assert f'action="{form_path(home)}/holds/{hold_id}/release"' in page
    released = client.post(f"{form_path(home)}/holds/{hold_id}/release")
    assert released.status_code == 303
    assert released.location == f"{form_path(home)}?released={hold_id}"
    after = client.get(released.location).get_data(as_text=True)
    assert "The hold was released" in after and "held for Royal Cornwall" not in after
    stored = session.get(Hold, hold_id)
    assert stored.ended_how is HoldEnd.RELEASED
    row = session.scalars(select(Update).where(Update.hold_id == hold_id).order_by(Update.seq.desc())).first()
    assert (row.channel, row.actor, row.state["holds"]) == (Channel.WEB, "manager (web form)", [])


def test_the_form_refuses_to_release_an_ended_hold_or_another_homes(app, client, home, hospital, make_home):
    other = make_home(name="Penrose Court", offers={"NUR": 3})
    record_update(other.id, Change(counts={"NUR": 1}), channel=Channel.WEB, actor="t", now=T0)
    theirs = hold(other.id, hospital.id).hold_id
    mine = hold(home.id, hospital.id).hold_id
    record_update(home.id, Change(release_hold=mine), channel=Channel.WEB, actor="t", now=T0)
    before = session.scalar(select(func.count()).select_from(Update))
    elsewhere = "There is no such hold at this home."
    for hold_id, message in (
        (mine, "That hold has already ended (released)."),
        (theirs, elsewhere),
        (99999, elsewhere),
    ):
        refused = client.post(f"{form_path(home)}/holds/{hold_id}/release")
        assert refused.status_code == 409
        assert message in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Update)) == before
    assert session.get(Hold, theirs).ended_at is None


def test_releasing_from_the_form_needs_the_csrf_token_and_a_good_link(app, client, home, hospital):
    hold_id = hold(home.id, hospital.id).hold_id
    expired = FlaskClient(app).post(f"{form_path(home)}/holds/{hold_id}/release")
    assert expired.status_code == 400
    page = expired.get_data(as_text=True)
    assert "the hold was not released. Press Release again." in page
    assert 'value="1" data-max="10"' in page  # the recorded numbers, not empty boxes
    assert client.post(f"/h/not-a-link/holds/{hold_id}/release").status_code == 404
    assert session.get(Hold, hold_id).ended_at is None
