"""Texts and keypad calls into the Twilio webhooks, signed with the twilio SDK's RequestValidator as Twilio signs them.

tests/twilio_fake.py is the other direction: a stand-in for the Messages API the tracker sends through.
"""

from __future__ import annotations

import itertools
import re
from html import unescape

from twilio.request_validator import RequestValidator

from tracker.db import session
from tracker.managers import contacts
from tracker.models import CareHome

TOKEN = "twilio-test-auth-token"
BASE = "https://beds.example.nhs.uk"
# What an app needs to check signatures: the token, and the public URL Twilio signed (docs/configuration.md).
WEBHOOK_ENV = {"TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_BASE_URL": BASE}
MANAGER = "+447700900123"
OUR_NUMBER = "+447700900999"
_sids = itertools.count(1)


def signature(path: str, params: dict, *, token: str = TOKEN, url: str | None = None) -> str:
    return RequestValidator(token).compute_signature(url or BASE + path, params)


def signed_post(client, path, params, *, token=TOKEN, url=None, headers=None):
    sign = signature(path, params, token=token, url=url)
    return client.post(path, data=params, headers={"X-Twilio-Signature": sign, **(headers or {})})


def text(client, body, sender=MANAGER, sid=None) -> str:
    """Text `body` from `sender`; the TwiML reply, after checking it is one."""
    params = {"MessageSid": sid or f"SM{next(_sids):032d}", "From": sender, "To": OUR_NUMBER, "Body": body}
    response = signed_post(client, "/twilio/sms", params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    return response.get_data(as_text=True)


class Call:
    """Follows the TwiML the way Twilio would: say, gather digits, post them to the action URL."""

    def __init__(self, client, caller=MANAGER):
        self.client, self.caller, self.twiml = client, caller, ""

    def post(self, path="/twilio/voice", digits=None):
        params = {"CallSid": "CA0001", "From": self.caller, "To": OUR_NUMBER}
        if digits is not None:
            params["Digits"] = digits
        response = signed_post(self.client, path, params)
        assert response.status_code == 200 and response.mimetype == "text/xml"
        self.twiml = response.get_data(as_text=True)
        return self

    def key(self, digits):
        action = unescape(re.search(r'<Gather action="([^"]+)"', self.twiml).group(1))
        return self.post(action, digits)

    def says(self) -> str:
        return " ".join(unescape(s) for s in re.findall(r"<Say[^>]*>([^<]*)</Say>", self.twiml))


def managed_home(make_home, contact_name: str = "Jo") -> CareHome:
    """Trelawney House (40 nursing, 20 residential beds), with MANAGER as its contact."""
    home = make_home(name="Trelawney House", offers={"NUR": 40, "RES": 20})
    contacts.add_contact(home, MANAGER, contact_name)
    session.commit()
    return home
