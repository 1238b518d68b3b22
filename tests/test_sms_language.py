"""The text-message language: examples from the card, and properties over any input."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracker.managers.sms_language import (
    SYNONYMS,
    Closed,
    Counts,
    Keyword,
    NotUnderstood,
    Release,
    RequestAnswer,
    example_for,
    parse,
)

KINDS = {
    "RES": "Residential",
    "NUR": "Nursing",
    "DRES": "Dementia residential",
    "DNUR": "Dementia nursing",
    "MH": "Mental health",
    "LD": "Learning disability",
    "D2A": "Short stay / discharge to assess",
}


@pytest.mark.parametrize(
    ("text", "beds"),
    [
        ("NUR 2 RES 0", {"NUR": 2, "RES": 0}),
        ("nursing 2, dementia nursing 0", {"NUR": 2, "DNUR": 0}),
        ("2 res", {"RES": 2}),
        ("RES:2, NUR:1", {"RES": 2, "NUR": 1}),
        ("  res   2  nur 1 ", {"RES": 2, "NUR": 1}),
        ("nur2 dres0", {"NUR": 2, "DRES": 0}),
        ("D2A 1", {"D2A": 1}),
        ("short stay 1", {"D2A": 1}),
        ("Residential care 3 beds free and nursing none", {"RES": 3, "NUR": 0}),
        ("dementia residential 1 DNUR 2", {"DRES": 1, "DNUR": 2}),
    ],
)
def test_it_understands_counts_in_many_forms(text, beds):
    assert parse(text, KINDS).command == Counts(beds)


@pytest.mark.parametrize(
    ("text", "word"),
    [("SAME", "SAME"), ("no change", "SAME"), ("Full", "FULL"), ("open", "OPEN"), ("STATUS", "STATUS"),
     ("link", "LINK"), ("HELP", "HELP"), ("STOP", "STOP")],
)  # fmt: skip
def test_it_understands_keywords(text, word):
    assert parse(text, KINDS).command == Keyword(word)


def test_closed_keeps_the_reason_as_written():
    assert parse("CLOSED Norovirus outbreak, 2 residents", KINDS).command == Closed("Norovirus outbreak, 2 residents")


def test_a_contact_of_several_homes_prefixes_the_short_code():
    message = parse("tre NUR 2", KINDS, home_codes=["TRE", "PEN"])
    assert (message.home_code, message.command) == ("TRE", Counts({"NUR": 2}))
    assert parse("PEN same", KINDS, home_codes=["TRE", "PEN"]).home_code == "PEN"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "That message was empty"),
        ("NUR", "How many nursing beds are free? Send, like: NUR 2"),
        ("2", "Which kind of care is 2 for?"),
        ("NUR RES 2", "How many nursing beds are free?"),
        ("NUR -1", "cannot be below 0"),
        ("NUR 2 nursing 3", "Nursing is in the message twice"),
        ("dementia 2", "Say 'dementia nursing' (DNUR) or 'dementia residential' (DRES)."),
        ("hello there", "Sorry, I did not understand 'hello'"),
        ("NUR 5000", "5000 beds is more than any home has"),
        ("closed", "Say why you are closed"),
    ],
)
def test_anything_not_understood_gets_a_short_example(text, problem):
    command = parse(text, KINDS).command
    assert isinstance(command, NotUnderstood)
    assert problem in command.problem
    assert len(command.problem) <= 120


@settings(max_examples=500)
@given(st.text(max_size=200))
@example("²")  # isdigit() but not int(): found by this test
@example("NUR ٣")  # a decimal digit from another script
def test_no_input_crashes_it(text):
    command = parse(text, KINDS, home_codes=["TRE"]).command
    assert isinstance(command, Counts | Keyword | Closed | NotUnderstood | RequestAnswer | Release)


VOCABULARY = [p.lower() for code, name in KINDS.items() for p in (code, name, *SYNONYMS.get(code, ()))]
JUNK = ["hello", "£5", "ok", "x2y", "2.5", "5%", "2-3", "some", "+2"]


@settings(max_examples=500)
@given(st.lists(st.one_of(st.sampled_from(VOCABULARY), st.integers(0, 99).map(str), st.sampled_from(JUNK)), max_size=8))
def test_only_well_formed_input_records(words):
    command = parse(" ".join(words), KINDS).command
    if isinstance(command, Counts):
        assert not any(w in JUNK for w in words)
        assert all(0 <= n <= 99 for n in command.beds.values())


@given(
    st.dictionaries(st.sampled_from(sorted(KINDS)), st.integers(0, 60), min_size=1),
    st.booleans(),
    st.sampled_from([" ", ", ", ": ", "  ", " ; "]),
    st.booleans(),
)
def test_any_well_formed_message_records_exactly_what_it_says(beds, number_first, separator, shout):
    parts = [f"{n} {code}" if number_first else f"{code}{separator.strip() or ' '} {n}" for code, n in beds.items()]
    text = separator.join(parts)
    assert parse(text.upper() if shout else text.lower(), KINDS).command == Counts(beds)


@pytest.mark.parametrize(
    ("text", "beds"),
    [
        ("NUR 2.", {"NUR": 2}),
        ("NUR: 2!", {"NUR": 2}),
        ("Nursing: 2, Residential: 0.", {"NUR": 2, "RES": 0}),
        ("nursing:2,residential:0", {"NUR": 2, "RES": 0}),
        ("Dementia nursing: 1, Short stay: 0", {"DNUR": 1, "D2A": 0}),
        ("NUR-2 RES.1", {"NUR": 2, "RES": 1}),
        ("NUR – 2", {"NUR": 2}),
        ("“NUR 2” 👍", {"NUR": 2}),
        ("NUR #2 (RES 0)", {"NUR": 2, "RES": 0}),
        ("2 nursing beds, 0 residential.", {"NUR": 2, "RES": 0}),
        ("d2a3", {"D2A": 3}),
        ("NUR 2 RES 0 thanks x", {"NUR": 2, "RES": 0}),
    ],
)
def test_it_forgives_punctuation_around_numbers_and_kind_names(text, beds):
    assert parse(text, KINDS).command == Counts(beds)


@pytest.mark.parametrize("text", ["SAME.", "Same!", "no change, thanks", "same please"])
def test_keywords_may_end_with_punctuation_or_thanks(text):
    assert parse(text, KINDS).command == Keyword("SAME")


@pytest.mark.parametrize(
    "text",
    ["CLOSED,norovirus outbreak", "Closed: norovirus outbreak", "closed-norovirus outbreak",
     "CLOSED — norovirus outbreak", "closed.norovirus outbreak", "CLOSED\tnorovirus outbreak"],
)  # fmt: skip
def test_any_separator_after_closed_keeps_the_whole_reason(text):
    assert parse(text, KINDS).command == Closed("norovirus outbreak")


def test_after_a_home_code_closed_keeps_the_whole_reason_too():
    message = parse("TRE,CLOSED, flu on ward 2", KINDS, home_codes=["TRE"])
    assert (message.home_code, message.command) == ("TRE", Closed("flu on ward 2"))


@pytest.mark.parametrize("text", ["NUR 2.5", "NUR £5", "NUR 5%", "NUR 2-3", "closedown", "NUR -1"])
def test_numbers_that_are_not_a_count_of_beds_are_not_taken_as_one(text):
    assert isinstance(parse(text, KINDS).command, NotUnderstood)


def test_a_message_not_understood_suggests_the_example_it_is_given():
    assert parse("we have beds", KINDS, example="DRES 2 LD 0").command.problem.endswith("like: DRES 2 LD 0")
    assert example_for(["LD"]) == "LD 2" and example_for([]) == "NUR 2 RES 0"


# ---- answers to bed requests, and RELEASE ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("YES 4821", RequestAnswer("yes", "4821")),
        ("yes 4821.", RequestAnswer("yes", "4821")),
        ("Yes, 4821", RequestAnswer("yes", "4821")),
        ("4821 yes", RequestAnswer("yes", "4821")),
        ("yes please 4821 thanks x", RequestAnswer("yes", "4821")),
        ('"Yes 4821" 👍', RequestAnswer("yes", "4821")),
        ("NO 4821", RequestAnswer("no", "4821")),
        ("NO 4821 no hoist available", RequestAnswer("no", "4821", "no hoist available")),
        ("no, 4821 – no hoist", RequestAnswer("no", "4821", "no hoist")),
        ("4821: no, full", RequestAnswer("no", "4821", "full")),
        ("? 4821 does the person smoke", RequestAnswer("question", "4821", "does the person smoke")),
        ("Q 4821 smoker?", RequestAnswer("question", "4821", "smoker?")),
        ("QUESTION 4821: stairs?", RequestAnswer("question", "4821", "stairs?")),
        ("YES", RequestAnswer("yes", None)),
        ("no", RequestAnswer("no", None)),
        ("? is a hoist needed", RequestAnswer("question", None, "is a hoist needed")),
        ("NO 1500", RequestAnswer("no", "1500")),  # four digits are a code: no count of beds pairs with them
    ],
)
def test_it_understands_answers_to_a_bed_request(text, answer):
    assert parse(text, KINDS).command == answer


def test_an_answer_may_start_with_the_home_code():
    message = parse("TRE yes 4821", KINDS, home_codes=["TRE"])
    assert (message.home_code, message.command) == ("TRE", RequestAnswer("yes", "4821"))


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("NUR no", Counts({"NUR": 0})),  # "no" is still a number word after a kind
        ("no nursing", Counts({"NUR": 0})),  # and before one: a count, not an answer
        ("Residential care 3 and nursing none", Counts({"RES": 3, "NUR": 0})),
        ("no change", Keyword("SAME")),
        ("No change.", Keyword("SAME")),
        ("?", Keyword("STATUS")),  # a lone question mark still asks what the tracker shows
    ],
)
def test_counts_and_keywords_with_no_in_them_are_not_answers(text, command):
    assert parse(text, KINDS).command == command


def test_no_followed_by_words_that_are_not_a_count_is_an_answer_that_knows_what_it_said_before():
    command = parse("no beds", KINDS).command
    assert (command.verdict, command.code, command.text) == ("no", None, "beds")
    assert command.otherwise == NotUnderstood("Which kind of care is 0 for? Send, like: NUR 2 RES 0")


def test_no_change_followed_by_more_is_never_a_no_to_a_request():
    assert isinstance(parse("No change, still full", KINDS).command, NotUnderstood)


@pytest.mark.parametrize(
    ("text", "command"),
    [("RELEASE 12", Release(12)), ("release hold #12", Release(12)), ("Release: 7.", Release(7))],
)
def test_release_names_a_hold(text, command):
    assert parse(text, KINDS).command == command


@pytest.mark.parametrize("text", ["RELEASE", "release the bed", "release 1234567890", "release 1 2"])
def test_release_without_one_holds_number_asks_for_it(text):
    command = parse(text, KINDS).command
    assert isinstance(command, NotUnderstood) and "RELEASE 12" in command.problem
