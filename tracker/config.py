"""The only place that reads the environment. Bad values fail loudly, naming the variable."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path

from limits import parse_many


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it and says what is expected."""


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(name: str, raw: str) -> timedelta:
    match = _DURATION.match(raw)
    if not match:
        raise ConfigError(f"{name}={raw!r}: expected a duration such as 90m, 24h or 3d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


_HOURS = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)\s*$")


def parse_hours(name: str, raw: str) -> tuple[time, time]:
    """'08:00-20:00' -> (08:00, 20:00): a span within one day, start before end ('24:00' is midnight at the end)."""
    match = _HOURS.match(raw)
    if not match:
        raise ConfigError(f"{name}={raw!r}: expected working hours such as 08:00-20:00")
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    if end_h == 24 and end_m:
        raise ConfigError(f"{name}={raw!r}: the day ends at 24:00")
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start >= end:
        raise ConfigError(f"{name}={raw!r}: the start must come before the end, within one day")
    return time(start_h, start_m), (time(23, 59, 59, 999999) if end_h == 24 else time(end_h, end_m))


def _int(name: str, raw: str, *, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value}: expected a number from {low} to {high}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def instance_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where local data lives (the SQLite file, the development secret): INSTANCE_PATH, else `instance/`
    beside the source checkout, else `instance/` in the working directory (an installed wheel)."""
    environ = os.environ if environ is None else environ
    if environ.get("INSTANCE_PATH"):
        return Path(environ["INSTANCE_PATH"]).resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "alembic.ini").exists():
        return checkout / "instance"
    return Path.cwd() / "instance"


def _dev_secret_key(instance_path: Path) -> str:
    """A random key kept in instance/ so managers' links survive a restart of `make run`."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


EMBEDDED_PORT_FILE = "embedded_port"


def _renamed(environ: Mapping[str, str], name: str, old_name: str, default: str) -> tuple[str, str]:
    """A setting and its value, under its name or the one it had before (still accepted, documented
    as deprecated; no warning, which tests would turn into an error)."""
    if name in environ or old_name not in environ:
        return name, environ.get(name, default)
    return old_name, environ[old_name]


def _local_base_url(environ: Mapping[str, str], instance_path: Path, env: str, port: int) -> str:
    """The embedded server's address (it listens on 127.0.0.1:PORT).

    PORT when this command was given one; else, in development, the port `python -m tracker` last
    served on (it writes it to instance/), so `flask homes link` in another terminal matches
    `PORT=8000 make run`.
    """
    if "PORT" not in environ and env == "development":
        recorded = instance_path / EMBEDDED_PORT_FILE
        if recorded.exists() and recorded.read_text().strip().isdecimal():
            port = int(recorded.read_text().strip())
    return f"http://127.0.0.1:{port}"


def _twilio(environ: Mapping[str, str]) -> dict:
    """Twilio sends texts when an account, token and sender are all set; otherwise texts go to the
    Outbox page. A token alone lets webhooks be checked (and tried locally) while sending stays offline."""
    sid = environ.get("TWILIO_ACCOUNT_SID", "").strip()
    token = environ.get("TWILIO_AUTH_TOKEN", "").strip()
    sender = environ.get("TWILIO_FROM", "").strip()
    service = environ.get("TWILIO_MESSAGING_SERVICE_SID", "").strip()
    if (sid or sender or service) and not (sid and token and (sender or service)):
        raise ConfigError(
            "Twilio is half configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and one of TWILIO_FROM "
            "or TWILIO_MESSAGING_SERVICE_SID (or none of them, to keep texts in the Outbox)"
        )
    if sid and not sid.startswith("AC"):
        raise ConfigError(f"TWILIO_ACCOUNT_SID={sid!r}: expected an account SID starting AC")
    if service and not service.startswith("MG"):
        raise ConfigError(f"TWILIO_MESSAGING_SERVICE_SID={service!r}: expected a SID starting MG")
    if sender and not re.fullmatch(r"\+[1-9]\d{7,14}", sender):
        raise ConfigError(f"TWILIO_FROM={sender!r}: expected a number in E.164 form, like +447700900123")
    return {
        "SMS_BACKEND": "twilio" if sid else "outbox",
        "TWILIO_ACCOUNT_SID": sid,
        "TWILIO_AUTH_TOKEN": token,
        "TWILIO_FROM": sender,
        "TWILIO_MESSAGING_SERVICE_SID": service,
    }


def _limits(environ: Mapping[str, str], name: str, default: str) -> str:
    """A Flask-Limiter limit string, checked now so a typo stops the start and not every request."""
    raw = environ.get(name, default).strip()
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected limits such as 30/minute;300/hour") from None
    return raw


def _tile_origin(tiles: str) -> str:
    """'https://{s}.tile.example.org/{z}/{x}/{y}.png' -> 'https://*.tile.example.org'; '' for none or this site."""
    if not tiles or tiles.startswith("/"):
        return ""
    scheme, rest = tiles.split("://", 1)
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    first, dot, others = host.partition(".")
    if "{" in others or ("{" in first and not others):
        raise ConfigError(f"MAP_TILE_URL={tiles!r}: a {{placeholder}} may only stand for the host's first label")
    return f"{scheme}://{'*' if '{' in first else first}{dot}{others}"


def _public_search(environ: Mapping[str, str], queue: str) -> dict:
    """The families' search: geocoder, map tiles, rate limit (see docs/public-search.md)."""
    geocoder = environ.get("GEOCODER", "offline").strip()
    if geocoder not in {"offline", "postcodes.io"}:
        raise ConfigError(f"GEOCODER={geocoder!r}: expected offline or postcodes.io")
    postcodes_io = environ.get("POSTCODES_IO_URL", "https://api.postcodes.io").strip().rstrip("/")
    if not postcodes_io.startswith(("http://", "https://")):
        raise ConfigError(f"POSTCODES_IO_URL={postcodes_io!r}: expected an http:// or https:// URL")
    tiles = environ.get("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png").strip()
    if tiles and not (
        tiles.startswith(("http://", "https://", "/")) and all(p in tiles for p in "{z} {x} {y}".split())
    ):
        raise ConfigError(f"MAP_TILE_URL={tiles!r}: expected a URL with {{z}}, {{x}} and {{y}}, or empty for no map")
    rate = _limits(environ, "PUBLIC_SEARCH_RATE_LIMIT", "30/minute;300/hour")
    live = _int("PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS", environ.get("PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS", "20"),
                low=1, high=10_000)  # fmt: skip
    return {
        "GEOCODER": geocoder,
        "POSTCODES_IO_URL": postcodes_io,
        "GEOCODER_TIMEOUT_MS": _int(
            "GEOCODER_TIMEOUT_MS", environ.get("GEOCODER_TIMEOUT_MS", "2000"), low=100, high=30_000
        ),  # fmt: skip
        "MAP_TILE_URL": tiles,
        # Where the map's pictures come from, for the Content-Security-Policy (tracker/security.py).
        "MAP_TILE_ORIGIN": _tile_origin(tiles),
        "MAP_TILE_ATTRIBUTION": environ.get(
            "MAP_TILE_ATTRIBUTION", '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
        ),
        # Homes further than this are "further away"; a family may widen it up to PUBLIC_SEARCH_MAX_RADIUS_KM.
        "PUBLIC_SEARCH_RADIUS_KM": _int(
            "PUBLIC_SEARCH_RADIUS_KM", environ.get("PUBLIC_SEARCH_RADIUS_KM", "20"), low=1, high=200
        ),  # fmt: skip
        "PUBLIC_SEARCH_MAX_RADIUS_KM": 100,
        # The public index is patched from updates as they commit; rebuilt whole this often to catch
        # homes listed, unlisted or moved by an administrator.
        "PUBLIC_INDEX_TTL_SECONDS": _int(
            "PUBLIC_INDEX_TTL_SECONDS", environ.get("PUBLIC_INDEX_TTL_SECONDS", "60"), low=1, high=3600
        ),  # fmt: skip
        "PUBLIC_SEARCH_RATE_LIMIT": rate,
        # Live result pages (the /public namespace) one address may hold open at once; each follows up
        # to public.WATCH_LIMIT homes. A household or an office behind one address opens a few.
        "PUBLIC_LIVE_CONNECTIONS_PER_ADDRESS": live,
        # Flask-Limiter: counts in Redis when processes share one (the message queue's), else per process.
        "RATELIMIT_STORAGE_URI": queue or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # A Redis outage must not take the search and the API down with it: the limits are counted in
        # memory until Redis answers again (Flask-Limiter logs the switch both ways).
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # How many proxies in front set X-Forwarded-For; without it every family shares nginx's address.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", environ.get("TRUSTED_PROXIES", "0"), low=0, high=5),
    }


def load(environ: Mapping[str, str], instance_path: Path) -> dict:
    """Build the Flask config from environment variables (see docs/configuration.md)."""
    env = environ.get("TRACKER_ENV", "development")
    if env not in {"development", "production", "test"}:
        raise ConfigError(f"TRACKER_ENV={env!r}: expected development, production or test")
    production = env == "production"

    secret_key = environ.get("SECRET_KEY", "")
    if production and len(secret_key) < 32:
        raise ConfigError(
            "SECRET_KEY must be set to a random string of at least 32 characters in production: "
            "it signs sessions and every care home's form link"
        )
    if not secret_key:
        secret_key = _dev_secret_key(instance_path)
    # Keys being rotated out, oldest first: what they signed (sessions, form and invitation links)
    # is still read while new things are signed with SECRET_KEY.
    fallbacks = [key.strip() for key in environ.get("SECRET_KEY_FALLBACKS", "").split(",") if key.strip()]

    database_url = environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'tracker.db'}"
    if database_url.startswith("postgres://"):  # Heroku-style URLs; SQLAlchemy wants the dialect name
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    if not database_url.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise ConfigError(f"DATABASE_URL={database_url!r}: expected a sqlite:/// or postgresql:// URL")

    ageing_after = parse_duration(*_renamed(environ, "AGEING_AFTER", "STALE_AFTER", "24h"))
    unverified_after = parse_duration(*_renamed(environ, "UNVERIFIED_AFTER", "EXPIRE_AFTER", "72h"))
    if unverified_after <= ageing_after:
        raise ConfigError("UNVERIFIED_AFTER must be longer than AGEING_AFTER")

    remind_every = parse_duration("REMIND_EVERY", environ.get("REMIND_EVERY", "4h"))
    if remind_every < timedelta(minutes=5):
        raise ConfigError(f"REMIND_EVERY={environ['REMIND_EVERY']!r}: remind no more often than every 5m")

    hold_default = parse_duration("HOLD_DEFAULT", environ.get("HOLD_DEFAULT", "4h"))
    hold_max = parse_duration("HOLD_MAX", environ.get("HOLD_MAX", "24h"))
    if not timedelta(minutes=15) <= hold_max <= timedelta(hours=24):
        raise ConfigError(f"HOLD_MAX={environ['HOLD_MAX']!r}: a hold may last from 15m up to 24h")
    if not timedelta(minutes=15) <= hold_default <= hold_max:
        raise ConfigError(
            f"HOLD_DEFAULT={environ['HOLD_DEFAULT']!r}: from 15m up to HOLD_MAX ({environ.get('HOLD_MAX', '24h')})"
        )

    request_open_for = parse_duration("REQUEST_OPEN_FOR", environ.get("REQUEST_OPEN_FOR", "4h"))
    if not timedelta(minutes=15) <= request_open_for <= timedelta(hours=24):
        raise ConfigError(f"REQUEST_OPEN_FOR={environ['REQUEST_OPEN_FOR']!r}: a request stays open from 15m up to 24h")

    queue = environ.get("SOCKETIO_MESSAGE_QUEUE", "").strip()
    if queue and not queue.startswith(("redis://", "rediss://")):
        raise ConfigError(f"SOCKETIO_MESSAGE_QUEUE={queue!r}: expected a redis:// or rediss:// URL")

    public_base_url = environ.get("PUBLIC_BASE_URL", "").rstrip("/")
    if public_base_url and not public_base_url.startswith(("http://", "https://")):
        raise ConfigError(f"PUBLIC_BASE_URL={public_base_url!r}: expected an http:// or https:// URL")
    if production and not public_base_url:
        raise ConfigError("PUBLIC_BASE_URL must be set in production: it is the start of every link sent by text")
    port = _int("PORT", environ.get("PORT", "5000"), low=1, high=65535)

    sign_in_lifetime = parse_duration("SIGN_IN_LIFETIME", environ.get("SIGN_IN_LIFETIME", "14d"))
    if not timedelta(hours=1) <= sign_in_lifetime <= timedelta(days=90):
        raise ConfigError(f"SIGN_IN_LIFETIME={environ['SIGN_IN_LIFETIME']!r}: expected from 1h to 90d")
    inbound_retention = parse_duration("INBOUND_RETENTION", environ.get("INBOUND_RETENTION", "30d"))
    if not timedelta(days=1) <= inbound_retention <= timedelta(days=3650):
        raise ConfigError(f"INBOUND_RETENTION={environ.get('INBOUND_RETENTION')!r}: expected from 1d to 3650d")
    outbound_retention = parse_duration("OUTBOUND_RETENTION", environ.get("OUTBOUND_RETENTION", "90d"))
    # A sent text's dedupe key stops its reminder ladder texting twice; the ladder must be over before
    # the text goes (its steps only advance in working hours, hence twice its length, and a week at least).
    ladder = 2 * (_int("MAX_REMINDERS", environ.get("MAX_REMINDERS", "3"), low=0, high=20) + 1) * remind_every
    shortest = max(ladder, timedelta(days=7))
    if not shortest <= outbound_retention <= timedelta(days=3650):
        days = -(-shortest // timedelta(days=1))
        raise ConfigError(
            f"OUTBOUND_RETENTION={environ.get('OUTBOUND_RETENTION')!r}: expected from {days}d "
            "(a week at least, and twice as long as the reminder ladder) to 3650d"
        )
    secure_cookies = _bool("SESSION_COOKIE_SECURE", environ.get("SESSION_COOKIE_SECURE", str(production)))

    twilio = _twilio(environ)
    public_search = _public_search(environ, queue)

    log_format = environ.get("LOG_FORMAT", "json").strip()
    if log_format not in {"json", "text"}:
        raise ConfigError(f"LOG_FORMAT={log_format!r}: expected json or text")
    log_level = environ.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING or ERROR")
    sentry_dsn = environ.get("SENTRY_DSN", "").strip()
    if sentry_dsn and not sentry_dsn.startswith(("https://", "http://")):
        raise ConfigError(f"SENTRY_DSN={sentry_dsn!r}: expected the https:// DSN from the Sentry project's settings")

    return {
        **twilio,
        **public_search,
        # Said to anyone who texts or calls from an unregistered number.
        "HELP_CONTACT": environ.get("HELP_CONTACT", "your hospital discharge hub"),
        "TRACKER_ENV": env,
        # Observability (docs/operations.md): JSON lines on stderr from every process; errors to Sentry
        # when a DSN is set; /metrics to scrapers holding METRICS_TOKEN (without one, to this machine only).
        "LOG_FORMAT": log_format,
        "LOG_LEVEL": log_level,
        "SENTRY_DSN": sentry_dsn,
        "METRICS_TOKEN": environ.get("METRICS_TOKEN", "").strip(),
        "SECRET_KEY": secret_key,
        "SECRET_KEY_FALLBACKS": fallbacks,
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": public_base_url,
        # Where the embedded server answers, for links when PUBLIC_BASE_URL is not set (links.base_url).
        "LOCAL_BASE_URL": _local_base_url(environ, instance_path, env, port),
        "PORT": port,
        # Threads of the embedded server (`python -m tracker`); each open board holds one.
        "WEB_THREADS": _int("WEB_THREADS", environ.get("WEB_THREADS", "100"), low=4, high=2000),
        # A confirmation older than AGEING_AFTER is "ageing" (and, later, due a reminder); older than
        # UNVERIFIED_AFTER it is "unverified": never counted as available (tracker/availability.py).
        "AGEING_AFTER": ageing_after,
        "UNVERIFIED_AFTER": unverified_after,
        # How long a bed is held for a hospital when the coordinator does not say, and the longest
        # a hold may last (docs/holds.md): a held bed is not free, so a forgotten hold must end.
        "HOLD_DEFAULT": hold_default,
        "HOLD_MAX": hold_max,
        "REQUEST_OPEN_FOR": request_open_for,
        # How far behind a reconnecting board may be and still be sent the updates it missed one by
        # one; further behind, a fresh snapshot is cheaper for both ends.
        "REPLAY_LIMIT": _int("REPLAY_LIMIT", environ.get("REPLAY_LIMIT", "1000"), low=1, high=100_000),
        # Updates committed within this window go to boards as one message (0: one message each).
        "BOARD_COALESCE_MS": _int("BOARD_COALESCE_MS", environ.get("BOARD_COALESCE_MS", "100"), low=0, high=1000),
        # How often each board is told its stream's latest seq, to notice an update lost in transit.
        "BOARD_TICK_SECONDS": _int("BOARD_TICK_SECONDS", environ.get("BOARD_TICK_SECONDS", "10"), low=1, high=3600),
        # A stream's snapshot is reused by boards connecting within this time (0: built for each).
        "BOARD_SNAPSHOT_TTL_MS": _int(
            "BOARD_SNAPSHOT_TTL_MS", environ.get("BOARD_SNAPSHOT_TTL_MS", "1000"), low=0, high=60_000
        ),
        # Chasing (tracker/chasing/ladder.py): a home due a confirmation (older than AGEING_AFTER) is texted in
        # CHASE_HOURS (UK time), again every REMIND_EVERY up to MAX_REMINDERS, then escalated to its
        # locality's escalation contact. Homes may override each (`flask homes chase-policy`).
        "CHASE_HOURS": parse_hours("CHASE_HOURS", environ.get("CHASE_HOURS", "08:00-20:00")),
        "REMIND_EVERY": remind_every,
        "MAX_REMINDERS": _int("MAX_REMINDERS", environ.get("MAX_REMINDERS", "3"), low=0, high=20),
        # How often the clock runs a chasing pass (and retries texts that could not be handed over).
        "CHASE_EVERY_SECONDS": _int("CHASE_EVERY_SECONDS", environ.get("CHASE_EVERY_SECONDS", "60"), low=5, high=3600),
        # Per API token (per address for requests without a valid one), and per address for sign-in
        # attempts: a brute force on passwords stalls after a handful of tries.
        "API_RATE_LIMIT": _limits(environ, "API_RATE_LIMIT", "300/minute"),
        "LOGIN_RATE_LIMIT": _limits(environ, "LOGIN_RATE_LIMIT", "10/minute;50/hour"),
        "NOTE_MAX_CHARS": 280,
        # The CQC import (docs/cqc-import.md): the weekly directory has no bed counts, so a home it creates
        # is given this many beds per kind until the monthly file or an admin gives the real figure.
        "CQC_DEFAULT_BEDS": _int("CQC_DEFAULT_BEDS", environ.get("CQC_DEFAULT_BEDS", "30"), low=1, high=2000),
        # The most an XLSX or ODS file may unpack to (its parts, in MB) for the CQC import to read it: a sheet
        # takes up to about five times its unpacked size in memory, and a small "zip bomb" unpacks to gigabytes.
        "CQC_MAX_UNPACKED_MB": _int(
            "CQC_MAX_UNPACKED_MB", environ.get("CQC_MAX_UNPACKED_MB", "200"), low=1, high=10_000
        ),
        # The largest request accepted, so the largest CQC file an admin can upload (Flask answers 413 past
        # it); the `import-cqc` command reads files of any size.
        "MAX_CONTENT_LENGTH": _int("UPLOAD_MAX_MB", environ.get("UPLOAD_MAX_MB", "20"), low=1, high=500) * 1024 * 1024,
        "SOCKETIO_MESSAGE_QUEUE": queue or None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        # A sign-in lasts this long at most, however it is used (auth.load_user checks it too:
        # a cookie's own expiry is only the browser's word).
        "SIGN_IN_LIFETIME": sign_in_lifetime,
        "REMEMBER_COOKIE_DURATION": sign_in_lifetime,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # How long texts are kept in full (tracker/admin/privacy.py, docs/data-protection.md): received ones
        # then lose their sender and words, sent ones are deleted. The clock prunes daily.
        "INBOUND_RETENTION": inbound_retention,
        "OUTBOUND_RETENTION": outbound_retention,
        # A manager may leave the form open for hours before pressing Save: tie CSRF tokens to the
        # session, not to a clock.
        "WTF_CSRF_TIME_LIMIT": None,
    }


def from_environment() -> dict:
    return load(os.environ, instance_path())
