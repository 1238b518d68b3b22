"""What the bed request tests share: their instant, and homes near West Cornwall Hospital to ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tracker.db import session
from tracker.models import CareHome, Channel, Contact
from tracker.vacancies import Change, record_update

T0 = datetime(2031, 5, 6, 9, 0, tzinfo=UTC)  # 10:00 in London
VALID_NHS_NUMBER = "943 476 5919"


@pytest.fixture(autouse=True)
def just_after_t0():
    """The homes confirmed their numbers at T0; every test runs a minute later, whatever today's date."""
    with time_machine.travel(T0 + timedelta(minutes=1), tick=True):
        yield


def homes_near_west_cornwall(make_home, rows) -> dict[str, CareHome]:
    """Homes offering NUR (10) and RES (5), confirmed at T0: rows of (name, NUR beds free, mobile or None,
    latitude), by name. West Cornwall Hospital stands at 50.12 N, so latitude says how far each is."""
    made = {}
    for name, nur, phone, lat in rows:
        home = make_home(name=name, offers={"NUR": 10, "RES": 5}, phone="01736 000" + str(len(made)))
        home.latitude = lat
        if phone:
            session.add(Contact(home_id=home.id, phone=phone, name="manager"))
        session.commit()
        record_update(home.id, Change(counts={"NUR": nur, "RES": 0}), channel=Channel.WEB, actor="t", now=T0)
        made[name] = session.get(CareHome, home.id)
    return made
