"""The schema comes only from Alembic: it runs clean from empty, matches the models, and downgrades."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from alembic import command
from tracker.db import make_engine
from tracker.models import Base

from .conftest import ROOT

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server = request.getfixturevalue("postgres")
    name = f"empty_{next(_names)}"
    server.execute(f"CREATE DATABASE {name}")
    return server.url(name).replace("postgresql://", "postgresql+psycopg://")


def alembic(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["skip_logging"] = True
    return cfg


def test_migrations_run_from_empty_match_the_models_and_downgrade(empty_url):
    command.upgrade(alembic(empty_url), "head")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        command.downgrade(alembic(empty_url), "base")
        assert inspect(engine).get_table_names() == ["alembic_version"]
        command.upgrade(alembic(empty_url), "head")  # and up again, cleanly
    finally:
        engine.dispose()


def test_the_note_age_migration_dates_each_note_from_the_history(empty_url):
    command.upgrade(alembic(empty_url), "0005")
    engine = make_engine(empty_url)
    t = {name: sa.table(name, *(sa.column(c) for c in cols)) for name, cols in _ROWS_0005.items()}
    t["vacancy_update"].append_column(sa.column("state", sa.JSON))
    at = [datetime(2026, 11, day, 9, 0) for day in (20, 21, 22)]
    home = dict(address="", postcode="", locality_id=1, phone="", listed_publicly=True, link_version=1)
    history = dict(home_id=1, region_id=1, region_prev_seq=0, channel="web", actor="t", changed=True)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(t["region"]).values(id=1, name="R"))
            connection.execute(sa.insert(t["locality"]).values(id=1, name="L", region_id=1))
            for home_id, note in ((1, "Hoist"), (2, "No history")):
                row = {**home, "id": home_id, "name": f"H{home_id}", "admissions_open": True, "note": note}
                connection.execute(sa.insert(t["care_home"]).values(**row))
            for seq, (when, note) in enumerate(zip(at, ("Old words", "Hoist", "Hoist"), strict=True), 1):
                values = {**history, "seq": seq, "recorded_at": when, "state": {"note": note}}
                connection.execute(sa.insert(t["vacancy_update"]).values(**values))
        command.upgrade(alembic(empty_url), "head")
        with engine.connect() as connection:
            found = dict(connection.execute(sa.text("SELECT id, note_at FROM care_home ORDER BY id")).all())
        assert {k: v and str(v)[:16] for k, v in found.items()} == {1: "2026-11-21 09:00", 2: None}
    finally:
        engine.dispose()


_ROWS_0005 = {
    "region": ["id", "name"],
    "locality": ["id", "name", "region_id"],
    "care_home": [
        "id",
        "name",
        "address",
        "postcode",
        "locality_id",
        "phone",
        "listed_publicly",
        "link_version",
        "admissions_open",
        "note",
    ],  # fmt: skip
    "vacancy_update": ["seq", "home_id", "region_id", "region_prev_seq", "recorded_at", "channel", "actor", "changed"],
}
