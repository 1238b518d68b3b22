"""What operators watch: JSON log lines, Prometheus metrics and optional Sentry reports (docs/operations.md).

Nothing here may carry a secret or a person's data: no message bodies, no form-link tokens, phone
numbers masked to their last three digits.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request
from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

log = logging.getLogger("tracker.request")

# With several processes, prometheus_client keeps each process's values in files under
# PROMETHEUS_MULTIPROC_DIR and /metrics adds them up; "livesum" drops the boards of a process that died.
BOARDS_CONNECTED = Gauge(
    "tracker_boards_connected", "Boards connected now, by stream", ["stream"], multiprocess_mode="livesum"
)
UPDATES_RECORDED = Counter("tracker_updates_recorded", "Updates recorded, by channel", ["channel"])
SNAPSHOT_SECONDS = Histogram("tracker_snapshot_build_seconds", "Time to build a stream's snapshot for boards")
SEARCH_SECONDS = Histogram(
    "tracker_search_seconds",
    "Time to answer a families' search",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RATE_LIMITED = Counter("tracker_rate_limit_refusals", "Requests refused by a rate limit, by route", ["endpoint"])

_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_.~-]{20,}")


def mask_phone(phone: str | None) -> str:
    """'+447700900123' -> '+44*******123': enough to tell two numbers apart in a log, not to ring one."""
    if not phone:
        return ""
    return phone[:3] + "*" * max(len(phone) - 6, 0) + phone[-3:] if len(phone) > 6 else "***"


def safe_path(path: str) -> str:
    """A request path with anything that looks like a token (form links, invitations) replaced."""
    return "/".join("<token>" if _TOKEN_LIKE.fullmatch(part) else part for part in path.split("/"))


def configure_logging(level: str = "INFO", stream=None, fmt: str = "json") -> None:
    """One JSON object per line on stderr for the whole process (web, clock). Idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tracker", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._tracker = True
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # not a line per tick


def init_app(app: Flask) -> None:
    """Request ids and a log line per request; Sentry when SENTRY_DSN is set."""
    if app.config["TRACKER_ENV"] != "test":  # tests keep pytest's own log capture
        configure_logging(app.config["LOG_LEVEL"], fmt=app.config["LOG_FORMAT"])

    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        # A proxy's id is kept so lines can be joined across it; anything odd is replaced, not logged.
        g.request_id = given if re.fullmatch(r"[A-Za-z0-9._-]{8,64}", given) else uuid.uuid4().hex

    @app.after_request
    def log_request(response):
        started = g.pop("request_started", None)
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        if started is not None and request.path not in ("/healthz", "/metrics"):
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "path": safe_path(request.path),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return response

    def log_exception(exc_info) -> None:
        # Flask's own line names the path, which may be a manager's form link: mask it.
        app.logger.error(
            "unhandled exception",
            exc_info=exc_info,
            extra={"request_id": g.get("request_id"), "method": request.method, "path": safe_path(request.path)},
        )

    app.log_exception = log_exception

    if app.config["SENTRY_DSN"]:
        _init_sentry(app)


def _init_sentry(app: Flask) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=app.config["SENTRY_DSN"],
        environment=app.config["TRACKER_ENV"],
        integrations=[FlaskIntegration()],
        # send_default_pii stays at its default (off): no addresses, cookies or user names; bodies never.
        max_request_body_size="never",
        include_local_variables=False,  # a frame's variables can hold a message body, a phone, a link token
        before_send=_scrub,
        traces_sample_rate=0,
    )


def _scrub(event: dict, hint: dict) -> dict:
    """Leave no token or query string in what is sent: paths are masked, query strings dropped."""
    req = event.get("request")
    if isinstance(req, dict):
        if isinstance(req.get("url"), str):
            req["url"] = safe_path(req["url"])
        req.pop("query_string", None)
        req.pop("cookies", None)
        req.pop("data", None)
        headers = req.get("headers")
        if isinstance(headers, dict):
            for name in list(headers):
                if name.lower() in {"authorization", "cookie", "x-twilio-signature"}:
                    headers[name] = "[removed]"
    event.pop("user", None)
    return event
