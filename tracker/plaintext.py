"""The one rule for what stored text may hold: printable characters, words separated by single spaces.

Control and other non-printing characters (NUL, escape codes, zero-width and direction marks, private
use, unassigned code points, lone surrogates) never reach the database, a board or a TwiML reply:
PostgreSQL refuses NUL, XML 1.0 cannot carry most control characters at all, and invisible marks make
two names that look the same differ. They are removed, never refused: they arrive from pasted text and
phones, not from anything a person meant to type. Every whitespace character (tabs, line breaks, no-break
spaces) becomes one plain space. Used by the write path's validation, the SMS webhook, the admin pages
and the CQC import; see docs/architecture.md.
"""

from __future__ import annotations

import unicodedata

# Unicode general categories that print nothing: control, format, surrogate, private use, unassigned.
NON_PRINTING = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def clean(text: str) -> str:
    """`text` without non-printing characters, every run of whitespace one space, stripped, in NFC."""
    kept = "".join(c if c.isspace() or unicodedata.category(c) not in NON_PRINTING else "" for c in text)
    # NFC: an accent typed as a separate mark becomes the one character a text message can send in GSM-7.
    return unicodedata.normalize("NFC", " ".join(kept.split()))


def clean_field(value):
    """A form filter: `clean` for text, anything else (numbers, dates, None) as it is."""
    return clean(value) if isinstance(value, str) else value
