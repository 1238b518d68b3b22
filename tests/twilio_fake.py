"""A stand-in for Twilio's Messages API, handed to the SDK as its HTTP client."""

from __future__ import annotations

import json
import logging

from twilio.http import HttpClient
from twilio.http.response import Response

SID = "AC" + "0" * 32
TWILIO_ENV = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+447700900999"}
QUEUED = (201, {"sid": "SM{n:032d}", "status": "queued"})


class FakeTwilio(HttpClient):
    """Answers as Twilio does and remembers what it was asked. `answers` is one answer for every
    request, or a list taken in turn (the last one repeats); an exception instance is raised.
    `{n}` in a sid is replaced by the request's number, so each message gets its own sid."""

    def __init__(self, answers):
        super().__init__(logger=logging.getLogger("twilio.http_client"), is_async=False)
        self.answers = list(answers) if isinstance(answers, list) else [answers]
        self.requests = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, **_):
        self.requests.append({"method": method, "url": url, "data": data})
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer
        if "sid" in body:
            body = {**body, "sid": body["sid"].format(n=len(self.requests))}
        return Response(status, json.dumps(body))

    def sent_to(self) -> list[str]:
        return [r["data"]["To"] for r in self.requests]


def using(app, answers) -> FakeTwilio:
    app.extensions["twilio_http_client"] = fake = FakeTwilio(answers)
    return fake
