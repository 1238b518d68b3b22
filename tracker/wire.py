"""JSON for Socket.IO packets, with one addition: a payload that is already JSON text goes out as is.

A national snapshot is 15,000 homes. python-socketio would walk all of it looking for binary data
and then encode it again for every board that connects; a snapshot reused by many boards
(board._stream_state) is encoded once instead, and wrapped in `Encoded` to skip both.
"""

from __future__ import annotations

import json


class Encoded(str):
    """JSON text to be placed in a packet verbatim."""


def dumps(obj, **kwargs) -> str:
    if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[1], Encoded):  # [event, payload]
        return f"[{json.dumps(obj[0])},{obj[1]}]"
    return json.dumps(obj, **kwargs)


def loads(text, **kwargs):
    return json.loads(text, **kwargs)
