"""docs/operations.md, followed as a new operator would: an empty PostgreSQL to an admin, a region and a board."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

from flask_socketio import SocketIOTestClient

from tracker import create_app
from tracker.db import session
from tracker.extensions import socketio

from .conftest import ROOT


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_a_new_operator_gets_from_an_empty_database_to_a_working_board_without_the_demo(postgres):
    postgres.execute("CREATE DATABASE fresh_production")
    env = {
        **os.environ,
        "TRACKER_ENV": "production",
        "SECRET_KEY": "a-production-secret-that-is-long-enough-0123456789",
        "PUBLIC_BASE_URL": "https://beds.example.nhs.uk",
        "DATABASE_URL": postgres.url("fresh_production"),
        "SESSION_COOKIE_SECURE": "false",  # the test client speaks plain HTTP
    }
    flask = [sys.executable, "-m", "flask", "--app", "tracker"]

    def command(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    command("db", "upgrade")  # step 4
    refused = subprocess.run([*flask, "seed-demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0  # the demo never reaches production
    link = command("users", "create-admin", "ops@example.nhs.uk", "--name", "Olu Operator").stdout.strip()  # step 5
    assert link.startswith("https://beds.example.nhs.uk/invite/")

    app = create_app({k: v for k, v in env.items() if k in {"TRACKER_ENV", "SECRET_KEY", "PUBLIC_BASE_URL",
                                                           "DATABASE_URL", "SESSION_COOKIE_SECURE"}})  # fmt: skip
    try:
        with app.app_context():
            http = app.test_client()
            path = link.removeprefix("https://beds.example.nhs.uk")
            page = http.get(path).get_data(as_text=True)
            chosen = {"csrf_token": csrf_of(page), "password": "a long and private passphrase", "again": ""}
            chosen["again"] = chosen["password"]
            assert http.post(path, data=chosen).status_code == 302  # signed in

            # Step 7: a region, a locality, a hospital and a home, from the admin pages.
            token = csrf_of(http.get("/admin/places").get_data(as_text=True))
            assert http.post("/admin/regions", data={"csrf_token": token, "name": "Cornwall"}).status_code == 302
            page = http.get("/admin/localities/new").get_data(as_text=True)
            region_id = re.search(r'<option value="(\d+)"[^>]*>Cornwall', page).group(1)
            locality = {"csrf_token": csrf_of(page), "name": "West Cornwall", "region_id": region_id}
            assert http.post("/admin/localities/new", data=locality).status_code == 302
            page = http.get("/admin/homes/new").get_data(as_text=True)
            locality_id = re.search(r'<option value="(\d+)"[^>]*>West Cornwall', page).group(1)
            home = {"csrf_token": csrf_of(page), "name": "Chy Lowen", "locality_id": locality_id, "latitude": "50.12",
                    "longitude": "-5.53", "capacity-NUR": "30", "listed_publicly": "y"}  # fmt: skip
            assert http.post("/admin/homes/new", data=home).status_code == 302

            # Step 10: the board shows the home, live.
            assert http.get("/board").status_code == 200
            board = SocketIOTestClient(
                app, socketio, namespace="/board", flask_test_client=http, auth={"region": "all"}
            )
            assert board.is_connected("/board")
            (snapshot,) = [m for m in board.get_received("/board") if m["name"] == "snapshot"]
            sent = snapshot["args"][0]
            homes = (sent if isinstance(sent, dict) else json.loads(sent))["homes"]  # pre-encoded, as boards get it
            assert [h["name"] for h in homes] == ["Chy Lowen"]
            board.disconnect(namespace="/board")
            readyz = http.get("/readyz").get_json()
            assert readyz["checks"]["database"] == {"ok": True}
            session.remove()
    finally:
        app.extensions["engine"].dispose()
        root = logging.getLogger()  # production logs JSON lines: give pytest its logging back
        for handler in [h for h in root.handlers if getattr(h, "_tracker", False)]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
