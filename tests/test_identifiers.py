"""The one rule for free text that identifies a patient (tracker/identifiers.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.identifiers import DATE_OF_BIRTH, FULL_DATE, NHS_NUMBER, nhs_number_valid, patient_identifier
from tracker.plaintext import clean


def check_digit(nine: str) -> int | None:
    """The modulus 11 check digit of nine digits, worked here apart from the code under test; None: no valid number."""
    remainder = sum(int(d) * (10 - i) for i, d in enumerate(nine)) % 11
    check = 11 - remainder
    return None if check == 10 else 0 if check == 11 else check


def spellings(number: str) -> list[str]:
    return [number, f"{number[:3]} {number[3:6]} {number[6:]}", f"{number[:3]}-{number[3:6]}-{number[6:]}"]


nines = st.text(alphabet="0123456789", min_size=9, max_size=9)
valid_numbers = nines.filter(lambda n: check_digit(n) is not None).map(lambda n: n + str(check_digit(n)))
invalid_numbers = (
    st.tuples(nines, st.integers(0, 9)).filter(lambda t: check_digit(t[0]) != t[1]).map(lambda t: t[0] + str(t[1]))
)


def test_the_check_digit_of_the_example_number_is_nine():
    assert check_digit("943476591") == 9
    assert nhs_number_valid("9434765919")
    assert not nhs_number_valid("9434765918")


@pytest.mark.parametrize("text", spellings("9434765919") + ["NHS no 943 476 5919, hoist", "(9434765919)"])
def test_it_refuses_a_valid_nhs_number_however_it_is_spaced(text):
    assert patient_identifier(text) == NHS_NUMBER


def test_it_refuses_a_number_split_by_an_invisible_character():
    assert patient_identifier("943\u200b476 5919") == NHS_NUMBER


@pytest.mark.parametrize(
    "text",
    [
        "9434765918",  # fails the check
        "943 476 5918",
        "01872 250000",  # a phone number: eleven digits
        "ring 01872 250000 after 2",
        "19434765919",  # eleven digits holding a valid ten: not an NHS number
        "94347659190",
        "020 7946 0958",
        "0800 943 4765",
    ],
)
def test_it_accepts_digits_that_are_not_an_nhs_number(text):
    assert patient_identifier(text) is None


def test_the_refusal_never_repeats_the_identifier():
    for text in ["943 476 5919", "DOB 01/02/1940", "1 Feb 1940"]:
        message = patient_identifier(text)
        assert message and "5919" not in message and "1940" not in message


@pytest.mark.parametrize(
    "text",
    [
        "1/2/1940",
        "01-02-40",
        "01.02.1940",
        "12/31/1940",  # the American order
        "1 Feb 1940",
        "1st February 1940",
        "1st of February 1940",
        "February 1, 1940",
        "Feb 1st 1940",
        "1 Feb '40",
        "1940-02-01",
        "needs hoist, 03/04/1932, PEG",
    ],
)
def test_it_refuses_a_date_with_a_year(text):
    assert patient_identifier(text) == FULL_DATE


@pytest.mark.parametrize(
    "text",
    ["DOB 1940", "dob: 1/2", "D.O.B. 1 Feb", "D.O.B 01/02/40", "date of birth 1 February", "born in 1940",
     "Born March 1938", "born '38", "born on 2nd Jan"],
)  # fmt: skip
def test_it_refuses_words_for_birth_followed_by_a_date_or_a_year(text):
    assert patient_identifier(text) == DATE_OF_BIRTH


@pytest.mark.parametrize(
    "text",
    [
        "hoist, two carers",
        "PEG feeding",
        "from 2 Dec",
        "from 2nd December, hoist",
        "from 2 Dec 14:30",
        "arrives 14:30",
        "2 carers",
        "needs 2 carers at night, 4 times a day",
        "1/2 hourly checks",
        "may need oxygen",
        "newborn 1940",  # not the word "born"
        "room 12, floor 3",
        "",
    ],
)
def test_it_accepts_needs_counts_times_and_dates_without_a_year(text):
    assert patient_identifier(text) is None


not_a_digit_at_the_end = st.text().filter(lambda t: not clean(t)[-1:].isascii() or not clean(t)[-1:].isdigit())
not_a_digit_at_the_start = st.text().filter(lambda t: not clean(t)[:1].isascii() or not clean(t)[:1].isdigit())


@given(valid_numbers, st.integers(0, 2), not_a_digit_at_the_end, not_a_digit_at_the_start)
def test_every_valid_nhs_number_in_any_text_is_refused(number, spelling, before, after):
    assert patient_identifier(before + spellings(number)[spelling] + after) == NHS_NUMBER


@given(invalid_numbers, st.integers(0, 2))
def test_no_invalid_nhs_number_alone_is_refused(number, spelling):
    assert patient_identifier(spellings(number)[spelling]) is None
