"""Chasing: keeping every home's numbers fresh by asking, persistently, in working hours.

A home's ladder: once its last confirmation is older than `stale_after`, a reminder by text to
each of its contacts (only within working hours, UK time); another every `remind_every`, up to
`max_reminders`; then escalation: a text to its locality's escalation contact, and boards show
"not answering since ...". Any recorded update or "no change" resets the ladder
(vacancies.record_update calls `reset`).

Once only, however many passes run at once (the clock, a web worker started with the scheduler
by mistake, a rerun after a crash): a step is claimed by a conditional UPDATE of the home's row
that matches only the ladder state the pass read, and the step's texts are stored in that same
transaction under a unique key (home, confirmation, step, phone). Sending them is then
outbox.deliver's job, claimed in its turn. APScheduler keeps no job store here: the claim in
these tables is what makes a second scheduler harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.exc import IntegrityError

from tracker import audit, outbox
from tracker.config import ConfigError, parse_duration, parse_hours
from tracker.coordinators import board
from tracker.db import session
from tracker.managers import contacts, links
from tracker.managers.sms_language import example_for
from tracker.models import CareHome, Contact, utcnow
from tracker.segments import Echo, fit, squeeze
from tracker.timefmt import LONDON, short_time


@dataclass(frozen=True)
class Policy:
    stale_after: timedelta
    remind_every: timedelta
    max_reminders: int
    hours: tuple[time, time]  # UK local time, start inclusive, end exclusive
    enabled: bool = True

    def in_hours(self, moment: datetime) -> bool:
        # Local wall-clock time, so 08:00 means 08:00 in both GMT and BST.
        local = moment.astimezone(LONDON).time()
        return self.hours[0] <= local < self.hours[1]

    def next_in_hours(self, moment: datetime) -> datetime:
        """`moment`, or the start of the next working hours after it (when a due step will go)."""
        if self.in_hours(moment):
            return moment
        day = moment.astimezone(LONDON).date()
        if moment.astimezone(LONDON).time() >= self.hours[1]:
            day += timedelta(days=1)
        return datetime.combine(day, self.hours[0], tzinfo=LONDON).astimezone(moment.tzinfo)


class PolicyError(ValueError):
    """A per-home override that cannot be used; the message says why."""


def default_policy() -> Policy:
    config = current_app.config
    return Policy(config["AGEING_AFTER"], config["REMIND_EVERY"], config["MAX_REMINDERS"], config["CHASE_HOURS"])


def policy_for(home: CareHome) -> Policy:
    return _apply_overrides(default_policy(), home.chase_policy or {})


def _apply_overrides(policy: Policy, overrides: Mapping[str, object]) -> Policy:
    parsed: dict[str, object] = {}
    try:
        for name, raw in overrides.items():
            if name in ("stale_after", "remind_every"):
                parsed[name] = parse_duration(name, str(raw))
            elif name == "max_reminders":
                parsed[name] = int(str(raw))
                if not 0 <= parsed[name] <= 20:
                    raise PolicyError("max_reminders: expected a number from 0 to 20")
            elif name == "hours":
                parsed[name] = parse_hours(name, str(raw))
            elif name == "enabled":
                if not isinstance(raw, bool):
                    raise PolicyError("enabled: expected true or false")
                parsed[name] = raw
            else:
                raise PolicyError(
                    f"{name}: not a chasing setting (stale_after, remind_every, max_reminders, hours, enabled)"
                )
    except (ConfigError, ValueError) as exc:
        raise PolicyError(str(exc)) from None
    if parsed.get("remind_every", policy.remind_every) < timedelta(minutes=5):
        raise PolicyError("remind_every: remind no more often than every 5m")
    return replace(policy, **parsed)


def set_overrides(home: CareHome, overrides: Mapping[str, object], now: datetime | None = None) -> Policy:
    """Replace a home's overrides (validated) and reschedule its ladder. The caller commits."""
    policy = _apply_overrides(default_policy(), overrides)
    home.chase_policy = dict(overrides) or None
    home.chase_due_at = _next_due(home, policy, now or utcnow())
    return policy


SETTINGS = ("stale_after", "remind_every", "max_reminders", "hours")


def change_policy(
    home: CareHome,
    given: Mapping[str, str | None],
    *,
    off: bool | None = None,
    clear: bool = False,
    now: datetime | None = None,
) -> Policy:
    """Change how a home is chased, as `homes chase-policy` and the home's admin page do: settings
    `given` as text (None keeps the current one), `off` stops or resumes chasing, `clear` starts from
    the defaults. Audited; raises PolicyError, changing nothing, when a setting cannot be used. The
    caller commits."""
    before = home.chase_policy
    overrides = {} if clear else dict(home.chase_policy or {})
    overrides.update({name: value for name, value in given.items() if value is not None})
    if off is not None:
        overrides["enabled"] = not off
    policy = set_overrides(home, overrides, now)
    if home.chase_policy != before:
        audit.record("home.chase_policy", home, changes={"chase_policy": [before, home.chase_policy]})
    return policy


def reset(home: CareHome, now: datetime) -> None:
    """The home has just confirmed its numbers: start its ladder again. The caller commits."""
    home.reminders_sent = 0
    home.first_reminded_at = home.last_reminded_at = home.escalated_at = None
    home.chase_due_at = _next_due(home, policy_for(home), now)


def _next_due(home: CareHome, policy: Policy, now: datetime) -> datetime | None:
    if not policy.enabled or home.escalated_at is not None:
        return None
    if home.reminders_sent:
        return home.last_reminded_at + policy.remind_every
    return now if home.confirmed_at is None else home.confirmed_at + policy.stale_after


def not_answering_since(home: CareHome) -> datetime | None:
    """For boards: when an escalated home was first asked (None while it is not escalated)."""
    if home.escalated_at is None:
        return None
    return home.first_reminded_at or home.escalated_at


# ---- the ladder's states, as conditions on care_home (the admin page lists homes by them) ----

ESCALATED = CareHome.escalated_at.is_not(None)
REMINDED = and_(CareHome.reminders_sent > 0, CareHome.escalated_at.is_(None))
NOT_CHASED = and_(CareHome.chase_due_at.is_(None), CareHome.escalated_at.is_(None))


def step_due(now: datetime) -> ColumnElement[bool]:
    """A step (a reminder or the escalation) is due at `now`."""
    return CareHome.chase_due_at <= now


def due_first_reminder(now: datetime) -> ColumnElement[bool]:
    return and_(CareHome.reminders_sent == 0, step_due(now))


# ---- one pass ------------------------------------------------------------------------------

BATCH = 500  # steps per pass: at 08:00 a night's worth falls due at once; the rest go a minute later


@dataclass
class Step:
    """What a pass did, or would do, for one home."""

    home_id: int
    home_name: str
    action: str  # "reminder", "escalation", or "waiting" (due, outside its working hours)
    number: int = 0  # which reminder
    recipients: list[str] = field(default_factory=list)
    body: str = ""
    note: str = ""

    def describe(self) -> str:
        who = ", ".join(self.recipients) or "nobody"
        what = {"reminder": f"reminder {self.number}", "escalation": "escalation", "waiting": "due"}[self.action]
        line = f"{self.home_name} (#{self.home_id}): {what}"
        if self.action != "waiting":
            line += f" to {who}"
        return line + (f" ({self.note})" if self.note else "")


def run_pass(now: datetime | None = None, *, dry_run: bool = False) -> list[Step]:
    """Take every step that is due at `now`, then deliver what is waiting in the outbox."""
    now = now or utcnow()
    # Plain columns first: at night most of the country can be due and waiting, checked every minute.
    due = session.execute(
        select(CareHome.id, CareHome.name, CareHome.chase_policy).where(step_due(now)).order_by(CareHome.chase_due_at)
    ).all()
    steps: list[Step] = []
    default = default_policy()
    taken = 0
    for home_id, home_name, overrides in due:
        policy = _apply_overrides(default, overrides or {})
        if not policy.in_hours(now):
            steps.append(
                Step(home_id, home_name, "waiting", note=f"outside its working hours, from {policy.hours[0]:%H:%M}")
            )
            continue
        if taken >= BATCH:
            break
        step = _take_step(home_id, policy, now, dry_run)
        if step is not None:
            steps.append(step)
            taken += 1
    if not dry_run:
        outbox.sweep(now)
    session.remove()
    return steps


def _take_step(home_id: int, policy: Policy, now: datetime, dry_run: bool) -> Step | None:
    home = session.get(CareHome, home_id, populate_existing=True)
    if home is None or home.chase_due_at is None or home.chase_due_at > now:
        return None  # changed since the pass listed it
    phones = contacts.textable(home)
    seen = (home.chase_due_at, home.reminders_sent, home.last_seq)
    episode = home.last_seq or 0  # one confirmation's ladder: a reset starts another

    if home.reminders_sent < policy.max_reminders and phones:
        number = home.reminders_sent + 1
        several = _several_homes(phones, home.id)
        bodies = {phone: reminder_text(home, with_code=phone in several) for phone in phones}
        step = Step(home.id, home.name, "reminder", number, phones, bodies[phones[0]])
        changes = {
            "reminders_sent": number,
            "first_reminded_at": home.first_reminded_at or now,
            "last_reminded_at": now,
            "chase_due_at": now + policy.remind_every,
        }
        keys = {phone: f"reminder:{home.id}:{episode}:{number}:{phone}" for phone in phones}
    else:
        locality = home.locality
        note = f"no answer to {home.reminders_sent} reminders" if phones else "no contact of the home can be texted"
        recipients = [locality.escalation_phone] if locality.escalation_phone else []
        if not recipients:
            note += f"; {locality.name} has no escalation contact"
        step = Step(home.id, home.name, "escalation", 0, recipients, escalation_text(home), note)
        bodies = {phone: step.body for phone in recipients}
        changes = {"escalated_at": now, "chase_due_at": None}
        keys = {phone: f"escalation:{home.id}:{episode}:{phone}" for phone in recipients}
    if dry_run:
        return step

    claimed = session.execute(
        update(CareHome)
        .where(
            CareHome.id == home.id,
            CareHome.chase_due_at == seen[0],
            CareHome.reminders_sent == seen[1],
            CareHome.last_seq.is_(None) if seen[2] is None else CareHome.last_seq == seen[2],
        )
        .values(**changes)
    ).rowcount
    if not claimed:  # another pass took this step, or the home has just confirmed
        session.rollback()
        return None
    messages = [
        outbox.queue(phone, bodies[phone], purpose=step.action, home_id=home.id, key=key, now=now)
        for phone, key in keys.items()
    ]
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if "dedupe_key" in str(exc.orig):  # the same text is already stored: never send it twice
            return None
        raise  # anything else is a fault to see, not a text already sent
    if step.action == "escalation":
        board.publish_flag(home.id, home.locality.region_id, not_answering_since(session.get(CareHome, home.id)))
    for message in messages:
        outbox.deliver(message.id, now=now)
    return step


# ---- what the texts say --------------------------------------------------------------------


# A reminder fits one text-message segment (160 characters) when the home's name, shortened to no
# fewer than this many characters, and its link allow; otherwise two, with the name whole.
REMINDER_NAME_LEAST = 16


def reminder_text(home: CareHome, *, with_code: bool = False) -> str:
    code = f"{home.short_code} " if with_code and home.short_code else ""
    link = links.link_url(home)
    if home.confirmed_at is None:
        rest = f": please text your free beds, like: {code}{_example(home)}, or use {link}"
    else:
        rest = f": free beds unchanged since {short_time(home.confirmed_at)}? Reply {code}SAME, or update: {link}"
    return squeeze(Echo(home.name, least=REMINDER_NAME_LEAST), rest, most=1) or fit(Echo(home.name), rest)


def escalation_text(home: CareHome) -> str:
    since = f"since {short_time(home.confirmed_at)}" if home.confirmed_at else "ever"
    asked = f" It has not answered {home.reminders_sent} reminders." if home.reminders_sent else ""
    phone = f" Phone {home.phone}." if home.phone else ""
    return fit(
        "Care home bed tracker: ",
        Echo(f"{home.name} ({home.locality.name})"),
        f" has not confirmed its beds {since}.{asked}{phone} Boards show it as not answering.",
    )


def _example(home: CareHome) -> str:
    return example_for([o.kind_code for o in home.offers])


def _several_homes(phones: list[str], home_id: int) -> set[str]:
    """Those of `phones` that also text for another home: they must name the home in a reply."""
    if not phones:
        return set()
    return set(session.scalars(select(Contact.phone).where(Contact.phone.in_(phones), Contact.home_id != home_id)))
