"""REST API v1 bed requests (/api/v1/requests, docs/requests.md, docs/api.md): a hospital's token sees and
acts on its own hospital's requests, an admin's on all; a home's token and a token with no hospital are
refused; bad input is a 400, never a 500."""

from __future__ import annotations

from datetime import datetime

from tracker import bed_requests
from tracker.db import session
from tracker.models import (
    BedRequest,
    Channel,
    Contact,
    Update,
)
from tracker.timefmt import LONDON
from tracker.vacancies import Change, record_update

PROBLEM = "application/problem+json"
VALID_NHS_NUMBER = "943 476 5919"
HUGE = "9" * 5000


def a_home_to_ask(make_home, name="Penrose Court", phone="+447700900002", *, now: datetime, beds=1):
    """A home with a nursing bed free (confirmed at `now`) and a mobile to text."""
    home = make_home(name=name, offers={"NUR": 10, "RES": 5})
    session.add(Contact(home_id=home.id, phone=phone, name="Jo Smith"))
    session.commit()
    record_update(home.id, Change(counts={"NUR": beds, "RES": 0}), channel=Channel.WEB, actor="t", now=now)
    return home


def ask(hospital_id: int, homes, *, now: datetime, needs="hoist, two carers") -> BedRequest:
    """A request from `hospital_id` asking `homes` for a nursing bed from today (UK), made as the board makes it."""
    need = bed_requests.read_need(hospital_id=hospital_id, kind="NUR", from_date=today(now), needs=needs,
                                  max_km="200", now=now)  # fmt: skip
    request, _ = bed_requests.open_request(need, [h.id for h in homes], user_id=None, now=now)
    return session.get(BedRequest, request.id)


def answer(request: BedRequest, home, verdict: str, text: str = "", *, now: datetime, contact_id=None) -> Update:
    asked = next(a for a in request.asked if a.home_id == home.id)
    return bed_requests.answer(asked.id, verdict, text, channel=Channel.SMS, actor="text message from a contact",
                               contact_id=contact_id, now=now)  # fmt: skip


def today(now: datetime) -> str:
    return now.astimezone(LONDON).date().isoformat()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
