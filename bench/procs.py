"""The processes a benchmark run starts and watches: servers, the Node client fleet, /proc sampling."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
NODE_DIR = Path(__file__).resolve().parent / "node"
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class Service:
    """A server process in its own process group (gunicorn forks a worker), logging to a file."""

    def __init__(self, name: str, command: list[str], log_dir: Path, env: dict | None = None, cwd: Path = ROOT):
        self.name, self.command, self.env, self.cwd = name, command, env, cwd
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self, health_url: str | None, timeout: float = 60) -> Service:
        """Start and wait until `health_url` answers 200 (no URL: until it has stayed up for a second)."""
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        if health_url is None:
            time.sleep(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; its log ({self.log}):\n{self.tail()}")
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; its log ({self.log}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(health_url, timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {health_url} within {timeout} s; log:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> None:
        if not self.process or self.process.poll() is not None:
            return
        # The group is ours (start_new_session): this ends gunicorn's worker with its master, nothing else.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def gunicorn(name: str, app: str, port: int, log_dir: Path, env: dict, chdir: Path = ROOT, extra=()) -> Service:
    # No control socket: two gunicorns on one host would otherwise share ~/.gunicorn/gunicorn.ctl.
    command = [str(VENV_BIN / "gunicorn"), "--worker-class", "gevent", "--workers", "1", "--bind", f"127.0.0.1:{port}",
               "--chdir", str(chdir), "--graceful-timeout", "5", "--no-control-socket", *extra, app]  # fmt: skip
    return Service(name, command, log_dir, env=env)


def node_floor(port: int, log_dir: Path) -> Service:
    return Service("floor-node", ["node", str(NODE_DIR / "floor_server.js"), str(port)], log_dir, cwd=NODE_DIR)


def _process_table() -> dict[int, tuple[int, float, int]]:
    """pid -> (parent pid, cpu seconds, resident kB) for every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
            table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE_KB)
        except (OSError, ValueError, IndexError):
            continue
    return table


def _tree(table: dict, children: dict[int, list[int]], root: int) -> list[int]:
    pids, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        if pid in table:
            pids.append(pid)
            frontier.extend(children.get(pid, ()))
    return pids


class Sampler:
    """Peak RSS and CPU of named process trees, sampled every `interval` s, reported per phase."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.roots = interval, {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._phase: dict | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self.roots[name] = pid

    def unwatch(self, name: str) -> None:
        with self._lock:
            self.roots.pop(name, None)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _sample(self) -> dict[str, dict[int, tuple[float, float]]]:
        """{name: {pid: (cpu seconds, rss MB)}} for each watched tree."""
        table = _process_table()
        children: dict[int, list[int]] = {}
        for pid, (parent, _, _) in table.items():
            children.setdefault(parent, []).append(pid)
        with self._lock:
            roots = dict(self.roots)
        return {name: {p: (table[p][1], table[p][2] / 1024) for p in _tree(table, children, root)}
                for name, root in roots.items()}  # fmt: skip

    def _fold(self, sample: dict) -> None:
        """CPU per pid as (first seen, last seen), so a process that exits mid-phase (a PostgreSQL backend)
        still counts what it used until the last sample; peak RSS of a tree = its largest process."""
        for name, pids in sample.items():
            cpu = self._phase["cpu"].setdefault(name, {})
            for pid, (seconds, rss) in pids.items():
                cpu[pid] = (cpu[pid][0] if pid in cpu else (0.0 if self._phase["started"] else seconds), seconds)
                self._phase["peak"][name] = max(self._phase["peak"].get(name, 0.0), rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            sample = self._sample()
            with self._lock:
                if self._phase is not None:
                    self._fold(sample)

    def begin(self) -> None:
        sample = self._sample()
        with self._lock:
            self._phase = {"t": time.monotonic(), "cpu": {}, "peak": {}, "started": False}
            self._fold(sample)
            self._phase["started"] = True  # a pid first seen after this began during the phase: count all of it

    def end(self) -> dict[str, dict]:
        """{name: {"cpu_percent": 100 = one core, "peak_rss_mb": ...}} since begin()."""
        sample = self._sample()
        with self._lock:
            self._fold(sample)
            phase, self._phase = self._phase, None
        wall = time.monotonic() - phase["t"]
        return {
            name: {
                "cpu_percent": round(100 * sum(last - first for first, last in cpu.values()) / wall, 1),
                "peak_rss_mb": round(phase["peak"].get(name, 0.0), 1),
            }
            for name, cpu in phase["cpu"].items()
        }

    def stop(self) -> None:
        self._stop.set()


class ClientFleet:
    """bench/node/clients.js: K Node processes holding the boards. Talks JSON lines over stdin/stdout."""

    def __init__(self, config: dict, work: Path, name: str):
        self.config_path = work / f"{name}.clients.json"
        self.config_path.write_text(json.dumps(config))
        self.log = work / f"{name}.clients.log"
        with open(self.log, "w") as err:
            self.process = subprocess.Popen(
                ["node", str(NODE_DIR / "clients.js"), str(self.config_path)], cwd=NODE_DIR, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, start_new_session=True,
            )  # fmt: skip
        # A reader thread, so that waiting for an event can time out even if the fleet falls silent.
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _event(self, wanted: str, timeout: float, progress=None) -> dict:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if not line:
                raise RuntimeError(f"the client fleet exited; see {self.log}")
            event = json.loads(line)
            if event["event"] == wanted:
                return event
            if event["event"] == "error":
                raise RuntimeError(f"client fleet: {event['message']}")
            if progress and event["event"] == "progress":
                progress(event)
        raise RuntimeError(f"the client fleet did not report {wanted!r} within {timeout} s")

    def ready(self, timeout: float, progress=None) -> dict:
        return self._event("ready", timeout, progress)

    def mark(self, name: str, timeout: float = 120) -> dict:
        self.process.stdin.write(f"mark {name}\n")
        self.process.stdin.flush()
        return self._event("marked", timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write("stop\n")
                self.process.stdin.close()
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")  # fmt: skip
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))  # fmt: skip
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu_model": model, "ram_gib": round(mem_kb / 2**20, 1), "node": node}
