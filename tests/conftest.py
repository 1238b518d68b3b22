"""Fixtures: an app on a freshly migrated SQLite database per test, clients, and small factories."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from alembic.config import Config
from flask import g
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.datastructures import Headers

from alembic import command
from tracker import create_app
from tracker.auth import hash_password
from tracker.db import session
from tracker.extensions import socketio
from tracker.models import CareHome, Hospital, Locality, Offer, Region, Role, User

from .servers import Postgres, Redis

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-which-is-long-enough-for-production"
PASSWORD = "correct horse battery staple"
# When make_home's homes were created, unless a test says otherwise: before any moment a test uses.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
# An ordinary moment for a stopped clock: Tuesday 24 November 2026, 09:00 GMT, in working hours.
FROZEN_AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--clock-at",
        metavar="INSTANT",
        help="Run the whole session with this process's clock moved to INSTANT (ISO 8601) and ticking, "
        "to find tests that depend on the date or hour, e.g. --clock-at 2031-07-15T23:30:00+00:00",
    )


@pytest.fixture(scope="session", autouse=True)
def moved_clock(request):
    """The --clock-at check: every test of the session sees the wall clock start at that instant."""
    instant = request.config.getoption("--clock-at")
    if not instant:
        yield None
        return
    moment = datetime.fromisoformat(instant)
    if moment.tzinfo is None:
        raise pytest.UsageError("--clock-at: give the instant with its offset, e.g. 2031-07-15T23:30:00+00:00")
    # Servers the tests start in other processes move with this one (tests/moved_clock/sitecustomize.py).
    shift = moment.timestamp() - time.time()
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent / "moved_clock"), os.environ.get("PYTHONPATH")]))
    with pytest.MonkeyPatch.context() as env, time_machine.travel(moment, tick=True):
        env.setenv("PYTHONPATH", path)
        env.setenv("TRACKER_TEST_CLOCK_SHIFT", str(shift))
        yield moment


def migrate(url: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """Migrations run once; each test gets a copy of the result."""
    path = tmp_path_factory.mktemp("template") / "tracker.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the session, with a migrated template database."""
    server = Postgres().start()
    server.execute("CREATE DATABASE template_tracker")
    migrate(server.url("template_tracker"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    server = Redis().start()
    yield server
    server.stop()


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Every test that touches the database runs on both engines, each on a fresh migrated copy."""
    if request.param == "sqlite":
        db_file = tmp_path / "tracker.db"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), db_file)
        return f"sqlite:///{db_file}"
    server = request.getfixturevalue("postgres")
    name = f"test_{next(_databases)}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE template_tracker")
    return server.url(name)


@pytest.fixture
def environ(database_url) -> dict[str, str]:
    # Boards get each update at once in tests; test_board.py checks the coalescing window itself.
    return {"TRACKER_ENV": "test", "SECRET_KEY": SECRET, "DATABASE_URL": database_url, "BOARD_COALESCE_MS": "0"}


@pytest.fixture
def frozen_clock(request):
    """The clock stopped at FROZEN_AT, or at the instant a test gives by indirect parametrization.

    Name it before the test's other fixtures, so that what they record happens at that instant too."""
    with time_machine.travel(getattr(request, "param", FROZEN_AT), tick=False) as traveller:
        yield traveller


@pytest.fixture
def make_app():
    """Build apps whose database connections are all closed when the test ends."""
    made = []

    def make(environ, overrides=None):
        made.append(create_app(environ, overrides))
        return made[-1]

    yield make
    session.remove()
    for app in made:
        app.extensions["engine"].dispose()


class CsrfClient(FlaskClient):
    """Sends the session's CSRF token with every request that may change something, as a page does.

    In the X-CSRFToken header, which Flask-WTF reads as it reads the form field, so that a Twilio
    request's signed parameters stay as they were. tests/test_csrf.py posts without it."""

    def open(self, *args, **kwargs):
        if kwargs.get("method", "GET") not in ("GET", "HEAD", "OPTIONS"):
            with self.session_transaction() as stored:
                raw = stored.setdefault("csrf_token", secrets.token_hex(20))
            signed = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)
            kwargs["headers"] = Headers(kwargs.get("headers"))
            kwargs["headers"].setdefault("X-CSRFToken", signed)
        return super().open(*args, **kwargs)


@pytest.fixture
def app(make_app, environ):
    app = make_app(environ, {"TESTING": True})  # CSRF on, as in production: the client sends the token
    app.test_client_class = CsrfClient

    # Requests made while this test holds an app context share its `g`, where Flask-Login caches the
    # signed-in user: without this, a second client would act as whoever the first one signed in as.
    @app.before_request
    def forget_cached_user() -> None:
        g.pop("_login_user", None)

    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_home():
    def make(name="Trelawney House", offers=None, locality="West Cornwall", now=LONG_AGO, **fields) -> CareHome:
        place = session.scalars(select(Locality).where(Locality.name == locality)).one_or_none()
        if place is None:
            region = session.scalars(select(Region)).first() or Region(name="Cornwall and the Isles of Scilly")
            place = Locality(name=locality, region=region)
        home = CareHome(name=name, locality=place, latitude=50.12, longitude=-5.53, chase_due_at=now, **fields)
        for position, (code, capacity) in enumerate((offers or {"NUR": 40, "RES": 20}).items()):
            home.offers.append(Offer(kind_code=code, capacity=capacity, position=position))
        session.add(home)
        session.commit()
        return home

    return make


@pytest.fixture
def coordinator():
    hospital = Hospital(name="West Cornwall Hospital", site="Penzance", latitude=50.1221, longitude=-5.5430)
    user = User(
        email="coordinator@example.nhs.uk",
        name="Pat Coordinator",
        password_hash=hash_password(PASSWORD),
        role=Role.COORDINATOR,
        hospital=hospital,
    )
    session.add(user)
    session.commit()
    return user


@pytest.fixture
def signed_in(client, coordinator):
    response = client.post("/login", data={"email": coordinator.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def board_client(app, signed_in):
    """A board connected over Socket.IO as the signed-in coordinator."""

    def connect(auth=None):
        return socketio.test_client(app, namespace="/board", auth=auth, flask_test_client=signed_in)

    return connect
