"""What every signed link the tracker sends is made of: the keys it is signed with and the address it starts with.

Managers' form links, invitations and homes' one-tap answers to bed requests all use these, so
rotating SECRET_KEY (with the old one in SECRET_KEY_FALLBACKS) or moving the service treats them alike.
"""

from __future__ import annotations

from flask import current_app


def signing_keys() -> list[str]:
    """SECRET_KEY_FALLBACKS then SECRET_KEY: itsdangerous signs with the last and reads with any."""
    return [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.config["SECRET_KEY"]]


def base_url() -> str:
    """The start of every link the tracker prints or sends: PUBLIC_BASE_URL, else the embedded server's address."""
    return current_app.config["PUBLIC_BASE_URL"] or current_app.config["LOCAL_BASE_URL"]
