"""The discharge coordinators' live board: the page, the /board Socket.IO namespace, and publishing.

A board watches one stream: all of England, or one region (room `england` or `region:<id>`).
On connect it gets a `snapshot`, or, when it passes `since` and is not too far behind, the
`update` events it missed, in order. Each update names the previous seq in the stream (`prev`),
so a board can tell a gap from an update for another region. Protocol: docs/board-events.md.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from flask import Blueprint, current_app, render_template, request
from flask import session as http_session
from flask_login import current_user, login_required
from flask_socketio import ConnectionRefusedError, disconnect, emit, join_room
from sqlalchemy import case, func, select

from tracker import auth, availability
from tracker.coordinators.wire import Encoded
from tracker.db import session
from tracker.extensions import socketio
from tracker.models import (
    CHANNEL_WORDS,
    BoardCursor,
    CareHome,
    CareKind,
    Hold,
    Hospital,
    Locality,
    Offer,
    Region,
    Role,
    Update,
    utcnow,
)
from tracker.observability import BOARDS_CONNECTED, SNAPSHOT_SECONDS
from tracker.vacancies import hold_json

bp = Blueprint("board", __name__)

NAMESPACE = "/board"
ENGLAND = "england"
REGION_ROOM_PREFIX = "region:"


def room_for(region_id: int | None) -> str:
    return ENGLAND if region_id is None else f"{REGION_ROOM_PREFIX}{region_id}"


@bp.get("/board")
@login_required
def page():
    kinds = session.scalars(select(CareKind).order_by(CareKind.position)).all()
    regions = session.scalars(select(Region).order_by(Region.name)).all()
    localities = session.scalars(select(Locality).order_by(Locality.name)).all()
    hospitals = session.scalars(select(Hospital).order_by(Hospital.name)).all()
    own = current_user.hospital
    return render_template(
        "coordinators/page.html",
        kinds=kinds,
        regions=regions,
        localities=localities,
        hospitals=hospitals,
        board_data={
            "own_hospital_id": own.id if own else None,
            "own_region_id": own.region_id if own else None,
            "channel_words": {str(channel): words for channel, words in CHANNEL_WORDS.items()},
            "holds": hold_config(own),
            **board_config(),
        },
    )


HOLD_HOURS = (2, 4, 8, 12, 24)  # the durations the board's hold confirmation offers, up to HOLD_MAX


def hold_config(own: Hospital | None) -> dict:
    """What the board's hold buttons need (docs/holds.md): who may hold for which hospital, and for how long."""
    admin = current_user.role is Role.ADMIN
    longest = current_app.config["HOLD_MAX"].total_seconds() / 3600
    return {
        "admin": admin,
        # A coordinator holds for their own hospital; an admin for the one chosen on the board.
        "may_place": admin or own is not None,
        "hospital": own.name if own else None,
        "default_minutes": int(current_app.config["HOLD_DEFAULT"].total_seconds() // 60),
        "hours": [hours for hours in HOLD_HOURS if hours <= longest],
    }


def board_config() -> dict:
    """What a board needs to judge its own liveness, sent with the page and every snapshot. Ages are
    judged by each home's own times (ages()), not re-derived from the thresholds."""
    return {"tick_s": current_app.config["BOARD_TICK_SECONDS"]}


def ages(confirmed_at: datetime | None, note_at: datetime | None) -> dict:
    """When a home's data stops being fresh and stops being verified, and when its note stops being
    current (as long as numbers are), by the one rule (availability.py): a board only compares them
    with its clock."""
    return {
        "ageing_at": availability.ageing_at(confirmed_at).isoformat() if confirmed_at else None,
        "unverified_at": availability.unverified_at(confirmed_at).isoformat() if confirmed_at else None,
        "note_old_at": availability.unverified_at(note_at).isoformat() if note_at else None,
    }


# ---- what boards are sent ------------------------------------------------------------------


def update_event(row: Update, *, regional: bool) -> dict:
    # Rows from before states carried the confirmation were all confirmations themselves; a hold's
    # row is not one, and carries when the home last confirmed.
    confirmed_at = row.state.get("confirmed_at", row.recorded_at.isoformat())
    confirmed = datetime.fromisoformat(confirmed_at) if confirmed_at else None
    home = {
        "id": row.home_id,
        "seq": row.seq,
        "holds": [],
        **row.state,
        "confirmed_at": confirmed_at,
        "confirmed_via": row.state.get("confirmed_via", str(row.channel)),
        **ages(confirmed, datetime.fromisoformat(row.state["note_at"]) if row.state.get("note_at") else None),
    }
    if row.confirms:
        # Every confirmation answers the reminders; a hold or an answer to a request does not, and
        # leaves a board's flag as it is.
        home["not_answering_since"] = None
    event = {"seq": row.seq, "prev": row.region_prev_seq if regional else row.seq - 1, "home": home}
    if row.answer_id is not None:
        # A home answering a request changes nothing a board shows: it only keeps the sequence.
        event["quiet"] = True
    return event


def snapshot(region_id: int | None) -> tuple[int, Encoded]:
    """The `snapshot` event for a stream, as JSON text, and the seq it is consistent with."""
    seq, kinds, homes_json = _stream_state(region_id)
    head = {
        "seq": seq,
        "region": "all" if region_id is None else region_id,
        "server_time": utcnow().isoformat(),
        "kinds": kinds,
        **board_config(),
    }
    return seq, Encoded(json.dumps(head, separators=(",", ":"))[:-1] + ',"homes":' + homes_json + "}")


def _stream_state(region_id: int | None) -> tuple[int, list[dict], str]:
    """The stream's homes and the seq they are consistent with, reused for BOARD_SNAPSHOT_TTL_MS.

    Every board of a stream gets the same snapshot, and after a restart hundreds reconnect at once:
    building it once a second, not once a board, keeps the process answering. A reused snapshot may
    be a moment old; catch_up() sends the updates since its seq straight after it.
    """
    cache = current_app.extensions.setdefault("board_snapshots", {})
    ttl = current_app.config["BOARD_SNAPSHOT_TTL_MS"] / 1000
    now = time.monotonic()
    hit = cache.get(region_id)
    if hit and now - hit[0] < ttl:
        return hit[1:]
    # The cursor is read before the homes: a home may then be newer than `seq` (its update event
    # arrives again and is ignored by its per-home seq), but never older, which would lose one.
    with SNAPSHOT_SECONDS.time():
        seq = latest_seq(region_id)
        kinds = [
            {"code": k.code, "name": k.name} for k in session.scalars(select(CareKind).order_by(CareKind.position))
        ]
        homes_json = json.dumps(snapshot_homes(region_id), separators=(",", ":"))
    cache[region_id] = (now, seq, kinds, homes_json)
    return seq, kinds, homes_json


def snapshot_homes(region_id: int | None) -> list[dict]:
    """Every home in the stream as boards are sent it.

    Two plain queries rather than ORM objects: a national snapshot is 15,000 homes, and under gevent
    building it blocks every other board of the process (`make bench` reports its time). The shape
    matches home_state() exactly; tests/test_board.py holds them to it.
    """
    homes_query = (
        select(
            CareHome.id, CareHome.last_seq, CareHome.name, Locality.name.label("locality"), CareHome.address,
            CareHome.postcode, CareHome.phone, CareHome.latitude, CareHome.longitude, CareHome.admissions_open,
            CareHome.closed_reason, CareHome.reopens_on, CareHome.note, CareHome.note_at, CareHome.confirmed_at,
            CareHome.confirmed_via, _not_answering_since,
        )
        .join(Locality, CareHome.locality_id == Locality.id)
        .order_by(CareHome.name, CareHome.id)
    )  # fmt: skip
    # Ordered by position only: each home's kinds still come in order, and the database need not
    # sort every offer in the country by home first.
    offers = select(Offer.home_id, Offer.kind_code, Offer.capacity, Offer.available).order_by(Offer.position)
    if region_id is not None:
        homes_query = homes_query.where(Locality.region_id == region_id)
        in_region = select(CareHome.id).join(Locality, CareHome.locality_id == Locality.id)
        offers = offers.where(Offer.home_id.in_(in_region.where(Locality.region_id == region_id)))
    # Core rows through the session's connection: these are plain columns, and the ORM's per-row
    # machinery would cost more than everything else here.
    connection = session.connection()
    kinds_of: dict[int, dict] = {}
    for home_id, code, capacity, available in connection.execute(offers):
        kinds_of.setdefault(home_id, {})[code] = {"capacity": capacity, "available": available}
    holds_of: dict[int, list] = {}
    standing = (
        select(Hold.home_id, Hold.id, Hold.kind_code, Hospital.name, Hold.until, Hold.hospital_id)
        .join(Hospital, Hold.hospital_id == Hospital.id)
        .where(Hold.ended_at.is_(None))
        .order_by(Hold.until, Hold.id)
    )
    if region_id is not None:
        standing = standing.where(Hold.home_id.in_(in_region.where(Locality.region_id == region_id)))
    for home_id, *hold in connection.execute(standing):
        holds_of.setdefault(home_id, []).append(hold_json(*hold))
    homes = []
    for (home_id, last_seq, name, locality, address, postcode, phone, lat, lon, admissions_open, closed_reason,
         reopens_on, note, note_at, confirmed_at, confirmed_via,
         not_answering) in connection.execute(homes_query):  # fmt: skip
        homes.append(
            {
                "id": home_id,
                "seq": last_seq,
                "name": name,
                "locality": locality,
                "address": address,
                "postcode": postcode,
                "phone": phone,
                "lat": lat,
                "lon": lon,
                "admissions": "open" if admissions_open else "closed",
                "closed_reason": closed_reason,
                "reopens_on": reopens_on.isoformat() if reopens_on else None,
                "note": note,
                "note_at": note_at.isoformat() if note_at else None,
                "kinds": kinds_of.get(home_id, {}),
                "holds": holds_of.get(home_id, []),
                "confirmed_at": confirmed_at.isoformat() if confirmed_at else None,
                "confirmed_via": str(confirmed_via) if confirmed_via else None,
                "not_answering_since": _iso(not_answering),
                **ages(confirmed_at, note_at),
            }
        )
    return homes


# When an escalated home was first asked (chasing.not_answering_since, in SQL).
_not_answering_since = case(
    (CareHome.escalated_at.is_(None), None), else_=func.coalesce(CareHome.first_reminded_at, CareHome.escalated_at)
).label("not_answering_since")


def _iso(moment) -> str | None:
    # CASE loses the column's type: SQLite hands back text, PostgreSQL a naive datetime, both UTC.
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC).isoformat()


def latest_seq(region_id: int | None) -> int:
    if region_id is None:
        return session.scalar(select(BoardCursor.seq).where(BoardCursor.id == 1)) or 0
    return session.scalar(select(Region.last_seq).where(Region.id == region_id)) or 0


# ---- publishing ----------------------------------------------------------------------------


def publish(row: Update) -> None:
    """Send a committed update to the boards watching it: England's and its region's (through the
    message queue when there is one; fanout.py batches deliveries within BOARD_COALESCE_MS)."""
    socketio.emit("update", update_event(row, regional=False), namespace=NAMESPACE, to=ENGLAND)
    socketio.emit("update", update_event(row, regional=True), namespace=NAMESPACE, to=room_for(row.region_id))


def publish_flag(home_id: int, region_id: int, not_answering_since: datetime | None) -> None:
    """Tell boards a home has stopped answering reminders (chasing.py), after the commit. Flags are
    not in the seq chain: a board that reconnects gets them in its snapshot or with its replay."""
    flag = {"home_id": home_id, "not_answering_since": not_answering_since.isoformat() if not_answering_since else None}
    socketio.emit("flag", flag, namespace=NAMESPACE, to=ENGLAND)
    socketio.emit("flag", flag, namespace=NAMESPACE, to=room_for(region_id))


def tick() -> None:
    """Tell every stream its latest seq, so a board that lost an update (a Redis outage drops what
    is published meanwhile) notices and asks for a replay even when nothing else changes."""
    end_lapsed_connections()
    socketio.emit("tick", {"seq": latest_seq(None)}, namespace=NAMESPACE, to=ENGLAND)
    for region_id, last_seq in session.execute(select(Region.id, Region.last_seq)):
        socketio.emit("tick", {"seq": last_seq}, namespace=NAMESPACE, to=room_for(region_id))
    session.remove()


def end_lapsed_connections() -> None:
    """Disconnect this process's boards and request pages whose sign-in or token has ended or expired.

    Ending one closes its room at once through the message queue; this catches what the queue
    cannot: a command run beside the embedded server (no queue), or a sign-in reaching its lifetime.
    """
    # The manager's own room table: python-socketio has no public way to list this process's rooms.
    rooms = [
        r
        for namespace in auth.SIGNED_IN_NAMESPACES
        for r in list(socketio.server.manager.rooms.get(namespace, {}))
        if isinstance(r, str)
    ]
    credential_rooms = [r for r in rooms if r.startswith((auth.SIGN_IN_ROOM, auth.TOKEN_ROOM))]
    if credential_rooms:
        for room in set(credential_rooms) - auth.live_rooms(credential_rooms):
            auth.close_connections(room)


# ---- the /board namespace ------------------------------------------------------------------


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth_payload=None):
    payload = auth_payload if isinstance(auth_payload, dict) else {}
    credential_room = auth.board_viewer(payload.get("token"))
    if credential_room is None:
        raise ConnectionRefusedError("Sign in to the board, or pass a valid API token as auth.token.")
    region_id = _stream_asked_for(payload.get("region"))
    # This connection's own session (Flask-SocketIO keeps one per socket).
    http_session["board_region"], http_session["board_credential"] = region_id, credential_room
    # Closed when the sign-in or token ends (auth.close_connections): the board is disconnected.
    join_room(credential_room)
    # Join before catching up: an update committed meanwhile is then sent twice (and ignored by
    # seq) rather than never.
    join_room(room_for(region_id))
    BOARDS_CONNECTED.labels(_stream_label(region_id)).inc()
    catch_up(payload.get("since"), region_id)
    session.remove()


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(reason=None):
    if "board_credential" in http_session:  # it was let in, so it was counted
        BOARDS_CONNECTED.labels(_stream_label(http_session.get("board_region"))).dec()


def _stream_label(region_id: int | None) -> str:
    return "england" if region_id is None else f"region-{region_id}"


@socketio.on("replay", namespace=NAMESPACE)
def on_replay(data=None):
    credential_room = http_session.get("board_credential")
    if credential_room is None or credential_room not in auth.live_rooms([credential_room]):
        disconnect()  # its sign-in or token ended where the message queue did not reach
    else:
        catch_up(data.get("since") if isinstance(data, dict) else None, http_session.get("board_region"))
    session.remove()


def _stream_asked_for(raw) -> int | None:
    """`"all"` for England, a region's id, or nothing: the viewer's own region, else England."""
    if raw == "all":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        if session.get(Region, raw) is None:
            raise ConnectionRefusedError(f'There is no region {raw}: pass a region id, or "all".')
        return raw
    if raw is not None:
        raise ConnectionRefusedError('auth.region must be a region id, or "all".')
    hospital = current_user.hospital if current_user.is_authenticated else None
    return hospital.region_id if hospital else None


def catch_up(since, region_id: int | None) -> None:
    """Send the updates after `since` in order, or a snapshot when they cannot or should not be replayed."""
    rows = _missed(since, region_id)
    if rows is None:
        seq, message = snapshot(region_id)
        emit("snapshot", message, to=request.sid)
        rows = _missed(seq, region_id) or []  # what committed since a reused snapshot was built
    for row in rows:
        emit("update", update_event(row, regional=region_id is not None), to=request.sid)
    # Flags set while the board was away, or since a reused snapshot was built (an update that
    # cleared one is among the rows sent).
    if flags := _flags(region_id):
        emit("flags", {"homes": flags}, to=request.sid)
    # The end of the catch-up: a board whose cursor reached this seq knows it is current, and can
    # tell whoever is looking that it is live again.
    emit("tick", {"seq": latest_seq(region_id)}, to=request.sid)


def _flags(region_id: int | None) -> dict[str, str]:
    """Every home of the stream not answering reminders now: a replay does not carry flags."""
    query = select(CareHome.id, _not_answering_since).where(CareHome.escalated_at.is_not(None))
    if region_id is not None:
        query = query.join(Locality, CareHome.locality_id == Locality.id).where(Locality.region_id == region_id)
    return {str(home_id): _iso(since) for home_id, since in session.execute(query)}


def _missed(since, region_id: int | None) -> list[Update] | None:
    """The updates after `since` in this stream, or None when a snapshot is the answer."""
    if not isinstance(since, int) or isinstance(since, bool) or since < 0 or since > latest_seq(region_id):
        return None
    query = select(Update).where(Update.seq > since)
    if region_id is not None:
        known = since == 0 or session.scalar(
            select(Update.seq).where(Update.seq == since, Update.region_id == region_id)
        )
        if not known:  # a cursor from another stream: replaying from it would leave a permanent gap
            return None
        query = query.where(Update.region_id == region_id)
    limit = current_app.config["REPLAY_LIMIT"]
    rows = session.scalars(query.order_by(Update.seq).limit(limit + 1)).all()
    return None if len(rows) > limit else list(rows)
