"""The chaser (tracker.chasing.ladder.run_pass): the reminder ladder, working hours across the clock
changes, resets, escalation, and sending each text once however passes overlap or die.

Time is controlled: every pass and update is given its `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from tracker.chasing import ladder
from tracker.db import session
from tracker.managers import contacts, links
from tracker.models import CareHome, Channel, OutboundMessage, OutboundState
from tracker.segments import segments
from tracker.vacancies import Change, record_update

from .signed import MANAGER, WEBHOOK_ENV, text
from .test_concurrency import run_concurrently
from .twilio_fake import QUEUED, TWILIO_ENV, using

DEPUTY = "+447700900124"
HUB = "+447700900500"
# Tuesday 24 November 2026, 09:00 GMT: within working hours.
MORNING = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def home(app, make_home):
    home = make_home(name="Trelawney House", offers={"NUR": 40, "RES": 20}, phone="01736 100200")
    contacts.add_contact(home, MANAGER, "Jo")
    contacts.add_contact(home, DEPUTY, "Sam")
    home.locality.escalation_name, home.locality.escalation_phone = "West Cornwall hub", HUB
    session.commit()
    return home


def confirm(home: CareHome, at: datetime, channel=Channel.WEB, **counts) -> None:
    change = Change(counts=counts or {o.kind_code: 1 for o in home.offers})
    record_update(home.id, change, channel=channel, actor="manager", now=at)


def texts(purpose: str | None = None) -> list[OutboundMessage]:
    query = select(OutboundMessage).order_by(OutboundMessage.id)
    if purpose:
        query = query.where(OutboundMessage.purpose == purpose)
    return session.scalars(query).all()


def reloaded(home: CareHome) -> CareHome:
    return session.get(CareHome, home.id, populate_existing=True)


def passes(start: datetime, end: datetime, every=timedelta(minutes=5)) -> None:
    """Run the chaser as the clock would, from start to end."""
    moment = start
    while moment <= end:
        ladder.run_pass(moment)
        moment += every


# ---- the ladder ----------------------------------------------------------------------------


def test_a_home_confirmed_within_a_day_is_not_reminded(home):
    confirm(home, MORNING)
    ladder.run_pass(MORNING + 23 * H)
    assert texts() == []


def test_the_first_reminder_goes_to_every_contact_once_the_home_is_due(home):
    confirm(home, MORNING)
    steps = ladder.run_pass(MORNING + 24 * H)
    assert [(s.action, s.number) for s in steps] == [("reminder", 1)]
    sent = texts("reminder")
    assert sorted(m.to for m in sent) == [MANAGER, DEPUTY]
    assert all(m.state == OutboundState.OUTBOX for m in sent)
    assert reloaded(home).reminders_sent == 1


def test_a_reminder_carries_the_form_link_and_says_reply_same(home, client):
    confirm(home, MORNING)
    ladder.run_pass(MORNING + 24 * H)
    body = texts("reminder")[0].body
    assert "Reply SAME" in body and "unchanged since 09:00 Tue 24 Nov?" in body
    assert segments(body) == 1
    link = body.split("update: ")[1]
    assert client.get(link.split("127.0.0.1:5000")[1]).status_code == 200  # the one-tap form


def test_a_home_that_never_reported_is_asked_for_its_numbers(home):
    home.chase_due_at = MORNING  # due from when it was added: the clock here, not the wall clock
    session.commit()
    ladder.run_pass(MORNING)
    body = texts("reminder")[0].body
    assert "please text your free beds, like: NUR 2 RES 0" in body and segments(body) == 1


def test_a_reminder_is_one_segment_where_the_link_allows_shortening_a_long_name(home, app):
    confirm(home, MORNING)
    app.config["PUBLIC_BASE_URL"] = "https://beds.cornwall.nhs.uk"  # 28 characters: a link of about 70
    assert segments(ladder.reminder_text(home, with_code=True)) == 1
    home.name = "The Trelawney Nursing and Residential Care Home"
    body = ladder.reminder_text(home)
    assert segments(body) == 1 and body.startswith("The Trelawney Nursing...: free beds unchanged since")
    assert body.endswith(links.link_url(home))
    app.config["PUBLIC_BASE_URL"] = "https://care-home-beds.integrated-care-board.example.nhs.uk"
    body = ladder.reminder_text(home)  # the link leaves too little room: two segments, the name whole
    assert segments(body) == 2 and body.startswith(home.name + ": ") and body.endswith(links.link_url(home))


def test_a_contact_of_several_homes_is_told_the_code_to_reply_with(home, make_home):
    other = make_home(name="Penrose Court")
    contacts.add_contact(other, MANAGER)
    session.commit()
    confirm(home, MORNING)
    confirm(other, MORNING + 2 * H)
    ladder.run_pass(MORNING + 24 * H)
    by_phone = {m.to: m.body for m in texts("reminder")}
    assert f"Reply {reloaded(home).short_code} SAME" in by_phone[MANAGER]
    assert "Reply SAME" in by_phone[DEPUTY]


def test_reminders_repeat_every_four_hours_up_to_three_then_the_locality_is_told(home):
    confirm(home, MORNING)
    due = MORNING + 24 * H  # 09:00: reminders at 09:00, 13:00 and 17:00; escalation due at 21:00
    passes(due, due + 24 * H)
    reminders = texts("reminder")
    assert [m.created_at for m in reminders[::2]] == [due, due + 4 * H, due + 8 * H]
    (escalation,) = texts("escalation")
    next_morning = due + 23 * H  # 08:00: escalation waits for working hours too
    assert escalation.to == HUB and escalation.created_at == next_morning
    assert "Trelawney House (West Cornwall) has not confirmed its beds since 09:00 Tue 24 Nov" in escalation.body
    assert "not answered 3 reminders" in escalation.body and "01736 100200" in escalation.body
    escalated = reloaded(home)
    assert escalated.escalated_at == next_morning and escalated.chase_due_at is None
    assert ladder.not_answering_since(escalated) == due


def test_an_escalated_home_is_not_chased_again_until_it_answers(home):
    confirm(home, MORNING)
    passes(MORNING + 24 * H, MORNING + 24 * H + 5 * 24 * H, every=timedelta(minutes=30))
    assert len(texts("reminder")) == 6 and len(texts("escalation")) == 1


def test_an_update_at_any_step_resets_the_ladder(home):
    confirm(home, MORNING)
    due = MORNING + 24 * H
    passes(due, due + 5 * H)  # two reminders
    confirm(home, due + 6 * H, channel=Channel.SMS)
    fresh = reloaded(home)
    assert (fresh.reminders_sent, fresh.first_reminded_at, fresh.chase_due_at) == (0, None, due + 30 * H)
    passes(due + 6 * H, due + 29 * H)
    assert len(texts("reminder")) == 4  # nothing more until the new confirmation is a day old
    ladder.run_pass(due + 30 * H)
    assert len(texts("reminder")) == 6 and "reminder:" in texts("reminder")[-1].dedupe_key


def test_a_reply_same_by_text_answers_the_reminder(home, make_app, environ):
    app = make_app({**environ, **WEBHOOK_ENV}, {"TESTING": True})
    home = reloaded(home)  # in the new app's session
    ladder.set_overrides(home, {"hours": "00:00-24:00"})  # the text below arrives at the real time
    session.commit()
    confirm(home, datetime.now(UTC) - 30 * H)
    ladder.run_pass(datetime.now(UTC))
    assert reloaded(home).reminders_sent == 1
    reply = text(app.test_client(), "SAME")
    assert "confirmed no change" in reply
    assert reloaded(home).reminders_sent == 0 and reloaded(home).escalated_at is None


def test_an_update_clears_the_escalation(home):
    confirm(home, MORNING)
    passes(MORNING + 24 * H, MORNING + 48 * H)
    assert reloaded(home).escalated_at is not None
    confirm(home, MORNING + 49 * H)
    assert reloaded(home).escalated_at is None and ladder.not_answering_since(reloaded(home)) is None


def test_a_home_nobody_can_text_is_escalated_at_once(app, make_home):
    home = make_home(name="Silent House")
    contacts.add_contact(home, MANAGER)
    home.contacts[0].opted_out_at = MORNING
    home.locality.escalation_phone = HUB
    session.commit()
    confirm(home, MORNING)
    (step,) = ladder.run_pass(MORNING + 24 * H)
    assert step.action == "escalation" and "no contact of the home can be texted" in step.note
    assert [m.to for m in texts()] == [HUB]


def test_a_locality_without_an_escalation_contact_still_flags_the_home(home):
    home.locality.escalation_phone = None
    session.commit()
    confirm(home, MORNING)
    passes(MORNING + 24 * H, MORNING + 48 * H)
    assert texts("escalation") == [] and reloaded(home).escalated_at == MORNING + 47 * H


# ---- working hours, UK time, across the clock changes ---------------------------------------


@pytest.mark.parametrize(
    ("moment", "sends"),
    [
        (datetime(2026, 10, 24, 7, 30, tzinfo=UTC), True),  # Saturday 08:30 BST
        (datetime(2026, 10, 25, 7, 30, tzinfo=UTC), False),  # Sunday 07:30 GMT: the clocks went back
        (datetime(2026, 10, 25, 8, 0, tzinfo=UTC), True),  # 08:00 GMT
        (datetime(2026, 10, 24, 19, 0, tzinfo=UTC), False),  # 20:00 BST
        (datetime(2026, 10, 25, 19, 59, tzinfo=UTC), True),  # 19:59 GMT
        (datetime(2027, 3, 27, 7, 30, tzinfo=UTC), False),  # Saturday 07:30 GMT
        (datetime(2027, 3, 28, 7, 30, tzinfo=UTC), True),  # Sunday 08:30 BST: the clocks went forward
        (datetime(2027, 3, 28, 19, 0, tzinfo=UTC), False),  # 20:00 BST
    ],
)
def test_reminders_go_only_in_uk_working_hours(home, moment, sends):
    confirm(home, moment - 25 * H)
    steps = ladder.run_pass(moment)
    assert [s.action for s in steps] == (["reminder"] if sends else ["waiting"])
    assert bool(texts()) is sends


@pytest.mark.parametrize(
    ("due", "first_reminder"),
    [
        # Due late on Saturday 24 October (BST); the clocks go back overnight: 08:00 GMT.
        (datetime(2026, 10, 24, 21, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        # Due late on Saturday 27 March 2027 (GMT); the clocks go forward overnight: 08:00 BST.
        (datetime(2027, 3, 27, 21, 0, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
    ],
)
def test_a_home_due_overnight_is_reminded_at_eight_local_time_after_a_clock_change(home, due, first_reminder):
    confirm(home, due - 24 * H)
    passes(due, first_reminder + H)
    assert {m.created_at for m in texts("reminder")} == {first_reminder}


def test_a_repeat_that_falls_due_at_night_waits_for_the_morning(home):
    confirm(home, MORNING + 8 * H)  # 17:00: due 17:00 the next day, the repeat at 21:00
    passes(MORNING + 32 * H, MORNING + 48 * H)
    assert [m.created_at for m in texts("reminder")[::2]] == [MORNING + 32 * H, MORNING + 47 * H]


# ---- per-home overrides ----------------------------------------------------------------------


def test_a_home_may_be_due_later_than_the_default(home):
    ladder.set_overrides(home, {"stale_after": "48h"})
    confirm(home, MORNING)
    ladder.run_pass(MORNING + 30 * H)
    assert texts() == []
    ladder.run_pass(MORNING + 48 * H)
    assert len(texts("reminder")) == 2


def test_a_home_with_its_own_hours_is_reminded_only_then(home):
    ladder.set_overrides(home, {"hours": "10:00-16:00", "max_reminders": "1"})
    confirm(home, MORNING - 24 * H)
    assert [s.action for s in ladder.run_pass(MORNING)] == ["waiting"]
    assert [s.action for s in ladder.run_pass(MORNING + H)] == ["reminder"]
    assert [s.action for s in ladder.run_pass(MORNING + 5 * H)] == ["escalation"]


def test_a_home_not_chased_gets_no_reminder(home):
    ladder.set_overrides(home, {"enabled": False})
    session.commit()
    confirm(home, MORNING)
    passes(MORNING + 24 * H, MORNING + 48 * H, every=H)
    assert texts() == [] and reloaded(home).chase_due_at is None


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"stale_after": "soon"}, "expected a duration"),
        ({"hours": "20:00-08:00"}, "the start must come before the end"),
        ({"max_reminders": "lots"}, "invalid literal"),
        ({"remind_every": "1m"}, "no more often than every 5m"),
        ({"colour": "blue"}, "not a chasing setting"),
    ],
)
def test_a_bad_override_is_refused_and_changes_nothing(home, overrides, problem):
    with pytest.raises(ladder.PolicyError, match=problem):
        ladder.set_overrides(home, overrides)
    assert reloaded(home).chase_policy is None


# ---- once only -------------------------------------------------------------------------------


def test_two_passes_at_once_send_each_reminder_once(app, make_home):
    homes = []
    for i in range(12):
        each = make_home(name=f"Home {i}", locality="Penwith")
        contacts.add_contact(each, f"+4477009002{i:02d}")
        homes.append(each)
    session.commit()
    for each in homes:
        confirm(each, MORNING)
    run_concurrently(app, lambda _i: ladder.run_pass(MORNING + 24 * H), 4)
    sent = texts("reminder")
    assert sorted(m.to for m in sent) == sorted(f"+4477009002{i:02d}" for i in range(12))
    assert {reloaded(each).reminders_sent for each in homes} == {1}


def test_a_pass_killed_midway_and_run_again_sends_each_reminder_once(make_app, environ, make_home):
    app = make_app({**environ, **TWILIO_ENV}, {"TESTING": True})
    with app.app_context():
        for i in range(5):
            each = make_home(name=f"Home {i}", locality="Penwith")
            contacts.add_contact(each, f"+4477009003{i:02d}")
            session.commit()
            confirm(each, MORNING)

        class Killed(BaseException):
            """The clock process dying while its third text is in flight."""

        fake = using(app, [QUEUED, QUEUED, Killed(), QUEUED])
        with pytest.raises(Killed):
            ladder.run_pass(MORNING + 24 * H)
        session.remove()  # the dead process's uncommitted work is gone
        ladder.run_pass(MORNING + 24 * H + timedelta(minutes=1))
        ladder.run_pass(MORNING + 24 * H + timedelta(minutes=20))  # after the cut-off attempt's timeout

        assert sorted(fake.sent_to()) == sorted(f"+4477009003{i:02d}" for i in range(5))  # nobody twice
        states = {m.to: m.state for m in texts("reminder")}
        assert list(states.values()).count(OutboundState.UNCERTAIN) == 1  # the one cut off: may have gone
        assert list(states.values()).count(OutboundState.QUEUED) == 4
        assert session.scalar(select(func.max(CareHome.reminders_sent))) == 1


def test_a_reminder_twilio_could_not_take_is_retried_and_the_ladder_moves_on(make_app, environ, home):
    app = make_app({**environ, **TWILIO_ENV}, {"TESTING": True})
    with app.app_context():
        busy = (503, {"code": 20503, "message": "Service Unavailable", "status": 503})
        fake = using(app, [busy, QUEUED])
        confirm(home, MORNING)
        ladder.run_pass(MORNING + 24 * H)
        assert {m.state for m in texts("reminder")} == {OutboundState.PENDING, OutboundState.QUEUED}
        ladder.run_pass(MORNING + 24 * H + timedelta(minutes=1))
        first, second, retried = fake.sent_to()
        assert retried == first != second
        assert {m.state for m in texts("reminder")} == {OutboundState.QUEUED}
        ladder.run_pass(MORNING + 28 * H)
        assert len(fake.requests) == 5 and reloaded(home).reminders_sent == 2


def test_a_reminder_is_stored_once_even_if_the_ladder_were_claimed_twice(home):
    confirm(home, MORNING)
    ladder.run_pass(MORNING + 24 * H)
    fresh = reloaded(home)
    # Put the ladder back as if the claim had never happened: the stored keys still refuse a repeat.
    fresh.reminders_sent, fresh.chase_due_at = 0, MORNING + 24 * H
    session.commit()
    assert ladder.run_pass(MORNING + 24 * H) == []
    assert len(texts("reminder")) == 2


# ---- the board -------------------------------------------------------------------------------


def received(board, name: str) -> list[dict]:
    return [event["args"][0] for event in board.get_received("/board") if event["name"] == name]


def escalate_at_once(home: CareHome) -> None:
    ladder.set_overrides(home, {"hours": "00:00-24:00", "max_reminders": "0"})
    session.commit()


def test_an_escalation_flags_the_home_on_boards_and_an_update_clears_it(home, board_client):
    now = datetime.now(UTC)
    confirm(home, now - 40 * H)
    escalate_at_once(home)
    board = board_client()
    board.get_received("/board")
    ladder.run_pass(now)
    assert received(board, "flag") == [{"home_id": home.id, "not_answering_since": now.isoformat()}]

    current_app.extensions["board_snapshots"].clear()  # as a second later, when the one cached expires
    (snap,) = received(board_client(), "snapshot")
    assert snap["homes"][0]["not_answering_since"] == now.isoformat()

    confirm(home, now)
    (update,) = received(board, "update")
    assert update["home"]["not_answering_since"] is None


def test_a_board_given_a_reused_snapshot_still_learns_of_a_flag_set_since(home, board_client):
    now = datetime.now(UTC)
    confirm(home, now - 40 * H)
    escalate_at_once(home)
    board_client().get_received("/board")  # builds the snapshot the next board is given again
    ladder.run_pass(now)
    board = board_client()
    assert received(board, "flags") == [{"homes": {str(home.id): now.isoformat()}}]


def test_a_board_replaying_what_it_missed_learns_of_flags_set_meanwhile(home, board_client):
    now = datetime.now(UTC)
    confirm(home, now - 40 * H)
    since = reloaded(home).last_seq
    escalate_at_once(home)
    ladder.run_pass(now)
    board = board_client({"since": since, "region": "all"})
    assert received(board, "flags") == [{"homes": {str(home.id): now.isoformat()}}]


def test_a_board_up_to_date_with_no_flags_gets_no_flags_event(home, board_client):
    confirm(home, MORNING)
    board = board_client({"since": reloaded(home).last_seq, "region": "all"})
    assert [e["name"] for e in board.get_received("/board")] == ["tick"]  # caught up, and nothing else


@pytest.mark.parametrize(
    ("moment", "goes_at"),
    [
        (datetime(2026, 11, 24, 9, 0, tzinfo=UTC), datetime(2026, 11, 24, 9, 0, tzinfo=UTC)),  # now
        (datetime(2026, 11, 24, 6, 0, tzinfo=UTC), datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),  # this morning
        (datetime(2026, 11, 24, 21, 0, tzinfo=UTC), datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),  # tomorrow
        (datetime(2026, 10, 24, 20, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),  # 08:00 GMT
        (datetime(2027, 3, 27, 21, 0, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),  # 08:00 BST
    ],
)
def test_a_step_due_outside_working_hours_is_shown_going_at_the_next_start(app, moment, goes_at):
    assert ladder.default_policy().next_in_hours(moment) == goes_at
