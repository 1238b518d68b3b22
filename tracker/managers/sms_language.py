"""The language managers text in: `NUR 2 RES 0`, `nursing 2, dementia nursing 0`, `SAME`, `FULL`,
`CLOSED norovirus`, `OPEN`, `STATUS`, `LINK`, `HELP`, `RELEASE 12` (a hold); answers to a bed
request: `YES 4821`, `NO 4821 no hoist`, `? 4821 does the person smoke` (or `Q`, `QUESTION`), and a
bare `YES` or `NO` for the sender's only open request. A contact of several homes starts with the
home's short code (`TRE NUR 2`). Forgiving of case, spaces, commas, colons and order.

A pure function: it reads no database and records nothing. See docs/sms-card.md.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from tracker.availability import MAX_BEDS

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
COURTESY = {"please", "thanks", "thank", "you", "ta", "cheers", "x"}
FILLER = {"beds", "bed", "free", "vacant", "vacancy", "vacancies", "available", "and", "now", "today", "currently",
          *COURTESY}  # fmt: skip
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


@dataclass(frozen=True)
class RequestAnswer:
    """YES, NO (a reason may follow) or a question, to the bed request `code` (None: the sender's only open one)."""

    verdict: str  # "yes", "no" or "question", as bed_requests.answer takes them
    code: str | None
    text: str = ""
    # A NO with no code whose words are not a count ("no beds"): what the text says if no request is
    # open, so it is answered as before requests existed.
    otherwise: NotUnderstood | None = None


@dataclass(frozen=True)
class Release:
    """RELEASE 12: the home gives back the bed held by hold 12."""

    hold_id: int


Command = Counts | Keyword | Closed | NotUnderstood | RequestAnswer | Release


@dataclass(frozen=True)
class Message:
    command: Command
    home_code: str | None = None
    words: tuple[str, ...] = field(default=(), repr=False)


_KEYWORDS = {
    "same": "SAME", "no change": "SAME", "nochange": "SAME", "unchanged": "SAME", "no changes": "SAME",
    "full": "FULL", "open": "OPEN", "reopen": "OPEN", "reopened": "OPEN", "status": "STATUS",
    "link": "LINK", "form": "LINK", "help": "HELP", "info": "HELP",
    "stop": "STOP", "unsubscribe": "STOP", "stopall": "STOP", "start": "START", "unstop": "START",
}  # fmt: skip
# Between words. Not a full stop or a hyphen: `2.5` and `2-3` are not two numbers, and `-1` is below 0.
_SEPARATORS = re.compile(r"[\s,;:=/()\[\]{}]+")
# The first word and the separators after it: what is left once a home code or CLOSED is taken off.
_FIRST_WORD = re.compile(r"\s*[^\s,;:=/()\[\]{}.!?–—-]+[\s,;:=/.!?–—_*-]*")


def parse(body: str, kinds: Mapping[str, str], home_codes: Collection[str] = (), *, example: str = EXAMPLE) -> Message:
    """Understand one text. `kinds` maps each known code to its name; `home_codes` are the sender's homes;
    `example` is what a reply that did not understand suggests (the home's own kinds, when known)."""
    text = " ".join(body.split())
    words = _words(text)
    home_code = None
    codes = {c.lower(): c for c in home_codes}
    if words and words[0] in codes and len(words) > 1:
        home_code, words = codes[words[0]], words[1:]
        text = _after_first_word(text)
    if not words:
        if text:  # only punctuation or emoji
            problem = f"Sorry, I did not understand that. Send the beds free, like: {example}"
            return Message(NotUnderstood(problem), home_code)
        return Message(NotUnderstood(f"That message was empty. Send the beds free, like: {example}"), home_code)

    whole = " ".join(w for w in words if w not in COURTESY)
    if whole in _KEYWORDS:
        return Message(Keyword(_KEYWORDS[whole]), home_code, tuple(words))
    if answer := _request_answer(text, words, kinds, example):
        return Message(answer, home_code, tuple(words))
    if words[0] == "release":
        return Message(_release(words[1:]), home_code, tuple(words))
    if _CLOSED.match(text):
        reason = _after_first_word(text).strip()
        if not reason:
            return Message(NotUnderstood("Say why you are closed, like: CLOSED norovirus outbreak"), home_code)
        return Message(Closed(reason[:120].rstrip()), home_code, tuple(words))
    return Message(_counts(words, kinds, example), home_code, tuple(words))


_CLOSED = re.compile(r"\W*(closed|close|shut)(?!\w)", re.IGNORECASE)

_VERDICTS = {"yes": "yes", "no": "no", "q": "question", "question": "question", "?": "question"}
_VERDICT = r"(yes|no|question|q|\?)(?![^\W_])"
_GAP = r"[\s,;:.!=\-–—]*"
_POLITE = rf"(?:(?:please|thanks|thank\s+you|ta|cheers)(?![^\W_]){_GAP})?"
_CODE = r"([0-9]{4})(?![0-9])"
# `YES 4821`, `Yes, 4821.`, `no 4821 no hoist`, `? 4821 does the person smoke`, `yes please 4821`, bare `NO`.
_VERDICT_FIRST = re.compile(rf"[^\w?]*{_VERDICT}{_GAP}{_POLITE}(?:{_CODE}{_GAP})?(.*)", re.IGNORECASE | re.DOTALL)
# `4821 yes`, `4821: no, no hoist`.
_CODE_FIRST = re.compile(rf"[^\w?]*{_CODE}{_GAP}{_VERDICT}{_GAP}(.*)", re.IGNORECASE | re.DOTALL)


def _request_answer(text: str, words: list[str], kinds: Mapping[str, str], example: str) -> RequestAnswer | None:
    """An answer to a bed request, or None when the text is something else.

    A request's code has four digits, which no count of beds ever pairs with (a count needs a kind),
    so with a code the text is an answer. `NO` without one is an answer only when its words are not
    a count: `no nursing` still says NUR 0, and `no change` is SAME (a keyword, taken before this)."""
    if match := _VERDICT_FIRST.fullmatch(text):
        verdict, code, rest = match.groups()
    elif match := _CODE_FIRST.fullmatch(text):
        code, verdict, rest = match.groups()
    else:
        return None
    verdict, rest = _VERDICTS[verdict.lower()], rest.strip()
    if not any(c.isalnum() for c in rest) or set(_words(rest)) <= COURTESY:  # `YES 4821 thanks`, `"Yes 4821" 👍`
        rest = ""
    if verdict != "no" or code or not rest:
        return RequestAnswer(verdict, code, rest)
    if " ".join(words[:2]) in _KEYWORDS:  # "no change, still full" is not a NO to a request
        return None
    counted = _counts(words, kinds, example)
    if isinstance(counted, Counts):
        return None
    return RequestAnswer(verdict, None, rest, otherwise=counted)


def _release(words: list[str]) -> Release | NotUnderstood:
    numbers = [w for w in words if w != "hold"]
    if len(numbers) == 1 and numbers[0].isascii() and numbers[0].isdecimal() and len(numbers[0]) <= 9:
        return Release(int(numbers[0]))
    return NotUnderstood("Say which hold to release, like: RELEASE 12. Text STATUS to see your holds' numbers.")


def _words(text: str) -> list[str]:
    """Lower-case words, punctuation around them gone; those with no letter or digit (an emoji) dropped."""
    words = []
    for token in text.lower().split():
        if set(token) == {"?"}:  # a lone question mark asks what the tracker shows
            words.append("status")
            continue
        parts = (_trimmed(part) for part in _SEPARATORS.split(token))
        words += [part for part in parts if any(c.isalnum() for c in part)]
    return words


def _trimmed(word: str) -> str:
    """`2.`, `"NUR`, `#2`, `2!`, `SAME.` and `2👍` are the words inside; `-1`, `£5` and `5%` stay as typed."""
    start, end = 0, len(word)
    while start < end and _edge(word[start]) and word[start] != "-":
        start += 1
    while end > start and _edge(word[end - 1]):
        end -= 1
    return word[start:end]


def _edge(char: str) -> bool:
    """Punctuation (not %) or a symbol like an emoji: what may stand around a word or a number."""
    category = unicodedata.category(char)
    return (category[0] == "P" and char != "%") or category == "So"


def _after_first_word(text: str) -> str:
    match = _FIRST_WORD.match(text)
    return text[match.end() :] if match else ""


def _counts(words: list[str], kinds: Mapping[str, str], example: str) -> Command:
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
                    return NotUnderstood(f"{word} beds is more than any home has. Send the beds free, like: {example}")
                items.append(("number", number))
            elif word == "dementia":
                return NotUnderstood("Say 'dementia nursing' (DNUR) or 'dementia residential' (DRES).")
            elif re.fullmatch(r"-\d+", word):
                return NotUnderstood(f"The number of beds free cannot be below 0. Send, like: {example}")
            else:
                return NotUnderstood(f"Sorry, I did not understand '{word[:20]}'. Send the beds free, like: {example}")
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
            return NotUnderstood(f"Which kind of care is {pair[0][1]} for? Send, like: {example}")
        code = kinds_in[0]
        if code in beds:
            return NotUnderstood(f"{kinds[code]} is in the message twice. Send each kind once, like: {example}")
        beds[code] = numbers_in[0]
        j += 2
    if not beds:
        return NotUnderstood(f"Send the beds free, like: {example}, or SAME if nothing has changed.")
    return Counts(beds)


def example_for(codes: list[str]) -> str:
    """An update in the words of a home's own kinds of care, like `NUR 2 RES 0`."""
    return " ".join(f"{code} {n}" for code, n in zip(codes[:2], (2, 0), strict=False)) or EXAMPLE


def _unglue(word: str, phrases: Mapping[tuple[str, ...], str]) -> list[str]:
    """`nur2`, `nur-2`, `res.1` and `2nur` are typed as often as `nur 2`; `d2a` is a code and stays
    whole, and `d2a3` is `d2a 3`."""
    if (word,) in phrases:
        return [word]
    for kind, number in (word.split(sep, 1) for sep in ".-" if sep in word):
        if (kind,) in phrases and number.isdecimal():
            return [kind, number]
    for (kind,) in (p for p in phrases if len(p) == 1 and p[0][-1].isalpha() and word.startswith(p[0])):
        if word[len(kind) :].isdecimal():
            return [kind, word[len(kind) :]]
    match = re.fullmatch(r"([a-z]+)-?(\d+)|(\d+)-?([a-z]+)", word)
    return [part for part in match.groups() if part] if match else [word]


def _phrases(kinds: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    phrases: dict[tuple[str, ...], str] = {}
    for code, name in kinds.items():
        for phrase in (code, name, *SYNONYMS.get(code, ())):
            phrases[tuple(_SEPARATORS.split(phrase.lower().strip()))] = code
    return phrases
