"""CQC's published directory files, read as CQC publishes them, into checked care home locations.

Two files (docs/cqc-import.md says where to download them):
- the weekly "CQC care directory" CSV: a few preamble lines, then a row per location; a cell with several
  values separates them with "|";
- the monthly "care directory with filters" (CSV, XLSX or ODS): a row per location, with a column per
  service type and service user band flagged "Y".
Columns are found by name, never position, and names are compared without case, spaces or punctuation:
CQC has respelt and reordered them between releases. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time

from flask import current_app
from python_calamine import CalamineError, CalamineWorkbook

from tracker import availability
from tracker.families import postcodes

WEEKLY, MONTHLY = "weekly", "monthly"
HEADER_SEARCH_ROWS = 30  # preamble lines before the header: 4 in current weekly files; found, not counted
LOCATION_ID = re.compile(r"^1-[0-9]{6,12}$")  # as the admin form accepts it
# A spreadsheet's XML packs about 5 to 20 to 1; a "zip bomb" (a small file of one row repeated a million
# times) packs hundreds to 1. Parts under a megabyte (styles, an empty sheet) may pack tighter harmlessly.
MAX_PACKING_RATIO = 100
RATIO_CHECKED_FROM = 1024 * 1024
MB = 1024 * 1024

# field -> accepted header names, normalised (see _key). The first names are today's; the others are
# spellings of older releases ("CQC Location (for office use only" lost its "ID" and bracket in 2020).
COLUMNS = {
    WEEKLY: {
        "id": ("cqclocationidforofficeuseonly", "cqclocationforofficeuseonly", "cqclocationid", "locationid"),
        "name": ("name", "locationname"),
        "address": ("address",),
        "postcode": ("postcode", "postalcode"),
        "phone": ("phonenumber", "telephonenumber", "phone"),
        "service_types": ("servicetypes", "servicetype"),
        "specialisms": ("specialismsservices", "specialisms", "services"),
        "local_authority": ("localauthority",),
    },
    MONTHLY: {
        "id": ("locationid",),
        "care_home": ("carehome",),
        "dormant": ("dormantyn", "dormant"),
        "name": ("locationname",),
        "phone": ("locationtelephonenumber",),
        "beds": ("carehomesbeds", "carehomebeds"),
        "street": ("locationstreetaddress",),
        "line2": ("locationaddressline2",),
        "city": ("locationcity",),
        "county": ("locationcounty",),
        "postcode": ("locationpostalcode", "locationpostcode"),
        "latitude": ("locationlatitude",),
        "longitude": ("locationlongitude",),
        "local_authority": ("locationlocalauthority",),
        "nursing": ("servicetypecarehomeservicewithnursing",),
        "residential": ("servicetypecarehomeservicewithoutnursing",),
        "dementia": ("serviceuserbanddementia",),
        "mental_health": ("serviceuserbandmentalhealth",),
        "learning_disability": (
            "serviceuserbandlearningdisabilitiesorautisticspectrumdisorder",
            "serviceuserbandlearningdisabilities",
        ),
    },
}
REQUIRED = {
    WEEKLY: ("id", "name", "postcode", "service_types"),
    MONTHLY: ("id", "care_home", "name", "postcode", "nursing", "residential"),
}
TITLES = {WEEKLY: "CQC care directory (weekly)", MONTHLY: "care directory with filters (monthly)"}

# The weekly file's service types: today's names, and those of files before 2021.
NURSING_TYPES = {"care home service with nursing", "nursing homes", "nursing home"}
RESIDENTIAL_TYPES = {"care home service without nursing", "residential homes", "residential home"}


class FileError(ValueError):
    """The file is not a CQC directory file this can read; the message says why, in plain English."""


class BadRow(ValueError):
    """A row that cannot be imported as it stands: reported with its line number, never half-imported."""


class NotWanted(ValueError):
    """A row the import leaves out by design (not a care home, another local authority): counted, not listed."""


@dataclass(frozen=True)
class Sheet:
    kind: str  # WEEKLY or MONTHLY
    unit: str  # "line" for a CSV, "row" for a spreadsheet: what the user sees in their program
    total: int  # rows after the header (for a progress bar; blank ones included)
    rows: Iterator[tuple[int, dict[str, str]]]  # (line or row number, {field: text})

    @property
    def title(self) -> str:
        return TITLES[self.kind]


@dataclass(frozen=True)
class Location:
    """One care home as CQC lists it, checked and mapped to the tracker's kinds of care."""

    line: int
    cqc_id: str
    name: str
    address: str
    postcode: str  # normalised: "TR18 2PF"
    phone: str
    local_authority: str
    latitude: float | None  # None: the file has none, so the postcode is looked up
    longitude: float | None
    kinds: tuple[str, ...]  # kind codes (NUR, RES, DNUR, DRES, MH, LD)
    beds: int | None  # registered beds; None when the file does not say (the weekly file never does)


def open_file(data: bytes, *, max_unpacked_mb: int | None = None) -> Sheet:
    """Find the directory in a CSV, XLSX or ODS file. Raises FileError.

    A spreadsheet is unpacked only if it is no larger unpacked than `max_unpacked_mb` (default: the
    CQC_MAX_UNPACKED_MB setting): reading a sheet takes several times its unpacked size in memory.
    """
    if zipfile.is_zipfile(io.BytesIO(data)):  # XLSX and ODS are both zip archives
        _check_unpacked_size(data, max_unpacked_mb or current_app.config["CQC_MAX_UNPACKED_MB"])
        return _open_spreadsheet(data)
    return _open_csv(data)


def _check_unpacked_size(data: bytes, limit_mb: int) -> None:
    """Refuse an archive that says it unpacks too large, or packs tighter than a spreadsheet can.

    The sizes checked are the ones the archive declares. They can lie, but calamine's zip reader stops
    with an error at a part's declared size, so a liar is refused too (as a file that cannot be read).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise FileError(f"This file looks like a spreadsheet but cannot be read as XLSX or ODS ({exc}).") from None
    unpacked = sum(part.file_size for part in parts)
    if unpacked > limit_mb * MB:
        raise FileError(
            f"This spreadsheet unpacks to {unpacked / MB:,.0f} MB, more than the {limit_mb:,} MB the import reads "
            "(CQC_MAX_UNPACKED_MB), so nothing was imported. Save the directory sheet alone as CSV and import "
            "that, or ask for CQC_MAX_UNPACKED_MB to be raised."
        )
    for part in parts:
        if part.file_size >= RATIO_CHECKED_FROM and part.file_size > MAX_PACKING_RATIO * max(part.compress_size, 1):
            raise FileError(
                f"This file is not a spreadsheet as CQC publishes them: its part {part.filename[:60]!r} unpacks "
                f"from {part.compress_size / MB:,.1f} MB to {part.file_size / MB:,.0f} MB, more than "
                f"{MAX_PACKING_RATIO} times, as only a file made to exhaust memory does. Nothing was imported."
            )


def _key(header: object) -> str:
    return re.sub(r"[^a-z0-9]", "", _text(header).lower())


def _columns(header: list) -> tuple[str, dict[str, int]] | None:
    """The file's kind and {field: column index} when `header` is a directory header row, else None."""
    names = [_key(cell) for cell in header]
    for kind in (MONTHLY, WEEKLY):  # the monthly file also has a "Location ID": try it first
        where = {}
        for field, accepted in COLUMNS[kind].items():
            found = next((names.index(name) for name in accepted if name in names), None)
            if found is not None:
                where[field] = found
        if all(field in where for field in REQUIRED[kind]):
            return kind, where
    return None


def _not_found() -> FileError:
    return FileError(
        "This is not a CQC directory file: no row in its first lines has the columns of the weekly CQC care "
        "directory (Name, Postcode, Service types, CQC Location ID ...) or of the monthly care directory with "
        "filters (Location ID, Care home?, Location Name ...)."
    )


def _open_csv(data: bytes) -> Sheet:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Files saved again from Excel on Windows arrive in its code page, not UTF-8.
        text = data.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    for _ in range(HEADER_SEARCH_ROWS):
        header = next(reader, None)
        if header is None:
            break
        found = _columns(header)
        if found:
            kind, where = found
            total = max(0, text.count("\n") - reader.line_num)
            return Sheet(kind, "line", total, _csv_rows(reader, where))
    raise _not_found()


def _csv_rows(reader, where: dict[str, int]) -> Iterator[tuple[int, dict[str, str]]]:
    line = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            yield line, _pick(row, where)
        line = reader.line_num + 1  # a quoted cell may span lines: a row starts after the last one ended


def _open_spreadsheet(data: bytes) -> Sheet:
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        # Monthly releases put notes on a first sheet and the directory on another: take the one with the header.
        for name in workbook.sheet_names:
            # A sheet is read when it is reached: a part larger than its declared size fails here.
            if found := _directory_in(workbook.get_sheet_by_name(name)):
                return found
    except (CalamineError, ValueError, OSError) as exc:
        raise FileError(f"This file looks like a spreadsheet but cannot be read as XLSX or ODS ({exc}).") from None
    raise _not_found()


def _directory_in(sheet) -> Sheet | None:
    rows = sheet.iter_rows()
    for number in range(1, HEADER_SEARCH_ROWS + 1):
        header = next(rows, None)
        if header is None:
            return None
        found = _columns(header)
        if found:
            kind, where = found
            last = sheet.end[0] + 1 if sheet.end else 0  # iter_rows starts at row 1, even when it is empty
            return Sheet(kind, "row", max(0, last - number), _sheet_rows(rows, number + 1, where))
    return None


def _sheet_rows(rows, first: int, where: dict[str, int]) -> Iterator[tuple[int, dict[str, str]]]:
    for number, row in enumerate(rows, start=first):
        cells = _pick(row, where)
        if any(cells.values()):
            yield number, cells


def _pick(row: list, where: dict[str, int]) -> dict[str, str]:
    return {field: _text(row[i]) if i < len(row) else "" for field, i in where.items()}


def _text(value: object) -> str:
    """A cell as text: spreadsheets hand back numbers and dates, which CSVs hold as text."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # beds 40.0 -> "40"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


# ---- one row -> one location ---------------------------------------------------------------


def location(kind: str, line: int, cells: dict[str, str], local_authority: str | None = None) -> Location:
    """Check one row and map it. Raises NotWanted or BadRow, whose message says why in plain English."""
    if kind == MONTHLY:
        if cells["care_home"].upper() != "Y":
            raise NotWanted("not a care home")
        if cells.get("dormant", "").upper() == "Y":
            raise NotWanted("dormant (registered, but not providing care)")
        nursing, residential = _flag(cells["nursing"]), _flag(cells["residential"])
        dementia, mental_health = _flag(cells.get("dementia")), _flag(cells.get("mental_health"))
        learning_disability = _flag(cells.get("learning_disability"))
        address = ", ".join(p for p in (cells.get(f, "") for f in ("street", "line2", "city", "county")) if p)
    else:
        types = _values(cells["service_types"])
        nursing, residential = bool(types & NURSING_TYPES), bool(types & RESIDENTIAL_TYPES)
        if not (nursing or residential):
            raise NotWanted("not a care home")
        specialisms = _values(cells.get("specialisms", ""))
        dementia = "dementia" in specialisms
        mental_health = any(s.startswith("mental health") for s in specialisms)
        learning_disability = any("learning disabilit" in s or "autis" in s for s in specialisms)
        address = cells.get("address", "")

    authority = " ".join(cells.get("local_authority", "").split())
    if local_authority and authority.casefold() != " ".join(local_authority.split()).casefold():
        raise NotWanted("in another local authority")
    if not (nursing or residential):
        raise BadRow("CQC lists it as a care home, but with neither care home service (with or without nursing)")

    cqc_id = cells["id"].strip()
    if not cqc_id:
        raise BadRow("it has no CQC location ID")
    if not LOCATION_ID.match(cqc_id):
        raise BadRow(f"the CQC location ID {cqc_id!r} is not one (they look like 1-123456789)")
    name = " ".join(cells["name"].split())
    if not name:
        raise BadRow("it has no name")
    if len(name) > 200:
        raise BadRow(f"its name is {len(name)} characters long: the tracker keeps up to 200")
    if not authority:
        raise BadRow("it has no local authority, so it cannot be placed in a locality")
    if len(authority) > 120:
        raise BadRow("its local authority's name is longer than 120 characters")
    postcode = postcodes.normalise(cells["postcode"])
    if postcode is None or " " not in postcode:
        raise BadRow(
            f"the postcode {cells['postcode']!r} is not a UK postcode" if cells["postcode"] else "it has no postcode"
        )
    latitude, longitude = _coordinates(cells.get("latitude", ""), cells.get("longitude", ""))

    kinds = ["NUR"] * nursing + ["RES"] * residential
    if dementia:
        kinds += ["DNUR"] * nursing + ["DRES"] * residential
    kinds += ["MH"] * mental_health + ["LD"] * learning_disability
    return Location(
        line=line,
        cqc_id=cqc_id,
        name=name,
        address=" ".join(address.split())[:300],
        postcode=postcode,
        phone=_phone(cells.get("phone", "")),
        local_authority=authority,
        latitude=latitude,
        longitude=longitude,
        kinds=tuple(kinds),
        beds=_beds(cells.get("beds", "")),
    )


def _flag(value: str | None) -> bool:
    return (value or "").strip().upper() == "Y"


def _values(cell: str) -> set[str]:
    return {" ".join(v.split()).lower() for v in cell.split("|") if v.strip()}


def _beds(raw: str) -> int | None:
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{1,5}", raw):
        raise BadRow(f"its number of beds, {raw!r}, is not a whole number")
    beds = int(raw)
    if beds > availability.MAX_BEDS:
        raise BadRow(f"its number of beds, {beds}, is more than any care home has")
    # CQC gives 0 for homes whose figure it does not hold: treated as "not said", like a blank.
    return beds or None


def _coordinates(lat_raw: str, lon_raw: str) -> tuple[float | None, float | None]:
    if not lat_raw or not lon_raw:
        return None, None
    try:
        lat, lon = float(lat_raw), float(lon_raw)
    except ValueError:
        raise BadRow(f"its latitude and longitude ({lat_raw}, {lon_raw}) are not numbers") from None
    # The bounds the admin form accepts: the UK and its islands.
    if not availability.in_uk(lat, lon):
        raise BadRow(f"its latitude and longitude ({lat_raw}, {lon_raw}) are not in the UK")
    return lat, lon


def _phone(raw: str) -> str:
    phone = " ".join(raw.split())
    # A spreadsheet that stored the number as a number dropped its leading 0 (1872 123456).
    if re.fullmatch(r"[1-9][0-9]{9}", phone):
        phone = "0" + phone
    if len(phone) > 30:
        raise BadRow(f"its phone number {phone!r} is longer than a phone number")
    return phone
