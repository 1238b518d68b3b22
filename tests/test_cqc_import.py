"""`flask import-cqc FILE`: CQC's weekly and monthly directory files, as CQC publishes them, into care homes."""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P
from sqlalchemy import func, select

from tracker.admin import cqc_files
from tracker.db import session
from tracker.models import AuditEvent, CareHome, Channel, Locality, Offer, Region
from tracker.vacancies import Change, record_update

from .conftest import FROZEN_AT, ROOT

DATA = Path(__file__).parent / "data"
WEEKLY = DATA / "cqc_directory_weekly.csv"
MONTHLY = DATA / "cqc_directory_with_filters.csv"
REGION = "Cornwall and the Isles of Scilly"
CORNWALL = ["--local-authority", "Cornwall", "--region", REGION]
WEEKLY_HOMES = {
    "Chy Lowen Care Home": {"NUR", "DNUR"},
    "Trevarthen House": {"RES", "DRES"},
    "Penrose Court": {"NUR", "RES", "MH"},
    "Carn Brea Lodge": {"RES", "LD"},
    "Tregenna View": {"RES"},
    "Atlantic View Nursing Home": {"NUR", "DNUR"},
    "Priory Gardens": {"RES"},
}


def run(runner, path: Path, *args: str):
    result = runner.invoke(args=["import-cqc", str(path), *args])
    assert result.exit_code == 0, result.output
    return result


def homes() -> dict[str, CareHome]:
    session.expire_all()
    return {h.name: h for h in session.scalars(select(CareHome))}


def kinds(home: CareHome) -> dict[str, int]:
    return {o.kind_code: o.capacity for o in home.offers}


def count(model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# ---- the weekly directory ----------------------------------------------------------------------


def test_it_creates_every_care_home_of_the_local_authority_with_its_kinds_of_care(runner):
    result = run(runner, WEEKLY, *CORNWALL)
    headline = "Imported cqc_directory_weekly.csv (CQC care directory (weekly)): 7 created, 0 updated, 0 unchanged"
    assert headline + ", 4 skipped." in result.stdout
    found = homes()
    assert {name: set(kinds(h)) for name, h in found.items()} == WEEKLY_HOMES
    chy = found["Chy Lowen Care Home"]
    assert (chy.cqc_location_id, chy.postcode, chy.phone) == ("1-1000000001", "TR18 2PF", "01736 360001")
    assert chy.address == "1 Alverton Road, Penzance, Cornwall"
    assert chy.listed_publicly and not chy.public_counts
    assert all(o.available is None for h in found.values() for o in h.offers)  # beds free are never imported
    (locality,) = session.scalars(select(Locality)).all()
    assert locality.name == "Cornwall" and locality.region.name == REGION
    assert {h.locality_id for h in found.values()} == {locality.id}


def test_new_homes_are_due_their_first_reminder_from_the_moment_of_the_import(frozen_clock, runner):
    run(runner, WEEKLY, *CORNWALL)
    assert {home.chase_due_at for home in homes().values()} == {FROZEN_AT}


def test_the_summary_says_what_was_skipped_and_why_with_line_numbers(runner):
    out = run(runner, WEEKLY, *CORNWALL).stdout
    assert "  2 not a care home\n" in out and "  1 in another local authority\n" in out
    assert "  line 11: the postcode 'TR26 ZZZ' is not a UK postcode\n" in out
    assert "Porthmeor House" not in homes()


def test_without_a_local_authority_every_care_home_in_the_file_is_imported(runner):
    out = run(runner, WEEKLY, "--region", REGION).stdout
    assert "8 created" in out and "Park House" in homes()
    assert sorted(session.scalars(select(Locality.name))) == ["Cornwall", "Isles of Scilly"]


def test_postcodes_are_geocoded_and_an_unknown_one_is_imported_without_a_position(runner):
    out = run(runner, WEEKLY, *CORNWALL).stdout
    found = homes()
    assert (found["Chy Lowen Care Home"].latitude, found["Chy Lowen Care Home"].longitude) == (50.122046, -5.543031)
    assert found["Penrose Court"].latitude == pytest.approx(50.34057)
    assert found["Tregenna View"].latitude is None and found["Tregenna View"].longitude is None
    assert "line 13: Tregenna View: postcode TR99 9ZZ not found, so no map position" in out


def test_without_bed_counts_new_kinds_get_the_default_and_the_summary_says_so(runner, app):
    app.config["CQC_DEFAULT_BEDS"] = 12  # CQC_DEFAULT_BEDS; 30 unless set
    out = run(runner, WEEKLY, *CORNWALL).stdout
    assert kinds(homes()["Chy Lowen Care Home"]) == {"NUR": 12, "DNUR": 12}
    assert "  7 home(s) given 12 beds for each new kind of care, as this file has no bed counts" in out
    assert "(Chy Lowen Care Home, Trevarthen House, Penrose Court, Carn Brea Lodge, Tregenna View, " in out


def test_importing_the_same_file_again_changes_nothing(runner):
    run(runner, WEEKLY, *CORNWALL)
    audited = count(AuditEvent)
    out = run(runner, WEEKLY, *CORNWALL).stdout
    assert "0 created, 0 updated, 7 unchanged, 4 skipped." in out
    assert len(homes()) == 7 and count(Locality) == 1 and count(AuditEvent) == audited


def test_every_change_is_audited_as_the_import_of_the_file(runner):
    run(runner, WEEKLY, *CORNWALL)
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events[:3]] == ["region.create", "locality.create", "home.import"]
    assert {e.actor for e in events} == {"CQC import (cqc_directory_weekly.csv)"}
    chy = next(e for e in events if e.target_name == "Chy Lowen Care Home")
    assert chy.summary == "created from CQC file cqc_directory_weekly.csv, line 6"
    assert chy.changes["postcode"] == [None, "TR18 2PF"] and chy.changes["kinds"] == [{}, {"NUR": 30, "DNUR": 30}]


def test_a_dry_run_says_what_would_happen_and_writes_nothing(runner):
    out = run(runner, WEEKLY, *CORNWALL, "--dry-run").stdout
    assert "Dry run of cqc_directory_weekly.csv" in out and "nothing was saved: it would give 7 created" in out
    assert count(CareHome) == count(Locality) == count(Region) == count(AuditEvent) == 0


def test_an_existing_home_keeps_its_locality_listing_and_other_kinds(runner, make_home):
    make_home(
        name="Chy Lowen", cqc_location_id="1-1000000001", offers={"NUR": 40, "D2A": 4}, listed_publicly=False,
        postcode="TR18 2PF",
    )  # fmt: skip
    out = run(runner, WEEKLY, "--local-authority", "cornwall").stdout  # the only region: no --region needed
    home = homes()["Chy Lowen Care Home"]
    assert home.locality.name == "West Cornwall" and not home.listed_publicly
    assert kinds(home) == {"NUR": 40, "D2A": 4, "DNUR": 40}  # a new kind takes the home's largest capacity
    assert (home.latitude, home.longitude) == (50.12, -5.53)  # same postcode: an admin's position is kept
    assert "Chy Lowen Care Home: name, address, phone, kinds of care (DNUR new→40)" in out


def test_older_files_header_spellings_and_service_names_are_understood(runner, tmp_path):
    header = [
        "Name", "Also known as", "Address", "Postcode", "Telephone number", "Service's website (if available)",
        "Service type", "Date of latest check", "Specialisms/services", "Provider name", "Local Authority", "Region",
        "Location URL", "CQC Location (for office use only", "CQC Provider ID (for office use only)",
    ]  # fmt: skip
    rows = [
        ["Chy Lowen", "", "Alverton, Penzance", "TR18 2PF", "01736 360001", "", "Nursing homes|Residential homes",
         "15/04/2020 - 10:30", "Dementia|Mental health conditions", "Chy Lowen Ltd", "Cornwall", "South West",
         "", "1-1000000001", "1-200000001"],
        ["Kernow Homecare", "", "Redruth", "TR15 3ER", "", "", "Homecare agencies", "", "Dementia", "Kernow Ltd",
         "Cornwall", "South West", "", "1-1000000004", "1-200000004"],
    ]  # fmt: skip
    path = tmp_path / "15_April_2020_CQC_directory.csv"
    path.write_bytes(_csv_bytes(header, rows, preamble=3))
    out = run(runner, path, "--region", REGION).stdout
    assert "1 created" in out and "1 not a care home" in out
    assert kinds(homes()["Chy Lowen"]) == {"NUR": 30, "RES": 30, "DNUR": 30, "DRES": 30, "MH": 30}


def test_a_bad_row_is_skipped_whole_and_the_rows_around_it_are_imported(runner, tmp_path):
    lines = WEEKLY.read_text().splitlines()
    lines[6] = lines[6].replace("1-1000000002", "")  # line 7: Trevarthen House, no location ID
    lines[7] = lines[7].replace("Penrose Court,", ",", 1)  # line 8: Penrose Court, no name
    path = tmp_path / "weekly.csv"
    path.write_text("\n".join(lines) + "\n")
    out = run(runner, path, *CORNWALL).stdout
    assert "  line 7: it has no CQC location ID\n" in out and "  line 8: it has no name\n" in out
    assert "5 created" in out and "6 skipped" in out
    assert set(homes()) == set(WEEKLY_HOMES) - {"Trevarthen House", "Penrose Court"}


def test_a_location_listed_twice_is_imported_once(runner, tmp_path):
    lines = WEEKLY.read_text().splitlines()
    path = tmp_path / "weekly.csv"
    path.write_text("\n".join([*lines, lines[5]]) + "\n")
    out = run(runner, path, *CORNWALL).stdout
    assert "line 17: 1-1000000001 is listed again (first on line 6)" in out and len(homes()) == 7


def test_a_file_that_is_not_a_cqc_directory_is_refused(runner, tmp_path):
    path = tmp_path / "beds.csv"
    path.write_text("Home,Beds\nChy Lowen,4\n")
    result = runner.invoke(args=["import-cqc", str(path), "--region", REGION])
    assert result.exit_code == 1 and "beds.csv: This is not a CQC directory file" in result.output
    assert count(CareHome) == 0


def test_with_several_regions_the_import_asks_which_one(runner):
    session.add_all([Region(name="Devon"), Region(name=REGION)])
    session.commit()
    result = runner.invoke(args=["import-cqc", str(WEEKLY)])
    assert result.exit_code == 1 and "Say which region new localities belong to" in result.output
    assert count(CareHome) == 0


# ---- the monthly directory with filters --------------------------------------------------------


def test_the_monthly_file_gives_capacities_and_updates_what_changed(runner):
    run(runner, WEEKLY, *CORNWALL)
    before = homes()["Trevarthen House"]
    out = run(runner, MONTHLY, *CORNWALL).stdout
    assert "1 created, 4 updated, 0 unchanged, 4 skipped." in out
    found = homes()
    assert kinds(found["Chy Lowen Care Home"]) == {"NUR": 42, "DNUR": 42}  # the total on every kind it offers
    assert kinds(found["Penrose Court"]) == {"NUR": 60, "RES": 60, "MH": 60}
    assert kinds(found["Polwithen House"]) == {"RES": 28, "MH": 28}
    assert found["Chy Lowen Care Home"].phone == "01736 360001"  # the same number, written differently
    trevarthen = found["Trevarthen House"]  # the monthly file has no position for it: the postcode's is kept
    assert (trevarthen.latitude, trevarthen.address) == (before.latitude, "14 Lemon Street, Truro, Cornwall")
    assert "Chy Lowen Care Home: kinds of care (NUR 30→42, DNUR 30→42)" in out
    assert "  row 6: its number of beds, 'forty', is not a whole number\n" not in out  # a CSV has lines
    assert "  line 6: its number of beds, 'forty', is not a whole number\n" in out
    assert "  1 dormant (registered, but not providing care)\n" in out
    assert kinds(found["Carn Brea Lodge"]) == {"RES": 30, "LD": 30}  # its bad row changed nothing


def test_a_capacity_is_never_set_below_the_beds_recorded_free(runner, tmp_path):
    run(runner, MONTHLY, *CORNWALL)
    chy = homes()["Chy Lowen Care Home"]
    record_update(chy.id, Change(counts={"NUR": 40, "DNUR": 2}), channel=Channel.WEB, actor="manager")
    path = tmp_path / "monthly.csv"
    path.write_text(MONTHLY.read_text().replace(",N,42,", ",N,38,"))
    out = run(runner, path, *CORNWALL).stdout
    assert kinds(homes()["Chy Lowen Care Home"]) == {"NUR": 42, "DNUR": 38}
    assert "line 2: Chy Lowen Care Home: NUR keeps 42 beds: 40 are recorded free now, more than CQC's 38" in out
    offers = session.scalars(select(Offer).where(Offer.home_id == chy.id)).all()
    assert {o.kind_code: o.available for o in offers} == {"NUR": 40, "DNUR": 2}


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_the_monthly_spreadsheets_import_as_the_csv_does(runner, tmp_path, kind):
    path = tmp_path / f"directory.{kind}"
    path.write_bytes(_spreadsheet(kind, *_monthly_rows()))
    out = run(runner, path, *CORNWALL).stdout
    assert "5 created, 0 updated, 0 unchanged, 4 skipped." in out
    assert "  row 6: its number of beds, 'forty', is not a whole number\n" in out
    found = homes()
    assert kinds(found["Chy Lowen Care Home"]) == {"NUR": 42, "DNUR": 42}
    assert found["Chy Lowen Care Home"].phone == "01736360001"  # the leading 0 a number cell loses, restored
    assert found["Trevarthen House"].latitude == pytest.approx(50.266675)  # geocoded: the sheet has none
    assert run(runner, path, *CORNWALL).stdout.count("5 unchanged") == 1


def test_a_progress_bar_goes_to_stderr_and_the_summary_to_stdout(runner):
    result = run(runner, MONTHLY, *CORNWALL)
    assert "Reading the care directory with filters (monthly)" in result.stderr
    assert "Reading" not in result.stdout


# ---- reading files (no database) ---------------------------------------------------------------


def test_the_header_is_found_after_any_number_of_preamble_lines():
    for preamble in (0, 4, 9):
        sheet = cqc_files.open_file(_csv_bytes(*_weekly_rows(), preamble=preamble))
        assert sheet.kind == cqc_files.WEEKLY and next(sheet.rows)[0] == preamble + 2


def test_a_windows_code_page_file_is_read():
    header, rows = _weekly_rows()
    rows[0][0] = "Chy Lowen – Tŷ Gofal"  # en dash is in cp1252; ŷ is not, and is replaced rather than refused
    data = _csv_text(header, rows).encode("cp1252", errors="replace")
    sheet = cqc_files.open_file(data)
    assert next(sheet.rows)[1]["name"] == "Chy Lowen – T? Gofal"


@pytest.mark.parametrize(
    ("types", "specialisms", "expected"),
    [
        ("Care home service with nursing", "Dementia", ("NUR", "DNUR")),
        ("Care home service without nursing", "Dementia|Caring for adults over 65 yrs", ("RES", "DRES")),
        ("Care home service with nursing|Care home service without nursing", "Dementia",
         ("NUR", "RES", "DNUR", "DRES")),
        ("Care home service without nursing", "Mental health conditions|Caring for people whose rights are "
         "restricted under the Mental Health Act", ("RES", "MH")),
        ("Care home service without nursing", "Autism", ("RES", "LD")),
        ("Nursing homes", "Learning disabilities", ("NUR", "LD")),
    ],
)  # fmt: skip
def test_weekly_service_types_and_specialisms_map_to_kinds(types, specialisms, expected):
    cells = {"id": "1-123456789", "name": "A", "postcode": "TR18 2PF", "service_types": types,
             "specialisms": specialisms, "local_authority": "Cornwall"}  # fmt: skip
    assert cqc_files.location(cqc_files.WEEKLY, 6, cells).kinds == expected


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": "123"}, "the CQC location ID '123' is not one (they look like 1-123456789)"),
        ({"postcode": ""}, "it has no postcode"),
        ({"postcode": "TR18"}, "the postcode 'TR18' is not a UK postcode"),
        ({"beds": "-3"}, "its number of beds, '-3', is not a whole number"),
        ({"beds": "9000"}, "its number of beds, 9000, is more than any care home has"),
        ({"latitude": "north"}, "its latitude and longitude (north, -5.5) are not numbers"),
        ({"latitude": "48.0"}, "its latitude and longitude (48.0, -5.5) are not in the UK"),
        ({"local_authority": ""}, "it has no local authority, so it cannot be placed in a locality"),
        ({"nursing": "", "residential": ""}, "CQC lists it as a care home, but with neither care home service"),
    ],
)
def test_a_bad_monthly_row_says_what_is_wrong(change, reason):
    cells = {"id": "1-123456789", "care_home": "Y", "name": "A", "postcode": "TR18 2PF", "nursing": "Y",
             "residential": "", "beds": "40", "latitude": "50.1", "longitude": "-5.5",
             "local_authority": "Cornwall"}  # fmt: skip
    with pytest.raises(cqc_files.BadRow) as error:
        cqc_files.location(cqc_files.MONTHLY, 2, {**cells, **change})
    assert str(error.value).startswith(reason)


# ---- helpers: files as CQC publishes them ------------------------------------------------------


# ---- large and hostile spreadsheets ------------------------------------------------------------

MB = 1024 * 1024
DIRECTORY_SHEET = "xl/worksheets/sheet2.xml"  # in _spreadsheet("xlsx"): the notes sheet is sheet1
ROW = b"<row><c><v>1</v></c></row>"  # a row of one cell, as small as a row can be written


def zip_bomb(path: Path, unpacked_mb: int) -> Path:
    """The monthly XLSX, its directory sheet going on with one tiny row repeated to `unpacked_mb` MB: a file
    of a few hundred KB that calamine would unpack into gigabytes of memory."""
    source = zipfile.ZipFile(io.BytesIO(_spreadsheet("xlsx", *_monthly_rows())))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for part in source.infolist():
            data = source.read(part)
            if part.filename != DIRECTORY_SHEET:
                bomb.writestr(part.filename, data)
                continue
            head, _, tail = data.partition(b"</sheetData>")
            with bomb.open(part.filename, "w") as sheet:
                sheet.write(head)
                rows = ROW * (MB // len(ROW))
                for _ in range(unpacked_mb):
                    sheet.write(rows)
                sheet.write(b"</sheetData>" + tail)
    return path


def declare(path: Path, part: str, size: int) -> None:
    """Make the archive lie: say `part` unpacks to `size` bytes, in its local header and the central directory."""
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, zipfile.ZipFile(path).getinfo(part).header_offset + 22, size)
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(part)] != part.encode():
        entry = data.index(b"PK\x01\x02", entry + 4)
    struct.pack_into("<I", data, entry + 24, size)
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).getinfo(part).file_size == size


def test_a_spreadsheet_that_unpacks_past_the_limit_is_refused_and_nothing_changes(runner, app, tmp_path):
    app.config["CQC_MAX_UNPACKED_MB"] = 5
    path = tmp_path / "directory.xlsx"
    path.write_bytes(_spreadsheet("xlsx", *_monthly_rows()))
    ordinary = zip_bomb(tmp_path / "big.xlsx", unpacked_mb=8)
    result = runner.invoke(args=["import-cqc", str(ordinary), *CORNWALL])
    assert result.exit_code == 1
    assert "big.xlsx: This spreadsheet unpacks to 8 MB, more than the 5 MB the import reads" in result.output
    assert "CQC_MAX_UNPACKED_MB" in result.output and "nothing was imported" in result.output
    assert count(CareHome) == count(AuditEvent) == count(Locality) == 0
    assert "5 created" in run(runner, path, *CORNWALL).stdout  # a file under the limit imports as ever


def test_a_zip_bomb_under_the_limit_is_refused_for_how_tightly_it_packs(runner, tmp_path):
    bomb = zip_bomb(tmp_path / "directory.xlsx", unpacked_mb=40)
    result = runner.invoke(args=["import-cqc", str(bomb), *CORNWALL])
    assert result.exit_code == 1 and "This file is not a spreadsheet as CQC publishes them" in result.output
    assert f"its part '{DIRECTORY_SHEET}' unpacks from 0.1 MB to 40 MB, more than 100 times" in result.output
    assert count(CareHome) == 0


def test_a_spreadsheet_whose_parts_hold_more_than_they_declare_is_refused(runner, tmp_path):
    liar = zip_bomb(tmp_path / "directory.xlsx", unpacked_mb=40)
    declare(liar, DIRECTORY_SHEET, 100_000)  # passes both checks; the reader stops at the declared size
    result = runner.invoke(args=["import-cqc", str(liar), *CORNWALL])
    assert result.exit_code == 1 and "cannot be read as XLSX or ODS" in result.output
    assert "larger than its declared uncompressed size" in result.output
    assert count(CareHome) == 0


def test_a_zip_bomb_is_refused_in_bounded_memory(environ, tmp_path):
    """The file the issue met: ~1 MB on disk, 300 MB unpacked. Unchecked, calamine alone peaked at 1.56 GB on
    it (python-calamine 0.9.1); refused before unpacking, the whole command peaks near its baseline."""
    bomb = zip_bomb(tmp_path / "directory.xlsx", unpacked_mb=300)
    assert bomb.stat().st_size < 2 * MB
    # The command's own high-water mark (VmHWM), read in the child as it ends: the rusage of a child
    # counts the copy of this (large) test process it was before it exec'd.
    flask = ["flask", "--app", "tracker", "import-cqc", str(bomb), *CORNWALL]
    wrapper = (
        "import re, runpy, sys\n"
        f"sys.argv = {flask!r}\n"
        "try:\n"
        "    runpy.run_module('flask', run_name='__main__')\n"
        "finally:\n"
        "    status = open('/proc/self/status').read()\n"
        "    print('PEAK_KB', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
    )
    with (tmp_path / "out.txt").open("w") as out:
        process = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, env={**os.environ, **environ},
                                 stdout=out, stderr=out)  # fmt: skip
    output = (tmp_path / "out.txt").read_text()
    assert process.returncode == 1 and "unpacks to 300 MB, more than the 200 MB the import reads" in output
    peak_mb = int(re.search(r"PEAK_KB (\d+)", output).group(1)) / 1024
    print(f"import-cqc on a 300 MB zip bomb: peak {peak_mb:.0f} MB")
    assert peak_mb < 400, f"peak {peak_mb:.0f} MB"


def _weekly_rows() -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(WEEKLY.read_text())))
    return rows[4], rows[5:]


def _monthly_rows() -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(MONTHLY.read_text())))
    return rows[0], rows[1:]


def _csv_text(header, rows, preamble: int = 0) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for n in range(preamble):
        writer.writerow([f"Care Quality Commission note {n}"] + [""] * (len(header) - 1))
    writer.writerows([header, *rows])
    return out.getvalue()


def _csv_bytes(header, rows, preamble: int = 0) -> bytes:
    return _csv_text(header, rows, preamble).encode("utf-8-sig")


def _cell_value(header: str, text: str):
    """Numbers as a spreadsheet holds them: beds, coordinates and (losing its leading 0) the phone number."""
    if text and header in ("Care homes beds", "Location Latitude", "Location Longitude", "Location Telephone Number"):
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return text
    return text


def _spreadsheet(kind: str, header: list[str], rows: list[list[str]]) -> bytes:
    """The monthly file as XLSX or ODS: a notes sheet first, then the directory, as CQC lays it out."""
    values = [header] + [[_cell_value(h, v) for h, v in zip(header, row, strict=True)] for row in rows]
    out = io.BytesIO()
    if kind == "xlsx":
        book = openpyxl.Workbook()
        book.active.title = "Notes"
        book.active.append(["Care directory with filters: read me"])
        sheet = book.create_sheet("HSCA_Active_Locations")
        for row in values:
            sheet.append([v if v != "" else None for v in row])
        book.save(out)
    else:
        doc = OpenDocumentSpreadsheet()
        for name, table_rows in (("Notes", [["Care directory with filters: read me"]]), ("Directory", values)):
            table = Table(name=name)
            for row in table_rows:
                table_row = TableRow()
                for value in row:
                    if isinstance(value, int | float):
                        cell = TableCell(valuetype="float", value=value)
                    else:
                        cell = TableCell(valuetype="string")
                    if value != "":
                        cell.addElement(P(text=str(value)))
                    table_row.addElement(cell)
                table.addElement(table_row)
            doc.spreadsheet.addElement(table)
        doc.write(out)
    return out.getvalue()
