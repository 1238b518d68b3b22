"""Configuration is read in one place and fails loudly, naming the variable."""

from datetime import timedelta

import pytest

from tracker.config import ConfigError, load

BASE = {"TRACKER_ENV": "test", "SECRET_KEY": "s" * 40}


def test_defaults_are_sensible(tmp_path):
    config = load(BASE, tmp_path)
    assert config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'tracker.db'}"
    assert (config["AGEING_AFTER"], config["UNVERIFIED_AFTER"]) == (timedelta(hours=24), timedelta(hours=72))
    assert config["PORT"] == 5000


def test_the_public_search_works_offline_by_default_and_shares_limits_through_redis(tmp_path):
    config = load(BASE, tmp_path)
    assert config["GEOCODER"] == "offline"
    assert config["MAP_TILE_URL"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert load({**BASE, "MAP_TILE_URL": ""}, tmp_path)["MAP_TILE_URL"] == ""  # no map; the list stays
    queued = load({**BASE, "SOCKETIO_MESSAGE_QUEUE": "redis://127.0.0.1:6379/0"}, tmp_path)
    assert queued["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


def test_the_old_names_of_the_freshness_settings_are_still_accepted(tmp_path):
    old = load({**BASE, "STALE_AFTER": "12h", "EXPIRE_AFTER": "48h"}, tmp_path)
    assert (old["AGEING_AFTER"], old["UNVERIFIED_AFTER"]) == (timedelta(hours=12), timedelta(hours=48))
    both = load({**BASE, "AGEING_AFTER": "6h", "STALE_AFTER": "12h"}, tmp_path)
    assert both["AGEING_AFTER"] == timedelta(hours=6)  # the new name wins


def test_postgres_urls_use_the_psycopg_driver(tmp_path):
    config = load({**BASE, "DATABASE_URL": "postgres://u:p@db/tracker"}, tmp_path)
    assert config["DATABASE_URL"] == "postgresql+psycopg://u:p@db/tracker"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AGEING_AFTER", "soon", "AGEING_AFTER='soon': expected a duration such as 90m, 24h or 3d"),
        ("UNVERIFIED_AFTER", "1h", "UNVERIFIED_AFTER must be longer than AGEING_AFTER"),
        ("STALE_AFTER", "soon", "STALE_AFTER='soon': expected a duration such as 90m, 24h or 3d"),
        ("EXPIRE_AFTER", "1h", "UNVERIFIED_AFTER must be longer than AGEING_AFTER"),
        ("PORT", "eighty", "PORT='eighty': expected a whole number"),
        ("PORT", "70000", "PORT=70000: expected a number from 1 to 65535"),
        ("DATABASE_URL", "mysql://x", "expected a sqlite:/// or postgresql:// URL"),
        ("TRACKER_ENV", "staging", "expected development, production or test"),
        ("SESSION_COOKIE_SECURE", "maybe", "expected true or false"),
        ("SOCKETIO_MESSAGE_QUEUE", "amqp://x", "expected a redis:// or rediss:// URL"),
        ("GEOCODER", "google", "GEOCODER='google': expected offline or postcodes.io"),
        ("POSTCODES_IO_URL", "api.postcodes.io", "expected an http:// or https:// URL"),
        ("MAP_TILE_URL", "https://tiles.example/{z}.png", "expected a URL with {z}, {x} and {y}, or empty for no map"),
        ("MAP_TILE_URL", "https://tiles.{s}.example/{z}/{x}/{y}.png", "may only stand for the host's first label"),
        ("PUBLIC_SEARCH_RATE_LIMIT", "lots", "expected limits such as 30/minute;300/hour"),
        ("PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS", "0", "PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS=0: expected a number from 1"),
        ("PUBLIC_SEARCH_RADIUS_KM", "0", "PUBLIC_SEARCH_RADIUS_KM=0: expected a number from 1 to 200"),
        ("TRUSTED_PROXIES", "all", "TRUSTED_PROXIES='all': expected a whole number"),
        ("API_RATE_LIMIT", "fast", "API_RATE_LIMIT='fast': expected limits such as"),
        ("LOGIN_RATE_LIMIT", "3 per", "LOGIN_RATE_LIMIT='3 per': expected limits such as"),
        ("CHASE_HOURS", "20:00-08:00", "the start must come before the end"),
        ("CHASE_HOURS", "9-5", "expected working hours such as 08:00-20:00"),
        ("REMIND_EVERY", "1m", "remind no more often than every 5m"),
        ("MAX_REMINDERS", "99", "MAX_REMINDERS=99: expected a number from 0 to 20"),
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


def test_printed_links_follow_the_port_the_embedded_server_last_served_on(tmp_path):
    """`PORT=8000 make run` in one terminal, `flask homes link` (no PORT) in another: both say 8000."""
    development = {"TRACKER_ENV": "development", "SECRET_KEY": "s" * 40}
    assert load(development, tmp_path)["LOCAL_BASE_URL"] == "http://127.0.0.1:5000"
    (tmp_path / "embedded_port").write_text("8000\n")  # what `python -m tracker` writes as it starts
    assert load(development, tmp_path)["LOCAL_BASE_URL"] == "http://127.0.0.1:8000"
    assert load({**development, "PORT": "9000"}, tmp_path)["LOCAL_BASE_URL"] == "http://127.0.0.1:9000"
    assert load(BASE, tmp_path)["LOCAL_BASE_URL"] == "http://127.0.0.1:5000"  # tests never read it


def test_secret_key_fallbacks_are_a_comma_separated_list_and_sign_ins_are_bounded(tmp_path):
    config = load({**BASE, "SECRET_KEY_FALLBACKS": " oldest-key , previous-key,"}, tmp_path)
    assert config["SECRET_KEY_FALLBACKS"] == ["oldest-key", "previous-key"]
    assert load(BASE, tmp_path)["SECRET_KEY_FALLBACKS"] == []
    assert config["SIGN_IN_LIFETIME"] == config["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)
    assert load({**BASE, "SIGN_IN_LIFETIME": "12h"}, tmp_path)["REMEMBER_COOKIE_DURATION"] == timedelta(hours=12)
    with pytest.raises(ConfigError, match="SIGN_IN_LIFETIME='1y'"):
        load({**BASE, "SIGN_IN_LIFETIME": "1y"}, tmp_path)
    with pytest.raises(ConfigError, match="expected from 1h to 90d"):
        load({**BASE, "SIGN_IN_LIFETIME": "365d"}, tmp_path)
