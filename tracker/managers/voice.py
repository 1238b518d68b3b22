"""Care home managers update beds from a phone keypad, through Twilio.

Stateless: what the caller has keyed so far rides in the action URL of each <Gather>, and Twilio
signs every request it makes, query string included, so the caller cannot alter it.
Flow: (which home, if several) -> one number per kind of care, then # -> read back -> 1 to record.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy import select
from twilio.twiml.voice_response import Gather, VoiceResponse

from tracker import availability
from tracker.db import session
from tracker.extensions import csrf
from tracker.managers.sms import SID, signed_by_twilio, twiml_response
from tracker.models import CareHome, Channel, Contact
from tracker.phones import BadPhoneNumber, to_e164
from tracker.vacancies import Change, UpdateRejected, record_update

bp = Blueprint("voice", __name__, url_prefix="/twilio")
csrf.exempt(bp)

VOICE_ACTOR = "phone call from a contact"  # who: the history row's contact_id
VOICE = {"voice": "Polly.Amy", "language": "en-GB"}  # a British voice; Twilio falls back if unavailable


@bp.post("/voice")
def call():
    signed_by_twilio()
    try:
        caller = to_e164(request.form.get("From", ""))
    except BadPhoneNumber:
        caller = ""
    homes = sorted({c.home for c in session.scalars(select(Contact).where(Contact.phone == caller))}, key=_by_name)
    if not homes:
        who = current_app.config["HELP_CONTACT"]
        return _say_and_hang_up(
            f"This number is not registered with the care home bed tracker. Please ask {who} to add it."
        )

    args = request.args
    home = _chosen(homes, args)
    if home is None:
        return _choose_home(homes)
    entered = _entered(args.get("entered", ""))
    offers = home.offers

    if "Digits" in request.form and args.get("stage") == "count" and len(entered) < len(offers):
        offer = offers[len(entered)]
        digits = request.form["Digits"].strip()
        if not re.fullmatch(r"[0-9]+", digits):
            return _ask(
                home, entered, f"Sorry, I did not get a number. {offer.kind.name} beds free: key the number, then hash."
            )
        number = _number(digits)
        if number is None or not availability.capacity_holds(offer.capacity, number):
            return _ask(
                home,
                entered,
                f"That is more than your {offer.capacity} registered {offer.kind.name} beds. Please try again.",
            )
        entered = [*entered, (offer.kind_code, number)]

    if args.get("stage") == "confirm" and "Digits" in request.form:
        if request.form["Digits"] == "1":
            return _record(home, entered, caller)
        entered = []  # 2, or anything else: start again

    if len(entered) < len(offers):
        offer = offers[len(entered)]
        return _ask(home, entered, f"{offer.kind.name} beds free: key the number, then hash.")
    return _confirm(home, entered)


def _record(home: CareHome, entered: list[tuple[str, int]], caller: str) -> Response:
    contact = session.scalars(select(Contact).where(Contact.phone == caller, Contact.home_id == home.id)).first()
    call_sid = request.form.get("CallSid", "")
    key = f"voice:{call_sid}" if SID.fullmatch(call_sid) else None
    try:
        record_update(
            home.id, Change(counts=dict(entered)), channel=Channel.VOICE, actor=VOICE_ACTOR,
            contact_id=contact.id if contact else None, idempotency_key=key,
        )  # fmt: skip
    except UpdateRejected as rejected:
        return _say_and_hang_up("Nothing was recorded. " + " ".join(rejected.errors.values()))
    return _say_and_hang_up(f"Recorded for {home.name}: {_spoken(home, entered)}. Thank you. Goodbye.")


def _ask(home: CareHome, entered: list[tuple[str, int]], prompt: str) -> Response:
    response = VoiceResponse()
    gather = Gather(input="dtmf", finish_on_key="#", timeout=10, action=_action(home, entered, "count"), method="POST")
    gather.say(prompt, **VOICE)
    response.append(gather)
    response.say("I did not hear anything.", **VOICE)
    response.redirect(_action(home, entered, "again"), method="POST")
    return _twiml(response)


def _confirm(home: CareHome, entered: list[tuple[str, int]]) -> Response:
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, timeout=10, action=_action(home, entered, "confirm"), method="POST")
    gather.say(f"You keyed {_spoken(home, entered)}. Press 1 to record this, or 2 to start again.", **VOICE)
    response.append(gather)
    response.say("Nothing was recorded. Goodbye.", **VOICE)
    return _twiml(response)


def _choose_home(homes: list[CareHome]) -> Response:
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, timeout=10, action=url_for("voice.call"), method="POST")
    menu = " ".join(f"For {h.name}, press {i}." for i, h in enumerate(homes[:9], start=1))
    gather.say(f"Which home are you calling about? {menu}", **VOICE)
    response.append(gather)
    response.say("Goodbye.", **VOICE)
    return _twiml(response)


def _chosen(homes: list[CareHome], args) -> CareHome | None:
    if len(homes) == 1:
        return homes[0]
    if (chosen := _number(args.get("home", ""), digits=10)) is not None:
        return next((h for h in homes if h.id == chosen), None)
    keyed = _number(request.form.get("Digits", ""))
    if not args.get("stage") and keyed is not None and 1 <= keyed <= min(9, len(homes)):
        return homes[keyed - 1]
    return None


def _number(raw: str, digits: int = 6) -> int | None:
    """Keyed digits as a number, None for anything else. Checked before int(), which takes "١٢" and " 7",
    and refuses (ValueError) past 4,300 digits."""
    if not re.fullmatch(r"[0-9]+", raw) or len(significant := raw.lstrip("0")) > digits:
        return None
    return int(significant or "0")


def _action(home: CareHome, entered: list[tuple[str, int]], stage: str) -> str:
    query = {"home": home.id, "entered": ".".join(f"{c}-{n}" for c, n in entered), "stage": stage}
    return url_for("voice.call") + "?" + urlencode(query)


def _entered(raw: str) -> list[tuple[str, int]]:
    pairs = []
    for part in filter(None, raw.split(".")):
        code, _, number = part.partition("-")
        if (value := _number(number)) is not None:
            pairs.append((code, value))
    return pairs


def _spoken(home: CareHome, entered: list[tuple[str, int]]) -> str:
    names = {o.kind_code: o.kind.name.lower() for o in home.offers}
    return ", ".join(f"{names.get(code, code)} {n}" for code, n in entered)


def _by_name(home: CareHome) -> str:
    return home.name


def _say_and_hang_up(text: str) -> Response:
    response = VoiceResponse()
    response.say(text, **VOICE)
    response.hangup()
    return _twiml(response)


def _twiml(response: VoiceResponse) -> Response:
    return twiml_response(response)
