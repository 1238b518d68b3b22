"""Care home managers update beds by text message, through Twilio. Thin: check, parse, record, reply."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from twilio.request_validator import RequestValidator
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse

from tracker import outbox, plaintext, vacancies
from tracker.availability import Freshness, freshness
from tracker.db import session
from tracker.extensions import csrf
from tracker.managers import links
from tracker.managers.sms_language import Closed, Counts, Keyword, NotUnderstood, example_for, parse
from tracker.models import (
    CHANNEL_WORDS,
    CareHome,
    CareKind,
    Channel,
    Contact,
    InboundMessage,
    utcnow,
)
from tracker.phones import BadPhoneNumber, to_e164
from tracker.segments import Echo, fit, segments
from tracker.timefmt import LONDON, ago, short_time
from tracker.vacancies import Change, UpdateRejected, record_update

# Who sent it is the history row's contact_id: the words name no one (docs/data-protection.md).
SMS_ACTOR = "text message from a contact"

bp = Blueprint("sms", __name__, url_prefix="/twilio")
SID = re.compile(r"[A-Za-z0-9]{1,64}")  # Twilio's are SM or MM and 32 hex digits
XML_ILLEGAL = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
csrf.exempt(bp)  # Twilio cannot send a CSRF token; every request is signed instead


def signed_by_twilio() -> None:
    """Refuse (403) anything Twilio did not sign for the URL it was sent to; refuse all without a token."""
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    if not token:
        abort(403, "Twilio webhooks are switched off: TWILIO_AUTH_TOKEN is not set.")
    # Behind a proxy Flask sees the wrong scheme and host: Twilio signed the public URL.
    base = current_app.config["PUBLIC_BASE_URL"] or request.host_url.rstrip("/")
    url = base + request.full_path.rstrip("?")
    if not RequestValidator(token).validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
        abort(403, "The request was not signed by Twilio for this address.")


@bp.post("/sms")
def inbound():
    signed_by_twilio()
    sid = request.form.get("MessageSid", "")
    if not SID.fullmatch(sid):
        abort(400, "MessageSid is missing or is not a message's id.")
    if done := _logged(sid):  # Twilio delivered it again: change nothing, say the same
        return twiml(done.reply)

    # Stored and parsed clean (plaintext.clean): what the log shows is what was understood.
    body = plaintext.clean(request.form.get("Body", "")[:1600])
    try:
        sender = to_e164(request.form.get("From", ""))
    except BadPhoneNumber:
        sender = plaintext.clean(request.form.get("From", ""))[:32]
    outcome, reply, home_id, seq = handle(sender, body, sid)
    reply = plaintext.clean(reply)  # a name or reason stored before the rule was kept (see twiml_response)
    log = InboundMessage(
        message_sid=sid,
        idempotency_token=plaintext.clean(request.headers.get("I-Twilio-Idempotency-Token", ""))[:120] or None,
        sender=sender,
        body=body,
        received_at=utcnow(),
        home_id=home_id,
        outcome=outcome,
        reply=reply,
        update_seq=seq,
    )
    session.add(log)
    try:
        session.commit()
    except IntegrityError:  # the same message, delivered twice at once: the first one answers
        session.rollback()
        return twiml(_logged(sid).reply)
    return twiml(reply)


@bp.post("/status")
def status_callback():
    """Twilio tells us what became of a text we sent."""
    signed_by_twilio()
    error = request.form.get("ErrorCode", "")
    # Twilio's codes have five digits; int() would refuse past 4,300 and the column holds 32 bits.
    if error and not re.fullmatch(r"[0-9]{1,9}", error):
        abort(400, "ErrorCode must be a Twilio error code: a number of up to 9 digits.")
    outbox.record_status(
        request.form.get("MessageSid", ""),
        request.form.get("MessageStatus", ""),
        int(error) if error else None,
    )
    return Response(status=204)


def twiml(reply: str) -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return twiml_response(response)


def twiml_response(response: TwiML) -> Response:
    """The TwiML document, built by the SDK (which escapes markup); a character XML 1.0 cannot carry
    (a control character in a name stored before plaintext.clean) is dropped, never sent to break it."""
    return Response(XML_ILLEGAL.sub("", str(response)), mimetype="text/xml")


def _logged(sid: str) -> InboundMessage | None:
    return session.scalars(select(InboundMessage).where(InboundMessage.message_sid == sid)).one_or_none()


def handle(sender: str, body: str, sid: str) -> tuple[str, str, int | None, int | None]:
    """What a text does: (outcome, reply, home id, update seq)."""
    contacts = session.scalars(select(Contact).where(Contact.phone == sender)).all()
    if not contacts:
        who = current_app.config["HELP_CONTACT"]
        return (
            "unknown-sender",
            fit(f"This number is not registered with the care home bed tracker. Ask {who} to add it."),
            None,
            None,
        )
    by_code = {c.home.short_code: c.home for c in contacts if c.home.short_code}
    kinds = {k.code: k.name for k in session.scalars(select(CareKind).order_by(CareKind.position))}
    message = parse(body, kinds, by_code)
    command = message.command

    if isinstance(command, Keyword) and command.word in ("STOP", "START"):
        # Twilio itself answers STOP and blocks further texts; note it so admins see why.
        for contact in contacts:
            contact.opted_out_at = utcnow() if command.word == "STOP" else None
        return ("opted-out" if command.word == "STOP" else "opted-in"), "", None, None

    if message.home_code:
        home = by_code[message.home_code]
    elif len({c.home_id for c in contacts}) == 1:
        home = contacts[0].home
    else:
        codes = sorted(by_code.items())
        listed = ", ".join(f"{code} {h.name}" for code, h in codes)
        example = f"{codes[0][0]} {_example(codes[0][1])}" if codes else f"TRE {_example(None)}"
        return (
            "needs-home",
            fit(f"You text for several homes: start with its code, like: {example}. Codes: ", Echo(listed)),
            None,
            None,
        )

    if isinstance(command, NotUnderstood):
        # Asked again with the home known, so the example is in its own kinds of care.
        command = parse(body, kinds, by_code, example=_example(home)).command
        problem = command.problem if command.problem.endswith((".", "?", ")")) else command.problem + "."
        return "not-understood", fit(Echo(problem), " Text HELP for more."), home.id, None
    if isinstance(command, Keyword) and command.word in ("STATUS", "LINK", "HELP"):
        return "replied", _answer(command.word, home), home.id, None

    change = _change(command, home)
    contact = next(c for c in contacts if c.home_id == home.id)
    try:
        row = record_update(
            home.id, change, channel=Channel.SMS, actor=SMS_ACTOR, contact_id=contact.id, idempotency_key=f"sms:{sid}"
        )
    except UpdateRejected as rejected:
        return "refused", fit("Not recorded. ", Echo(" ".join(rejected.errors.values()))), home.id, None
    what = "recorded" if row.changed else "confirmed no change"
    # Ref is the update's number, as on the web form's confirmation: the history, the board and
    # the hub can all find this very update by it. It is never shortened: the echoed reason and
    # name are, and the hint is left off when it does not fit.
    parts = (Echo(_name(home)), f": {what} at {short_time(row.recorded_at)}: ", *_described(row.state))
    reply = fit(*parts, f" Ref {row.seq}.")
    hint = f" Ref {row.seq}. Text SAME when nothing has changed."
    if row.changed and segments(with_hint := "".join(_plain(parts)) + hint) <= 2:
        reply = with_hint
    return ("recorded" if row.changed else "confirmed"), reply, home.id, row.seq


def _plain(parts) -> list[str]:
    return [p.text if isinstance(p, Echo) else p for p in parts]


def _change(command, home: CareHome) -> Change:
    if isinstance(command, Counts):
        return Change(counts=command.beds)
    if isinstance(command, Closed):
        return Change(admissions="closed", closed_reason=command.reason)
    return {
        "SAME": Change(),
        "FULL": Change(counts={o.kind_code: 0 for o in home.offers}),
        "OPEN": Change(admissions="open"),
    }[command.word]


def _example(home: CareHome | None) -> str:
    return example_for([o.kind_code for o in home.offers] if home else [])


def _answer(word: str, home: CareHome) -> str:
    if word == "LINK":
        return fit(Echo(_name(home), least=12), f": update your beds at {links.link_url(home)}")
    if word == "HELP":
        codes = " ".join(o.kind_code for o in home.offers)
        return fit(
            f"Text the beds free, like: {_example(home)}. Your kinds: {codes}. SAME = no change. "
            "FULL = none free. CLOSED reason, or OPEN. STATUS = what we show. LINK = web form."
        )
    if home.confirmed_at is None:
        return fit(
            Echo(_name(home), least=12), f": no numbers recorded yet. Text the beds free, like: {_example(home)}"
        )
    via = CHANNEL_WORDS.get(home.confirmed_via, "") if home.confirmed_via else ""
    now = utcnow()
    state = vacancies.home_state(home)
    parts = [Echo(_name(home), least=12), ": ", *_described(state), *_holds(state["holds"], now)]
    parts.append(f" Confirmed {ago(home.confirmed_at, now)} by {via}.")
    if freshness(home.confirmed_at, now) is Freshness.UNVERIFIED:
        parts.append(" Boards show this as unverified: text SAME if it is still right.")
    return fit(*parts)


def _described(state: dict) -> tuple[str | Echo, ...]:
    """What a state says, as parts for `fit`: the counts whole, the reason an echo that may be shortened."""
    counts = ", ".join(
        f"{code} {'not given' if kind['available'] is None else kind['available']}"
        for code, kind in state["kinds"].items()
    )
    if state["admissions"] == "open":
        return (f"{counts}. Open to admissions.",)
    return (f"{counts}. Closed: ", Echo(state["closed_reason"] or "", least=0), ".")


def _holds(holds: list[dict], now: datetime) -> tuple[str, ...]:
    """' 1 NUR held until 16:00.': the beds held for hospitals, which boards do not count as free.

    Hours and minutes are enough: a hold lasts at most HOLD_MAX (24 hours), so it means the next one."""
    standing = [h for h in holds if datetime.fromisoformat(h["until"]) > now]
    if not standing:
        return ()
    said = ", ".join(
        f"1 {h['kind']} until {datetime.fromisoformat(h['until']).astimezone(LONDON):%H:%M}" for h in standing
    )
    return (f" Held for hospitals: {said}.",)


def _name(home: CareHome) -> str:
    return home.name if len(home.name) <= 40 else home.name[:39] + "."
