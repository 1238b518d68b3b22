"""The language managers text in: `NUR 2 RES 0`, `nursing 2, dementia nursing 0`, `SAME`, `FULL`,
`CLOSED norovirus`, `OPEN`, `STATUS`, `LINK`, `HELP`; a contact of several homes starts with the
home's short code (`TRE NUR 2`). Forgiving of case, spaces, commas, colons and order.

A pure function: it reads no database and records nothing. See docs/sms-card.md.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

# Words managers use for the seeded kinds of care, beyond each kind's code and name.
SYNONYMS = {
    "RES": ("resi", "residential care"),
    "NUR": ("nurse", "nursing care"),
    "DRES": ("residential dementia", "dementia res", "dem res"),
    "DNUR": ("nursing dementia", "dementia nur", "dem nur"),
    "LD": ("learning disabilities", "learning disability care"),
    "MH": ("mental health care",),
    "D2A": ("short stay", "discharge to assess", "respite"),
}
NUMBER_WORDS = {"none": 0, "no": 0, "zero": 0, "nil": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip
FILLER = {"beds", "bed", "free", "vacant", "vacancy", "vacancies", "available", "and", "&", "+", "x", "now"}
MAX_BEDS = 999
EXAMPLE = "NUR 2 RES 0"


@dataclass(frozen=True)
class Counts:
    beds: dict[str, int]


@dataclass(frozen=True)
class Keyword:
    """SAME, FULL, OPEN, STATUS, LINK, HELP, or STOP/START (handled by Twilio; nothing to do here)."""

    word: str


@dataclass(frozen=True)
class Closed:
    reason: str


@dataclass(frozen=True)
class NotUnderstood:
    problem: str


Command = Counts | Keyword | Closed | NotUnderstood


@dataclass(frozen=True)
class Message:
    command: Command
    home_code: str | None = None
    words: tuple[str, ...] = field(default=(), repr=False)


_KEYWORDS = {
    "same": "SAME", "no change": "SAME", "nochange": "SAME", "unchanged": "SAME", "no changes": "SAME",
    "full": "FULL", "open": "OPEN", "reopen": "OPEN", "reopened": "OPEN", "status": "STATUS", "?": "STATUS",
    "link": "LINK", "form": "LINK", "help": "HELP", "info": "HELP",
    "stop": "STOP", "unsubscribe": "STOP", "stopall": "STOP", "start": "START", "unstop": "START",
}  # fmt: skip
_SEPARATORS = re.compile(r"[\s,;:=/()\[\]]+")


def parse(body: str, kinds: Mapping[str, str], home_codes: Collection[str] = ()) -> Message:
    """Understand one text. `kinds` maps each known code to its name; `home_codes` are the sender's homes."""
    text = " ".join(body.split()).strip()
    words = [w for w in _SEPARATORS.split(text.lower()) if w]
    home_code = None
    codes = {c.lower(): c for c in home_codes}
    if words and words[0] in codes and len(words) > 1:
        home_code, words = codes[words[0]], words[1:]
        text = text.split(" ", 1)[1] if " " in text else ""
    if not words:
        return Message(NotUnderstood(f"That message was empty. Send the beds free, like: {EXAMPLE}"), home_code)

    whole = " ".join(words)
    if whole in _KEYWORDS:
        return Message(Keyword(_KEYWORDS[whole]), home_code, tuple(words))
    if words[0] in ("closed", "close", "shut"):
        reason = text.split(" ", 1)[1].strip(" :-,") if " " in text else ""
        if not reason:
            return Message(NotUnderstood("Say why you are closed, like: CLOSED norovirus outbreak"), home_code)
        return Message(Closed(reason[:120]), home_code, tuple(words))
    return Message(_counts(words, kinds), home_code, tuple(words))


def _counts(words: list[str], kinds: Mapping[str, str]) -> Command:
    phrases = _phrases(kinds)
    words = [part for word in words for part in _unglue(word, phrases)]
    longest = max(len(p) for p in phrases)
    items: list[tuple[str, object]] = []  # ("kind", code) | ("number", n)
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 0, -1):
            code = phrases.get(tuple(words[i : i + size]))
            if code:
                items.append(("kind", code))
                i += size
                break
        else:
            word = words[i]
            if word in FILLER:
                pass
            elif word.isdecimal() or word in NUMBER_WORDS:
                number = NUMBER_WORDS[word] if word in NUMBER_WORDS else int(word)
                if number > MAX_BEDS:
                    return NotUnderstood(f"{word} beds is more than any home has. Send the beds free, like: {EXAMPLE}")
                items.append(("number", number))
            elif word == "dementia":
                return NotUnderstood("Say 'dementia nursing' (DNUR) or 'dementia residential' (DRES).")
            elif re.fullmatch(r"-\d+", word):
                return NotUnderstood(f"The number of beds free cannot be below 0. Send, like: {EXAMPLE}")
            else:
                return NotUnderstood(f"Sorry, I did not understand '{word[:20]}'. Send the beds free, like: {EXAMPLE}")
            i += 1

    beds: dict[str, int] = {}
    j = 0
    while j < len(items):
        pair = items[j : j + 2]
        kinds_in = [v for k, v in pair if k == "kind"]
        numbers_in = [v for k, v in pair if k == "number"]
        if len(pair) < 2 or len(kinds_in) != 1 or len(numbers_in) != 1:
            what = pair[0][1] if pair[0][0] == "kind" else None
            if what:
                return NotUnderstood(f"How many {kinds[what].lower()} beds are free? Send, like: {what} 2")
            return NotUnderstood(f"Which kind of care is {pair[0][1]} for? Send, like: {EXAMPLE}")
        code = kinds_in[0]
        if code in beds:
            return NotUnderstood(f"{kinds[code]} is in the message twice. Send each kind once, like: {EXAMPLE}")
        beds[code] = numbers_in[0]
        j += 2
    if not beds:
        return NotUnderstood(f"Send the beds free, like: {EXAMPLE}, or SAME if nothing has changed.")
    return Counts(beds)


def _unglue(word: str, phrases: Mapping[tuple[str, ...], str]) -> list[str]:
    """`nur2` and `2nur` are typed as often as `nur 2`; `d2a` is a code and stays whole."""
    if (word,) in phrases:
        return [word]
    match = re.fullmatch(r"([a-z]+)(\d+)|(\d+)([a-z]+)", word)
    return [part for part in match.groups() if part] if match else [word]


def _phrases(kinds: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    phrases: dict[tuple[str, ...], str] = {}
    for code, name in kinds.items():
        for phrase in (code, name, *SYNONYMS.get(code, ())):
            phrases[tuple(_SEPARATORS.split(phrase.lower().strip()))] = code
    return phrases


GSM_7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def fit(text: str) -> str:
    """At most two SMS segments: 306 characters of the GSM alphabet, or 134 once any other is used."""
    limit = 306 if set(text) <= GSM_7 else 134
    return text if len(text) <= limit else text[: limit - 3] + "..."
