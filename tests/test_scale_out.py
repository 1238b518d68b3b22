"""Production shape, for real: PostgreSQL, Redis as the Socket.IO message queue, two gevent web
processes and a clock process. An update posted to one process reaches boards on the other; a
sign-in or token ended on one ends its boards on the other."""

from __future__ import annotations

import collections
import itertools
import os
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import socketio
from sqlalchemy import func, insert, select

from tracker import create_app
from tracker.auth import create_token, hash_password, revoke_token
from tracker.db import session
from tracker.managers import links
from tracker.models import (
    ApiToken,
    CareHome,
    Channel,
    Contact,
    Locality,
    Offer,
    OutboundMessage,
    OutboundState,
    Region,
    Role,
    User,
    utcnow,
)
from tracker.vacancies import Change, record_update

from .follower import Follower
from .servers import Redis, free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parent.parent
OVERDUE = timedelta(hours=25)  # past the default AGEING_AFTER
_names = itertools.count()


class Deployment:
    def __init__(self, postgres, redis: Redis, tmp_path: Path):
        name = f"scale_{next(_names)}"
        postgres.execute(f"CREATE DATABASE {name} TEMPLATE template_tracker")
        self.redis, self.tmp = redis, tmp_path
        self.ports = [free_port(), free_port()]
        self.env = {
            **os.environ,
            "TRACKER_ENV": "production",
            "SECRET_KEY": "scale-out-test-secret-key-long-enough-for-production",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.ports[0]}",
            "SESSION_COOKIE_SECURE": "false",
            "DATABASE_URL": postgres.url(name),
            "SOCKETIO_MESSAGE_QUEUE": redis.url,
            "BOARD_TICK_SECONDS": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
            # Limits stay on (they are what failed when Redis went away) but high enough for a load test.
            "PUBLIC_SEARCH_RATE_LIMIT": "100000/minute",
            "API_RATE_LIMIT": "100000/minute",
        }
        (tmp_path / "metrics").mkdir()
        self.processes: list[subprocess.Popen] = []

    def prepare(self, extra_homes: int = 0) -> tuple[str, str]:
        """A care home (and optionally many more) and a board token; returns (token, form path)."""
        app = create_app(self.env)
        with app.app_context():
            now = utcnow()
            place = Locality(name="West Cornwall", region=Region(name="Cornwall"))
            home = CareHome(name="Chy Lowen", locality=place, chase_due_at=now)
            home.offers = [Offer(kind_code="NUR", capacity=30, position=0)]
            session.add(home)
            session.commit()
            if extra_homes:
                rows = [
                    {"name": f"Home number {i}", "address": f"{i} Long Street Name, Some Town", "postcode": "TR1 1AA",
                     "latitude": 50.2, "longitude": -5.0, "locality_id": home.locality_id, "phone": "01632 960000",
                     "listed_publicly": True, "link_version": 1, "admissions_open": True, "note": "",
                     "chase_due_at": now}
                    for i in range(extra_homes)
                ]  # fmt: skip
                ids = session.scalars(insert(CareHome).returning(CareHome.id), rows).all()
                offers = [{"home_id": i, "kind_code": k, "capacity": 30, "position": p} for i in ids
                          for p, k in enumerate(("RES", "NUR", "DNUR"))]  # fmt: skip
                session.execute(insert(Offer), offers)
                session.commit()
            token, path = create_token("hospital system", Role.COORDINATOR), "/h/" + links.link_token(home)
        session.remove()
        app.extensions["engine"].dispose()
        return token, path

    def start(self) -> None:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        for i, port in enumerate(self.ports):
            command = [gunicorn, "-c", "tracker/gunicorn_conf.py", "-k", "gevent", "-w", "1",
                       "--worker-connections", "10000", "--no-control-socket",
                       "-b", f"127.0.0.1:{port}", "tracker:create_app()"]  # fmt: skip
            self._spawn(command, f"web{i}")
        self._spawn([sys.executable, "-m", "tracker.clock"], "clock")
        for process, url, name in zip(self.processes, self.urls, ("web0", "web1"), strict=False):
            wait_until_healthy(url, process, self.tmp / f"{name}.log")

    def _spawn(self, command: list[str], name: str) -> None:
        with open(self.tmp / f"{name}.log", "w") as log:  # the child keeps its own copy of the descriptor
            self.processes.append(subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log))

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def post(self, base_url: str, path: str, beds: int) -> int:
        """Save the manager's form, CSRF and all, and return the update's seq."""
        http = requests.Session()
        page = http.get(base_url + path, timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        data = {"csrf_token": csrf, "kind-NUR": str(beds), "admissions": "open", "action": "save"}
        response = http.post(base_url + path, data=data, allow_redirects=False, timeout=10)
        assert response.status_code == 303, response.text
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp.glob("*.log")))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def deployment(request, postgres, tmp_path):
    redis = Redis().start()
    deployment = Deployment(postgres, redis, tmp_path)
    token, path = deployment.prepare(extra_homes=getattr(request, "param", 0))
    try:
        deployment.start()
        yield deployment, token, path
    finally:
        deployment.stop()
        redis.stop()


def test_an_update_posted_to_one_process_reaches_a_board_on_the_other(deployment):
    deploy, token, path = deployment
    a, b = deploy.urls
    board = Follower(token).connect(b)
    seq = deploy.post(a, path, beds=3)
    board.wait_for(seq)
    assert board.homes[1]["kinds"]["NUR"]["available"] == 3
    board.disconnect()


def test_a_board_reconnecting_to_the_other_process_gets_what_it_missed(deployment):
    deploy, token, path = deployment
    a, b = deploy.urls
    board = Follower(token).connect(b)
    board.wait_for(deploy.post(a, path, beds=1))
    board.disconnect()

    missed = [deploy.post(a, path, beds=n) for n in (2, 3, 4)]

    board.connect(a)  # like a browser whose process went away: it lands on the other one
    board.wait_for(missed[-1])
    assert board.applied == [1, 2, 3, 4]
    assert board.homes[1]["kinds"]["NUR"]["available"] == 4
    board.disconnect()


def test_a_redis_restart_loses_no_update_for_a_board(deployment):
    deploy, token, path = deployment
    a, b = deploy.urls
    board = Follower(token).connect(b)
    board.wait_for(deploy.post(a, path, beds=1))

    deploy.redis.stop(keep_dir=True)
    lost_in_transit = deploy.post(a, path, beds=5)  # recorded; its broadcast to process B is dropped
    deploy.redis.start()

    # Nothing else changes: the clock's tick through the recovered queue tells the board it is behind.
    board.wait_for(lost_in_transit, timeout=30)
    assert board.applied == [1, 2]
    assert board.homes[1]["kinds"]["NUR"]["available"] == 5
    assert board.replays_asked >= 1
    board.disconnect()


def test_metrics_add_up_updates_recorded_by_every_process(deployment):
    deploy, token, path = deployment
    a, b = deploy.urls
    deploy.post(a, path, beds=1)
    deploy.post(b, path, beds=2)
    deploy.post(b, path, beds=3)
    body = requests.get(a + "/metrics", timeout=10).text
    assert 'tracker_updates_recorded_total{channel="web"} 3.0' in body, body[-2000:]
    logged = [line for line in deploy.logs().splitlines() if '"message": "update recorded"' in line]
    assert len(logged) == 3


def test_a_redis_outage_under_load_answers_no_request_with_a_server_error(deployment):
    deploy, token, path = deployment
    statuses: dict[str, collections.Counter] = {"before": collections.Counter(), "outage": collections.Counter(),
                                                "after": collections.Counter()}  # fmt: skip
    phase = ["before"]
    stop = threading.Event()

    def load(base_url: str) -> None:
        http = requests.Session()
        api = {"Authorization": f"Bearer {token}"}
        targets = ((f"{base_url}/api/v1/homes", api), (f"{base_url}/api/v1/public/search?near=TR1+1AA", {}))
        while not stop.is_set():
            for url, headers in targets:
                try:
                    statuses[phase[0]][http.get(url, headers=headers, timeout=10).status_code] += 1
                except requests.RequestException as exc:
                    statuses[phase[0]][type(exc).__name__] += 1

    def until(count: int) -> None:
        deadline = time.monotonic() + 60
        while sum(statuses[phase[0]].values()) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    threads = [threading.Thread(target=load, args=(url,)) for url in deploy.urls]
    for thread in threads:
        thread.start()
    try:
        until(20)
        phase[0] = "outage"
        deploy.redis.stop(keep_dir=True)
        until(100)
        ready = requests.get(deploy.urls[0] + "/readyz", timeout=10)
        recorded = deploy.post(deploy.urls[1], path, beds=4)  # a manager's update still lands
        phase[0] = "after"
        deploy.redis.start()
        until(40)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert ready.status_code == 503 and ready.json()["checks"]["redis"]["ok"] is False
    assert recorded == 1
    for name, counts in statuses.items():
        assert sum(counts.values()) >= 20, (name, counts)
        assert set(counts) <= {200}, (name, counts)
    whole_logs = "".join(log.read_text() for log in deploy.tmp.glob("web*.log"))
    assert "Rate limit storage unreachable - falling back to in-memory storage" in whole_logs


@pytest.mark.parametrize("deployment", [15_000], indirect=True)
def test_a_board_without_compression_gets_a_snapshot_of_megabytes_whole(deployment):
    deploy, token, _path = deployment
    board = Follower(token)
    board.connect(deploy.urls[1])  # websocket-client offers no per-message compression
    deadline = time.monotonic() + 30
    while len(board.homes) < 15_001 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(board.homes) == 15_001  # about 6.5 MB in one websocket frame
    board.disconnect()


def clock_passes(log: Path) -> list[int]:
    """How many homes each chasing pass logged by a clock process reminded, in order."""
    return [int(n) for n in re.findall(r"chasing pass at \S+: (\d+) home\(s\) reminded", log.read_text())]


def test_two_clock_processes_started_by_mistake_send_each_reminder_once(postgres, tmp_path):
    """The chaser claims each step in the database, so a second scheduler is harmless."""
    redis = Redis().start()
    deployment = Deployment(postgres, redis, tmp_path)
    deployment.env.update({"CHASE_EVERY_SECONDS": "5", "CHASE_HOURS": "00:00-24:00"})
    app = create_app(deployment.env)
    phones = [f"+4477009004{i:02d}" for i in range(20)]
    with app.app_context():
        west = Locality(name="West Cornwall", region=Region(name="Cornwall"))
        for i, phone in enumerate(phones):
            home = CareHome(name=f"Home {i}", locality=west)
            home.offers = [Offer(kind_code="NUR", capacity=30, position=0)]
            home.contacts = [Contact(phone=phone)]
            session.add(home)
            session.commit()
            record_update(home.id, Change(counts={"NUR": 1}), channel=Channel.SMS, actor="t", now=utcnow() - OVERDUE)
    clocks = ("clock", "clock-again")
    try:
        for name in clocks:
            deployment._spawn([sys.executable, "-m", "tracker.clock"], name)
        with app.app_context():
            deadline = time.monotonic() + 60
            while session.scalar(select(func.count()).select_from(OutboundMessage)) < len(phones):
                assert time.monotonic() < deadline, deployment.logs()
                session.remove()
                time.sleep(0.2)
            # Evidence that both clocks ran, not a guess at how long that takes: each logs every pass, and
            # each must log two more after every reminder was stored (passes that would send again if a
            # claim let a second sender through).
            before = {name: len(clock_passes(tmp_path / f"{name}.log")) for name in clocks}
            deadline = time.monotonic() + 60
            while any(len(clock_passes(tmp_path / f"{n}.log")) < before[n] + 2 for n in clocks):
                assert time.monotonic() < deadline, deployment.logs()
                time.sleep(0.2)
            session.remove()
            sent = session.scalars(select(OutboundMessage)).all()
            assert sorted(m.to for m in sent) == phones, deployment.logs()
            assert {m.state for m in sent} == {OutboundState.OUTBOX}
            assert all(h.reminders_sent == 1 for h in session.scalars(select(CareHome)))
            session.remove()
        reminded = {name: sum(clock_passes(tmp_path / f"{name}.log")) for name in clocks}
        assert sum(reminded.values()) == len(phones), reminded  # each home reminded by exactly one clock
    finally:
        deployment.stop()
        redis.stop()
        app.extensions["engine"].dispose()


def test_ending_a_sign_in_or_a_token_disconnects_its_boards_on_every_process(deployment):
    deploy, token, _path = deployment
    a, b = deploy.urls
    app = create_app(deploy.env)
    with app.app_context():
        session.add(User(email="pat@example.nhs.uk", name="Pat", password_hash=hash_password("a long password"),
                         role=Role.COORDINATOR))  # fmt: skip
        session.commit()
    browser = requests.Session()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(a + "/login", timeout=10).text).group(1)
    signed_in = browser.post(a + "/login", data={"csrf_token": csrf, "email": "pat@example.nhs.uk",
                             "password": "a long password"}, allow_redirects=False, timeout=10)  # fmt: skip
    assert signed_in.status_code == 302
    cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    pats_board = socketio.Client(reconnection=False)
    pats_board.connect(b, namespaces=["/board"], headers={"Cookie": cookies}, transports=["websocket"], wait_timeout=10)
    machine = Follower(token).connect(b)

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(a + "/board", timeout=10).text).group(1)
    assert browser.post(a + "/logout", data={"csrf_token": csrf}, allow_redirects=False, timeout=10).status_code == 302
    with app.app_context():  # as `flask tokens revoke` would, from a third process
        revoke_token(session.scalars(select(ApiToken)).one())

    deadline = time.monotonic() + 5
    while (pats_board.connected or machine.client.connected) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pats_board.connected and not machine.client.connected, deploy.logs()
    app.extensions["engine"].dispose()
