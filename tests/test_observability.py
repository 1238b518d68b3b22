"""What operators see: JSON log lines, /readyz, /metrics, error pages, Sentry reports without personal data."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sentry_sdk
import time_machine
from sqlalchemy import event, select, text

from tracker import outbox, scheduler
from tracker.db import session
from tracker.managers import links
from tracker.models import Channel, Contact, JobRun, OutboundMessage, Region
from tracker.observability import configure_logging, mask_phone, safe_path
from tracker.vacancies import Change, record_update

from .conftest import PASSWORD


@pytest.fixture
def log_lines():
    """Everything logged during the test, as the JSON objects a log shipper would read."""
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_tracker", False)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def test_each_request_logs_one_json_line_with_its_id_status_and_duration_not_the_token(client, make_home, log_lines):
    home = make_home()
    token = links.link_token(home)
    response = client.get(f"/h/{token}", headers={"X-Request-ID": "abc12345-from-nginx"})

    requests = [line for line in log_lines() if line["message"] == "request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["request_id"] == "abc12345-from-nginx" == response.headers["X-Request-ID"]
    assert (line["method"], line["status"], line["path"]) == ("GET", 200, "/h/<token>")
    assert line["duration_ms"] >= 0 and line["level"] == "INFO" and line["time"]
    assert token not in json.dumps(log_lines())


def test_a_request_without_an_id_gets_a_fresh_one_and_a_forged_one_is_replaced(client, log_lines):
    first = client.get("/", headers={"X-Request-ID": "<script>alert(1)</script>"}).headers["X-Request-ID"]
    second = client.get("/").headers["X-Request-ID"]
    assert first != second and len(first) == 32 and "<" not in first


def test_a_recorded_update_logs_its_seq_home_and_channel_but_not_who(app, make_home, log_lines):
    home = make_home()
    row = record_update(home.id, Change(counts={"NUR": 2, "RES": 0}), channel=Channel.SMS, actor="Jo Manager")
    (line,) = [line for line in log_lines() if line["message"] == "update recorded"]
    assert (line["seq"], line["home"], line["channel"]) == (row.seq, home.id, "sms")
    assert "Jo Manager" not in json.dumps(log_lines())


def test_an_outbound_text_logs_its_state_with_the_number_masked_and_no_body(app, make_home, log_lines):
    home = make_home()
    outbox.send_sms("+447700900123", "Secret words for the manager", purpose="reminder", home_id=home.id)
    (line,) = [line for line in log_lines() if line["message"] == "text state"]
    assert (line["state"], line["to"], line["purpose"]) == ("outbox", "+44*******123", "reminder")
    dumped = json.dumps(log_lines())
    assert "Secret words" not in dumped and "+447700900123" not in dumped


def test_phone_numbers_and_paths_are_masked_for_logs():
    assert mask_phone("+447700900123") == "+44*******123"
    assert mask_phone("") == "" and mask_phone("123") == "***"
    assert safe_path("/h/AbCdEf0123456789.xyz-_AbCdEf") == "/h/<token>"
    assert safe_path("/admin/homes/12") == "/admin/homes/12"


def test_readyz_reports_a_clock_that_never_ran_then_ready_after_a_pass_then_a_dead_clock(client, log_lines):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["clock"]["ok"] is False
    assert response.get_json()["checks"]["database"] == {"ok": True}

    with time_machine.travel(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False):
        scheduler.chase()
        assert session.scalar(select(JobRun.finished_at).where(JobRun.name == "chase")) == datetime(
            2026, 3, 2, 12, 0, tzinfo=UTC
        )
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.get_json()
        assert ready.get_json()["checks"]["clock"] == {"ok": True, "seconds_since_last_pass": 0}
    assert any(line["message"].startswith("chasing pass at ") and "duration_ms" in line for line in log_lines())

    with time_machine.travel(datetime(2026, 3, 2, 12, 4, tzinfo=UTC), tick=False):  # past 3 minutes of silence
        dead = client.get("/readyz")
    assert dead.status_code == 503
    assert dead.get_json()["checks"]["clock"]["seconds_since_last_pass"] == 240


def test_readyz_reports_redis_down_when_it_is_configured_but_unreachable(make_app, environ):
    from .servers import free_port

    app = make_app({**environ, "SOCKETIO_MESSAGE_QUEUE": f"redis://127.0.0.1:{free_port()}/0"})
    with app.app_context():
        scheduler.chase()
        body = app.test_client().get("/readyz").get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] and body["checks"]["clock"]["ok"]


def test_readyz_is_ready_with_a_running_redis(make_app, environ, redis_server):
    app = make_app({**environ, "SOCKETIO_MESSAGE_QUEUE": redis_server.url})
    with app.app_context():
        scheduler.chase()
        response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["redis"] == {"ok": True}


def test_metrics_count_updates_by_channel_outbox_states_and_the_clock(client, make_home):
    def updates_by_sms(body: str) -> float:
        prefix = 'tracker_updates_recorded_total{channel="sms"}'
        line = next((x for x in body.splitlines() if x.startswith(prefix)), None)
        return float(line.split()[-1]) if line else 0.0

    home = make_home()
    before = updates_by_sms(client.get("/metrics").get_data(as_text=True))
    record_update(home.id, Change(counts={"NUR": 1, "RES": 0}), channel=Channel.SMS, actor="x")
    outbox.send_sms("+447700900123", "Hello", purpose="reminder", home_id=home.id)
    scheduler.chase()

    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert updates_by_sms(body) == before + 1
    assert 'tracker_outbox_messages{state="outbox"} 1.0' in body
    assert "tracker_seconds_since_last_chase_pass " in body
    assert "tracker_rate_limit_refusals_total" in body or "tracker_rate_limit_refusals" in body


def test_metrics_need_the_token_when_one_is_set_and_are_hidden_from_other_machines(make_app, environ):
    app = make_app({**environ, "METRICS_TOKEN": "scrape-me-please"})
    http = app.test_client()
    assert http.get("/metrics").status_code == 404
    assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert http.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"}).status_code == 200
    open_app = make_app(environ)
    assert open_app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404


def test_a_missing_page_gets_the_sites_404_page_and_the_api_gets_problem_json(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "<title>Page not found" in page.get_data(as_text=True)
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_a_failure_shows_the_500_page_rolls_the_session_back_and_logs_without_the_token(make_app, environ, log_lines):
    app = make_app(environ, {"TESTING": False, "WTF_CSRF_ENABLED": False})

    @app.get("/h/<token>/boom")
    def boom(token):
        session.add(Region(name="Half written"))
        session.flush()
        raise RuntimeError("a bug")

    with app.app_context():
        http = app.test_client()
        page = http.get("/h/AbCdEf0123456789.xyz-_AbCdEf/boom")
        assert page.status_code == 500
        assert "Sorry, something went wrong" in page.get_data(as_text=True)
        api = http.get("/api/v1/homes", headers={"Authorization": "Bearer nothing"})
        assert api.status_code != 500
        assert session.scalar(select(Region).where(Region.name == "Half written")) is None
    (line,) = [line for line in log_lines() if line["message"] == "unhandled exception"]
    assert line["path"] == "/h/<token>/boom" and "RuntimeError" in line["exc_info"]
    assert "AbCdEf0123456789" not in json.dumps(log_lines())


def test_sentry_reports_a_failure_without_cookies_tokens_or_the_user(app, make_app, environ, coordinator):
    events = []

    class Capture(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope):
            events.extend(item.payload.json for item in envelope.items if item.payload.json)

    app = make_app({**environ, "SENTRY_DSN": "https://public@sentry.example.invalid/1"}, {"TESTING": False})
    sentry_sdk.get_client().options["transport"] = None
    client = sentry_sdk.get_client()
    client.transport = Capture(client.options)
    try:

        @app.get("/h/<token>/explode")
        def explode(token):
            raise RuntimeError("kaboom")

        with app.app_context():
            http = app.test_client()
            http.post("/login", data={"email": coordinator.email, "password": PASSWORD})
            # Built here, so the test's own source (sent as context lines) does not hold the token.
            link_token = "-".join(["AbCdEf0123456789", "xyz", "AbCdEf"])
            assert http.get(f"/h/{link_token}/explode?postcode=TR18+2AB").status_code == 500
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)
    (report,) = [e for e in events if e.get("exception")]
    dumped = json.dumps(report)
    assert "kaboom" in dumped
    assert link_token not in dumped and "TR18+2AB" not in dumped
    assert coordinator.email not in dumped and "session=" not in dumped
    assert "user" not in report


def test_the_chaser_raises_an_integrity_error_that_is_not_a_text_already_stored(app, make_home, monkeypatch):
    home = make_home(now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    session.add(Contact(home_id=home.id, phone="+447700900123", name="Jo"))
    session.commit()
    real_queue = outbox.queue

    def broken_queue(*args, **kwargs):
        message = real_queue(*args, **kwargs)
        message.purpose = None  # NOT NULL: a fault, not a duplicate
        return message

    monkeypatch.setattr(outbox, "queue", broken_queue)
    from tracker.chasing import ladder

    with pytest.raises(Exception, match="purpose"):
        ladder.run_pass(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    session.rollback()
    assert session.scalar(select(OutboundMessage).limit(1)) is None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_concurrent_update_that_trips_the_capacity_check_is_not_called_a_duplicate_cqc_id(
    client, app, make_home, environ
):
    from tracker.models import Role, User

    from .conftest import hash_password

    admin = User(email="admin@example.nhs.uk", name="Ada", password_hash=hash_password(PASSWORD), role=Role.ADMIN)
    session.add(admin)
    session.commit()
    home = make_home(offers={"NUR": 10})
    client.post("/login", data={"email": admin.email, "password": PASSWORD})
    engine = app.extensions["engine"]

    done = []

    def manager_records_beds_meanwhile(sess, flush_context, instances):
        # The admin checked 6 registered >= 4 free; a manager records 8 free before the admin's save lands.
        if done:
            return
        done.append(True)
        with engine.connect() as other:
            other.execute(text("UPDATE offer SET available = 8 WHERE home_id = :id"), {"id": home.id})
            other.commit()

    record_update(home.id, Change(counts={"NUR": 4}), channel=Channel.WEB, actor="m")
    event.listen(type(session()), "before_flush", manager_records_beds_meanwhile)
    form = {"name": home.name, "locality_id": str(home.locality_id), "capacity-NUR": "6", "listed_publicly": "y"}
    try:
        response = client.post(f"/admin/homes/{home.id}", data=form)
    finally:
        event.remove(type(session()), "before_flush", manager_records_beds_meanwhile)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Another home already has this CQC location ID" not in page
    assert "the home changed while you were editing it" in page
    session.expire_all()
    assert home.offer("NUR").capacity == 10


def test_time_for_logs_is_utc_iso(log_lines):
    logging.getLogger("tracker.test").info("hello", extra={"k": 1})
    (line,) = log_lines()
    assert line["message"] == "hello" and line["k"] == 1 and line["logger"] == "tracker.test"
    assert line["time"]


def test_metrics_count_the_boards_connected_per_stream_and_time_snapshots(client, board_client, coordinator):
    def figure(body: str, name: str) -> float:
        line = next((x for x in body.splitlines() if x.startswith(name + " ") or x.startswith(name + "{")), None)
        return float(line.split()[-1]) if line else 0.0

    gauge = 'tracker_boards_connected{stream="england"}'
    before = client.get("/metrics").get_data(as_text=True)
    board = board_client(auth={"region": "all"})
    during = client.get("/metrics").get_data(as_text=True)
    assert figure(during, gauge) == figure(before, gauge) + 1
    built = "tracker_snapshot_build_seconds_count"
    assert figure(during, built) >= figure(before, built) and "tracker_snapshot_build_seconds_bucket" in during
    board.disconnect(namespace="/board")
    after = client.get("/metrics").get_data(as_text=True)
    assert figure(after, gauge) == figure(before, gauge)


def test_every_job_runs_as_soon_as_its_clock_starts_so_readyz_sees_a_live_clock_at_once(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    started = datetime.now(UTC)  # the scheduler stamps its jobs with the real clock: compared, not asserted equal
    configured = scheduler.configure(BackgroundScheduler(timezone=UTC), app)
    jobs = configured.get_jobs()
    assert {job.id for job in jobs} >= {"chase", "tick", "prune"}
    assert all(job.next_run_time is not None and job.next_run_time - started < timedelta(seconds=5) for job in jobs)
