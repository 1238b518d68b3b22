"""Postcodes and towns, offline: normalising, Code-Point Open, the ONSPD import, towns, and postcodes.io."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tracker.families import places, postcodes
from tracker.families.geocoding import NotFound, locate, point

from .servers import free_port


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("TR18 2PF", "TR18 2PF"),
        ("tr182pf", "TR18 2PF"),
        ("  Tr18   2pf ", "TR18 2PF"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("b11ay", "B1 1AY"),
        ("TR21 0AB", "TR21 0AB"),
        ("tr18", "TR18"),
        ("TR21", "TR21"),
        ("SW1A", "SW1A"),
    ],
)
def test_it_normalises_full_postcodes_and_districts(typed, normal):
    assert postcodes.normalise(typed) == normal


@pytest.mark.parametrize("typed", ["ABC", "TR18 2P", "TR18 2PFF", "QR1 1AA", "TR18 2CI", "12345", "", "TR"])
def test_it_refuses_what_is_not_a_postcode(typed):
    assert postcodes.normalise(typed) is None


def test_it_finds_a_full_postcode_offline(app):
    where = locate("tr18 2pf")
    assert where.label == "TR18 2PF"
    # West Cornwall Hospital, Penzance: Code-Point Open's point converted with OSTN15.
    assert where.lat == pytest.approx(50.1220, abs=1e-3) and where.lon == pytest.approx(-5.5430, abs=1e-3)


def test_it_finds_a_postcode_district_at_the_centre_of_its_postcodes(app):
    where = locate("TR18")
    assert where.label == "TR18"
    assert where.lat == pytest.approx(50.12, abs=0.02) and where.lon == pytest.approx(-5.54, abs=0.03)


def test_it_finds_the_isles_of_scilly(app):
    full, district = locate("TR21 0AB"), locate("TR21")
    for where in (full, district):  # St Mary's, 40 km south-west of Land's End
        assert 49.85 < where.lat < 49.98 and -6.40 < where.lon < -6.20
    assert locate("St Mary's").label == "St Mary's (TR21)"


def test_a_malformed_postcode_is_told_so(app):
    for typed in ("TR18 2P", "12345", "TR18 2PFX"):
        with pytest.raises(NotFound, match="That does not look like a UK postcode"):
            locate(typed)


def test_letters_that_are_neither_a_postcode_nor_a_town_are_told_both(app):
    with pytest.raises(NotFound) as problem:
        locate("ABC")
    assert problem.value.message == ("That does not look like a UK postcode, and we do not know a town called ABC.")


def test_a_valid_but_unknown_postcode_says_so(app):
    with pytest.raises(NotFound) as problem:
        locate("TR18 2ZZ")
    assert problem.value.message.startswith("We cannot find the postcode TR18 2ZZ.")
    assert "(TR18)" in problem.value.message  # and suggests its district
    with pytest.raises(NotFound, match="We cannot find the postcode district TR99"):
        locate("TR99")


def test_a_town_name_resolves(app):
    where = locate("penzance")
    assert where.label == "Penzance (TR18)"
    assert where.lat == pytest.approx(50.119, abs=0.01) and where.lon == pytest.approx(-5.537, abs=0.01)


def test_a_misspelt_town_gets_suggestions(app):
    with pytest.raises(NotFound) as problem:
        locate("Penzanse")
    assert problem.value.choices == ["Penzance"]
    with pytest.raises(NotFound) as problem:
        locate("Newcastle")
    assert "Newcastle upon Tyne" in problem.value.choices


def test_two_towns_of_one_name_are_told_apart_by_district(app):
    with pytest.raises(NotFound) as problem:
        locate("St Ives")
    assert set(problem.value.choices) == {"St Ives (TR26)", "Saint Ives (PE27)"}
    assert locate("St Ives (TR26)").lat == pytest.approx(50.21, abs=0.01)


def test_my_location_must_be_in_the_uk():
    assert point("50.12", "-5.54").label == "your location"
    with pytest.raises(NotFound, match="not in the UK"):
        point("48.85", "2.35")  # Paris
    with pytest.raises(NotFound, match="must be numbers"):
        point("north", "-5.5")


def test_a_home_is_given_its_nearest_town():
    assert places.nearest_town(50.125, -5.545) == "Penzance"
    assert places.nearest_town(49.915, -6.305) in {"Hugh Town", "St Mary's"}
    assert places.nearest_town(50.0, -8.0) == ""  # in the sea


# ---- the ONS Postcode Directory import ------------------------------------------------------

OLD_HEADER = "pcd,pcd2,pcds,dointr,doterm,oseast1m,osnrth1m,lat,long\n"
NEW_HEADER = "PCD7,PCD8,PCDS,DOINTR,DOTERM,EAST1M,NORTH1M,LAT,LONG\n"
ROWS = [
    ("BT1 1AA", "54.598950", "-5.928460"),  # Belfast: Code-Point Open covers Great Britain only
    ("BT1 1AB", "54.599100", "-5.928900"),
    ("BT9 9ZZ", "99.999999", "0.000000"),  # no grid reference: left out
]


@pytest.mark.parametrize("header", [OLD_HEADER, NEW_HEADER], ids=["before-2025", "renamed"])
def test_the_onspd_import_finds_columns_by_name(app, runner, tmp_path, header):
    csv = tmp_path / "ONSPD.csv"
    lines = [f"{pc.replace(' ', '')},{pc},{pc},202001,,0,0,{lat},{lon}\n" for pc, lat, lon in ROWS]
    csv.write_text(header + "".join(lines))
    result = runner.invoke(args=["postcodes", "import-onspd", str(csv)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 postcodes" in result.output
    belfast = locate("bt1 1aa")
    assert (belfast.lat, belfast.lon) == (54.59895, -5.92846)
    assert locate("BT1").lat == pytest.approx(54.599, abs=1e-3)  # a district from the imported postcodes
    with pytest.raises(NotFound, match="We cannot find the postcode BT9 9ZZ"):
        locate("BT9 9ZZ")


def test_the_onspd_import_refuses_a_file_without_the_columns(runner, tmp_path):
    csv = tmp_path / "other.csv"
    csv.write_text("postcode,x,y\nTR18 2PF,1,2\n")
    result = runner.invoke(args=["postcodes", "import-onspd", str(csv)])
    assert result.exit_code != 0
    assert "no lat column: expected one of lat, latitude" in result.output


# ---- postcodes.io, when configured ------------------------------------------------------------


@pytest.fixture
def fake_postcodes_io():
    """A local stand-in for api.postcodes.io that knows one new postcode, recording what it was asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            if self.path == "/postcodes/TR182ZZ":
                status, body = 200, {"status": 200, "result": {"latitude": 50.119, "longitude": -5.539}}
            else:
                status, body = 404, {"status": 404, "error": "Postcode not found"}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()
    server.server_close()


def test_postcodes_io_is_asked_only_for_what_offline_data_lacks(app, fake_postcodes_io):
    url, asked = fake_postcodes_io
    app.config.update(GEOCODER="postcodes.io", POSTCODES_IO_URL=url)
    assert locate("TR18 2PF").label == "TR18 2PF"
    assert asked == []  # known offline: no network
    new = locate("TR18 2ZZ")
    assert (new.lat, new.lon) == (50.119, -5.539)
    assert asked == ["/postcodes/TR182ZZ"]


def test_without_the_network_an_unknown_postcode_is_just_unknown(app):
    app.config.update(GEOCODER="postcodes.io", POSTCODES_IO_URL=f"http://127.0.0.1:{free_port()}")  # nothing there
    with pytest.raises(NotFound, match="We cannot find the postcode TR18 2ZZ"):
        locate("TR18 2ZZ")
    assert locate("TR18 2PF").label == "TR18 2PF"


def test_offline_never_asks_postcodes_io(app, fake_postcodes_io):
    url, asked = fake_postcodes_io
    app.config.update(POSTCODES_IO_URL=url)  # GEOCODER stays offline
    with pytest.raises(NotFound):
        locate("TR18 2ZZ")
    assert asked == []
