"""The schema comes only from Alembic: it runs clean from empty, matches the models, and downgrades."""

from __future__ import annotations

import itertools

import pytest
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
