"""A board client that follows the documented rules (docs/board-events.md), as a hospital system would."""

from __future__ import annotations

import threading
import time

import socketio

REORDER_WAIT_S = 1.0


class Follower:
    def __init__(self, token: str, region="all"):
        self.token, self.region = token, region
        self.seq: int | None = None
        self.homes: dict[int, dict] = {}
        self.applied: list[int] = []  # every seq applied, in order
        self.replays_asked = 0
        self._pending: dict[int, dict] = {}
        self._gap_timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("snapshot", self._on_snapshot, namespace="/board")
        self.client.on("update", self._on_update, namespace="/board")
        self.client.on("updates", lambda batch: [self._on_update(u) for u in batch["updates"]], namespace="/board")
        self.client.on("tick", self._on_tick, namespace="/board")

    def connect(self, base_url: str) -> Follower:
        auth = {"token": self.token, "region": self.region}
        if self.seq is not None:
            auth["since"] = self.seq
        self.client.connect(base_url, namespaces=["/board"], auth=auth, transports=["websocket"], wait_timeout=10)
        return self

    def disconnect(self) -> None:
        self.client.disconnect()

    def _on_snapshot(self, snap):
        with self._lock:
            self.seq = snap["seq"]
            self.homes = {h["id"]: h for h in snap["homes"]}
            self._pending.clear()

    def _on_update(self, event):
        with self._lock:
            if self.seq is None or event["seq"] <= self.seq:
                return
            if event["prev"] != self.seq:
                self._pending[event["prev"]] = event
                self._await_gap()
                return
            self._apply(event)
            while self.seq in self._pending:
                self._apply(self._pending.pop(self.seq))

    def _on_tick(self, tick):
        with self._lock:
            if self.seq is not None and tick["seq"] > self.seq:
                self._await_gap()

    def _await_gap(self):
        """Messages from different web processes can arrive out of order: wait before asking."""
        if self._gap_timer is not None:
            return
        self._gap_timer = threading.Timer(REORDER_WAIT_S, self._gap_expired, args=(self.seq,))
        self._gap_timer.daemon = True
        self._gap_timer.start()

    def _gap_expired(self, seq_then):
        with self._lock:
            self._gap_timer = None
            if self.seq == seq_then:  # nothing moved: it was lost, not late
                self.replays_asked += 1
                self.client.emit("replay", {"since": self.seq}, namespace="/board")
            elif self._pending:
                self._await_gap()

    def _apply(self, event):
        self.seq = event["seq"]
        self.applied.append(event["seq"])
        self.homes.setdefault(event["home"]["id"], {}).update(event["home"])

    def wait_for(self, seq: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.seq is not None and self.seq >= seq:
                return
            time.sleep(0.02)
        raise AssertionError(f"board reached seq {self.seq}, not {seq}, within {timeout} s (applied {self.applied})")
