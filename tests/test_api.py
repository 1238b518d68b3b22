"""REST API v1 (/api/v1): tokens and scopes, reading homes with freshness, recording through the
write path, history and the update stream, and problem+json errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tracker.auth import create_token
from tracker.db import session
from tracker.models import ApiToken, Channel, Hold, Role, Update, utcnow
from tracker.vacancies import Change, HoldRequest, record_update

from .test_request_api import a_home_to_ask, answer, ask

PROBLEM = "application/problem+json"
JSON = "application/json"
HUGE = "9" * 5000  # past the 4,300 digits Python's int() takes


@pytest.fixture
def homes(make_home):
    west = make_home(name="Chy Lowen", offers={"NUR": 30, "RES": 10})
    east = make_home(name="Trevose House", offers={"RES": 20}, locality="East Cornwall")
    return west, east


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def hub():
    return bearer(create_token("Treliske hub system", Role.COORDINATOR))


def record(home, at=None, **counts):
    return record_update(home.id, Change(counts=counts), channel=Channel.WEB, actor="manager", now=at)


# ---- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer trk_not-a-real-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
def test_a_request_without_a_valid_token_is_refused_as_problem_json(client, homes, headers):
    response = client.get("/api/v1/homes", headers=headers)
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert response.json["detail"].startswith("Send a valid API token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_refused(client, homes):
    token = create_token("old system", Role.COORDINATOR)
    session.scalars(select(ApiToken)).one().revoked_at = utcnow()
    session.commit()
    assert client.get("/api/v1/homes", headers=bearer(token)).status_code == 401


def test_a_token_for_one_home_sees_and_updates_only_that_home(client, homes):
    west, east = homes
    own = bearer(create_token("Chy Lowen's system", Role.COORDINATOR, home_id=west.id))
    listed = client.get("/api/v1/homes", headers=own).json
    assert [h["id"] for h in listed["homes"]] == [west.id]
    assert client.get(f"/api/v1/homes/{east.id}", headers=own).status_code == 403
    refused = client.post(f"/api/v1/homes/{east.id}/updates", json={"counts": {"RES": 1}}, headers=own)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert client.post(f"/api/v1/homes/{west.id}/updates", json={"counts": {"NUR": 1}}, headers=own).status_code == 201


# ---- reading ---------------------------------------------------------------------------------


def test_homes_come_with_availability_and_how_fresh_each_is(client, homes, hub):
    west, east = homes
    record(west, NUR=2, RES=0)
    record(east, at=utcnow() - timedelta(hours=80), RES=5)
    body = client.get("/api/v1/homes", headers=hub).json
    by_name = {h["name"]: h for h in body["homes"]}
    assert body["total"] == 2 and body["seq"] == 2
    chy = by_name["Chy Lowen"]
    assert chy["freshness"] == "fresh" and chy["confirmed_via"] == "web" and chy["age_seconds"] < 60
    assert {k["code"]: k["available"] for k in chy["kinds"]} == {"NUR": 2, "RES": 0}
    assert by_name["Trevose House"]["freshness"] == "unverified"


def test_homes_filter_as_on_the_board(client, homes, hub):
    west, east = homes
    record(west, NUR=2, RES=0)
    record(east, at=utcnow() - timedelta(hours=80), RES=5)  # beds, but unverified: never counted

    def names(query):
        return [h["name"] for h in client.get(f"/api/v1/homes?{query}", headers=hub).json["homes"]]

    assert names("with_vacancies=true") == ["Chy Lowen"]
    assert names("kind=RES") == ["Chy Lowen", "Trevose House"]
    assert names("kind=RES&with_vacancies=true") == []
    assert names("hide_unverified=1") == ["Chy Lowen"]
    assert names(f"locality={east.locality_id}") == ["Trevose House"]
    assert names("limit=1&offset=1") == ["Trevose House"]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("limit=0", "limit: from 1 to 1000."),
        ("limit=ten", "limit='ten': expected a whole number."),
        ("with_vacancies=maybe", "with_vacancies='maybe': expected true or false."),
        ("kind=XYZ", "kind: there is no kind of care 'XYZ'"),
        ("colour=blue", "Unknown query parameter 'colour'"),
        ("offset=-1", "offset and since cannot be negative."),
        ("region=99999999999", "expected a whole number up to 2147483647"),
        ("region=1_000", "region='1_000': expected a whole number."),
        ("region=%D9%A3", "region='\u0663': expected a whole number."),
        (f"limit={HUGE}", "limit: at most 100 characters."),
        (f"offset={HUGE}", "offset: at most 100 characters."),
        (f"kind={'N' * 5000}", "kind: at most 100 characters."),
    ],
)
def test_a_bad_parameter_gets_400_with_a_plain_message(client, homes, hub, query, detail):
    response = client.get(f"/api/v1/homes?{query}", headers=hub)
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert detail in response.json["detail"]


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/updates?since={HUGE}",
        f"/api/v1/homes/1/history?since={HUGE}",
        f"/api/v1/fhir/Location?region={HUGE}",
        f"/api/v1/fhir/HealthcareService?locality={HUGE}",
    ],
)
def test_a_number_of_thousands_of_digits_is_400_on_every_operation(client, homes, hub, url):
    response = client.get(url, headers=hub)
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.json["detail"].endswith("at most 100 characters.")


def test_an_unknown_home_or_path_or_method_is_problem_json(client, homes, hub):
    missing = client.get("/api/v1/homes/9999", headers=hub)
    assert missing.status_code == 404 and missing.json["detail"] == "There is no care home 9999."
    assert client.get("/api/v1/nothing-here", headers=hub).mimetype == PROBLEM
    wrong = client.delete(f"/api/v1/homes/{homes[0].id}", headers=hub)
    assert wrong.status_code == 405 and wrong.mimetype == PROBLEM and "GET" in wrong.headers["Allow"]


# ---- writing ---------------------------------------------------------------------------------


def test_an_update_goes_through_the_write_path_and_reaches_boards(client, homes, hub, board_client):
    west, _ = homes
    board = board_client()
    board.get_received("/board")
    response = client.post(
        f"/api/v1/homes/{west.id}/updates", json={"counts": {"NUR": 3}, "note": "Hoist"}, headers=hub
    )
    assert response.status_code == 201
    body = response.json
    assert body["channel"] == "api" and body["actor"] == "API token 'Treliske hub system'" and body["changed"]
    assert body["state"]["kinds"]["NUR"]["available"] == 3 and body["state"]["note"] == "Hoist"
    (row,) = session.scalars(select(Update)).all()
    assert row.seq == body["seq"]
    (event,) = [e["args"][0] for e in board.get_received("/board") if e["name"] == "update"]
    assert event["seq"] == body["seq"]


def test_an_empty_update_confirms_no_change(client, homes, hub):
    west, _ = homes
    record(west, NUR=2, RES=0)
    body = client.post(f"/api/v1/homes/{west.id}/updates", json={}, headers=hub).json
    assert body["changed"] is False and body["state"]["kinds"]["NUR"]["available"] == 2


def test_an_update_sent_twice_with_one_idempotency_key_is_recorded_once(client, homes, hub):
    west, _ = homes
    headers = {**hub, "Idempotency-Key": "retry-7"}
    first = client.post(f"/api/v1/homes/{west.id}/updates", json={"counts": {"NUR": 1}}, headers=headers).json
    again = client.post(f"/api/v1/homes/{west.id}/updates", json={"counts": {"NUR": 1}}, headers=headers).json
    assert first["seq"] == again["seq"] and len(session.scalars(select(Update)).all()) == 1


def test_a_true_retry_spelt_differently_is_still_the_same_request(client, homes, hub):
    west, _ = homes
    headers = {**hub, "Idempotency-Key": "retry-8"}
    url = f"/api/v1/homes/{west.id}/updates"
    first = client.post(url, data='{"counts": {"NUR": 1}, "note": "Hoist"}', headers=headers, content_type=JSON)
    again = client.post(url, data='{"note":"Hoist","counts":{"NUR":1}}', headers=headers, content_type=JSON)
    assert again.status_code == 201 and again.json == first.json


@pytest.mark.parametrize(
    "second",
    [
        pytest.param({"home": "east", "body": {"counts": {"RES": 4}}}, id="another home"),
        pytest.param({"home": "west", "body": {"counts": {"NUR": 5}}}, id="another body"),
        pytest.param({"home": "west", "body": {"counts": {"NUR": 1}, "note": "Hoist"}}, id="a field added"),
    ],
)
def test_an_idempotency_key_reused_for_another_request_is_422_and_records_nothing(client, homes, hub, second):
    west, east = homes
    headers = {**hub, "Idempotency-Key": "retry-9"}
    first = client.post(f"/api/v1/homes/{west.id}/updates", json={"counts": {"NUR": 1}}, headers=headers)
    assert first.status_code == 201

    home = {"west": west, "east": east}[second["home"]]
    reused = client.post(f"/api/v1/homes/{home.id}/updates", json=second["body"], headers=headers)
    assert reused.status_code == 422 and reused.mimetype == PROBLEM
    assert reused.json["detail"].startswith("Nothing was recorded: Idempotency-Key 'retry-9'")
    assert "a new update needs a new key" in reused.json["errors"]["Idempotency-Key"]
    session.expire_all()
    assert [u.seq for u in session.scalars(select(Update))] == [first.json["seq"]]
    assert {o.kind_code: o.available for o in session.get(type(east), east.id).offers} == {"RES": None}
    assert session.get(type(west), west.id).offer("NUR").available == 1


def test_the_same_key_from_another_token_is_another_request(client, homes, hub):
    west, _ = homes
    other = bearer(create_token("Derriford hub system", Role.COORDINATOR))
    url = f"/api/v1/homes/{west.id}/updates"
    first = client.post(url, json={"counts": {"NUR": 1}}, headers={**hub, "Idempotency-Key": "k1"})
    second = client.post(url, json={"counts": {"NUR": 2}}, headers={**other, "Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 201 and second.json["seq"] == first.json["seq"] + 1


def test_a_key_whose_request_was_refused_is_free_for_the_corrected_one(client, homes, hub):
    west, _ = homes
    headers = {**hub, "Idempotency-Key": "fix-me"}
    url = f"/api/v1/homes/{west.id}/updates"
    assert client.post(url, json={"counts": {"NUR": 99}}, headers=headers).status_code == 422
    assert client.post(url, json={"counts": {"NUR": 9}}, headers=headers).status_code == 201


def test_an_update_the_write_path_refuses_is_422_with_every_reason_and_nothing_recorded(client, homes, hub):
    west, _ = homes
    body = {"counts": {"NUR": 99, "MH": 1}, "admissions": "closed"}
    response = client.post(f"/api/v1/homes/{west.id}/updates", json=body, headers=hub)
    assert response.status_code == 422 and response.mimetype == PROBLEM
    errors = response.json["errors"]
    assert "no more than 30 can be free" in errors["NUR"] and "does not offer" in errors["MH"]
    assert "Say why admissions are closed" in errors["closed_reason"]
    assert session.scalars(select(Update)).all() == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("not json", "Send a JSON object"),
        ([1, 2], "Send a JSON object"),
        ({"counts": {"NUR": "2"}}, "counts: an object of whole numbers"),
        ({"counts": {"NUR": True}}, "counts: an object of whole numbers"),
        ({"beds": 2}, "Unknown field(s): beds"),
        ({"note": 5}, "note: expected a string."),
        ('{"counts": {"NUR": ' + HUGE + "}}", "The body is not valid JSON: send a JSON object."),
        ("[" * 100_000 + "]" * 100_000, "The body is nested too deeply: send a flat JSON object."),
        ('{"counts": ' + '{"a": ' * 5000 + "1" + "}" * 5001, "The body is nested too deeply"),
        ('{"counts": {"NUR": 1}', "The body is not valid JSON (Expecting ',' delimiter at line 1, column 22)"),
        (b'{"note": "\xff"}', "The body is not valid JSON"),
    ],
)
def test_a_malformed_body_is_400_and_records_nothing(client, homes, hub, body, detail):
    west, _ = homes
    if body == "not json":
        kwargs = {"data": body, "content_type": "text/plain"}
    elif isinstance(body, str | bytes):
        kwargs = {"data": body, "content_type": JSON}
    else:
        kwargs = {"json": body}
    response = client.post(f"/api/v1/homes/{west.id}/updates", headers=hub, **kwargs)
    assert response.status_code == 400 and detail in response.json["detail"]
    assert session.scalars(select(Update)).all() == []


# ---- history and the stream ------------------------------------------------------------------


def test_a_homes_history_and_the_stream_since_a_seq(client, homes, hub):
    west, east = homes
    record(west, NUR=1, RES=0)
    record(east, RES=2)
    record(west, NUR=0, RES=0)
    history = client.get(f"/api/v1/homes/{west.id}/history", headers=hub).json
    assert [u["seq"] for u in history["updates"]] == [1, 3]
    assert [u["seq"] for u in client.get(f"/api/v1/homes/{west.id}/history?since=1", headers=hub).json["updates"]] == [
        3
    ]

    page = client.get("/api/v1/updates?since=0&limit=2", headers=hub).json
    assert [u["seq"] for u in page["updates"]] == [1, 2] and page["more"] and page["next_since"] == 2
    rest = client.get(f"/api/v1/updates?since={page['next_since']}", headers=hub).json
    assert [u["seq"] for u in rest["updates"]] == [3] and not rest["more"] and rest["latest_seq"] == 3
    nothing = client.get("/api/v1/updates?since=3", headers=hub).json
    assert nothing["updates"] == [] and nothing["next_since"] == 3


# ---- the contract ----------------------------------------------------------------------------


def test_the_openapi_document_and_the_human_docs_need_no_token(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.") and "/homes/{home_id}/updates" in spec["paths"]
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "POST /homes/{home_id}/updates" in page and "Idempotency-Key" in page


# ---- rate limits -----------------------------------------------------------------------------


@pytest.fixture
def limited(make_app, environ):
    app = make_app({**environ, "API_RATE_LIMIT": "3/minute"}, {"TESTING": True})
    with app.app_context():
        yield app


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(frozen_clock, limited, make_home):
    make_home()
    client = limited.test_client()
    token = bearer(create_token("busy system", Role.COORDINATOR))
    other = bearer(create_token("quiet system", Role.COORDINATOR))
    assert [client.get("/api/v1/homes", headers=token).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/homes", headers=token)
    assert refused.status_code == 429 and refused.mimetype == PROBLEM
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/api/v1/homes", headers=other).status_code == 200  # each token has its own budget


def test_inventing_tokens_buys_no_extra_requests(frozen_clock, limited):
    client = limited.test_client()
    answers = [client.get("/api/v1/homes", headers=bearer(f"trk_made-up-{i}")).status_code for i in range(4)]
    assert answers == [401, 401, 401, 429]


# ---- holds -----------------------------------------------------------------------------------


@pytest.fixture
def hospital():
    from tracker.models import Hospital

    found = Hospital(name="Royal Cornwall Hospital", site="Truro", latitude=50.27, longitude=-5.09)
    session.add(found)
    session.commit()
    return found.id


@pytest.fixture
def ward(hospital):
    """A hospital's discharge system: its token holds beds for that hospital."""
    return bearer(create_token("Treliske discharge system", Role.COORDINATOR, hospital_id=hospital))


@pytest.fixture
def admin():
    return bearer(create_token("Operations desk", Role.ADMIN))


def test_a_hospitals_system_holds_a_bed_lists_it_and_releases_it(client, homes, ward, hospital):
    west, east = homes
    record(west, NUR=1, RES=0)
    placed = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hours": 2, "hospital_id": hospital},
                         headers=ward)  # fmt: skip
    assert placed.status_code == 201, placed.json
    assert (placed.json["kind"], placed.json["hospital"], placed.json["ended_at"]) == ("NUR", "Royal Cornwall Hospital",
                                                                                      None)  # fmt: skip
    hold_id = placed.json["id"]
    row = session.get(Update, placed.json["seq"])
    assert (row.channel, row.actor, row.hold_id) == (Channel.API, "API token 'Treliske discharge system'", hold_id)
    # One shape for a hold: every key the home's state (and so every board) carries, with the same values.
    (in_state,) = row.state["holds"]
    assert {key: placed.json[key] for key in in_state} == in_state
    assert set(in_state) == {"id", "kind", "hospital", "until", "hospital_id"}
    listed = client.get(f"/api/v1/holds?home={west.id}", headers=ward).json["holds"]
    assert [h["id"] for h in listed] == [hold_id]
    assert client.get(f"/api/v1/holds?home={east.id}", headers=ward).json["holds"] == []
    nur = next(k for k in client.get(f"/api/v1/homes/{west.id}", headers=ward).json["kinds"] if k["code"] == "NUR")
    assert (nur["held"], nur["countable"]) == (1, 0)
    # The last bed is held: a second hold is refused with the write path's words.
    again = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hospital_id": hospital}, headers=ward)
    assert again.status_code == 409 and again.mimetype == PROBLEM
    assert again.json["detail"] == "Chy Lowen has no nursing bed left to hold."
    released = client.post(f"/api/v1/holds/{hold_id}/release", headers=ward)
    assert (released.status_code, released.json["ended_how"]) == (200, "released")
    assert client.get("/api/v1/holds", headers=ward).json["holds"] == []
    twice = client.post(f"/api/v1/holds/{hold_id}/release", headers=ward)
    assert (twice.status_code, twice.json["detail"]) == (409, "That hold has already ended (released).")


def test_admitting_through_the_api_ends_the_hold_and_counts_one_fewer_bed(client, homes, ward, hospital):
    west, _ = homes
    record(west, NUR=2, RES=0)
    hold_id = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hospital_id": hospital},
                          headers=ward).json["id"]  # fmt: skip
    admitted = client.post(f"/api/v1/holds/{hold_id}/admit", headers=ward)
    assert (admitted.status_code, admitted.json["ended_how"]) == (200, "admitted")
    assert session.get(Update, admitted.json["seq"]).state["kinds"]["NUR"]["available"] == 1


def test_a_homes_token_sees_and_releases_only_its_own_holds_and_cannot_hold_or_admit(client, homes, ward, hospital):
    west, east = homes
    record(west, NUR=1, RES=0)
    record(east, RES=1)
    west_hold = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hospital_id": hospital},
                            headers=ward).json["id"]  # fmt: skip
    east_hold = client.post(f"/api/v1/homes/{east.id}/holds", json={"kind": "RES", "hospital_id": hospital},
                            headers=ward).json["id"]  # fmt: skip
    mine = bearer(create_token("Trevose House system", Role.COORDINATOR, home_id=east.id))
    assert [h["id"] for h in client.get("/api/v1/holds", headers=mine).json["holds"]] == [east_hold]
    assert client.post(f"/api/v1/holds/{west_hold}/release", headers=mine).status_code == 404
    assert client.post(f"/api/v1/holds/{east_hold}/admit", headers=mine).status_code == 403
    refused = client.post(f"/api/v1/homes/{east.id}/holds", json={"kind": "RES", "hospital_id": hospital}, headers=mine)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert client.post(f"/api/v1/holds/{east_hold}/release", headers=mine).status_code == 200
    assert session.get(Hold, west_hold).ended_at is None


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"kind": "NUR"}, 400, "hospital_id: the id of the hospital"),
        ({"kind": "NUR", "hospital_id": "1"}, 400, "hospital_id: the id of the hospital"),
        ({"kind": 3, "hospital_id": 1}, 400, "kind: the kind of care"),
        ({"kind": "NUR", "hospital_id": 1, "hours": 0}, 400, "hours: a whole number from 1 to 24"),
        ({"kind": "NUR", "hospital_id": 1, "hours": True}, 400, "hours: a whole number from 1 to 24"),
        ({"kind": "NUR", "hospital_id": 1, "who": "x"}, 400, "Unknown field(s): who."),
        ({"kind": "DNUR", "hospital_id": 1}, 409, "does not offer"),
        ({"kind": "NUR", "hospital_id": 999}, 409, "Choose the hospital the bed is held for."),
    ],
)
def test_a_bad_hold_request_is_refused_and_holds_nothing(client, homes, admin, hospital, body, status, detail):
    west, _ = homes
    record(west, NUR=1, RES=0)
    body = {**body, "hospital_id": hospital} if body.get("hospital_id") == 1 else body
    refused = client.post(f"/api/v1/homes/{west.id}/holds", json=body, headers=admin)
    assert (refused.status_code, refused.mimetype) == (status, PROBLEM)
    assert detail in refused.json["detail"]
    assert session.scalars(select(Hold)).all() == []


def test_an_unknown_hold_is_404(client, homes, ward):
    for verb in ("release", "admit"):
        missing = client.post(f"/api/v1/holds/424242/{verb}", headers=ward)
        assert (missing.status_code, missing.mimetype, missing.json["detail"]) == (
            404,
            PROBLEM,
            "There is no hold 424242.",
        )


@pytest.fixture
def other_hospital():
    from tracker.models import Hospital

    found = Hospital(name="Derriford Hospital", site="Plymouth", latitude=50.42, longitude=-4.11)
    session.add(found)
    session.commit()
    return found.id


def test_a_hospitals_token_holds_for_its_own_hospital_only(client, homes, ward, hospital, other_hospital):
    west, _ = homes
    record(west, NUR=2, RES=0)
    refused = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hospital_id": other_hospital},
                          headers=ward)  # fmt: skip
    assert (refused.status_code, refused.mimetype) == (403, PROBLEM)
    assert refused.json["detail"] == (
        f"This token holds beds for Royal Cornwall Hospital only (hospital_id {hospital}): "
        "leave hospital_id out, or send its own."
    )
    assert session.scalars(select(Hold)).all() == []
    placed = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR"}, headers=ward)  # no hospital_id
    assert (placed.status_code, placed.json["hospital_id"]) == (201, hospital)


def test_a_hospitals_token_sees_and_ends_only_its_own_hospitals_holds(
    client, homes, ward, admin, hospital, other_hospital
):
    west, east = homes
    record(west, NUR=2, RES=0)
    record(east, RES=1)
    theirs = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hospital_id": other_hospital},
                         headers=admin).json["id"]  # fmt: skip
    ours = client.post(f"/api/v1/homes/{east.id}/holds", json={"kind": "RES"}, headers=ward).json["id"]
    assert [h["id"] for h in client.get("/api/v1/holds", headers=ward).json["holds"]] == [ours]
    assert client.get(f"/api/v1/holds?home={west.id}", headers=ward).json["holds"] == []
    for verb in ("release", "admit"):  # another hospital's hold is answered as one that does not exist
        missing = client.post(f"/api/v1/holds/{theirs}/{verb}", headers=ward)
        assert (missing.status_code, missing.mimetype, missing.json["detail"]) == (
            404,
            PROBLEM,
            f"There is no hold {theirs}.",
        )
    assert session.get(Hold, theirs).ended_at is None
    # An admin token sees and ends every hospital's.
    assert {h["id"] for h in client.get("/api/v1/holds", headers=admin).json["holds"]} == {ours, theirs}
    assert client.post(f"/api/v1/holds/{theirs}/release", headers=admin).status_code == 200
    assert client.post(f"/api/v1/holds/{ours}/admit", headers=ward).status_code == 200


def test_a_coordinator_token_without_a_hospital_can_no_longer_hold_or_end_holds(client, homes, hub, admin, hospital):
    west, _ = homes
    record(west, NUR=1, RES=0)
    hold_id = client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hospital_id": hospital},
                          headers=admin).json["id"]  # fmt: skip
    answers = [
        client.post(f"/api/v1/homes/{west.id}/holds", json={"kind": "NUR", "hospital_id": hospital}, headers=hub),
        client.post(f"/api/v1/holds/{hold_id}/release", headers=hub),
        client.post(f"/api/v1/holds/{hold_id}/admit", headers=hub),
    ]
    for refused in answers:
        assert (refused.status_code, refused.mimetype) == (403, PROBLEM)
        assert refused.json["detail"].startswith("This token belongs to no hospital, so it cannot hold beds")
        assert "--hospital" in refused.json["detail"]
    assert session.get(Hold, hold_id).ended_at is None
    assert [h["id"] for h in client.get("/api/v1/holds", headers=hub).json["holds"]] == [hold_id]  # it still reads


# ---- what each history row is ------------------------------------------------------------------


def test_history_and_the_stream_say_which_rows_are_holds_and_answers_not_confirmations(client, make_home, ward,
                                                                                        hospital):  # fmt: skip
    now = utcnow()
    west = a_home_to_ask(make_home, now=now)  # one nursing bed, and a mobile to text
    record(west, at=now)  # "no change"
    request = ask(hospital, [west], now=now)
    answered = answer(request, west, "yes", now=now)
    held = record_update(west.id, Change(hold=HoldRequest("NUR", hospital)), channel=Channel.API, actor="t", now=now)
    rows = client.get(f"/api/v1/homes/{west.id}/history", headers=ward).json["updates"]
    assert [(r["what"], r["changed"], r["hold_id"], r["answer_id"]) for r in rows] == [
        ("update", True, None, None),
        ("no change", False, None, None),
        ("answer", False, None, answered.answer_id),
        ("hold", True, held.hold_id, None),
    ]
    # The answer's state still says when the home last confirmed: the "no change" before it.
    assert rows[2]["state"]["confirmed_at"] == rows[1]["recorded_at"]
    stream = client.get("/api/v1/updates", headers=ward).json["updates"]
    assert [r["what"] for r in stream] == ["update", "no change", "answer", "hold"]
