"""The families' search: the page, GET /api/v1/public/search, and the /public live channel."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest

from tracker.db import session
from tracker.extensions import socketio
from tracker.families import search_index
from tracker.models import Channel, Contact, utcnow
from tracker.vacancies import Change, record_update

API = "/api/v1/public/search"
PENZANCE = (50.1205, -5.5400)  # about 0.3 km from TR18 2PF
HAYLE = (50.1850, -5.4200)  # about 11 km
TRURO = (50.2630, -5.0510)  # about 38 km
PUBLIC_KEYS = {
    "id", "name", "town", "address", "postcode", "phone", "lat", "lon", "distance_km", "distance_miles", "status",
    "status_text",
    "kinds", "vacancies", "confirmed_at", "age_seconds", "updated", "freshness", "unverified_at",
}  # fmt: skip


@pytest.fixture
def home_at(make_home):
    """A home at (lat, lon) whose beds are recorded through the one write path, `age` ago."""

    def make(name, where, counts, *, age=timedelta(hours=1), offers=None, admissions="open", reason=None,
             note=None, **fields):  # fmt: skip
        home = make_home(name=name, offers=offers or {"NUR": 30, "RES": 20}, **fields)
        home.latitude, home.longitude = where
        session.commit()
        change = Change(counts=counts, admissions=admissions, closed_reason=reason, note=note)
        record_update(home.id, change, channel=Channel.WEB, actor="jo.manager@example.org", now=utcnow() - age)
        return home

    return make


def names(section):
    return [home["name"] for home in section]


def test_it_ranks_homes_with_vacancies_by_distance(client, home_at):
    home_at("Truro Home", TRURO, {"NUR": 1})
    home_at("Penzance Home", PENZANCE, {"NUR": 2})
    home_at("Hayle Home", HAYLE, {"NUR": 3})
    found = client.get(API, query_string={"near": "TR18 2PF", "care": "NUR", "radius_km": "50"}).get_json()
    assert names(found["results"]) == ["Penzance Home", "Hayle Home", "Truro Home"]
    distances = [home["distance_km"] for home in found["results"]]
    assert distances == sorted(distances)
    assert distances[0] < 1 and 9 < distances[1] < 13 and 35 < distances[2] < 42
    for home in found["results"]:
        assert home["distance_miles"] == pytest.approx(home["distance_km"] / 1.609344, abs=0.1)
    assert found["near"] == "TR18 2PF" and found["care"] == "NUR" and found["radius_km"] == 50
    assert found["radius_miles"] == 31 and found["covered"] is True
    assert found["regions_covered"] == ["Cornwall and the Isles of Scilly"]


def test_a_postcode_outside_every_region_is_told_so_not_shown_homes_far_away(client, home_at):
    home_at("Penzance Home", PENZANCE, {"NUR": 2})
    found = client.get(API, query_string={"near": "BS1 4DJ", "care": "NUR"}).get_json()  # Bristol, ~250 km
    assert found["covered"] is False and found["regions_covered"] == ["Cornwall and the Isles of Scilly"]
    assert found["results"] == found["without_vacancies"] == found["further_away"] == []
    page = client.get("/find-a-care-home", query_string={"near": "BS1 4DJ", "care": "NUR"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Penzance Home" not in html
    assert "BS1 4DJ is outside the areas this service covers" in html
    assert "It lists care homes in Cornwall and the Isles of Scilly only." in html


def test_just_over_a_regions_edge_the_nearby_homes_are_still_shown(client, home_at):
    home_at("Penzance Home", PENZANCE, {"NUR": 2})
    query = {"near": "Camborne", "care": "NUR", "radius_km": "5"}  # 20 km east of the region's only home
    found = client.get(API, query_string=query).get_json()
    assert found["covered"] is True and names(found["further_away"]) == ["Penzance Home"]


def test_a_family_at_tr18_2pf_finds_penzance_nursing_beds_first_with_when_confirmed(client, home_at):
    home_at("Hayle Nursing Home", HAYLE, {"NUR": 1})
    home_at("Bosgwidden Care Centre", PENZANCE, {"NUR": 2}, age=timedelta(hours=3, minutes=5))
    page = client.get("/find-a-care-home", query_string={"near": "TR18 2PF", "care": "NUR"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2 homes have vacancies for nursing care within 20 km (12 miles) of TR18 2PF" in html
    first = html.index('class="home-card')
    assert html.index("Bosgwidden Care Centre", first) < html.index("Hayle Nursing Home", first)
    assert "The home last confirmed this" in html and ">3 hours ago</time>" in html
    assert "Penzance" in html  # its town
    assert "0.3 km (0.2 miles)" in html  # in miles too


def test_the_json_gives_distance_kinds_with_vacancies_and_the_age_of_the_data(client, home_at):
    home_at("Penzance Home", PENZANCE, {"NUR": 2, "RES": 0}, age=timedelta(minutes=30), public_counts=True)
    (home,) = client.get(API, query_string={"lat": "50.122", "lon": "-5.543", "care": "NUR"}).get_json()["results"]
    assert set(home) == PUBLIC_KEYS
    assert home["vacancies"] == [{"code": "NUR", "name": "Nursing care", "beds": 2}]
    assert home["status"] == "vacancies" and home["freshness"] == "fresh"
    assert 30 * 60 <= home["age_seconds"] < 32 * 60 and home["updated"] == "30 minutes ago"
    assert home["town"] == "Penzance"


def test_a_home_without_a_bed_of_the_kind_is_shown_but_not_as_available(client, home_at):
    home_at("Residential Only Free", PENZANCE, {"NUR": 0, "RES": 2})
    found = client.get(API, query_string={"near": "TR18 2PF", "care": "NUR"}).get_json()
    assert found["results"] == []
    (other,) = found["without_vacancies"]
    assert other["status"] == "full" and other["status_text"] == "No vacancies for nursing care"
    assert [v["code"] for v in other["vacancies"]] == ["RES"]  # what it does have, said as such


def test_closed_and_unverified_homes_are_shown_as_such_never_as_available(client, home_at):
    home_at("Closed Home", PENZANCE, {"NUR": 4}, admissions="closed", reason="Norovirus outbreak")
    home_at("Quiet Home", PENZANCE, {"NUR": 5}, age=timedelta(hours=80))  # over UNVERIFIED_AFTER (72 h)
    found = client.get(API, query_string={"near": "TR18 2PF", "care": "NUR"}).get_json()
    assert found["results"] == [] and found["further_away"] == []
    shown = {home["name"]: home for home in found["without_vacancies"]}
    assert shown["Closed Home"]["status"] == "closed" and shown["Closed Home"]["vacancies"] == []
    assert shown["Quiet Home"]["status"] == "unverified" and shown["Quiet Home"]["vacancies"] == []
    html = client.get("/find-a-care-home", query_string={"near": "TR18 2PF", "care": "NUR"}).get_data(as_text=True)
    assert "Not taking new residents at the moment" in html
    assert "Not confirmed recently: ring the home to ask" in html


def test_with_no_vacancy_nearby_it_names_the_nearest_further_away(client, home_at):
    home_at("Truro Home", TRURO, {"NUR": 1})
    home_at("Penzance Home", PENZANCE, {"RES": 1}, offers={"RES": 10})  # the region reaches TR18
    found = client.get(API, query_string={"near": "TR18 2PF", "care": "NUR", "radius_km": "20"}).get_json()
    assert found["results"] == []
    assert names(found["further_away"]) == ["Truro Home"]
    html = client.get("/find-a-care-home", query_string={"near": "TR18 2PF", "care": "NUR"}).get_data(as_text=True)
    assert "No vacancies for nursing care within 20 km (12 miles) of TR18 2PF" in html
    assert "The nearest homes with vacancies for nursing care, further away:" in html and "Truro Home" in html


def test_any_kind_of_care_counts_every_public_kind(client, home_at):
    home_at("Residential Home", PENZANCE, {"RES": 1, "NUR": 0})
    found = client.get(API, query_string={"near": "Penzance"}).get_json()
    assert names(found["results"]) == ["Residential Home"] and found["care"] is None
    assert found["near"] == "Penzance (TR18)"


# ---- privacy ----------------------------------------------------------------------------------


def test_an_unlisted_home_never_appears(client, home_at):
    home_at("Listed Home", HAYLE, {"NUR": 1})
    home_at("Hidden Home", PENZANCE, {"NUR": 9}, listed_publicly=False)
    found = client.get(API, query_string={"near": "TR18 2PF", "care": "NUR", "radius_km": "100"})
    assert "Hidden Home" not in found.get_data(as_text=True)
    assert names(found.get_json()["results"]) == ["Listed Home"]
    html = client.get("/find-a-care-home", query_string={"near": "TR18 2PF"}).get_data(as_text=True)
    assert "Hidden Home" not in html and "Listed Home" in html


def test_internal_fields_never_leave_through_the_page_or_the_api(client, home_at):
    home = home_at("Leaky Home", PENZANCE, {"NUR": 2}, note="Ring Jo on 07700900999, bariatric bed",
                   cqc_location_id="1-555555555", short_code="LKY")  # fmt: skip
    home.contacts.append(Contact(phone="+447700900123", name="Jo Secretname, manager"))
    session.commit()
    home_at("Closed Home", HAYLE, {"NUR": 1}, admissions="closed", reason="Covid-19 outbreak in Ward 2")
    secrets = ["07700900999", "bariatric", "+447700900123", "Jo Secretname", "jo.manager@example.org", "Covid-19",
               "1-555555555", "LKY", "capacity", "West Cornwall", '"web"', '"note"', "closed_reason"]  # fmt: skip
    api = client.get(API, query_string={"near": "TR18 2PF", "care": "NUR"})
    page = client.get("/find-a-care-home", query_string={"near": "TR18 2PF", "care": "NUR"})
    for text in (api.get_data(as_text=True), page.get_data(as_text=True)):
        for secret in secrets:
            assert secret not in text
    for section in ("results", "without_vacancies", "further_away"):
        for shown in api.get_json()[section]:
            assert set(shown) == PUBLIC_KEYS


def test_exact_counts_only_where_the_home_allows(client, home_at):
    home_at("Counts Home", PENZANCE, {"NUR": 3}, public_counts=True)
    home_at("Private Counts Home", HAYLE, {"NUR": 4})  # public_counts defaults to off
    found = client.get(API, query_string={"near": "TR18 2PF", "care": "NUR"}).get_json()
    beds = {home["name"]: home["vacancies"][0]["beds"] for home in found["results"]}
    assert beds == {"Counts Home": 3, "Private Counts Home": None}
    html = client.get("/find-a-care-home", query_string={"near": "TR18 2PF", "care": "NUR"}).get_data(as_text=True)
    assert "Nursing care: 3 beds" in html and "Nursing care: 4" not in html


# ---- parameters, errors and limits --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "Enter a postcode or the name of a town (near=TR18 2PF), or give lat and lon."),
        ({"near": "ABC"}, "That does not look like a UK postcode, and we do not know a town called ABC."),
        ({"near": "TR18 2P"}, "That does not look like a UK postcode. A postcode looks like TR18 2PF."),
        ({"near": "TR18 2PF", "care": "SPA"}, "care must be one of RES, NUR, DRES, DNUR, MH, LD"),
        ({"near": "TR18 2PF", "care": "D2A"}, "care must be one of"),  # arranged by the NHS, not public
        ({"near": "TR18 2PF", "radius_km": "0"}, "radius_km must be a whole number of kilometres from 1 to 100."),
        ({"near": "TR18 2PF", "radius_km": "ten"}, "radius_km must be a whole number"),
        ({"near": "TR18 2PF", "radius_km": "500"}, "radius_km must be a whole number"),
        ({"near": "TR18 2PF", "radius_km": "9" * 5000}, "radius_km must be a whole number"),
        ({"lat": "50.1"}, "lat and lon must be numbers"),
        ({"lat": "40.7", "lon": "-74.0"}, "That location is not in the UK"),
    ],
)
def test_bad_parameters_get_400_with_a_plain_message(client, query, message):
    response = client.get(API, query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)


def test_the_page_shows_the_problem_and_the_choices(client):
    response = client.get("/find-a-care-home", query_string={"near": "St Ives", "care": "NUR"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "There is a problem" in html and "There is more than one St Ives" in html
    assert 'href="/find-a-care-home?near=St+Ives+(TR26)&amp;care=NUR"' in html


def test_searches_are_rate_limited_per_client_with_retry_after(frozen_clock, client, app):
    app.config["PUBLIC_SEARCH_RATE_LIMIT"] = "3/minute"
    for _ in range(2):
        assert client.get(API, query_string={"near": "TR18 2PF"}).status_code == 200
    assert client.get("/find-a-care-home").status_code == 200  # the page shares the budget
    limited = client.get(API, query_string={"near": "TR18 2PF"})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 61  # the minute's window; Flask-Limiter rounds up a second
    assert limited.get_json()["error"].startswith("Too many searches from your connection")
    assert limited.get_json()["retry_after"] == int(limited.headers["Retry-After"])
    page = client.get("/find-a-care-home", query_string={"near": "TR18 2PF", "care": "NUR"})
    html = page.get_data(as_text=True)
    assert page.status_code == 429 and "Too many searches from your connection" in html
    assert f"Try again in\n    {page.headers['Retry-After']} seconds" in html  # when, as the header says
    assert 'value="TR18 2PF"' in html and 'value="NUR" checked' in html  # the search is still filled in
    other = app.test_client()
    other_client = other.get(API, query_string={"near": "TR18 2PF"}, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other_client.status_code == 200  # someone else is not held back


def test_the_front_page_links_families_to_the_search(client):
    assert 'href="/find-a-care-home"' in client.get("/").get_data(as_text=True)


def test_the_search_page_works_before_any_search(client):
    html = client.get("/find-a-care-home").get_data(as_text=True)
    assert "Find a care home with a vacancy" in html and 'name="near"' in html and "Nursing care" in html
    assert "Discharge to assess" not in html and "discharge to assess" not in html


# ---- freshness of the index ---------------------------------------------------------------------


def test_a_search_sees_an_update_recorded_after_the_last_one(client, home_at):
    home = home_at("Penzance Home", PENZANCE, {"NUR": 0})
    query = {"near": "TR18 2PF", "care": "NUR"}
    assert client.get(API, query_string=query).get_json()["results"] == []
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.SMS, actor="t")
    assert names(client.get(API, query_string=query).get_json()["results"]) == ["Penzance Home"]


def test_a_home_unlisted_then_updated_disappears_at_once(client, home_at):
    home = home_at("Penzance Home", PENZANCE, {"NUR": 1})
    query = {"near": "TR18 2PF", "care": "NUR"}
    assert names(client.get(API, query_string=query).get_json()["results"]) == ["Penzance Home"]
    home.listed_publicly = False
    session.commit()
    record_update(home.id, Change(counts={"NUR": 2}), channel=Channel.SMS, actor="t")
    assert client.get(API, query_string=query).get_json()["results"] == []


def test_a_home_that_moved_is_found_where_it_is_now(client, home_at):
    home = home_at("Moving Home", TRURO, {"NUR": 1})
    query = {"near": "TR18 2PF", "care": "NUR", "radius_km": "5"}
    assert client.get(API, query_string=query).get_json()["results"] == []
    home.latitude, home.longitude = PENZANCE  # corrected by an administrator
    session.commit()
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.WEB, actor="t")
    assert names(client.get(API, query_string=query).get_json()["results"]) == ["Moving Home"]


def test_a_home_unlisted_without_an_update_disappears_at_the_next_rebuild(client, home_at):
    home = home_at("Penzance Home", PENZANCE, {"NUR": 1})
    query = {"near": "TR18 2PF", "care": "NUR"}
    assert names(client.get(API, query_string=query).get_json()["results"]) == ["Penzance Home"]
    home.listed_publicly = False
    session.commit()
    search_index.rebuild()  # what PUBLIC_INDEX_TTL_SECONDS' background rebuild does
    assert client.get(API, query_string=query).get_json()["results"] == []


def test_an_index_past_its_time_to_live_is_rebuilt_without_holding_up_the_search(client, home_at, app, monkeypatch):
    started = []
    monkeypatch.setattr(
        search_index.socketio, "start_background_task", lambda task, *args: started.append((task, args))
    )
    home = home_at("Penzance Home", PENZANCE, {"NUR": 1})
    query = {"near": "TR18 2PF", "care": "NUR"}
    client.get(API, query_string=query)
    home.listed_publicly = False
    session.commit()
    app.config["PUBLIC_INDEX_TTL_SECONDS"] = 0
    assert names(client.get(API, query_string=query).get_json()["results"]) == ["Penzance Home"]  # served as it was
    client.get(API, query_string=query)
    (task, args), *more = started
    assert more == []  # one rebuild at a time
    task(*args)  # the background task runs
    assert client.get(API, query_string=query).get_json()["results"] == []


# ---- live: the /public namespace ------------------------------------------------------------------


def home_events(listener):
    return [e["args"][0] for e in listener.get_received("/public") if e["name"] == "home"]


def test_a_page_hears_when_a_home_it_shows_changes_with_public_fields_only(app, home_at):
    home = home_at("Penzance Home", PENZANCE, {"NUR": 0}, public_counts=True)
    other = home_at("Hayle Home", HAYLE, {"NUR": 0})
    listener = socketio.test_client(app, namespace="/public", auth={"homes": [home.id]})
    assert listener.is_connected("/public")
    record_update(home.id, Change(counts={"NUR": 2}, note="Ring Jo on 07700900999"), channel=Channel.SMS, actor="jo")
    record_update(other.id, Change(counts={"NUR": 1}), channel=Channel.SMS, actor="jo")  # not on this page
    (event,) = home_events(listener)
    assert event["id"] == home.id and event["status"] == "vacancies"
    assert event["vacancies"] == [{"code": "NUR", "name": "Nursing care", "beds": 2}]
    assert event["updated"] == "just now" and event["freshness"] == "fresh"
    assert set(event) == PUBLIC_KEYS - {"distance_km", "distance_miles"}
    assert "07700900999" not in json.dumps(event)  # the note stays with the board


def test_the_live_channel_says_nothing_of_an_unlisted_home(app, home_at):
    home = home_at("Hidden Home", PENZANCE, {"NUR": 0}, listed_publicly=False)
    listener = socketio.test_client(app, namespace="/public", auth={"homes": [home.id]})
    record_update(home.id, Change(counts={"NUR": 3}), channel=Channel.SMS, actor="jo")
    assert home_events(listener) == []


def test_a_listener_that_names_no_homes_hears_nothing(app, home_at):
    home = home_at("Penzance Home", PENZANCE, {"NUR": 0})
    for auth in (None, {"homes": "all"}, {"homes": [True, "1"]}):
        listener = socketio.test_client(app, namespace="/public", auth=auth)
        record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.SMS, actor="jo")
        assert home_events(listener) == []


def test_a_page_that_missed_an_update_while_away_is_told_to_catch_up(app, client, home_at):
    home = home_at("Penzance Home", PENZANCE, {"NUR": 0})
    page = client.get("/find-a-care-home", query_string={"near": "TR18 2PF", "care": "NUR"}).get_data(as_text=True)
    made_at = json.loads(page.split('id="public-data">')[1].split("</script>")[0])["seq"]
    on_time = socketio.test_client(app, namespace="/public", auth={"homes": [home.id], "seq": made_at})
    assert on_time.get_received("/public") == []  # nothing happened since the page was made
    record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.SMS, actor="t")  # while the next page is away
    back = socketio.test_client(app, namespace="/public", auth={"homes": [home.id], "seq": made_at})
    assert [e["name"] for e in back.get_received("/public")] == ["changed"]


def test_a_page_that_shows_other_homes_now_follows_those(app, home_at):
    first = home_at("Penzance Home", PENZANCE, {"NUR": 0})
    second = home_at("Hayle Home", HAYLE, {"NUR": 0})
    listener = socketio.test_client(app, namespace="/public", auth={"homes": [first.id], "seq": 0})
    listener.get_received("/public")
    assert listener.emit("watch", {"homes": [second.id], "seq": 10**9}, namespace="/public", callback=True) is False
    record_update(first.id, Change(counts={"NUR": 1}), channel=Channel.SMS, actor="t")
    record_update(second.id, Change(counts={"NUR": 2}), channel=Channel.SMS, actor="t")
    assert [home["name"] for home in home_events(listener)] == ["Hayle Home"]
    assert listener.emit("watch", {"homes": [first.id], "seq": 0}, namespace="/public", callback=True) is True
    for nonsense in (None, "all", {"homes": [True, "1"]}, {"homes": [first.id], "seq": "0"}):
        assert listener.emit("watch", nonsense, namespace="/public", callback=True) is False


_addresses = itertools.count(1)


def test_with_redis_the_processes_share_one_budget_per_client(make_app, environ, redis_server):
    """Two web processes behind one load balancer: a client cannot double its searches by landing on both."""
    env = {**environ, "SOCKETIO_MESSAGE_QUEUE": redis_server.url, "PUBLIC_SEARCH_RATE_LIMIT": "2/minute"}
    first, second = make_app(env).test_client(), make_app(env).test_client()
    client_addr = {"REMOTE_ADDR": f"198.51.100.{next(_addresses)}"}  # not yet counted in the session's Redis
    assert first.get(API, query_string={"lat": "50.12", "lon": "-5.54"}, environ_base=client_addr).status_code == 200
    assert second.get(API, query_string={"lat": "50.12", "lon": "-5.54"}, environ_base=client_addr).status_code == 200
    limited = first.get(API, query_string={"lat": "50.12", "lon": "-5.54"}, environ_base=client_addr)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def live_page(app, address, homes=()):
    """A results page opening its live channel from `address`."""
    http = app.test_client()
    http.environ_base["REMOTE_ADDR"] = address
    return socketio.test_client(app, namespace="/public", auth={"homes": list(homes)}, flask_test_client=http)


def test_one_address_may_hold_only_so_many_live_pages_and_gets_each_back_as_one_closes(make_app, environ, home_at):
    app = make_app({**environ, "PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS": "2"}, {"TESTING": True})
    with app.app_context():
        home = home_at("Penzance Home", PENZANCE, {"NUR": 0})
        first, second = live_page(app, "203.0.113.5", [home.id]), live_page(app, "203.0.113.5", [home.id])
        third = live_page(app, "203.0.113.5", [home.id])
        assert (first.is_connected("/public"), second.is_connected("/public")) == (True, True)
        assert not third.is_connected("/public")
        assert live_page(app, "203.0.113.6").is_connected("/public")  # a neighbour is not counted with them

        record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.SMS, actor="t")
        assert [len(home_events(page)) for page in (first, second)] == [1, 1]
        first.disconnect("/public")
        assert live_page(app, "203.0.113.5").is_connected("/public")
        assert not live_page(app, "203.0.113.5").is_connected("/public")


def test_behind_a_proxy_the_live_channel_counts_the_familys_address_and_says_why_it_refuses(make_app, environ):
    """Through the WSGI stack, as a browser's Socket.IO long-polls, behind nginx (TRUSTED_PROXIES=1)."""
    app = make_app({**environ, "PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS": "1", "TRUSTED_PROXIES": "1"})
    http = app.test_client()  # every request comes from the proxy's address, 127.0.0.1
    opened = []

    def open_page(family):
        forwarded = {"X-Forwarded-For": family}
        handshake = http.get("/socket.io/?EIO=4&transport=polling", headers=forwarded).get_data(as_text=True)
        url = f"/socket.io/?EIO=4&transport=polling&sid={json.loads(handshake[1:])['sid']}"
        opened.append((url, forwarded))
        assert http.post(url, data="40/public,{}", headers=forwarded).get_data(as_text=True) == "OK"
        return http.get(url, headers=forwarded).get_data(as_text=True)

    assert open_page("198.51.100.20").startswith("40/public,")
    refused = open_page("198.51.100.20")
    assert refused.startswith("44/public,")
    assert "Too many live pages are open from your connection (at most 1)" in refused
    assert open_page("198.51.100.21").startswith("40/public,")  # another family behind the same proxy
    for url, forwarded in opened:  # closed, so no engine.io session outlives the test
        http.post(url, data="1", headers=forwarded)
