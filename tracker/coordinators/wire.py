"""JSON for Socket.IO packets, with one addition: a payload that is already JSON text goes out as is.

A national snapshot is 15,000 homes. python-socketio would walk all of it looking for binary data
and then encode it again for every board that connects; a snapshot reused by many boards
(board._stream_state) is encoded once instead, and wrapped in `Encoded` to skip both.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import simple_websocket.ws
from simple_websocket.errors import ConnectionClosed
from wsproto.events import Message, TextMessage


class Encoded(str):
    """JSON text to be placed in a packet verbatim."""


def dumps(obj, **kwargs) -> str:
    if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[1], Encoded):  # [event, payload]
        return f"[{json.dumps(obj[0])},{obj[1]}]"
    return json.dumps(obj, **kwargs)


def loads(text, **kwargs):
    return json.loads(text, **kwargs)


def send_whole_frames() -> None:
    """Make simple-websocket write each frame whole.

    simple-websocket 1.1.0 writes a frame with one socket.send(), which sends only what fits in the
    socket's buffer: a bigger frame — a national snapshot to a client that did not ask for
    compression — is cut short and that board hangs (upstream issue #45, fixed but not released).
    Replaced for that version only; tests/test_scale_out.py sends a several-megabyte snapshot.
    """
    if version("simple-websocket") != "1.1.0":
        return

    def send(self, data):
        if not self.connected:
            raise ConnectionClosed(self.close_reason, self.close_message)
        event = Message(data=data) if isinstance(data, bytes) else TextMessage(data=str(data))
        self.sock.sendall(self.ws.send(event))

    simple_websocket.ws.Base.send = send
