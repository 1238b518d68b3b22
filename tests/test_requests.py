"""Bed requests (docs/requests.md): ask matching homes at once, hear their answers, take one YES as a hold."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tests.requesting import T0, VALID_NHS_NUMBER, homes_near_west_cornwall, just_after_t0  # noqa: F401
from tests.test_concurrency import run_concurrently
from tracker import bed_requests, scheduler
from tracker.bed_requests import Need, RequestRefused
from tracker.db import session
from tracker.models import (
    AskedHome,
    AuditEvent,
    BedRequest,
    Channel,
    Hold,
    OutboundMessage,
    RequestState,
    Update,
    Verdict,
)
from tracker.segments import segments
from tracker.vacancies import Change, UpdateRejected, record_update


@pytest.fixture
def homes(app, make_home, coordinator):
    """Three homes near West Cornwall Hospital: two with a nursing bed and a mobile, one full."""
    return homes_near_west_cornwall(
        make_home,
        [
            ("Trelawney House", 1, "+447700900001", 50.13),
            ("Penrose Court", 2, "+447700900002", 50.15),
            ("Full House", 0, "+447700900003", 50.14),
        ],
    )


def need(coordinator, **overrides) -> Need:
    fields = dict(hospital_id=coordinator.hospital_id, kind="NUR", from_date="2031-05-07", needs="hoist, two carers",
                  max_km="20", now=T0)  # fmt: skip
    fields.update(overrides)
    return bed_requests.read_need(**fields)


def ask(coordinator, homes, names=("Trelawney House", "Penrose Court"), **overrides):
    request, skipped = bed_requests.open_request(
        need(coordinator, **overrides), [homes[n].id for n in names], user_id=coordinator.id, now=T0
    )
    return session.get(BedRequest, request.id), skipped


def asked(request, home) -> AskedHome:
    query = select(AskedHome).where(AskedHome.request_id == request.id, AskedHome.home_id == home.id)
    return session.scalars(query).one()


def texts_to(phone) -> list[str]:
    query = select(OutboundMessage.body).where(OutboundMessage.to == phone).order_by(OutboundMessage.id)
    return list(session.scalars(query))


def answer(request, home, verdict, text="", now=T0):
    return bed_requests.answer(asked(request, home).id, verdict, text, channel=Channel.SMS, actor="text message",
                               now=now)  # fmt: skip


def test_it_lists_only_homes_that_can_count_a_bed_of_the_kind_nearest_first(homes, coordinator):
    found = bed_requests.matching_homes(need(coordinator), T0)
    assert [m.home.name for m in found] == ["Trelawney House", "Penrose Court"]
    assert [m.free for m in found] == [1, 2] and all(m.textable == 1 for m in found)
    assert not bed_requests.matching_homes(need(coordinator, kind="RES"), T0)


def test_a_home_further_than_the_distance_or_outside_the_localities_is_not_listed(homes, coordinator):
    assert [m.home.name for m in bed_requests.matching_homes(need(coordinator, max_km="2"), T0)] == ["Trelawney House"]
    other = homes["Penrose Court"].locality_id
    by_area = bed_requests.matching_homes(need(coordinator, max_km="", locality_ids=[other]), T0)
    assert {m.home.name for m in by_area} == {"Trelawney House", "Penrose Court"}  # both in West Cornwall


def test_unverified_homes_are_not_asked(homes, coordinator):
    later = T0 + timedelta(days=4)
    assert bed_requests.matching_homes(need(coordinator, from_date="2031-05-10", now=later), later) == []


@pytest.mark.parametrize(
    "needs",
    [f"hoist, NHS {VALID_NHS_NUMBER}", "PEG feeding, DOB 01/02/1940", "born 3 March 1941, two carers"],
)
def test_a_need_naming_a_patient_is_refused_and_nothing_is_sent(homes, coordinator, needs):
    with pytest.raises(RequestRefused) as refused:
        need(coordinator, needs=needs)
    assert "needs" in refused.value.errors
    assert "1940" not in refused.value.errors["needs"] and "5919" not in refused.value.errors["needs"]
    assert session.scalars(select(BedRequest)).all() == []


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("kind", {"kind": "XYZ"}),
        ("from_date", {"from_date": "2031-05-05"}),
        ("from_date", {"from_date": "soon"}),
        ("from_date", {"from_date": "2031-07-01"}),
        ("max_km", {"max_km": "-3"}),
        ("max_km", {"max_km": ""}),
        ("locality_ids", {"locality_ids": ["999"]}),
        ("needs", {"needs": "x" * 161}),
        ("hospital_id", {"hospital_id": "abc"}),
    ],
)
def test_a_need_with_a_bad_field_says_which(homes, coordinator, field, overrides):
    with pytest.raises(RequestRefused) as refused:
        need(coordinator, **overrides)
    assert field in refused.value.errors


def test_asking_texts_each_home_once_with_its_code_and_a_one_tap_link(homes, coordinator):
    request, skipped = ask(coordinator, homes)
    assert skipped == [] and request.state is RequestState.OPEN and len(request.code) == 4
    assert request.expires_at == T0 + timedelta(hours=4)
    (text,) = texts_to("+447700900001")
    assert text.startswith("West Cornwall Hospital asks for 1 nursing bed from 7 May")
    assert f"Reply YES {request.code} or NO {request.code}" in text and "/r/" in text and "hoist" in text
    assert segments(text) <= 2
    assert bed_requests.read_answer_token(text.rsplit("/r/", 1)[1]).home_id == homes["Trelawney House"].id
    assert texts_to("+447700900003") == []
    assert session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "BedRequest")).all() == [
        "request.open"
    ]


def test_a_home_that_no_longer_matches_is_not_asked_and_is_named(homes, coordinator):
    request, skipped = ask(coordinator, homes, names=("Trelawney House", "Full House"))
    assert skipped == ["Full House"]
    assert [a.home.name for a in request.asked] == ["Trelawney House"]


def test_a_forged_one_tap_token_reads_as_nothing(app):
    with app.test_request_context():
        assert bed_requests.read_answer_token("not-a-token") is None


def test_an_answer_is_a_history_row_in_the_sequence_that_confirms_nothing(homes, coordinator):
    request, _ = ask(coordinator, homes)
    home = homes["Trelawney House"]
    before = session.scalars(select(Update).where(Update.home_id == home.id).order_by(Update.seq.desc())).first()
    row = answer(request, home, "yes", now=T0 + timedelta(minutes=3))
    assert row.answer_id is not None and not row.changed and not row.confirms
    assert row.seq == before.seq + 1 or row.seq > before.seq
    assert row.state["confirmed_at"] == T0.isoformat()
    state = asked(request, home)
    assert state.verdict is Verdict.YES and state.messages[0].seq == row.seq


def test_a_question_keeps_an_earlier_yes_and_the_coordinator_replies_by_text(homes, coordinator):
    request, _ = ask(coordinator, homes)
    home = homes["Trelawney House"]
    answer(request, home, "yes")
    answer(request, home, "question", "Does the person need a hoist at night?")
    assert asked(request, home).verdict is Verdict.YES
    bed_requests.reply(asked(request, home).id, "Yes, at night too.", user_id=coordinator.id, now=T0)
    assert texts_to("+447700900001")[-1] == (
        f"West Cornwall Hospital about request {request.code}: Yes, at night too. "
        f"Reply YES {request.code} or NO {request.code}."
    )
    with pytest.raises(RequestRefused):
        bed_requests.reply(asked(request, home).id, f"NHS no {VALID_NHS_NUMBER}", user_id=coordinator.id, now=T0)


def test_an_answer_naming_a_patient_is_refused(homes, coordinator):
    request, _ = ask(coordinator, homes)
    with pytest.raises(UpdateRejected):
        answer(request, homes["Trelawney House"], "question", f"Is this {VALID_NHS_NUMBER}?")
    assert asked(request, homes["Trelawney House"]).messages == []


def test_taking_a_yes_holds_the_bed_closes_the_request_and_tells_every_home_that_answered(homes, coordinator):
    request, _ = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "yes")
    answer(request, homes["Penrose Court"], "no", "no hoist")
    row = bed_requests.choose(request.id, homes["Trelawney House"].id, user_id=coordinator.id, now=T0)
    session.expire_all()
    request = session.get(BedRequest, request.id)
    assert request.state is RequestState.CHOSEN and request.hold_id == row.hold_id
    assert session.get(Hold, row.hold_id).hospital_id == coordinator.hospital_id
    assert "is holding your nursing bed" in texts_to("+447700900001")[-1]
    assert texts_to("+447700900002")[-1].endswith(f"{request.code} is no longer needed. Thank you for answering.")
    # Told once: the clock's pass finds no one left to tell.
    assert bed_requests.thank(T0 + timedelta(minutes=5)) == 0
    assert len(texts_to("+447700900002")) == 2


def test_a_no_cannot_be_taken_and_a_closed_request_takes_no_answers(homes, coordinator):
    request, _ = ask(coordinator, homes)
    answer(request, homes["Penrose Court"], "no")
    with pytest.raises(UpdateRejected, match="has not answered yes"):
        bed_requests.choose(request.id, homes["Penrose Court"].id, user_id=coordinator.id, now=T0)
    answer(request, homes["Trelawney House"], "yes")
    bed_requests.choose(request.id, homes["Trelawney House"].id, user_id=coordinator.id, now=T0)
    with pytest.raises(UpdateRejected, match="has closed"):
        answer(request, homes["Penrose Court"], "yes")


def test_a_yes_from_a_home_that_has_since_closed_shows_as_such_and_cannot_be_taken(homes, coordinator):
    request, _ = ask(coordinator, homes)
    home = homes["Trelawney House"]
    answer(request, home, "yes")
    record_update(home.id, Change(admissions="closed", closed_reason="norovirus"), channel=Channel.SMS, actor="t",
                  now=T0 + timedelta(minutes=2))  # fmt: skip
    shown = bed_requests.request_json(session.get(BedRequest, request.id), T0 + timedelta(minutes=3))
    row = next(h for h in shown["homes"] if h["home"]["id"] == home.id)
    assert (row["verdict"], row["admissions"], row["free_now"]) == ("yes", "closed", 0)
    with pytest.raises(UpdateRejected, match="closed to admissions"):
        bed_requests.choose(request.id, home.id, user_id=coordinator.id, now=T0 + timedelta(minutes=3))
    assert session.get(BedRequest, request.id).state is RequestState.OPEN


def test_a_request_with_no_choice_expires_once_with_the_same_courtesy(homes, coordinator):
    request, _ = ask(coordinator, homes)
    answer(request, homes["Penrose Court"], "yes")
    assert bed_requests.expire_due(T0 + timedelta(hours=3)) == 0
    assert scheduler.expire_requests(T0 + timedelta(hours=4)) == 1
    assert scheduler.expire_requests(T0 + timedelta(hours=4, minutes=1)) == 0
    assert session.get(BedRequest, request.id).state is RequestState.EXPIRED
    assert texts_to("+447700900002")[-1].endswith("is no longer needed. Thank you for answering.")
    assert len(texts_to("+447700900001")) == 1  # asked, never answered: not texted again


def test_cancelling_closes_the_request(homes, coordinator):
    request, _ = ask(coordinator, homes)
    bed_requests.cancel(request.id, user_id=coordinator.id, now=T0)
    assert session.get(BedRequest, request.id).state is RequestState.CANCELLED
    with pytest.raises(RequestRefused):
        bed_requests.cancel(request.id, user_id=coordinator.id, now=T0)


def test_a_text_finds_its_request_by_code_or_the_only_open_one(homes, coordinator):
    first, _ = ask(coordinator, homes)
    trelawney = [homes["Trelawney House"].id]
    assert bed_requests.asked_by_text(trelawney, None).request_id == first.id
    assert bed_requests.asked_by_text(trelawney, first.code).request_id == first.id
    assert "no bed request 0000" in bed_requests.asked_by_text(trelawney, "0000")
    second, _ = ask(coordinator, homes)
    assert "2 open bed requests" in bed_requests.asked_by_text(trelawney, None)
    bed_requests.cancel(first.id, user_id=coordinator.id, now=T0)
    assert "has closed" in bed_requests.asked_by_text(trelawney, first.code)
    assert bed_requests.asked_by_text(trelawney, None).request_id == second.id
    assert "no open bed request" in bed_requests.asked_by_text([homes["Full House"].id], None)


def test_open_codes_are_unique(homes, coordinator):
    codes = {ask(coordinator, homes)[0].code for _ in range(12)}
    assert len(codes) == 12


def test_two_coordinators_taking_two_yeses_at_once_hold_one_bed(app, homes, coordinator):
    request, _ = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "yes")
    answer(request, homes["Penrose Court"], "yes")
    ids = (homes["Trelawney House"].id, homes["Penrose Court"].id)

    def take(index):
        try:
            bed_requests.choose(request.id, ids[index % 2], user_id=coordinator.id, now=T0)
            return "held"
        except UpdateRejected as refused:
            return str(refused)

    outcomes = run_concurrently(app, take, 4)
    assert outcomes.count("held") == 1
    assert len(session.scalars(select(Hold)).all()) == 1


def test_the_request_json_shows_every_answer_in_order(homes, coordinator):
    request, _ = ask(coordinator, homes)
    answer(request, homes["Trelawney House"], "question", "Is a hoist needed?")
    bed_requests.reply(asked(request, homes["Trelawney House"]).id, "Yes.", user_id=coordinator.id, now=T0)
    answer(request, homes["Trelawney House"], "yes")
    shown = bed_requests.request_json(session.get(BedRequest, request.id), T0)
    assert shown["from_date"] == date(2031, 5, 7).isoformat() and shown["needs"] == "hoist, two carers"
    home = shown["homes"][0]
    assert [(m["from_home"], m["verdict"], m["text"]) for m in home["messages"]] == [
        (True, "question", "Is a hoist needed?"),
        (False, None, "Yes."),
        (True, "yes", ""),
    ]
    assert home["free_now"] == 1 and home["verdict"] == "yes"
