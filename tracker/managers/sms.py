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

from tracker import availability, bed_requests, identifiers, outbox, plaintext, vacancies
from tracker.availability import Freshness, freshness
from tracker.db import session
from tracker.extensions import csrf
from tracker.managers import links
from tracker.managers.sms_language import (
    Closed,
    Counts,
    Keyword,
    NotUnderstood,
    Release,
    RequestAnswer,
    example_for,
    parse,
)
from tracker.models import (
    CHANNEL_WORDS,
    AskedHome,
    BedRequest,
    CareHome,
    CareKind,
    Channel,
    Contact,
    Hold,
    InboundMessage,
    RequestState,
    utcnow,
)
from tracker.phones import BadPhoneNumber, to_e164
from tracker.segments import Echo, fit, segments, squeeze
from tracker.timefmt import LONDON, ago, short_time
from tracker.vacancies import Change, UpdateRejected, record_update

# Who sent it is the history row's contact_id: the words name no one (docs/data-protection.md).
SMS_ACTOR = "text message from a contact"
# What the log keeps of a text that held an NHS number or a date of birth: no patient identifier is stored.
WITHHELD = "[withheld: it held a patient identifier]"

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
        body=WITHHELD if identifiers.patient_identifier(body) else body,
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
    home_ids = sorted({c.home_id for c in contacts})

    if problem := identifiers.patient_identifier(body):
        # Refused whatever else it says: what is recorded, replied and logged never holds the identifier.
        outcome = "answer-refused" if isinstance(command, RequestAnswer) else "refused"
        return outcome, fit("Not recorded. ", problem), home_ids[0] if len(home_ids) == 1 else None, None

    if isinstance(command, Keyword) and command.word in ("STOP", "START"):
        # Twilio itself answers STOP and blocks further texts; note it so admins see why.
        for contact in contacts:
            contact.opted_out_at = utcnow() if command.word == "STOP" else None
        return ("opted-out" if command.word == "STOP" else "opted-in"), "", None, None

    if isinstance(command, RequestAnswer):
        # An answer needs no home code: the request's code (or the only open request) names the home.
        answering = [by_code[message.home_code].id] if message.home_code else home_ids
        if command.otherwise is None or _open_asks(answering):
            return _answer_request(command, answering, contacts, sid)
        command = command.otherwise  # "no beds" with no request open: read as before requests existed

    if message.home_code:
        home = by_code[message.home_code]
    elif len(home_ids) == 1:
        home = contacts[0].home
    elif isinstance(command, Release) and (hold := session.get(Hold, command.hold_id)) and hold.home_id in home_ids:
        home = session.get(CareHome, hold.home_id)
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
        command = command.otherwise if isinstance(command, RequestAnswer) else command
        problem = command.problem if command.problem.endswith((".", "?", ")")) else command.problem + "."
        return "not-understood", fit(Echo(problem), " Text HELP for more."), home.id, None
    if isinstance(command, Keyword) and command.word in ("STATUS", "LINK", "HELP"):
        return "replied", _answer(command.word, home), home.id, None

    contact = next(c for c in contacts if c.home_id == home.id)
    if isinstance(command, Release):
        return _release(command.hold_id, home, contact, sid)
    change = _change(command, home)
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


def _answer_request(
    command: RequestAnswer, home_ids: list[int], contacts: list[Contact], sid: str
) -> tuple[str, str, int | None, int | None]:
    """A YES, NO or question to a bed request, through bed_requests.answer (and so the write path)."""
    found = bed_requests.asked_by_text(home_ids, command.code)
    if isinstance(found, str):  # no such code, closed, none open or several: nothing changes
        return "answer-unmatched", fit(found), home_ids[0] if len(home_ids) == 1 else None, None
    contact = next(c for c in contacts if c.home_id == found.home_id)
    try:
        row = bed_requests.answer(found.id, command.verdict, command.text, channel=Channel.SMS, actor=SMS_ACTOR,
                                  contact_id=contact.id, idempotency_key=f"sms:{sid}")  # fmt: skip
    except UpdateRejected as rejected:
        return "answer-refused", fit("Not recorded. ", Echo(" ".join(rejected.errors.values()))), found.home_id, None
    request = found.request
    hospital = Echo(request.hospital.name, least=12)
    if command.verdict == "yes":
        parts = ("Thank you: ", hospital, f" has your YES for request {request.code} "
                 f"(1 {request.kind.name.lower()} bed). They will text if they take it.")  # fmt: skip
    elif command.verdict == "no":
        parts = (f"Thank you: your NO to request {request.code} is recorded.",)
    else:
        parts = (f"Your question on request {request.code} was sent to ", hospital, ".")
    return "answered", squeeze(*parts, most=1) or fit(*parts), found.home_id, row.seq


def _release(hold_id: int, home: CareHome, contact: Contact, sid: str) -> tuple[str, str, int | None, int | None]:
    """RELEASE 12: the home gives back a held bed, as the form's Release button does (docs/holds.md)."""
    try:
        # The write path checks, under the home's lock, that the hold is this home's and still stands.
        row = record_update(home.id, Change(release_hold=hold_id), channel=Channel.SMS, actor=SMS_ACTOR,
                            contact_id=contact.id, idempotency_key=f"sms:{sid}")  # fmt: skip
    except UpdateRejected as rejected:
        return "refused", fit("Not released. ", Echo(" ".join(rejected.errors.values()))), home.id, None
    kind = session.get(Hold, hold_id).kind_code
    reply = fit(Echo(_name(home)), f": hold {hold_id} released: that {kind} bed counts as free again. Ref {row.seq}.")
    return "released", reply, home.id, row.seq


def _open_asks(home_ids: list[int]) -> list[AskedHome]:
    """The open bed requests that asked any of these homes, oldest first."""
    query = (
        select(AskedHome)
        .join(BedRequest)
        .where(AskedHome.home_id.in_(home_ids), BedRequest.state == RequestState.OPEN)
        .order_by(BedRequest.id)
    )
    return list(session.scalars(query))


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
            "FULL = none free. CLOSED reason, or OPEN. STATUS = what we show. LINK = web form. "
            "YES or NO and a request's number answers it. RELEASE and a hold's number gives the bed back."
        )
    if home.confirmed_at is None:
        return fit(
            Echo(_name(home), least=12), f": no numbers recorded yet. Text the beds free, like: {_example(home)}"
        )
    via = CHANNEL_WORDS.get(home.confirmed_via, "") if home.confirmed_via else ""
    now = utcnow()
    state = vacancies.home_state(home)
    parts = [Echo(_name(home), least=12), ": ", *_described(state), *_holds(state["holds"], now), *_asked(home)]
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
    """' Held: 1 NUR until 16:00 (RELEASE 7).': the beds held for hospitals, which boards do not count
    as free, each with the text that gives it back. No hospital is named: STATUS keeps to one segment.

    Hours and minutes are enough: a hold lasts at most HOLD_MAX (24 hours), so it means the next one."""
    standing = availability.standing(holds, now)
    if not standing:
        return ()
    said = ", ".join(
        f"1 {h['kind']} until {datetime.fromisoformat(h['until']).astimezone(LONDON):%H:%M} (RELEASE {h['id']})"
        for h in standing
    )
    return (f" Held: {said}.",)


def _asked(home: CareHome) -> tuple[str, ...]:
    """' Asked: 4821 NUR from 7 May.': the open bed requests still waiting for this home's answer."""
    waiting = [a.request for a in _open_asks([home.id]) if a.verdict is None]
    if not waiting:
        return ()
    said = ", ".join(f"{r.code} {r.kind_code} from {bed_requests.day(r.from_date)}" for r in waiting)
    return (f" Asked: {said}.",)


def _name(home: CareHome) -> str:
    return home.name if len(home.name) <= 40 else home.name[:39] + "."
