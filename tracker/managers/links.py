"""Signed links to a home's form: what a manager uses instead of a password.

A link carries the home's id and its link version, signed with SECRET_KEY; rotating bumps the
version, and every link signed with an older one stops working. Rotating SECRET_KEY itself does
not, while the old key is listed in SECRET_KEY_FALLBACKS.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from tracker import audit
from tracker.models import CareHome
from tracker.segments import Echo, fit
from tracker.signing import base_url, signing_keys


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(signing_keys(), salt="home-link")


def link_token(home: CareHome) -> str:
    return _serializer().dumps([home.id, home.link_version])


def link_url(home: CareHome) -> str:
    return f"{base_url()}/h/{link_token(home)}"


def rotate_link(home: CareHome) -> None:
    """Issue a new link; every earlier one stops working. The caller commits."""
    home.link_version += 1


def replace_link(home: CareHome) -> str:
    """Rotate the link and audit that (not the link: it is a secret); returns the new link. The caller commits."""
    rotate_link(home)
    audit.record("home.rotate_link", home, summary="every earlier form link stopped working")
    return link_url(home)


def link_text(home: CareHome, sender: str) -> str:
    """The text that takes a home its form link: who sent it and what it is, the link whole at the end."""
    link = link_url(home)
    head = (
        f"Care home bed tracker: {sender} sent you the link to {home.name}'s form, for updating its free beds "
        "(no password needed). Any older link no longer works"
    )
    # Two segments at most, and the link is never the part cut short.
    return fit(Echo(head), ": " + link)


def read_token(token: str) -> tuple[int, int] | None:
    """(home id, link version) from a token, or None when it was not signed by us."""
    try:
        home_id, version = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(home_id, int) or not isinstance(version, int):
        return None
    return home_id, version
