"""Care home bed vacancy tracker."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, render_template

from . import config as config_module
from . import db, timefmt
from .extensions import csrf, login_manager, socketio


def create_app(environ: Mapping[str, str] | None = None, overrides: dict | None = None) -> Flask:
    """Build the app from `environ` (default: os.environ); `overrides` are for tests only."""
    app = Flask(__name__, instance_path=str(Path(__file__).resolve().parent.parent / "instance"))
    app.config.from_mapping(config_module.load(os.environ if environ is None else environ, Path(app.instance_path)))
    if overrides:
        app.config.from_mapping(overrides)

    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"],
        # Boards send nothing big; refuse anything that is not a small event.
        max_http_buffer_size=64_000,
    )

    from . import auth, board, cli, health, homes

    app.register_blueprint(auth.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(homes.bp)
    app.register_blueprint(health.bp)
    cli.register(app)
    app.add_template_filter(timefmt.local_time)
    app.add_template_filter(timefmt.ago)

    @app.get("/")
    def index():
        return render_template("index.html")

    return app
