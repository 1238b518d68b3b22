"""Care home bed vacancy tracker."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from tracker import config as config_module
from tracker import db, observability, security, timefmt
from tracker.coordinators import wire
from tracker.coordinators.fanout import CoalescingManager, CoalescingRedisManager
from tracker.extensions import csrf, limiter, login_manager, socketio


def create_app(environ: Mapping[str, str] | None = None, overrides: dict | None = None) -> Flask:
    """Build the app from `environ` (default: os.environ); `overrides` are for tests only."""
    environ = os.environ if environ is None else environ
    app = Flask(__name__, instance_path=str(config_module.instance_path(environ)))
    app.config.from_mapping(config_module.load(environ, Path(app.instance_path)))
    if overrides:
        app.config.from_mapping(overrides)

    async_mode = _async_mode()
    if async_mode == "gevent" and app.config["DATABASE_URL"].startswith("sqlite"):
        # SQLite's busy wait blocks gevent's whole hub: every client stalls (docs/architecture.md).
        raise config_module.ConfigError(
            "gevent workers need PostgreSQL (DATABASE_URL=postgresql://...); with SQLite run `python -m tracker`"
        )

    # Import the Socket.IO handlers before binding: @socketio.on registers on whichever server is
    # bound at import time, so handlers imported after init_app would reach only that first app.
    from tracker import admin, auth, bed_requests, cli, health, pages, vacancies
    from tracker.admin import cqc_import_page, dashboard, invites, onboarding, reports_page  # noqa: F401
    from tracker.api import fhir, rest  # noqa: F401
    from tracker.api import holds as api_holds  # noqa: F401
    from tracker.api import requests as api_requests  # noqa: F401
    from tracker.chasing import ladder
    from tracker.coordinators import board, downloads, holds, requests_live, requests_page  # noqa: F401
    from tracker.families import search_page
    from tracker.managers import answer_page, form_page, sms, voice

    # The write path announces; the audiences listen (tracker/vacancies.py knows none of them).
    vacancies.recording.connect(ladder.reset, weak=False)  # inside the transaction: reminders answered
    vacancies.recorded.connect(board.publish, weak=False)  # after the commit: every board watching the home
    vacancies.recorded.connect(search_page.publish, weak=False)  # and the families' pages showing it
    bed_requests.changed.connect(requests_live.publish, weak=False)  # after a request's commit: its pages

    observability.init_app(app)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    wire.send_whole_frames()
    window_s = app.config["BOARD_COALESCE_MS"] / 1000
    queue = app.config["SOCKETIO_MESSAGE_QUEUE"]
    socketio.init_app(
        app,
        async_mode=async_mode,
        client_manager=CoalescingRedisManager(queue, window_s) if queue else CoalescingManager(window_s),
        # Boards send nothing big; refuse anything that is not a small event.
        max_http_buffer_size=64_000,
        json=wire,
    )
    # Around Socket.IO's middleware too, which answers /socket.io/ without going through Flask.
    if app.config["TRUSTED_PROXIES"]:  # the family's address, not nginx's, for the search's and live page's limits
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])
    app.wsgi_app = security.SecurityHeaders(app.wsgi_app, security.headers(app.config))

    app.register_blueprint(admin.bp)
    app.register_blueprint(answer_page.bp)
    app.register_blueprint(rest.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(form_page.bp)
    app.register_blueprint(invites.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(requests_page.bp)
    app.register_blueprint(search_page.bp)
    app.register_blueprint(sms.bp)
    app.register_blueprint(voice.bp)
    cli.register(app)
    app.add_template_filter(timefmt.local_time)
    app.add_template_filter(timefmt.ago)
    app.add_template_filter(timefmt.duration)

    return app


def _async_mode() -> str:
    """gevent when gunicorn's gevent worker has monkey-patched this process, else threading.

    Never left to Flask-SocketIO's own guess: with gevent installed it would pick gevent even in a
    threaded server, and nothing would work.
    """
    monkey = sys.modules.get("gevent.monkey")
    return "gevent" if monkey is not None and monkey.is_module_patched("socket") else "threading"
