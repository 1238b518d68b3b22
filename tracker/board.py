"""The discharge coordinators' live board: the page, the /board Socket.IO namespace, and publishing.

Protocol (docs/board-events.md): on connect a board gets a `snapshot`, or, when it passes
`since` and is not too far behind, the `update` events it missed, in seq order. A board that sees
a gap in seq emits `replay` with the last seq it applied.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required
from flask_socketio import ConnectionRefusedError, emit, join_room
from sqlalchemy import select

from . import auth
from .db import session
from .extensions import socketio
from .models import CHANNEL_WORDS, BoardCursor, CareHome, CareKind, Hospital, Locality, Update, utcnow

bp = Blueprint("board", __name__)

NAMESPACE = "/board"
ROOM = "england"


@bp.get("/board")
@login_required
def page():
    kinds = session.scalars(select(CareKind).order_by(CareKind.position)).all()
    localities = session.scalars(select(Locality).order_by(Locality.name)).all()
    hospitals = session.scalars(select(Hospital).order_by(Hospital.name)).all()
    return render_template(
        "board/page.html",
        kinds=kinds,
        localities=localities,
        hospitals=hospitals,
        thresholds=board_config(),
        board_data={
            "own_hospital_id": current_user.hospital_id,
            "channel_words": {str(channel): words for channel, words in CHANNEL_WORDS.items()},
            **board_config(),
        },
    )


def board_config() -> dict:
    return {
        "stale_after_s": int(current_app.config["STALE_AFTER"].total_seconds()),
        "expire_after_s": int(current_app.config["EXPIRE_AFTER"].total_seconds()),
    }


def home_state(home: CareHome) -> dict:
    """The part of a home that updates change. Stored in each history row and sent to boards as is."""
    return {
        "admissions": "open" if home.admissions_open else "closed",
        "closed_reason": home.closed_reason,
        "reopens_on": home.reopens_on.isoformat() if home.reopens_on else None,
        "note": home.note,
        "kinds": {o.kind_code: {"capacity": o.capacity, "available": o.available} for o in home.offers},
    }


def update_event(row: Update) -> dict:
    return {
        "seq": row.seq,
        "home": {
            "id": row.home_id,
            "seq": row.seq,
            **row.state,
            "confirmed_at": row.recorded_at.isoformat(),
            "confirmed_via": str(row.channel),
        },
    }


def snapshot_home(home: CareHome) -> dict:
    return {
        "id": home.id,
        "seq": home.last_seq,
        "name": home.name,
        "locality": home.locality.name,
        "address": home.address,
        "postcode": home.postcode,
        "phone": home.phone,
        "lat": home.latitude,
        "lon": home.longitude,
        **home_state(home),
        "confirmed_at": home.confirmed_at.isoformat() if home.confirmed_at else None,
        "confirmed_via": str(home.confirmed_via) if home.confirmed_via else None,
    }


def snapshot() -> dict:
    # The cursor is read before the homes: a home may then be newer than `seq` (its update event
    # arrives again and is ignored by its per-home seq), but never older, which would lose one.
    seq = current_seq()
    homes = session.scalars(select(CareHome).order_by(CareHome.name)).all()
    kinds = session.scalars(select(CareKind).order_by(CareKind.position)).all()
    return {
        "seq": seq,
        "server_time": utcnow().isoformat(),
        "kinds": [{"code": k.code, "name": k.name} for k in kinds],
        **board_config(),
        "homes": [snapshot_home(h) for h in homes],
    }


def current_seq() -> int:
    return session.scalar(select(BoardCursor.seq).where(BoardCursor.id == 1)) or 0


def publish(row: Update) -> None:
    """Send a committed update to every board (through the message queue when there is one)."""
    socketio.emit("update", update_event(row), namespace=NAMESPACE, to=ROOM)


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth_payload=None):
    payload = auth_payload if isinstance(auth_payload, dict) else {}
    if not auth.board_viewer(payload.get("token")):
        raise ConnectionRefusedError("Sign in to the board, or pass a valid API token as auth.token.")
    # Join before catching up: an update committed meanwhile is then sent twice (and ignored by
    # seq) rather than never.
    join_room(ROOM)
    catch_up(payload.get("since"))
    session.remove()


@socketio.on("replay", namespace=NAMESPACE)
def on_replay(data=None):
    catch_up(data.get("since") if isinstance(data, dict) else None)
    session.remove()


def catch_up(since) -> None:
    """Send the updates after `since` in order, or a snapshot when they cannot or should not be replayed."""
    latest = current_seq()
    valid = isinstance(since, int) and not isinstance(since, bool) and 0 <= since <= latest
    if valid and latest - since <= current_app.config["REPLAY_LIMIT"]:
        for row in session.scalars(select(Update).where(Update.seq > since).order_by(Update.seq)):
            emit("update", update_event(row), to=request.sid)
    else:
        emit("snapshot", snapshot(), to=request.sid)
