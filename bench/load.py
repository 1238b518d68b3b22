"""Updates at a steady rate: managers' form POSTs to the tracker, or bare broadcasts to a floor server.

Sends are scheduled at fixed intervals (t0 + i / rate) and handed to a pool of threads, each with
its own keep-alive connections, so a slow response delays no later send unless every thread is busy.
The send time of each update is taken just before its request is written; `lag` says how far behind
schedule the pool fell (if it is large, the driver and not the server was the bottleneck).
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

NOTES = ("", "", "Can take bariatric patients", "Hoist available; no weekend admissions",
         "Ring before 4pm for same-day admission", "Two beds free from Friday after deep clean")  # fmt: skip
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def now_ms() -> float:
    """CLOCK_MONOTONIC in ms: the clock the Node clients stamp receipts with (process.hrtime)."""
    return time.monotonic() * 1000


@dataclass
class Sent:
    seq: int
    region: int
    t_ms: float  # just before the request was written
    response_ms: float
    lag_ms: float  # behind schedule when sent


class FormSender:
    """One thread's manager: a browser session (cookie + CSRF token) and a keep-alive connection per web process."""

    def __init__(self, urls: list[str], plan: dict, rng: random.Random):
        self.urls, self.plan, self.rng = urls, plan, rng
        self.conns = [http.client.HTTPConnection(urlsplit(u).hostname, urlsplit(u).port, timeout=30) for u in urls]
        home = plan["homes"][0]
        self.conns[0].request("GET", f"/h/{home['link']}")
        response = self.conns[0].getresponse()
        page = response.read().decode()
        match = CSRF.search(page)
        if response.status != 200 or not match:
            raise RuntimeError(f"the form did not load (HTTP {response.status}): {page[:300]}")
        self.csrf = match.group(1)
        self.cookie = response.getheader("Set-Cookie", "").split(";")[0]

    def send(self, i: int, scheduled: float) -> Sent:
        home = self.rng.choice(self.plan["homes"])
        fields = {f"kind-{code}": self.rng.randint(0, cap) for code, cap in home["kinds"].items()}
        fields.update(csrf_token=self.csrf, admissions="open", note=self.rng.choice(NOTES), action="save",
                      submission=uuid.uuid4().hex)  # fmt: skip
        body = urlencode(fields)
        conn = self.conns[i % len(self.conns)]  # alternate web processes, as the load balancer would
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie}
        t, response = _exchange(conn, "POST", f"/h/{home['link']}", body, headers)
        done = now_ms()
        location = response.getheader("Location", "")
        if response.status != 303 or "/recorded/" not in location:
            raise RuntimeError(f"form POST answered {response.status} {location!r}")
        return Sent(int(location.rsplit("/", 1)[1]), home["region"], t, done - t, t - scheduled)


class SmsSender:
    """One thread's texting manager: Twilio's webhook request, signed as Twilio signs it."""

    def __init__(self, urls: list[str], plan: dict, rng: random.Random):
        self.urls, self.plan, self.rng = urls, plan, rng
        self.conns = [http.client.HTTPConnection(urlsplit(u).hostname, urlsplit(u).port, timeout=30) for u in urls]
        self.validator = RequestValidator(plan["twilio_token"])

    def send(self, i: int, scheduled: float) -> Sent:
        home = self.rng.choice(self.plan["homes"])
        body = " ".join(f"{code} {self.rng.randint(0, cap)}" for code, cap in home["kinds"].items())
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": home["phone"], "To": "+447700900999", "Body": body}
        which = i % len(self.conns)  # alternate web processes, as the load balancer would
        signature = self.validator.compute_signature(self.urls[which] + "/twilio/sms", params)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        t, response = _exchange(self.conns[which], "POST", "/twilio/sms", urlencode(params), headers)
        done = now_ms()
        reply = response.content.decode()
        ref = re.search(r"Ref (\d+)\.", reply)
        if response.status != 200 or not ref:
            raise RuntimeError(f"SMS webhook answered {response.status}: {reply[:200]!r}")
        return Sent(int(ref.group(1)), home["region"], t, done - t, t - scheduled)


class FloorSender:
    """One thread's emitter for a floor server: it builds an update of the tracker's shape and size."""

    seq_lock = threading.Lock()

    def __init__(self, url: str, plan: dict, rng: random.Random, state: dict, regional: bool, size: int):
        self.plan, self.rng, self.state, self.regional, self.size = plan, rng, state, regional, size
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def payload(self, home: dict, seq: int, prev: int) -> dict:
        event = {"seq": seq, "prev": prev, "home": {
            "id": home["id"], "seq": seq, "admissions": "open", "closed_reason": None, "reopens_on": None, "note": "",
            "kinds": {c: {"capacity": cap, "available": self.rng.randint(0, cap)} for c, cap in home["kinds"].items()},
            "confirmed_at": datetime.now(UTC).isoformat(), "confirmed_via": "web"}}  # fmt: skip
        # Pad the note so the event is as large as the tracker's measured update event.
        pad = self.size - len(json.dumps(event, separators=(",", ":")))
        event["home"]["note"] = "x" * max(0, pad)
        return event

    def send(self, i: int, scheduled: float) -> Sent:
        home = self.rng.choice(self.plan["homes"])
        room = f"region:{home['region']}" if self.regional else "all"
        with self.seq_lock:  # seq and prev are the floor's stand-in for the tracker's per-stream cursor
            self.state["seq"] += 1
            seq = self.state["seq"]
            prev = self.state.setdefault(room, 0)
            self.state[room] = seq
        body = json.dumps({"room": room, "payload": self.payload(home, seq, prev)})
        t, response = _exchange(self.conn, "POST", "/emit", body, {"Content-Type": "application/json"})
        done = now_ms()
        if response.status != 204:
            raise RuntimeError(f"floor /emit answered {response.status}")
        return Sent(seq, home["region"], t, done - t, t - scheduled)


def _exchange(conn: http.client.HTTPConnection, method: str, path: str, body: str, headers: dict):
    """One request on a keep-alive connection; returns (send time, response with its body read).

    The server may have closed an idle connection (gunicorn's keep-alive is 2 s): reconnect and send
    again once. Repeating is safe: a form's `submission`, or a text's MessageSid, makes it a no-op.
    """
    for attempt in (1, 2):
        t = now_ms()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.content = response.read()
            return t, response
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            if attempt == 2:
                raise
        except (OSError, http.client.HTTPException):
            conn.close()  # a timed-out exchange leaves the connection unusable: the next send reconnects
            raise
    raise AssertionError("unreachable")


def run_steady(senders: list, rate: float, duration: float, grace: float = 30) -> tuple[list[Sent], list[str]]:
    """Send rate*duration updates at fixed intervals over `senders` (one thread each). Returns (sent, errors)."""
    total = int(rate * duration)
    jobs: queue.Queue = queue.Queue()
    sent: list[Sent] = []
    errors: list[str] = []
    deadline = time.monotonic() + duration + grace  # nothing runs past this, whatever the server does

    def work(sender) -> None:
        while (job := jobs.get()) is not None:
            i, scheduled = job
            if time.monotonic() > deadline:
                errors.append("not sent: past the deadline")
                continue
            try:
                sent.append(sender.send(i, scheduled))
            except (OSError, RuntimeError, http.client.HTTPException) as error:
                errors.append(str(error))

    threads = [threading.Thread(target=work, args=(s,), daemon=True) for s in senders]
    for thread in threads:
        thread.start()
    t0 = now_ms() + 50
    for i in range(total):
        scheduled = t0 + i * 1000 / rate
        pause = (scheduled - now_ms()) / 1000
        if pause > 0:
            time.sleep(pause)
        jobs.put((i, scheduled))
    for _ in threads:
        jobs.put(None)
    for thread in threads:  # a request in flight at the deadline ends within its 30 s socket timeout
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 35)
    return sorted(sent, key=lambda s: s.seq), errors
