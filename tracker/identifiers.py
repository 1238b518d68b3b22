"""The one rule for free text that identifies a patient: an NHS number or a date of birth is refused, never stored.

Discharge coordinators describe a patient's needs to homes ("hoist, two carers", "PEG feeding") and homes
answer in words; neither may carry who the patient is (docs/data-protection.md). `patient_identifier`
says which kind of identifier it found, in words a person can act on, and never repeats it: the refusal
itself may be shown, logged or texted back. Names cannot be told from other words by a rule, so the
message asks for needs only.
"""

from __future__ import annotations

import re

from tracker.plaintext import clean

ASK = "Do not enter names, dates of birth or NHS numbers: describe needs only."
NHS_NUMBER = f"Remove the NHS number. {ASK}"
DATE_OF_BIRTH = f"Remove the date of birth. {ASK}"
FULL_DATE = f"Remove the date with a year: it may be a date of birth. Give a day and month only (such as 2 Dec). {ASK}"

# One separator between the groups of 3-3-4 digits, as NHS numbers are printed and typed. ASCII digits
# only, and no digit either side: a run of eleven (a phone number, 01872 250000) never hides ten.
_NHS = re.compile(r"(?<![0-9])([0-9]{3})[\s\-\u2010-\u2015]?([0-9]{3})[\s\-\u2010-\u2015]?([0-9]{4})(?![0-9])")

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"[0-9]{1,2}(?:st|nd|rd|th)?"
# After a month's name a year has four digits, or two after an apostrophe: "from 2 Dec 14:30" is a time.
_WORD_YEAR = r"(?:[0-9]{4}|['\u2019][0-9]{2})(?![0-9:])"
_SEP = r"[/.\-]"
_FULL_DATES = (
    # 1/2/1940, 01-02-40, 01.02.1940 (and 2/1/1940, the American order)
    re.compile(rf"(?<![0-9])([0-9]{{1,2}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{2}}|[0-9]{{4}})(?![0-9])"),
    # ISO 8601: 1940-02-01
    re.compile(rf"(?<![0-9])((?:19|20)[0-9]{{2}}){_SEP}([0-9]{{1,2}}){_SEP}([0-9]{{1,2}})(?![0-9])"),
    # 1 Feb 1940, 1st of February 1940, 1 February, 1940
    re.compile(rf"(?<![0-9]){_DAY}\s*(?:of\s+)?{_MONTH},?\s*{_WORD_YEAR}", re.IGNORECASE),
    # February 1, 1940; Feb 1st 1940
    re.compile(rf"\b{_MONTH}\s*{_DAY},?\s*{_WORD_YEAR}", re.IGNORECASE),
)
# "DOB", "D.O.B.", "date of birth", "born", then within a few words something date-like or a year.
_BIRTH = re.compile(
    rf"\b(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth|born)[\s:.,\-\u2013]*(?:(?:in|on|is|was)\s+)?"
    rf"(?:[0-9]{{4}}\b|['\u2019][0-9]{{2}}\b|[0-9]{{1,2}}{_SEP}[0-9]{{1,2}}|{_DAY}\s*(?:of\s+)?{_MONTH}|{_MONTH}\b)",
    re.IGNORECASE,
)


def patient_identifier(text: str) -> str | None:
    """None when `text` names no patient by NHS number or date of birth, else a refusal that does not repeat it."""
    text = clean(text)  # as it would be stored: a zero-width space must not split a number the eye reads whole
    if any(nhs_number_valid("".join(m.groups())) for m in _NHS.finditer(text)):
        return NHS_NUMBER
    if _BIRTH.search(text):
        return DATE_OF_BIRTH
    if any(_is_full_date(pattern, match) for pattern in _FULL_DATES for match in pattern.finditer(text)):
        return FULL_DATE
    return None


def nhs_number_valid(digits: str) -> bool:
    """Ten digits whose last is the modulus 11 check digit of the nine before it (NHS Data Dictionary)."""
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    check = 11 - sum(int(d) * weight for d, weight in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    if check == 10:  # no number is issued with this remainder
        return False
    return (0 if check == 11 else check) == int(digits[9])


def _is_full_date(pattern: re.Pattern, match: re.Match) -> bool:
    """A numeric match is a date only if its day and month could be one (either order); worded ones always are."""
    if pattern is _FULL_DATES[0]:
        first, second = int(match[1]), int(match[2])
        return (1 <= first <= 31 and 1 <= second <= 12) or (1 <= first <= 12 and 1 <= second <= 31)
    if pattern is _FULL_DATES[1]:
        return 1 <= int(match[2]) <= 12 and 1 <= int(match[3]) <= 31
    return True
