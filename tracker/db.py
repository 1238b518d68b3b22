"""Engine and session: one scoped session per thread (per greenlet under gevent), removed after each request."""

from __future__ import annotations

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import scoped_session, sessionmaker

session = scoped_session(sessionmaker(expire_on_commit=False))


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _take_sqlite_write_lock_up_front(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _take_sqlite_write_lock_up_front(engine: Engine) -> None:
    """Every transaction starts with BEGIN IMMEDIATE.

    With the driver's plain BEGIN, two read-then-write transactions deadlock on the upgrade to a
    write lock and one fails with "database is locked" (docs/architecture.md has the figures).
    Taking the lock up front makes them queue instead. This is SQLAlchemy's documented recipe for pysqlite.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # stop pysqlite issuing its own BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app) -> Engine:
    engine = make_engine(app.config["DATABASE_URL"])
    session.remove()
    session.configure(bind=engine)
    app.extensions["engine"] = engine

    @app.teardown_appcontext
    def remove_session(_exc):
        session.remove()

    return engine
