"""Counting text-message segments, and fitting replies into them without cutting what must be whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.segments import CUT, Echo, fit, segments, squeeze


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("£@é" + "a" * 157, 1),  # in the GSM-7 alphabet, one unit each
        ("{" * 80, 1),  # extension characters count double
        ("{" * 81, 2),
        ("a" * 151 + "€" + "a" * 151, 2),  # 153 + 151 units
        ("a" * 152 + "€" + "a" * 151, 2),  # 152 + 153: the escape pair is not split, it starts the next
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 units, yet not 2 segments, for the same reason
        ("’" + "a" * 69, 1),  # one curly apostrophe: UCS-2, 70 a segment
        ("’" + "a" * 70, 2),
        ("–" + "a" * 133, 2),  # 67 a segment once concatenated
        ("–" + "a" * 134, 3),
        ("😷" * 35, 1),  # outside the BMP: two UTF-16 units each
        ("😷" * 36, 2),
        ("😷" * 33 + "a" + "😷" * 33, 2),  # 67 + 66: a pair is not split across segments
        ("😷" * 34 + "😷" * 33, 3),  # 68 units do not fit a segment of 67: one pair moves on
    ],
)
def test_it_counts_segments_as_phones_send_them(text, count):
    assert segments(text) == count


def test_fit_keeps_plain_parts_and_shortens_the_echo():
    reason = "staff shortage’s effect on night cover " * 4
    reply = fit("Home: recorded. Closed: ", Echo(reason), ". Ref 123456.")
    assert reply.endswith(f"{CUT}. Ref 123456.") and segments(reply) == 2
    assert reason.startswith(reply.removeprefix("Home: recorded. Closed: ").removesuffix(f"{CUT}. Ref 123456."))


def test_fit_shortens_as_little_as_needed_and_a_shorter_echo_may_become_gsm():
    # The curly apostrophe is what made it UCS-2: cut before it, the reply is GSM-7 and holds far more.
    reply = fit("a" * 100, Echo("b" * 150 + "’" + "c" * 200))
    assert reply == "a" * 100 + "b" * 150 + CUT  # 253 characters, where UCS-2 would hold 134


def test_fit_leaves_a_text_that_fits_alone():
    assert fit("Short.", Echo(" thanks’")) == "Short. thanks’"


def test_squeeze_gives_up_rather_than_shorten_an_echo_below_its_least():
    assert squeeze(Echo("Trelawney House", least=12), ": " + "x" * 150, most=1) is None
    assert squeeze(Echo("Trelawney House", least=9), ": " + "x" * 146, most=1) == "Trelawney" + CUT + ": " + "x" * 146


def test_fit_cuts_the_end_only_when_the_fixed_words_cannot_fit():
    assert fit("a" * 400) == "a" * 303 + CUT


@given(st.text(max_size=400), st.text(max_size=200), st.integers(1, 3))
def test_fit_always_fits_and_keeps_the_tail_when_it_can(head, echo, most):
    tail = " Ref 42."
    reply = fit(head[:60], Echo(echo), tail, most=most)
    assert segments(reply) <= most
    if segments(head[:60] + CUT + tail) <= most:
        assert reply.endswith(tail) and reply.startswith(head[:60])
