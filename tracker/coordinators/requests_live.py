"""The request pages' live channel: the /requests Socket.IO namespace, and publishing `changed`.

A page watches one request (room `request:<id>`) and is told only that it changed: it then fetches
the request again (GET /requests/<id>.json), as it does on every (re)connect, so a message lost in
a drop or a Redis outage costs nothing but a moment.
"""

from __future__ import annotations

from flask import session as http_session
from flask_socketio import ConnectionRefusedError, disconnect, join_room

from tracker import auth
from tracker.db import session
from tracker.extensions import socketio
from tracker.models import BedRequest, User

NAMESPACE = "/requests"


def room_for(request_id: int) -> str:
    return f"request:{request_id}"


def publish(request_id: int) -> None:
    """Tell the pages watching a request that it changed (bed_requests.changed, after the commit;
    through the message queue when there is one, so the clock's expiries reach every process)."""
    socketio.emit("changed", {"id": request_id}, namespace=NAMESPACE, to=room_for(request_id))


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth_payload=None):
    row = auth.current_sign_in()
    if row is None:
        raise ConnectionRefusedError("Sign in to see bed requests.")
    # This connection's own session (Flask-SocketIO keeps one per socket): who it is, and what let it in.
    http_session["requests_user"], http_session["requests_credential"] = row.user_id, auth.sign_in_room(row.id)
    # Closed when the sign-in ends (auth.close_connections): signing out ends this page's updates too.
    join_room(auth.sign_in_room(row.id))
    session.remove()


@socketio.on("watch", namespace=NAMESPACE)
def on_watch(data=None):
    """Join a request's room if this user may see it; the answer says whether it was joined."""
    credential_room = http_session.get("requests_credential")
    try:
        if credential_room is None or credential_room not in auth.live_rooms([credential_room]):
            disconnect()  # its sign-in ended where the message queue did not reach
            return {"ok": False, "error": "Sign in again."}
        request_id = data.get("request_id") if isinstance(data, dict) else None
        found = (
            session.get(BedRequest, request_id)
            if isinstance(request_id, int) and not isinstance(request_id, bool) and 0 < request_id < 2**31
            else None
        )
        user = session.get(User, http_session.get("requests_user"))
        # Another hospital's request is answered as one that does not exist, as on its page.
        if found is None or user is None or not auth.acts_for(user.role, user.hospital_id, found.hospital_id):
            return {"ok": False, "error": "There is no such request for your hospital."}
        join_room(room_for(found.id))
        return {"ok": True}
    finally:
        session.remove()
