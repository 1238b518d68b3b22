"""Phone numbers in one form: E.164, read as UK numbers unless they say otherwise."""

from __future__ import annotations

import phonenumbers


class BadPhoneNumber(ValueError):
    pass


def to_e164(raw: str) -> str:
    try:
        number = phonenumbers.parse(raw, "GB")
    except phonenumbers.NumberParseException:
        raise BadPhoneNumber(f"{raw!r} does not look like a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise BadPhoneNumber(f"{raw!r} is not a possible phone number (check the number of digits)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
