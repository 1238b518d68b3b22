"""The phones that may speak for a home by text or call, kept in E.164."""

from __future__ import annotations

import re

from sqlalchemy import select

from tracker import plaintext
from tracker.db import session
from tracker.models import CareHome, Contact
from tracker.phones import to_e164


class ContactError(ValueError):
    pass


def add_contact(home: CareHome, phone: str, name: str = "") -> Contact:
    """Register `phone` for `home` (the caller commits). A phone for several homes gets their short codes."""
    number = to_e164(phone)
    if any(c.phone == number for c in home.contacts):
        raise ContactError(f"{number} is already a contact of {home.name}.")
    contact = Contact(home=home, phone=number, name=plaintext.clean(name))
    session.add(contact)
    session.flush()
    homes = [c.home for c in session.scalars(select(Contact).where(Contact.phone == number))]
    if len(homes) > 1:
        for each in homes:
            ensure_short_code(each)
    return contact


def remove_contact(home: CareHome, phone: str) -> Contact:
    """Erase `phone` as a contact of `home` (the caller commits). The history and the audit log
    refer to it by id only, so nothing of the person is left in either."""
    number = to_e164(phone)
    contact = next((c for c in home.contacts if c.phone == number), None)
    if contact is None:
        raise ContactError(f"{number} is not a contact of {home.name}.")
    home.contacts.remove(contact)
    return contact


def textable(home: CareHome) -> list[str]:
    """The home's phones that may be texted: none that replied STOP or that Twilio says cannot take texts."""
    return [c.phone for c in home.contacts if c.opted_out_at is None and c.failed_at is None]


def ensure_short_code(home: CareHome) -> str:
    """Give the home a short code from its name (TRE for Trelawney House), unique across homes."""
    if home.short_code:
        return home.short_code
    letters = re.sub(r"[^A-Z]", "", home.name.upper()) or "HOME"
    taken = set(session.scalars(select(CareHome.short_code).where(CareHome.short_code.is_not(None))))
    candidates = [letters[:3], letters[:4], *(f"{letters[:3]}{n}" for n in range(2, 1000))]
    home.short_code = next(c for c in candidates if len(c) >= 2 and c not in taken)
    return home.short_code
