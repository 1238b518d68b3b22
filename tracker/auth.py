"""Signing in to the board, and API tokens for machine clients."""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from .db import session
from .extensions import limiter, login_manager
from .models import ApiToken, Role, User, utcnow

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to see the board."

TOKEN_PREFIX = "trk_"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = session.get(User, int(user_id)) if user_id.isdecimal() else None
    return user if user and user.active else None


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def password_matches(user: User, password: str) -> bool:
    # "!" marks an account still waiting for its invitation (invites.unusable_password): no password opens it.
    return not user.password_hash.startswith("!") and check_password_hash(user.password_hash, password)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], key_func=get_remote_address)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("board.page"))
    email = request.form.get("email", "").strip()
    if request.method == "POST":
        user = session.scalars(select(User).where(func.lower(User.email) == email.lower())).one_or_none()
        if user and user.active and password_matches(user, request.form.get("password", "")):
            login_user(user, remember=True)
            return redirect(_safe_next(request.args.get("next")))
        flash("That email and password do not match an active account.", "error")
    return render_template("auth/login.html", email=email), 200 if request.method == "GET" else 401


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(_exc: RateLimitExceeded):
    message = "Too many sign-in attempts from your connection. Wait a few minutes, then try again."
    return render_template("error.html", message=message), 429


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Only follow a `next` that stays on this site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("board.page")


def create_token(name: str, role: Role, *, home_id: int | None = None) -> str:
    """Store a new token's hash and return the token, which is never shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_hash=_digest(token), home_id=home_id, created_at=utcnow()))
    session.commit()
    return token


def token_from(raw: object) -> ApiToken | None:
    if not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(raw))).one_or_none()
    return token if token and token.revoked_at is None else None


def board_viewer(raw_token: object) -> bool:
    """May this connection watch the board? A signed-in user, or a coordinator/admin token."""
    if raw_token is not None:
        token = token_from(raw_token)
        return token is not None and token.role in (Role.COORDINATOR, Role.ADMIN) and token.home_id is None
    return current_user.is_authenticated


def _digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
