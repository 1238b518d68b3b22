"""Random text messages from managers, signed as Twilio signs them, and what to check in each reply.

Used by tests/test_sms_fuzz.py (a few hundred messages on each database) and bench/sms_fuzz.py
(10,000). Seeded: the same seed sends the same messages.
"""

from __future__ import annotations

import random
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from tracker.db import session
from tracker.managers import contacts
from tracker.models import InboundMessage, Update
from tracker.plaintext import NON_PRINTING
from tracker.segments import CUT, segments

from .signed import OUR_NUMBER, WEBHOOK_ENV, signed_post

ENV = {**WEBHOOK_ENV, "HELP_CONTACT": "the Treliske discharge hub"}
ONE_HOME = "+447700900123"
TWO_HOMES = "+447700900124"

# Names a region really has: curly apostrophes, an accent, one longer than a reply shows whole.
HOMES = [
    ("St Piran’s House", {"NUR": 40, "RES": 20}),
    ("Trelawney Nursing and Residential Care Home for the Elderly — Penzance", {"NUR": 30, "DNUR": 12, "D2A": 4}),
    ("Café Court", {"RES": 25}),
]
KIND_WORDS = {
    "NUR": ["NUR", "nur", "Nursing", "nursing:", "nurse", "Nursing care"],
    "RES": ["RES", "res", "Residential", "resi", "Residential care,"],
    "DNUR": ["DNUR", "dementia nursing", "Dementia Nursing:", "dem nur"],
    "D2A": ["D2A", "d2a", "short stay", "Short stay:"],
}
PUNCTUATION = ["", "", "", ".", ",", "!", ":", ";", "?", "…", "’", "”", " :)", " 👍", "-", " –", "#"]
UNICODE = [
    "’",
    "‘",
    "“",
    "”",
    "–",
    "—",
    "…",
    "é",
    "ü",
    "ñ",
    "😷",
    "🦠",
    "👍🏽",
    "❤️",
    "中",
    "€",
    "{",
    "[",
    "~",
    "\\",
    "^",
]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u200b", "\u200e", "\u202e",
           "\u2028", "\ufeff", "\ufffe", "\uffff", "\ue000", "\t", "\r\n", "\n"]  # fmt: skip
REASON_WORDS = ["norovirus", "outbreak", "flu", "Covid", "staff", "shortage", "CQC", "inspection", "infection",
                "control", "until", "Friday", "manager's", "advice", "D&V", "<b>", "&amp;", "]]>", "'", '"',
                "<!--"]  # fmt: skip
CLOSED_WORDS = ["CLOSED", "closed", "Closed", "CLOSED,", "closed:", "Closed -", "closed.", "SHUT", "close", "CLOSED—"]
KEYWORDS = ["SAME", "same.", "Same!", "no change", "FULL", "full.", "OPEN", "open!", "STATUS", "status?", "?",
            "HELP", "LINK", "link please"]  # fmt: skip


def setup_homes(make_home) -> list:
    """The homes and their contacts: one phone for the first home, one for all of them (it sends codes)."""
    homes = [make_home(name=name, offers=offers) for name, offers in HOMES]
    contacts.add_contact(homes[0], ONE_HOME, "Jo (manager)")
    for home in homes:
        contacts.add_contact(home, TWO_HOMES, "Sam “deputy”")
    session.commit()
    return homes


SAID = re.compile(r": (?:recorded|confirmed no change) at \d\d:\d\d \w{3} \d{1,2} \w{3}: (.*?)\. ((?:Open|Closed).*)$")


def _noise(rng: random.Random, pool: list[str], rate: float) -> str:
    return rng.choice(pool) if rng.random() < rate else ""


def _reason(rng: random.Random) -> str:
    words = []
    for _ in range(rng.choice([1, 2, 3, 5, 12, 30])):  # some far longer than the 120 kept
        words.append(rng.choice(REASON_WORDS) + _noise(rng, UNICODE, 0.2) + _noise(rng, CONTROL, 0.1))
    return " ".join(words)


def _counts(rng: random.Random) -> str:
    parts = []
    for code in rng.sample(sorted(KIND_WORDS), rng.randint(1, 3)):
        kind = rng.choice(KIND_WORDS[code])
        number = str(rng.choice([0, 1, 2, 3, 5, 12, 20, 45, 1000, -1]))
        number = rng.choice(PUNCTUATION[:8]) * rng.random().__lt__(0.2) + number + rng.choice(PUNCTUATION)
        parts.append(f"{number} {kind}" if rng.random() < 0.2 else f"{kind}{rng.choice([' ', '', ': ', '-'])}{number}")
    return rng.choice([" ", ", ", "; ", "\n", "  "]).join(parts)


def body(rng: random.Random, codes: list[str]) -> str:
    """One message: mostly what managers send, with punctuation, emoji, control characters and junk."""
    roll = rng.random()
    if roll < 0.35:
        text = _counts(rng)
    elif roll < 0.6:
        text = f"{rng.choice(CLOSED_WORDS)}{rng.choice([' ', '', '  ', chr(9)])}{_reason(rng)}"
    elif roll < 0.8:
        text = rng.choice(KEYWORDS)
    elif roll < 0.9:
        alphabet = UNICODE + CONTROL + list("abcXYZ 0123456789,.:;!?-'\"<>&")
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
    else:
        text = rng.choice(["", " ", "NUR", "CLOSED", "dementia 2", "we have some beds", "NUR 2 NUR 3", "x" * 2000])
    if codes and rng.random() < 0.9:
        text = f"{rng.choice(codes)}{rng.choice([' ', ': ', ', ', '. '])}{text}"
    return _noise(rng, CONTROL, 0.05) + text + _noise(rng, CONTROL + PUNCTUATION, 0.1)


def send(client, sid: str, sender: str, text: str):
    return signed_post(client, "/twilio/sms", {"MessageSid": sid, "From": sender, "To": OUR_NUMBER, "Body": text})


@dataclass
class Tally:
    sent: int = 0
    malformed: int = 0  # a reply that is not well-formed XML, or not a 200
    ref_lost: int = 0  # a recorded update whose reply lacks its whole Ref, or takes more than two segments
    differs: int = 0  # a record and its reply that disagree, or a record for a reply that says none was made
    unprintable: int = 0  # a non-printing character stored
    outcomes: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def problem(self, kind: str, text: str, detail: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {text!r} -> {detail}")


def run(client, homes: list, count: int, seed: int) -> Tally:
    """Send `count` random messages and check each reply against what was stored."""
    rng = random.Random(seed)
    codes = [h.short_code for h in homes]
    tally = Tally()
    for n in range(count):
        sid = f"SM{seed:08d}{n:024d}"
        several = rng.random() < 0.5
        text = body(rng, codes if several else [])
        response = send(client, sid, TWO_HOMES if several else ONE_HOME, text)
        tally.sent += 1
        document = response.get_data()
        try:
            root = ET.fromstring(document)
        except ET.ParseError as exc:
            tally.problem("malformed", text, f"{exc}: {document[:200]!r}")
            continue
        if response.status_code != 200:
            tally.problem("malformed", text, f"HTTP {response.status_code}")
            continue
        message = root.find("Message")
        sent_reply = message.text if message is not None else ""
        check(tally, text, sid, sent_reply or "")
    return tally


def check(tally: Tally, text: str, sid: str, sent_reply: str) -> None:
    log = session.scalars(select(InboundMessage).where(InboundMessage.message_sid == sid)).one()
    tally.outcomes[log.outcome] += 1
    row = session.scalars(select(Update).where(Update.idempotency_key == f"sms:{sid}")).one_or_none()
    stored = [log.body, log.reply, log.sender]
    if row is not None:
        stored += [row.actor, row.state["closed_reason"] or "", row.state["note"]]
    if any(unicodedata.category(c) in NON_PRINTING for value in stored for c in value):
        tally.problem("unprintable", text, repr(stored))
    if sent_reply != log.reply:
        tally.problem("differs", text, f"sent {sent_reply!r}, stored {log.reply!r}")
    if log.outcome not in ("recorded", "confirmed"):
        if row is not None:
            tally.problem("differs", text, f"Update {row.seq} recorded, but the reply says {sent_reply!r}")
        return
    if row is None or log.update_seq != row.seq:
        tally.problem("differs", text, f"the reply says recorded, but no update has key sms:{sid}")
        return
    if f" Ref {row.seq}." not in sent_reply or segments(sent_reply) > 2:
        tally.problem("ref_lost", text, sent_reply)
    said = _what_it_says(sent_reply)
    if said is None or not _agrees(said, row.state):
        tally.problem("differs", text, f"reply {sent_reply!r}, record {row.state!r}")


def _what_it_says(reply: str) -> tuple[str, str | None] | None:
    """(counts, closed reason or None for open) from a reply that recorded something."""
    said = SAID.search(reply)
    if said is None:
        return None
    counts, status = said.groups()
    if status.startswith("Open to admissions."):
        return counts, None
    reason, ref, _ = status.removeprefix("Closed: ").rpartition(". Ref ")
    return (counts, reason) if status.startswith("Closed: ") and ref else None


def _agrees(said: tuple[str, str | None], state: dict) -> bool:
    counts = ", ".join(
        f"{code} {'not given' if kind['available'] is None else kind['available']}"
        for code, kind in state["kinds"].items()
    )
    if said[0] != counts:
        return False
    if state["admissions"] == "open":
        return said[1] is None
    reason, recorded = said[1], state["closed_reason"]
    return reason == recorded or (reason.endswith(CUT) and recorded.startswith(reason[: -len(CUT)].rstrip()))
