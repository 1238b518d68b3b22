"""The board: the page, and the /board namespace's snapshot, live updates, replay and auth."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from tracker import auth, vacancies
from tracker.extensions import socketio
from tracker.managers import links
from tracker.models import Channel, Role
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD


def received(client, name):
    return [event["args"][0] for event in client.get_received("/board") if event["name"] == name]


def post_form(http, home, nur):
    path = "/h/" + links.link_token(home)
    response = http.post(path, data={"kind-NUR": str(nur), "kind-RES": "0", "admissions": "open", "action": "save"})
    assert response.status_code == 303


def test_the_board_page_needs_a_sign_in(client):
    response = client.get("/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_wrong_password_is_refused_with_a_plain_message(client, coordinator):
    response = client.post("/login", data={"email": coordinator.email, "password": "guess"})
    assert response.status_code == 401
    assert "do not match an active account" in response.get_data(as_text=True)


def test_sign_in_attempts_are_limited_per_connection(frozen_clock, app, make_app, environ, coordinator):
    limited = make_app({**environ, "LOGIN_RATE_LIMIT": "3/minute"}, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    client = limited.test_client()
    wrong = {"email": coordinator.email, "password": "guess"}
    assert [client.post("/login", data=wrong).status_code for _ in range(3)] == [401, 401, 401]
    blocked = client.post("/login", data={"email": coordinator.email, "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.get_data(as_text=True)
    assert client.get("/login").status_code == 200  # the page itself still opens


def test_the_board_page_loads_for_a_coordinator(signed_in):
    page = signed_in.get("/board").get_data(as_text=True)
    assert "Live board" in page and "socket.io.min.js" in page and "West Cornwall Hospital" in page


def test_the_page_tells_the_board_how_often_to_expect_a_tick(signed_in, app):
    app.config["BOARD_TICK_SECONDS"] = 7
    page = signed_in.get("/board").get_data(as_text=True)
    data = json.loads(re.search(r'<script id="board-data" type="application/json">(.*?)</script>', page).group(1))
    assert data["tick_s"] == 7


def test_a_board_gets_a_snapshot_on_connect(board_client, make_home):
    home = make_home()
    record_update(home.id, Change(counts={"NUR": 2, "RES": 1}), channel=Channel.SMS, actor="t")
    board = board_client()
    (snap,) = received(board, "snapshot")
    assert snap["seq"] == 1
    (row,) = snap["homes"]
    assert row["id"] == home.id and row["name"] == "Trelawney House" and row["locality"] == "West Cornwall"
    assert row["kinds"]["NUR"] == {"capacity": 40, "available": 2}
    assert row["confirmed_via"] == "sms" and row["admissions"] == "open"
    assert [k["code"] for k in snap["kinds"]][:2] == ["RES", "NUR"]
    # When its data stops being fresh and verified, by the server's rule: boards do not re-derive it.
    confirmed = datetime.fromisoformat(row["confirmed_at"])
    assert datetime.fromisoformat(row["ageing_at"]) - confirmed == timedelta(hours=24)
    assert datetime.fromisoformat(row["unverified_at"]) - confirmed == timedelta(hours=72)
    assert snap["tick_s"] == 10  # BOARD_TICK_SECONDS: boards judge their own liveness by it


def test_a_form_post_reaches_a_connected_board(board_client, make_home, app):
    home = make_home()
    board = board_client()
    board.get_received("/board")
    post_form(app.test_client(), home, nur=3)
    (update,) = received(board, "update")
    assert update["seq"] == 1
    assert update["home"]["id"] == home.id and update["home"]["kinds"]["NUR"]["available"] == 3
    assert update["home"]["confirmed_via"] == "web"


def test_a_reconnecting_board_gets_exactly_what_it_missed_in_order(board_client, make_home):
    home = make_home()
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.WEB, actor="t")
    first = board_client()
    seen = received(first, "snapshot")[0]["seq"]
    first.disconnect("/board")
    for beds in (2, 3, 4):
        record_update(home.id, Change(counts={"NUR": beds}), channel=Channel.WEB, actor="t")

    again = board_client(auth={"since": seen})
    events = again.get_received("/board")
    assert [e["name"] for e in events] == ["update", "update", "update", "tick"]
    assert [e["args"][0]["seq"] for e in events] == [2, 3, 4, 4]  # the tick: caught up with 4
    assert [e["args"][0]["home"]["kinds"]["NUR"]["available"] for e in events[:3]] == [2, 3, 4]


def test_a_board_up_to_date_gets_only_the_tick_that_says_so_on_reconnect(board_client, make_home):
    home = make_home()
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.WEB, actor="t")
    events = board_client(auth={"since": 1}).get_received("/board")
    assert [(e["name"], e["args"][0]) for e in events] == [("tick", {"seq": 1})]


@pytest.mark.parametrize("since", [-1, 99, "1", None, True])
def test_a_board_with_an_unusable_cursor_gets_a_snapshot(board_client, make_home, since):
    home = make_home()
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.WEB, actor="t")
    events = board_client(auth={"since": since}).get_received("/board")
    assert [e["name"] for e in events] == ["snapshot", "tick"]


def test_a_board_too_far_behind_gets_a_snapshot_instead(board_client, make_home, app):
    app.config["REPLAY_LIMIT"] = 2
    home = make_home()
    for beds in (1, 2, 3):
        record_update(home.id, Change(counts={"NUR": beds}), channel=Channel.WEB, actor="t")
    assert [e["name"] for e in board_client(auth={"since": 0}).get_received("/board")] == ["snapshot", "tick"]
    assert [e["name"] for e in board_client(auth={"since": 1}).get_received("/board")] == ["update", "update", "tick"]


def test_a_board_that_sees_a_gap_asks_for_a_replay(board_client, make_home):
    home = make_home()
    board = board_client()
    board.get_received("/board")
    for beds in (1, 2, 3):
        record_update(home.id, Change(counts={"NUR": beds}), channel=Channel.WEB, actor="t")
    board.get_received("/board")
    board.emit("replay", {"since": 1}, namespace="/board")
    events = board.get_received("/board")
    assert [(e["name"], e["args"][0]["seq"]) for e in events] == [("update", 2), ("update", 3), ("tick", 3)]


def test_a_machine_client_connects_with_an_api_token(app, make_home):
    make_home()
    token = auth.create_token("Hospital system", Role.COORDINATOR)
    board = socketio.test_client(app, namespace="/board", auth={"token": token})
    assert board.is_connected("/board")
    assert received(board, "snapshot")[0]["homes"][0]["name"] == "Trelawney House"


@pytest.mark.parametrize("auth_payload", [None, {}, {"token": "trk_not-a-real-token"}, {"token": 42}])
def test_a_board_without_valid_credentials_is_refused(app, auth_payload):
    board = socketio.test_client(app, namespace="/board", auth=auth_payload)
    assert not board.is_connected("/board")


def test_a_revoked_token_is_refused(app):
    from tracker.db import session
    from tracker.models import ApiToken, utcnow

    token = auth.create_token("Old system", Role.COORDINATOR)
    session.query(ApiToken).one().revoked_at = utcnow()
    session.commit()
    assert not socketio.test_client(app, namespace="/board", auth={"token": token}).is_connected("/board")


# ---- streams: all of England, or one region ---------------------------------------------------


@pytest.fixture
def two_regions(make_home):
    """A home in the coordinator's region (Cornwall, via West Cornwall) and one in another region."""
    from tracker.db import session
    from tracker.models import Locality, Region

    cornwall = make_home(name="Cornish Home", locality="West Cornwall")
    devon = Locality(name="Plymouth", region=Region(name="Devon"))
    session.add(devon)
    session.commit()
    other = make_home(name="Devon Home", locality="Plymouth")
    return cornwall, other


def record(home, beds):
    return record_update(home.id, Change(counts={"NUR": beds}), channel=Channel.WEB, actor="t")


def test_a_coordinator_watches_their_own_region_by_default(board_client, coordinator, two_regions):
    from tracker.db import session

    cornwall, _devon = two_regions
    coordinator.hospital.region_id = cornwall.locality.region_id
    session.commit()
    (snap,) = received(board_client(), "snapshot")
    assert snap["region"] == cornwall.locality.region_id
    assert [h["name"] for h in snap["homes"]] == ["Cornish Home"]


def test_a_regional_board_gets_only_its_region_chained_by_prev(board_client, two_regions):
    cornwall, devon = two_regions
    region = cornwall.locality.region_id
    board = board_client(auth={"region": region})
    national = board_client(auth={"region": "all"})
    board.get_received("/board"), national.get_received("/board")

    record(cornwall, 1), record(devon, 2), record(cornwall, 3)

    regional = received(board, "update")
    assert [(u["seq"], u["prev"]) for u in regional] == [(1, 0), (3, 1)]
    assert [(u["seq"], u["prev"]) for u in received(national, "update")] == [(1, 0), (2, 1), (3, 2)]


def test_a_regional_replay_sends_only_that_region(board_client, two_regions):
    cornwall, devon = two_regions
    region = cornwall.locality.region_id
    record(cornwall, 1)
    record(devon, 2)
    record(cornwall, 3)
    events = board_client(auth={"region": region, "since": 1}).get_received("/board")
    assert [(e["name"], e["args"][0]["seq"], e["args"][0].get("prev")) for e in events] == [
        ("update", 3, 1),
        ("tick", 3, None),  # the region's own cursor
    ]


def test_a_cursor_from_another_stream_gets_a_snapshot(board_client, two_regions):
    cornwall, devon = two_regions
    record(cornwall, 1)
    record(devon, 2)
    record(cornwall, 3)
    # seq 2 belongs to Devon: replaying Cornwall "since 2" could never chain, so start afresh.
    events = board_client(auth={"region": cornwall.locality.region_id, "since": 2}).get_received("/board")
    assert [e["name"] for e in events] == ["snapshot", "tick"]


@pytest.mark.parametrize("region", [999, "Cornwall", 1.5])
def test_an_unknown_region_is_refused_at_connect(board_client, make_home, region):
    make_home()
    assert not board_client(auth={"region": region}).is_connected("/board")


def test_updates_within_the_window_go_as_one_message(board_client, make_app, environ, two_regions):
    from tracker.extensions import socketio

    cornwall, devon = two_regions
    app = make_app(environ, {"TESTING": True, "BOARD_COALESCE_MS": 60_000})  # no timed flush during this test
    with app.app_context():
        national = socketio.test_client(app, namespace="/board", auth={"token": _token(), "region": "all"})
        regional = socketio.test_client(
            app, namespace="/board", auth={"token": _token(), "region": cornwall.locality.region_id}
        )
        national.get_received("/board"), regional.get_received("/board")
        record(cornwall, 1), record(devon, 2), record(cornwall, 3)
        assert national.get_received("/board") == []

        socketio.server.manager.batcher.flush()

        (batch,) = received(national, "updates")
        assert [u["seq"] for u in batch["updates"]] == [1, 2, 3]
        (batch,) = received(regional, "updates")
        assert [(u["seq"], u["prev"]) for u in batch["updates"]] == [(1, 0), (3, 1)]


def _token():
    return auth.create_token("system", Role.COORDINATOR)


def test_a_tick_tells_each_stream_its_latest_seq(board_client, two_regions):
    from tracker.coordinators import board as board_module

    cornwall, devon = two_regions
    record(cornwall, 1), record(devon, 2)
    national = board_client(auth={"region": "all"})
    regional = board_client(auth={"region": devon.locality.region_id})
    national.get_received("/board"), regional.get_received("/board")
    board_module.tick()
    assert received(national, "tick") == [{"seq": 2}]
    assert received(regional, "tick") == [{"seq": 2}]


def test_a_snapshot_shows_each_home_exactly_as_its_updates_do(frozen_clock, board_client, make_home):
    from datetime import date

    from tracker.db import session
    from tracker.models import CareHome

    open_home, closed_home = make_home(name="A Open", phone="01632 960001"), make_home(name="B Closed")
    never = make_home(name="C Never")
    record_update(
        open_home.id, Change(counts={"NUR": 2, "RES": 1}, note="Hoist available"), channel=Channel.SMS, actor="t"
    )
    record_update(
        closed_home.id,
        Change(counts={"NUR": 0, "RES": 0}, admissions="closed", closed_reason="Flu", reopens_on=date(2030, 1, 1)),
        channel=Channel.WEB,
        actor="t",
    )
    (snap,) = received(board_client(auth={"region": "all"}), "snapshot")
    by_id = {h["id"]: h for h in snap["homes"]}
    assert [h["name"] for h in snap["homes"]] == ["A Open", "B Closed", "C Never"]
    for home_id in (open_home.id, closed_home.id, never.id):
        home = session.get(CareHome, home_id)
        session.refresh(home)
        sent = by_id[home_id]
        assert {k: sent[k] for k in vacancies.home_state(home)} == vacancies.home_state(home)
        assert sent["seq"] == home.last_seq and sent["locality"] == "West Cornwall"
        assert sent["confirmed_at"] == (home.confirmed_at.isoformat() if home.confirmed_at else None)
    assert by_id[open_home.id]["phone"] == "01632 960001" and by_id[open_home.id]["confirmed_via"] == "sms"
    assert by_id[never.id]["kinds"]["NUR"] == {"capacity": 40, "available": None}


def test_a_reused_snapshot_is_followed_by_the_updates_since_it(board_client, make_home, app):
    app.config["BOARD_SNAPSHOT_TTL_MS"] = 60_000  # the first board's snapshot is reused by the second
    home = make_home()
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.WEB, actor="t")
    first = received(board_client(auth={"region": "all"}), "snapshot")[0]
    record_update(home.id, Change(counts={"NUR": 2}), channel=Channel.WEB, actor="t")
    record_update(home.id, Change(counts={"NUR": 3}), channel=Channel.WEB, actor="t")

    events = board_client(auth={"region": "all"}).get_received("/board")

    assert [e["name"] for e in events] == ["snapshot", "update", "update", "tick"]
    assert events[0]["args"][0]["seq"] == first["seq"] == 1
    assert [e["args"][0]["seq"] for e in events[1:]] == [2, 3, 3]
    assert events[2]["args"][0]["home"]["kinds"]["NUR"]["available"] == 3


def test_a_tick_waits_behind_updates_still_in_the_window(make_app, environ, make_home):
    from tracker.coordinators import board as board_module
    from tracker.extensions import socketio

    app = make_app(environ, {"TESTING": True, "BOARD_COALESCE_MS": 60_000})
    with app.app_context():
        home = make_home()
        national = socketio.test_client(app, namespace="/board", auth={"token": _token(), "region": "all"})
        national.get_received("/board")
        record(home, 1)
        board_module.tick()  # the cursor says 1, but update 1 is still in the window
        assert national.get_received("/board") == []

        socketio.server.manager.batcher.flush()

        assert [e["name"] for e in national.get_received("/board")] == ["update", "tick"]
