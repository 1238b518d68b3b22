"""How long a text message is, and fitting what we send into a number of segments.

A text travels in 140-byte segments. If every character is in the GSM-7 alphabet, a single segment
holds 160 of them and each segment of a longer message 153 (a header takes the rest); the extension
characters (`{ } [ ] ~ | ^ \\ €`) are sent as two. Any other character (a curly apostrophe, an en dash,
an emoji) sends the whole message as UCS-2: 70 UTF-16 units in one segment, 67 a segment once
concatenated. A split never falls inside an escape pair or a surrogate pair, as phones split them.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM_7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_7_EXTENSION = frozenset("^{}\\[~]|€\f")
REPLY_SEGMENTS = 2  # what a reply to a manager's text may take
CUT = "..."  # marks shortened text; GSM-7, so it never turns a message into UCS-2


def segments(text: str) -> int:
    """How many segments `text` is sent in (0 for an empty text)."""
    if all(c in GSM_7 or c in GSM_7_EXTENSION for c in text):
        units = [2 if c in GSM_7_EXTENSION else 1 for c in text]
        single, each = 160, 153
    else:
        units = [2 if ord(c) > 0xFFFF else 1 for c in text]  # outside the BMP: a surrogate pair
        single, each = 70, 67
    if sum(units) <= single:
        return 1 if units else 0
    count, used = 1, 0
    for size in units:
        if used + size > each:
            count, used = count + 1, 0
        used += size
    return count


@dataclass(frozen=True)
class Echo:
    """Text we repeat back (a reason, a name, a word the sender typed): it may be shortened, to no
    fewer than `least` characters, so that what must be said whole (a Ref, a link) always fits."""

    text: str
    least: int = 0


def squeeze(*parts: str | Echo, most: int = REPLY_SEGMENTS) -> str | None:
    """The parts joined in at most `most` segments, shortening echoes (the last first) as little as
    needed; None when even the shortest echoes do not fit. Plain parts are never cut."""
    texts = [p.text if isinstance(p, Echo) else p for p in parts]
    for i in reversed(range(len(parts))):
        if segments("".join(texts)) <= most:
            return "".join(texts)
        part = parts[i]
        if not isinstance(part, Echo):
            continue
        for keep in range(len(part.text) - 1, part.least - 1, -1):
            texts[i] = part.text[:keep].rstrip() + CUT
            if segments("".join(texts)) <= most:
                return "".join(texts)
    return "".join(texts) if segments("".join(texts)) <= most else None


def fit(*parts: str | Echo, most: int = REPLY_SEGMENTS) -> str:
    """Like `squeeze`; when even that cannot fit, the end is cut (only fixed wording too long to send)."""
    text = squeeze(*parts, most=most)
    if text is not None:
        return text
    text = "".join(p.text if isinstance(p, Echo) else p for p in parts)
    while segments(text + CUT) > most:
        text = text[:-1]
    return text.rstrip() + CUT
