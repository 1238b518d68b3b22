"""Periodic jobs, and where they run.

- `make run` (the embedded default): inside the one web process (`python -m tracker`).
- Production: only in the separate clock process (`python -m tracker.clock`), never in web
  processes. APScheduler must never share a job store between schedulers (its maintainer's words),
  and jobs here keep no store at all: each one does one pass and returns, and any work that must
  happen once is claimed in the database, so a second scheduler started by mistake is harmless.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import select, update

from tracker import bed_requests
from tracker.admin import privacy
from tracker.chasing import ladder
from tracker.coordinators import board
from tracker.db import session
from tracker.models import Channel, Hold, JobRun, utcnow
from tracker.vacancies import Change, UpdateRejected, record_update

log = logging.getLogger(__name__)
DAILY = 24 * 3600


def jobs(app: Flask) -> list[tuple[Callable[[], None], int]]:
    """Each job and its interval in seconds."""
    return [
        (board.tick, app.config["BOARD_TICK_SECONDS"]),
        (chase, app.config["CHASE_EVERY_SECONDS"]),
        (prune, DAILY),
        (expire_holds, HOLD_EXPIRY_SECONDS),
        (expire_requests, HOLD_EXPIRY_SECONDS),
    ]


# A hold past its time still counts as held until this pass ends it (availability.held stops
# counting it at once; the families' index waits for the pass): at most a minute.
HOLD_EXPIRY_SECONDS = 60


def expire_holds(now: datetime | None = None) -> int:
    """End every hold past its `until`, each through the write path; returns how many this pass ended.

    The write path re-checks under the home's row lock that the hold still stands and its time has
    passed, so a second clock, or a release at the same moment, ends it at most once."""
    now = now or utcnow()
    due = session.execute(
        select(Hold.id, Hold.home_id).where(Hold.ended_at.is_(None), Hold.until <= now).order_by(Hold.until)
    ).all()
    session.rollback()  # no read transaction held open across the writes below
    ended = 0
    for hold_id, home_id in due:
        try:
            record_update(home_id, Change(expire_hold=hold_id), channel=Channel.CLOCK, actor="clock", now=now)
            ended += 1
        except UpdateRejected:
            pass  # already ended by someone else: exactly once is the point
    session.remove()
    if due:
        log.info("hold expiry pass: %d of %d hold(s) ended", ended, len(due))
    return ended


def expire_requests(now: datetime | None = None) -> int:
    """Close bed requests past REQUEST_OPEN_FOR and tell the homes that answered (bed_requests.expire_due)."""
    try:
        return bed_requests.expire_due(now)
    finally:
        session.remove()


def chase() -> None:
    """A chasing pass at the current time (also `flask --app tracker chase`), noted for /readyz and /metrics."""
    started, now = time.perf_counter(), utcnow()
    steps = ladder.run_pass(now)
    session.execute(update(JobRun).where(JobRun.name == "chase").values(finished_at=utcnow()))
    session.commit()
    session.remove()
    actions = [step.action for step in steps]
    # A line per pass, counts only (no names or numbers): a clock that stopped passing shows as silence.
    log.info(
        "chasing pass at %s: %d home(s) reminded, %d escalated, %d due outside working hours",
        now.isoformat(timespec="seconds"), actions.count("reminder"), actions.count("escalation"),
        actions.count("waiting"), extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)},
    )  # fmt: skip


def prune() -> None:
    """Remove personal data past its retention period (also `flask --app tracker prune`)."""
    pruned = privacy.prune()
    session.remove()
    log.info("prune pass", extra=vars(pruned))


def _in_app_context(app: Flask, job: Callable[[], None]) -> Callable[[], None]:
    @functools.wraps(job)
    def run() -> None:
        with app.app_context():
            job()

    return run


def configure(scheduler: BaseScheduler, app: Flask) -> BaseScheduler:
    for job, seconds in jobs(app):
        # Every job also runs at start: a daily job on a clock restarted more often than daily (each
        # deploy) would otherwise never run, and /readyz would call a clock that just started dead
        # until its first chase pass. Work is claimed in the database, so an extra pass is harmless.
        # coalesce + one instance: a pass that overruns is not queued up behind itself.
        scheduler.add_job(
            _in_app_context(app, job), "interval", seconds=seconds, coalesce=True, max_instances=1, id=job.__name__,
            next_run_time=datetime.now(UTC),
        )  # fmt: skip
    return scheduler


def start_in_process(app: Flask) -> BaseScheduler:
    scheduler = configure(BackgroundScheduler(timezone=UTC, daemon=True), app)
    scheduler.start()
    return scheduler


def run_clock(app: Flask) -> None:
    """Run the jobs in this process until it is stopped (the production clock process)."""
    configure(BlockingScheduler(timezone=UTC), app).start()
