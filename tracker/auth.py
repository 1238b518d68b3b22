"""Signing in to the board, and API tokens for machine clients; ending either.

Each sign-in is a row (models.SignIn) whose random token is what the session and the remember-me
cookie carry (Flask-Login's "alternative tokens"): a signed cookie cannot be taken back, but the
row can. Signing out, being disabled and a new password delete the rows, so every copy of those
cookies stops working at once, and the board connections they opened are closed in every process.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask import session as http_session
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from tracker.db import session
from tracker.extensions import limiter, login_manager, socketio
from tracker.models import ApiToken, Role, SignIn, User, utcnow

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to see the board."

TOKEN_PREFIX = "trk_"
# The Socket.IO namespaces a signed-in browser connects to: signing out closes its connections in each.
SIGNED_IN_NAMESPACES = ("/board", "/requests")
# A token's last use is written at most this often: not a database write per API request.
LAST_USED_EVERY = timedelta(minutes=1)


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The user of a live sign-in: None once it has ended or expired, or the user is disabled."""
    row = _live_sign_in(token)
    if row is None:
        return None
    user = session.get(User, row.user_id)
    user.sign_in_token = token
    return user


def current_sign_in() -> SignIn | None:
    """This browser's sign-in, from its own session (Flask-Login keeps the token there)."""
    return _live_sign_in(http_session.get("_user_id"))


def _live_sign_in(token: object) -> SignIn | None:
    """The sign-in `token` belongs to, if it has not ended or expired and its user is active."""
    if not isinstance(token, str) or len(token) > 100:
        return None
    expired = utcnow() - current_app.config["SIGN_IN_LIFETIME"]
    query = select(SignIn).join(User, SignIn.user_id == User.id)
    query = query.where(SignIn.token_hash == _digest(token), SignIn.created_at > expired, User.active)
    return session.scalars(query).one_or_none()


def sign_in(user: User) -> None:
    """Start a new sign-in on this browser: a token of its own, so a remember-me cookie of its own."""
    now, token = utcnow(), secrets.token_urlsafe(32)
    # Expired sign-ins are dropped here: the table holds about one row per browser in use.
    expired = now - current_app.config["SIGN_IN_LIFETIME"]
    session.execute(delete(SignIn).where(SignIn.user_id == user.id, SignIn.created_at < expired))
    row = SignIn(user_id=user.id, token_hash=_digest(token), created_at=now)
    session.add(row)
    session.commit()
    user.sign_in_token = token
    login_user(user, remember=True)


def end_sign_ins(user: User, *, keep: SignIn | None = None) -> None:
    """End every sign-in of `user` but `keep`, and close their board connections in every process.

    Commits, with whatever the caller changed (a disable, a password): the change and the end of
    the sign-ins it implies are one transaction.
    """
    query = select(SignIn.id).where(SignIn.user_id == user.id)
    ended = session.scalars(query if keep is None else query.where(SignIn.id != keep.id)).all()
    session.execute(delete(SignIn).where(SignIn.id.in_(ended)))
    session.commit()
    for sign_in_id in ended:
        close_connections(sign_in_room(sign_in_id))


def revoke_token(token: ApiToken) -> None:
    """Refuse `token` from now on and close the board connections it opened. Commits."""
    token.revoked_at = token.revoked_at or utcnow()
    session.commit()
    close_connections(token_room(token.id))


SIGN_IN_ROOM, TOKEN_ROOM = "sign-in:", "token:"  # a board joins the room of what let it in


def sign_in_room(sign_in_id: int) -> str:
    return f"{SIGN_IN_ROOM}{sign_in_id}"


def token_room(token_id: int) -> str:
    return f"{TOKEN_ROOM}{token_id}"


def close_connections(room: str) -> None:
    """Disconnect every board and request page in `room`, in every process (through the message queue
    when there is one; fanout.py turns closing a room into disconnecting its members)."""
    for namespace in SIGNED_IN_NAMESPACES:
        socketio.close_room(room, namespace=namespace)


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
            sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("That email and password do not match an active account.", "error")
    return render_template("auth/login.html", email=email), 200 if request.method == "GET" else 401


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(_exc: RateLimitExceeded):
    message = "Too many sign-in attempts from your connection. Wait a few minutes, then try again."
    return render_template("error.html", message=message), 429


@bp.post("/logout")
def logout():
    """Sign out everywhere: every browser this user signed in on, and every board they have open."""
    if current_user.is_authenticated:
        end_sign_ins(current_user._get_current_object())
    logout_user()
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Only follow a `next` that stays on this site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("board.page")


def create_token(name: str, role: Role, *, home_id: int | None = None, hospital_id: int | None = None) -> str:
    """Store a new token's hash and return the token, which is never shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            role=role,
            token_hash=_digest(token),
            home_id=home_id,
            hospital_id=hospital_id,
            created_at=utcnow(),
        )
    )
    session.commit()
    return token


def token_from(raw: object) -> ApiToken | None:
    if not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(raw))).one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        # Conditional, so concurrent requests write it once; committed now, before the request's own work.
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token.id)
            .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_EVERY))
            .values(last_used_at=now)
        )
        session.commit()
    return token


def board_viewer(raw_token: object) -> str | None:
    """May this connection watch the board? A signed-in user, or a coordinator/admin token.

    Returns the room that ends the connection when its sign-in or token ends, or None: refused.
    """
    if raw_token is not None:
        token = token_from(raw_token)
        if token is None or token.role not in (Role.COORDINATOR, Role.ADMIN) or token.home_id is not None:
            return None
        return token_room(token.id)
    row = current_sign_in()
    return sign_in_room(row.id) if row else None


def live_rooms(rooms: list[str]) -> set[str]:
    """Which of these sign-in and token rooms still stand for a live credential (board.tick sweeps the rest)."""
    sign_ins = {int(r.removeprefix(SIGN_IN_ROOM)) for r in rooms if r.startswith(SIGN_IN_ROOM)}
    tokens = {int(r.removeprefix(TOKEN_ROOM)) for r in rooms if r.startswith(TOKEN_ROOM)}
    expired = utcnow() - current_app.config["SIGN_IN_LIFETIME"]
    live = set()
    if sign_ins:
        query = select(SignIn.id).join(User, SignIn.user_id == User.id)
        query = query.where(SignIn.id.in_(sign_ins), SignIn.created_at > expired, User.active)
        live |= {sign_in_room(i) for i in session.scalars(query)}
    if tokens:
        query = select(ApiToken.id).where(ApiToken.id.in_(tokens), ApiToken.revoked_at.is_(None))
        live |= {token_room(i) for i in session.scalars(query)}
    return live


def acts_for(role: Role, own_hospital_id: int | None, hospital_id: int) -> bool:
    """Who may see and act on what belongs to a hospital (its holds, its bed requests): an admin on
    every hospital's; a coordinator, or a hospital's API token, on their own hospital's only."""
    return role is Role.ADMIN or (own_hospital_id is not None and hospital_id == own_hospital_id)


def _digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
