"""Inviting a user: a signed link, valid for a week, with which they choose their own password.

The link is tied to the account's current password hash, so it works once: choosing a password
(or a new invitation) changes the hash and every earlier link stops working. No e-mail is sent by
the tracker; the admin passes the link on.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from tracker import audit, auth, signing
from tracker.auth import hash_password
from tracker.db import session
from tracker.models import User

bp = Blueprint("invites", __name__)

VALID_DAYS = 7
INVITED = "the user, by their invitation link"  # the audit's words; the user is its target
MIN_PASSWORD = 12


def unusable_password() -> str:
    """A hash no password matches: the account waits for its invitation to be accepted."""
    return "!" + hash_password(secrets.token_urlsafe(32))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing.signing_keys(), salt="invite")


def invite_url(user: User) -> str:
    token = _serializer().dumps([user.id, user.password_hash[-16:]])
    return f"{signing.base_url()}/invite/{token}"  # no url_for: the command line has no request to build it from


def _user_for(token: str) -> User | None:
    try:
        user_id, fingerprint = _serializer().loads(token, max_age=VALID_DAYS * 86400)
    except (SignatureExpired, BadSignature, ValueError, TypeError):
        return None
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or user.password_hash[-16:] != fingerprint:
        return None
    return user


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept(token: str):
    user = _user_for(token)
    if user is None:
        return render_template("auth/invite_invalid.html", days=VALID_DAYS), 410
    error = None
    if request.method == "POST":
        error = _new_password_problem()
        if error is None:
            user.password_hash = hash_password(request.form["password"])
            audit.record("user.accept_invite", user, summary="chose a password", actor=INVITED)
            auth.end_sign_ins(user)  # a new password: wherever the old one was used is signed out
            auth.sign_in(user)
            flash("Your password is set: you are signed in.", "success")
            return redirect(url_for("board.page"))
    return render_template("auth/invite.html", user=user, error=error, minimum=MIN_PASSWORD), 400 if error else 200


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """A signed-in user changes their password; every other sign-in of theirs ends."""
    user = current_user._get_current_object()
    error = None
    if request.method == "POST":
        if not auth.password_matches(user, request.form.get("current", "")):
            error = "That is not your current password."
        else:
            error = _new_password_problem()
        if error is None:
            user.password_hash = hash_password(request.form["password"])
            audit.record("user.change_password", user, summary="changed their password; other sign-ins ended")
            auth.end_sign_ins(user, keep=auth.current_sign_in())
            flash("Your password is changed: you are signed out everywhere else.", "success")
            return redirect(url_for("board.page"))
    return render_template("auth/password.html", error=error, minimum=MIN_PASSWORD), 400 if error else 200


def _new_password_problem() -> str | None:
    password, again = request.form.get("password", ""), request.form.get("again", "")
    if len(password) < MIN_PASSWORD:
        return f"Choose a password of at least {MIN_PASSWORD} characters (a few words together works well)."
    if password != again:
        return "The two passwords are not the same: type it again in both boxes."
    return None
