"""Liveness, readiness and metrics for load balancers and monitoring (docs/operations.md)."""

from __future__ import annotations

import hmac
import os
from datetime import timedelta

import redis
from flask import Blueprint, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from tracker.db import session
from tracker.models import BoardCursor, JobRun, OutboundMessage, utcnow

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: this process answers and reaches its database. Load balancers route on this."""
    try:
        seq = session.scalar(select(BoardCursor.seq).where(BoardCursor.id == 1))
        session.rollback()
    except SQLAlchemyError as exc:
        session.rollback()
        return jsonify(status="unavailable", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok", seq=seq)


@bp.get("/readyz")
def readyz():
    """Readiness of the whole service: database, Redis when configured, and a clock that still runs passes.

    503 when any of them is down. Monitoring alerts on this; load balancers keep using /healthz, so a
    dead clock is reported without taking the web processes out of service.
    """
    checks = {"database": _database(), **_redis_checks(), "clock": _clock()}
    ready = all(check["ok"] for check in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503


def _database() -> dict:
    try:
        session.execute(text("SELECT 1"))
        session.rollback()
    except SQLAlchemyError as exc:
        session.rollback()
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def _redis_checks() -> dict:
    urls = {current_app.config["SOCKETIO_MESSAGE_QUEUE"], current_app.config["RATELIMIT_STORAGE_URI"]}
    checks = {}
    for url in sorted(u for u in urls if u and u.startswith(("redis://", "rediss://"))):
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            client.ping()
            client.close()
            checks["redis"] = {"ok": True}
        except redis.RedisError as exc:
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
            break
    return checks


def clock_lag() -> timedelta | None:
    """How long ago the last chase pass finished, in any process; None if none ever has (or the database is down)."""
    try:
        finished = session.scalar(select(JobRun.finished_at).where(JobRun.name == "chase"))
        session.rollback()
    except SQLAlchemyError:
        session.rollback()
        return None
    return utcnow() - finished if finished else None


def _clock() -> dict:
    lag = clock_lag()
    every = current_app.config["CHASE_EVERY_SECONDS"]
    # Three missed passes, and never less than three minutes: a slow pass or a restart is not an outage.
    allowed = max(3 * every, 180)
    if lag is None:
        return {"ok": False, "error": "no chase pass has ever finished: is the clock process running?"}
    seconds = round(lag.total_seconds())
    if seconds > allowed:
        return {"ok": False, "seconds_since_last_pass": seconds, "error": f"no chase pass for over {allowed} s"}
    return {"ok": True, "seconds_since_last_pass": seconds}


@bp.get("/metrics")
def metrics():
    """Prometheus metrics, added up across every process (PROMETHEUS_MULTIPROC_DIR), plus the database's own."""
    expected = current_app.config["METRICS_TOKEN"]
    if expected:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            abort(404)
    elif request.remote_addr not in ("127.0.0.1", "::1"):
        abort(404)  # without a token, only a scraper on the same machine
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = REGISTRY  # one process: its own values are the whole
    database = CollectorRegistry()
    database.register(_DatabaseCollector())
    return Response(generate_latest(processes) + generate_latest(database), mimetype=CONTENT_TYPE_LATEST)


class _DatabaseCollector:
    """Figures whose truth is in the database, so every process reports the same: the outbox, the clock."""

    def collect(self):
        outbox = GaugeMetricFamily("tracker_outbox_messages", "Outbound texts by state", labels=["state"])
        try:
            rows = session.execute(select(OutboundMessage.state, func.count()).group_by(OutboundMessage.state)).all()
            session.rollback()
        except SQLAlchemyError:
            session.rollback()
            rows = []
        for state, count in rows:
            outbox.add_metric([str(state)], count)
        yield outbox
        lag = clock_lag()
        since = GaugeMetricFamily(
            "tracker_seconds_since_last_chase_pass", "Seconds since any clock last finished a chase pass (-1: never)"
        )
        since.add_metric([], lag.total_seconds() if lag is not None else -1)
        yield since
