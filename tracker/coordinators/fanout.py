"""Delivering board broadcasts: each process gathers the updates it is to deliver within a short
window into one message per room, whichever process published them. And ending boards: closing a
room disconnects its members, in every process (auth.close_connections).

Fan-out costs per message and per board, not per byte (the stack findings measured, with 1,000 gevent boards, ~75 ms of
CPU to send one small message to all). Every process receives every update through Redis, so
coalescing where updates are published would still leave each process one broadcast per update
per publisher; coalescing here leaves it one per window, however many processes publish.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import socketio

from tracker.coordinators.board import ENGLAND, NAMESPACE, REGION_ROOM_PREFIX

STREAM_ROOMS = (ENGLAND, REGION_ROOM_PREFIX)


class _Batcher:
    def __init__(self, manager: socketio.Manager, deliver, window_s: float):
        self.manager, self.deliver, self.window_s = manager, deliver, window_s
        self.lock = threading.Lock()
        self.pending: dict[str, list[dict]] = defaultdict(list)
        self.ticks: dict[str, dict] = {}
        self.flush_scheduled = False

    def offer(self, event: str, data, namespace: str | None, room) -> bool:
        """Take a board broadcast into the batch; False for anything else (sent as usual)."""
        if (
            self.window_s <= 0
            or namespace != NAMESPACE
            or event not in ("update", "updates", "tick")
            or not isinstance(room, str)
            or not room.startswith(STREAM_ROOMS)
        ):
            return False
        if event == "tick":
            # A tick must not overtake updates waiting in the window: every board would take it
            # for a lost message and ask for a replay at the same moment.
            with self.lock:
                if not self.pending.get(room):
                    return False
                self.ticks[room] = data
            return True
        events = data["updates"] if event == "updates" else [data]
        with self.lock:
            self.pending[room].extend(events)
            schedule, self.flush_scheduled = not self.flush_scheduled, True
        if schedule:
            self.manager.server.start_background_task(self._flush_after_window)
        return True

    def _flush_after_window(self) -> None:
        self.manager.server.sleep(self.window_s)
        self.flush()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending, self.flush_scheduled = self.pending, defaultdict(list), False
            ticks, self.ticks = self.ticks, {}
        for room, events in pending.items():
            events = sorted({e["seq"]: e for e in events}.values(), key=lambda e: e["seq"])
            if len(events) == 1:
                self.deliver("update", events[0], namespace=NAMESPACE, room=room)
            else:
                self.deliver("updates", {"updates": events}, namespace=NAMESPACE, room=room)
        for room, tick in ticks.items():
            self.deliver("tick", tick, namespace=NAMESPACE, room=room)


def _disconnect_members(manager: socketio.Manager, room, namespace) -> None:
    """Disconnect this process's members of `room`: python-socketio's close_room only forgets the
    room (and has no disconnect by room across processes), but its message travels to every one."""
    for sid, _eio_sid in list(manager.get_participants(namespace, room)):
        manager.server.disconnect(sid, namespace=namespace, ignore_queue=True)


class CoalescingManager(socketio.Manager):
    """One process, no message queue (the embedded default)."""

    def __init__(self, window_s: float):
        super().__init__()
        self.batcher = _Batcher(self, super().emit, window_s)

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        if callback is None and self.batcher.offer(event, data, namespace, to or room):
            return None
        return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs)

    def close_room(self, room, namespace):
        _disconnect_members(self, room, namespace)
        return super().close_room(room, namespace)


class CoalescingRedisManager(socketio.RedisManager):
    """Several processes joined by Redis: batches what this process delivers to its own boards."""

    def __init__(self, url: str, window_s: float, **kwargs):
        super().__init__(url, **kwargs)
        # Local delivery is Manager.emit: PubSubManager.emit publishes, then delivers through it.
        self.batcher = _Batcher(self, lambda *a, **k: socketio.Manager.emit(self, *a, **k), window_s)

    def _handle_emit(self, message):
        if message.get("callback") is None and self.batcher.offer(
            message["event"], message["data"][0] if len(message["data"]) == 1 else None, message.get("namespace"),
            message.get("room"),
        ):  # fmt: skip
            return None
        return super()._handle_emit(message)

    def _handle_close_room(self, message):
        # Called for this process's own close_room and for every other process's, from the queue.
        _disconnect_members(self, message.get("room"), message.get("namespace"))
        return super()._handle_close_room(message)
