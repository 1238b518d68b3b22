"""The one write path: validation, one transaction with history and seq, publish after commit."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from tracker import vacancies
from tracker.db import session
from tracker.models import BoardCursor, CareHome, Channel, Update
from tracker.vacancies import Change, KeyReused, UpdateRejected, record_update

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def record(home, now=NOW, **change):
    return record_update(home.id, Change(**change), channel=Channel.WEB, actor="test", now=now)


def history_count() -> int:
    return session.scalar(select(func.count()).select_from(Update))


@pytest.fixture
def published():
    """The seqs the write path announced (what boards and families' pages are sent)."""
    sent = []

    def listener(row):
        sent.append(row.seq)

    vacancies.recorded.connect(listener)
    yield sent
    vacancies.recorded.disconnect(listener)


def test_it_records_counts_and_a_history_row(app, make_home, published):
    home = make_home()
    row = record(home, counts={"NUR": "2", "RES": 0})
    session.expire_all()
    home = session.get(CareHome, home.id)
    assert (home.offer("NUR").available, home.offer("RES").available) == (2, 0)
    assert home.confirmed_at == NOW and home.confirmed_via == Channel.WEB and home.confirmed_by == "test"
    assert row.seq == 1 and home.last_seq == 1
    assert row.state["kinds"] == {"NUR": {"capacity": 40, "available": 2}, "RES": {"capacity": 20, "available": 0}}
    assert row.changed is True
    assert published == [1]


def test_seq_increases_by_one_across_homes(app, make_home, published):
    first, second = make_home(name="A"), make_home(name="B")
    seqs = [record(h, counts={"NUR": 1}).seq for h in (first, second, first)]
    assert seqs == [1, 2, 3]
    assert session.get(BoardCursor, 1).seq == 3


@pytest.mark.parametrize(
    ("counts", "field", "message"),
    [
        ({"NUR": "two"}, "NUR", "Nursing: enter a whole number of beds, like 2."),
        ({"NUR": "2.5"}, "NUR", "Nursing: enter a whole number of beds, like 2."),
        ({"NUR": ""}, "NUR", "Nursing: enter a whole number of beds, like 2."),
        ({"NUR": True}, "NUR", "Nursing: enter a whole number of beds, like 2."),
        ({"NUR": -1}, "NUR", "Nursing: the number of free beds cannot be below 0."),
        ({"NUR": 41}, "NUR", "Nursing: the home is registered for 40 beds, so no more than 40 can be free."),
        ({"MH": 1}, "MH", "Trelawney House does not offer mental health care, so its beds cannot be recorded."),
    ],
)
def test_it_refuses_bad_counts_and_writes_nothing(app, make_home, published, counts, field, message):
    home = make_home()
    with pytest.raises(UpdateRejected) as rejected:
        record(home, counts=counts)
    assert rejected.value.errors[field] == message
    assert history_count() == 0 and published == []
    session.expire_all()
    assert session.get(CareHome, home.id).confirmed_at is None
    assert session.get(BoardCursor, 1).seq == 0


def test_it_reports_every_problem_at_once(app, make_home, published):
    home = make_home()
    with pytest.raises(UpdateRejected) as rejected:
        record(home, counts={"NUR": 99, "RES": "x"}, note="n" * 281)
    assert set(rejected.value.errors) == {"NUR", "RES", "note"}
    assert rejected.value.errors["note"] == "Keep the note to 280 characters (it has 281)."


def test_a_no_change_confirmation_refreshes_the_time_and_is_marked_unchanged(app, make_home, published):
    home = make_home()
    record(home, counts={"NUR": 3, "RES": 1})
    later = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    row = record(home, now=later)
    assert row.changed is False and row.seq == 2
    assert row.state["kinds"]["NUR"]["available"] == 3
    session.expire_all()
    assert session.get(CareHome, home.id).confirmed_at == later


def test_sending_the_same_numbers_again_counts_as_a_confirmation(app, make_home, published):
    home = make_home()
    record(home, counts={"NUR": 3, "RES": 1})
    assert record(home, counts={"NUR": "3"}).changed is False


SHOWN = {"counts": {"NUR": "3", "RES": "1"}, "admissions": "open", "closed_reason": "", "reopens_on": "", "note": ""}


def test_a_confirmation_naming_the_recorded_numbers_is_recorded_as_no_change(app, make_home, published):
    home = make_home()
    record(home, counts={"NUR": 3, "RES": 1}, admissions="open")
    row = record(home, now=datetime(2026, 11, 24, 9, 0, tzinfo=UTC), confirm=True, **SHOWN)
    assert row.changed is False and history_count() == 2


@pytest.mark.parametrize(
    "differs",
    [{"counts": {"NUR": "5", "RES": "1"}}, {"counts": {"NUR": "3"}}, {"note": "Hoist"}, {"admissions": "closed"}],
)
def test_a_confirmation_of_anything_but_the_recorded_state_is_refused(app, make_home, published, differs):
    home = make_home()
    record(home, counts={"NUR": 3, "RES": 1}, admissions="open")
    with pytest.raises(UpdateRejected) as rejected:
        record(home, confirm=True, **{**SHOWN, **differs})
    assert list(rejected.value.errors)[0] == "confirm" and "Nothing was confirmed" in rejected.value.errors["confirm"]
    assert history_count() == 1 and published == [1]


def test_a_note_keeps_the_time_it_was_written_until_it_changes(app, make_home, published):
    home = make_home()
    record(home, counts={"NUR": 3, "RES": 1}, note="Hoist")
    record(home, now=datetime(2026, 11, 25, 9, 0, tzinfo=UTC), note="Hoist")
    session.expire_all()
    assert session.get(CareHome, home.id).note_at == NOW
    row = record(home, now=datetime(2026, 11, 26, 9, 0, tzinfo=UTC), note="")
    assert row.state["note_at"] is None


def test_it_will_not_confirm_numbers_never_recorded(app, make_home, published):
    home = make_home()
    with pytest.raises(UpdateRejected) as rejected:
        record(home)
    assert "nothing to confirm" in rejected.value.errors["counts"]
    assert history_count() == 0


def test_closing_needs_a_reason_and_keeps_the_reopening_date(app, make_home, published):
    home = make_home()
    with pytest.raises(UpdateRejected) as rejected:
        record(home, counts={"NUR": 0, "RES": 0}, admissions="closed", closed_reason="  ")
    assert "Say why admissions are closed" in rejected.value.errors["closed_reason"]

    row = record(
        home,
        counts={"NUR": 0, "RES": 0},
        admissions="closed",
        closed_reason="Norovirus outbreak",
        reopens_on="2026-12-01",
    )
    assert row.state["admissions"] == "closed"
    assert row.state["closed_reason"] == "Norovirus outbreak" and row.state["reopens_on"] == "2026-12-01"
    session.expire_all()
    assert session.get(CareHome, home.id).reopens_on == date(2026, 12, 1)


def test_a_confirmation_while_closed_keeps_the_home_closed(app, make_home, published):
    home = make_home()
    record(home, counts={"NUR": 0, "RES": 0}, admissions="closed", closed_reason="Flu outbreak")
    row = record(home)
    assert (row.state["admissions"], row.state["closed_reason"]) == ("closed", "Flu outbreak")


def test_opening_clears_the_reason_and_date(app, make_home, published):
    home = make_home()
    record(home, counts={"NUR": 0, "RES": 0}, admissions="closed", closed_reason="Flu", reopens_on=date(2026, 11, 30))
    row = record(home, admissions="open")
    assert (row.state["admissions"], row.state["closed_reason"], row.state["reopens_on"]) == ("open", None, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("next week", "Enter the expected reopening date as a date"),
        ("2026-11-01", "The expected reopening date has passed"),
    ],
)
def test_it_refuses_a_bad_reopening_date(app, make_home, published, raw, message):
    home = make_home()
    with pytest.raises(UpdateRejected) as rejected:
        record(home, counts={"NUR": 0, "RES": 0}, admissions="closed", closed_reason="Flu", reopens_on=raw)
    assert rejected.value.errors["reopens_on"].startswith(message)


def test_it_refuses_an_unknown_admission_status(app, make_home, published):
    home = make_home()
    with pytest.raises(UpdateRejected) as rejected:
        record(home, counts={"NUR": 0, "RES": 0}, admissions="maybe")
    assert rejected.value.errors == {"admissions": "Choose whether the home is open or closed to admissions."}


def test_it_refuses_an_unknown_home(app, published):
    with pytest.raises(UpdateRejected) as rejected:
        record_update(999, Change(counts={"NUR": 1}), channel=Channel.API, actor="test", now=NOW)
    assert rejected.value.errors == {"home": "That care home is not in the tracker."}


def test_a_repeated_submission_is_recorded_once(app, make_home, published):
    home = make_home()
    first = record_update(home.id, Change(counts={"NUR": 5}), channel=Channel.SMS, actor="t", idempotency_key="SM1")
    again = record_update(home.id, Change(counts={"NUR": 5}), channel=Channel.SMS, actor="t", idempotency_key="SM1")
    assert again.seq == first.seq
    assert history_count() == 1 and published == [1]


def test_a_repeat_that_spells_the_same_numbers_differently_is_the_same_submission(app, make_home, published):
    home = make_home()
    first = record_update(home.id, Change(counts={"NUR": 5}), channel=Channel.WEB, actor="t", idempotency_key="w1")
    again = record_update(home.id, Change(counts={"NUR": " 5"}), channel=Channel.WEB, actor="t", idempotency_key="w1")
    assert again.seq == first.seq and history_count() == 1


@pytest.mark.parametrize(
    ("other_home", "change"),
    [(True, Change(counts={"NUR": 5})), (False, Change(counts={"NUR": 4})), (False, Change(note="Hoist"))],
    ids=["another home", "other numbers", "another field"],
)
def test_a_key_reused_for_another_update_is_refused_and_writes_nothing(app, make_home, published, other_home, change):
    home, other = make_home(), make_home(name="Trevose House")
    record_update(home.id, Change(counts={"NUR": 5}), channel=Channel.WEB, actor="t", idempotency_key="w2")
    target = other if other_home else home
    with pytest.raises(KeyReused) as rejected:
        record_update(target.id, change, channel=Channel.WEB, actor="t", idempotency_key="w2")
    assert "already sent once with other details" in rejected.value.errors["form"]
    assert history_count() == 1 and published == [1]
    session.expire_all()
    assert session.get(CareHome, other.id).offer("NUR").available is None
    assert session.get(CareHome, home.id).note == ""


def test_it_announces_only_after_the_commit(app, make_home):
    home = make_home()
    seen = []

    def publish(row):
        # Another connection must already see the row: the transaction committed before publishing.
        with app.extensions["engine"].connect() as other:
            seen.append(
                other.execute(text("SELECT count(*) FROM vacancy_update WHERE seq = :s"), {"s": row.seq}).scalar()
            )

    vacancies.recorded.connect(publish)
    try:
        record(home, counts={"NUR": 1})
    finally:
        vacancies.recorded.disconnect(publish)
    assert seen == [1]


def test_history_cannot_be_rewritten(app, make_home, published):
    home = make_home()
    record(home, counts={"NUR": 1})
    for statement in ("UPDATE vacancy_update SET actor = 'someone else'", "DELETE FROM vacancy_update"):
        with pytest.raises(DatabaseError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert history_count() == 1
