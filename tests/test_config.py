"""Configuration is read in one place and fails loudly, naming the variable."""

from datetime import timedelta

import pytest

from tracker.config import ConfigError, load

BASE = {"TRACKER_ENV": "test", "SECRET_KEY": "s" * 40}


def test_defaults_are_sensible(tmp_path):
    config = load(BASE, tmp_path)
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'tracker.db'}"
    assert (config["STALE_AFTER"], config["EXPIRE_AFTER"]) == (timedelta(hours=24), timedelta(hours=72))
    assert config["PORT"] == 5000


def test_postgres_urls_use_the_psycopg_driver(tmp_path):
    config = load({**BASE, "DATABASE_URL": "postgres://u:p@db/tracker"}, tmp_path)
    assert config["DATABASE_URL"] == "postgresql+psycopg://u:p@db/tracker"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STALE_AFTER", "soon", "STALE_AFTER='soon': expected a duration such as 90m, 24h or 3d"),
        ("EXPIRE_AFTER", "1h", "EXPIRE_AFTER must be longer than STALE_AFTER"),
        ("PORT", "eighty", "PORT='eighty': expected a whole number"),
        ("PORT", "70000", "PORT=70000: expected a number from 1 to 65535"),
        ("DATABASE_URL", "mysql://x", "expected a sqlite:/// or postgresql:// URL"),
        ("TRACKER_ENV", "staging", "expected development, production or test"),
        ("SESSION_COOKIE_SECURE", "maybe", "expected true or false"),
        ("SOCKETIO_MESSAGE_QUEUE", "amqp://x", "expected a redis:// or rediss:// URL"),
    ],
)
def test_a_bad_value_fails_loudly_naming_it(tmp_path, variable, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load({**BASE, variable: value}, tmp_path)


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY must be set"):
        load({"TRACKER_ENV": "production", "PUBLIC_BASE_URL": "https://x.example"}, tmp_path)


def test_development_keeps_a_generated_secret_key_across_restarts(tmp_path):
    first = load({"TRACKER_ENV": "development"}, tmp_path)["SECRET_KEY"]
    assert len(first) >= 48
    assert load({"TRACKER_ENV": "development"}, tmp_path)["SECRET_KEY"] == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
