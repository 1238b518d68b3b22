"""Concurrent writers: one consistent state, a history with no gaps and no duplicate seq, visible
in commit order. Real concurrent sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import select, text

from tracker.db import session
from tracker.models import CareHome, Channel, Update
from tracker.vacancies import Change, record_update

WRITERS = 8
EACH = 6


def run_concurrently(app, work, count: int) -> list:
    results, errors = [None] * count, []
    start = threading.Barrier(count)

    def worker(i):
        with app.app_context():
            try:
                start.wait()
                results[i] = work(i)
            except Exception as exc:  # collected and re-raised below, in the test's thread
                errors.append(exc)
            finally:
                session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def test_managers_updating_one_home_at_once_leave_one_consistent_state(app, make_home):
    home = make_home(offers={"NUR": 100})

    def manager(i):
        return [
            record_update(home.id, Change(counts={"NUR": i * EACH + n}), channel=Channel.WEB, actor=f"m{i}").seq
            for n in range(EACH)
        ]

    seqs = sorted(seq for batch in run_concurrently(app, manager, WRITERS) for seq in batch)
    assert seqs == list(range(1, WRITERS * EACH + 1))  # no gap, no duplicate

    rows = session.scalars(select(Update).order_by(Update.seq)).all()
    assert [r.seq for r in rows] == seqs
    assert [r.region_prev_seq for r in rows] == [0, *seqs[:-1]]
    current = session.scalars(select(CareHome).execution_options(populate_existing=True)).one()
    assert current.last_seq == rows[-1].seq
    assert current.offer("NUR").available == rows[-1].state["kinds"]["NUR"]["available"]


def test_seqs_become_visible_in_commit_order(app, make_home):
    homes = [make_home(name=f"Home {i}") for i in range(4)]
    done = threading.Event()
    violations = []

    def reader():
        engine = app.extensions["engine"]
        while not done.is_set():
            with engine.connect() as connection:
                seen = [row[0] for row in connection.execute(text("SELECT seq FROM vacancy_update ORDER BY seq"))]
            if seen != list(range(1, len(seen) + 1)):  # a later seq visible before an earlier one
                violations.append(seen)

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        run_concurrently(
            app,
            lambda i: [
                record_update(homes[i % 4].id, Change(counts={"NUR": n}), channel=Channel.SMS, actor="t")
                for n in range(EACH)
            ],
            WRITERS,
        )
    finally:
        done.set()
        watcher.join()
    assert violations == []


def test_the_same_change_submitted_twice_at_once_is_recorded_once(app, make_home):
    home = make_home()

    def submit(_):
        change = Change(counts={"NUR": 7})
        return record_update(home.id, change, channel=Channel.SMS, actor="t", idempotency_key="SMdouble").seq

    assert set(run_concurrently(app, submit, 6)) == {1}
    assert [r.seq for r in session.scalars(select(Update))] == [1]
