"""The Python floor: a bare python-socketio server in gevent mode, with no application logic.

    gunicorn --worker-class gevent --workers 1 --bind 127.0.0.1:PORT --chdir bench floor_python:app

It runs on the same server stack as the tracker (gunicorn's gevent worker, websockets through
simple-websocket), so the difference between the two is what the tracker itself costs. Boards
connect to /board as they do to the tracker; the auth payload only puts a regional board in its
region's room. POST /emit with {"room": "all" | "region:<id>", "payload": {...}} sends one `update`
broadcast, at once.
"""

from __future__ import annotations

import json
import os
import signal

import gevent
import socketio

sio = socketio.Server(async_mode="gevent", transports=["websocket"], max_http_buffer_size=64_000)


@sio.on("connect", namespace="/board")
def connect(sid, environ, auth=None):
    region = auth.get("region") if isinstance(auth, dict) else None
    sio.enter_room(sid, "all", namespace="/board")
    if region is not None and region != "all":
        sio.enter_room(sid, f"region:{region}", namespace="/board")


def plain_app(environ, start_response):
    path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]
    if path == "/emit" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length))
        sio.emit("update", body["payload"], namespace="/board", to=body.get("room", "all"))
        start_response("204 No Content", [])
        return [b""]
    start_response("404 Not Found", [])
    return [b""]


app = socketio.WSGIApp(sio, plain_app)

# Never outlive a driver that died without stopping us: after an hour, ask gunicorn's master to stop.
gevent.spawn_later(int(os.environ.get("FLOOR_MAX_RUNTIME_S", "3600")), os.kill, os.getppid(), signal.SIGTERM)
