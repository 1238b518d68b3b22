"""From send times and the clients' receipts to latency percentiles and the delivered fraction, and the report."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from pathlib import Path


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def analyse(sent: list, files: list[str], boards: list) -> dict:
    """Latency of every (update, interested board) pair, and what fraction of those pairs arrived.

    `sent`: the updates of one phase (seq, region, t_ms). `files`: the clients' receipts for that phase
    (float64 triples: board index, seq, receive time in ms, each pair at most once). `boards[i]` is
    board i's region, or "all". A board is interested in an update if it watches "all" or the
    update's home's region.
    """
    by_seq = {s.seq: s for s in sent}
    watchers = Counter(boards)
    national = watchers.get("all", 0)
    expected = sum(national + (watchers.get(s.region, 0)) for s in sent)
    latencies: list[float] = []
    last_board: dict[int, float] = {}  # seq -> latency of the last interested board to get it
    per_seq: Counter = Counter()
    unexpected = stray = 0
    for path in files:
        triples = array("d")
        with open(path, "rb") as f:
            triples.frombytes(f.read())
        for k in range(0, len(triples), 3):
            board, seq, t = int(triples[k]), int(triples[k + 1]), triples[k + 2]
            update = by_seq.get(seq)
            if update is None:
                stray += 1  # an update from outside this phase (a late one from the phase before)
                continue
            if boards[board] != "all" and boards[board] != update.region:
                unexpected += 1  # sent to a board that does not watch this region
                continue
            latency = t - update.t_ms
            latencies.append(latency)
            per_seq[seq] += 1
            if latency > last_board.get(seq, -math.inf):
                last_board[seq] = latency
    latencies.sort()
    complete = sorted(
        v for seq, v in last_board.items() if per_seq[seq] == national + watchers.get(by_seq[seq].region, 0)
    )
    delivered = len(latencies)
    return {
        "updates": len(sent),
        "deliveries_expected": expected,
        "deliveries": delivered,
        "delivered_fraction": round(delivered / expected, 6) if expected else None,
        "lost": expected - delivered,
        "updates_incomplete": len(sent) - len(complete),
        "unexpected_deliveries": unexpected,
        "stray_receipts": stray,
        "p50_ms": _ms(percentile(latencies, 50)),
        "p95_ms": _ms(percentile(latencies, 95)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "max_ms": _ms(latencies[-1] if latencies else None),
        # Per update, the time until the last interested board had it (complete updates only).
        "p50_all_boards_ms": _ms(percentile(complete, 50)),
        "p99_all_boards_ms": _ms(percentile(complete, 99)),
    }


def send_stats(sent: list, errors: list[str], duration: float) -> dict:
    responses = sorted(s.response_ms for s in sent)
    lags = sorted(s.lag_ms for s in sent)
    span = (sent[-1].t_ms - min(s.t_ms for s in sent)) / 1000 if len(sent) > 1 else duration
    return {
        "sent": len(sent),
        "send_errors": len(errors),
        "first_errors": sorted(set(errors))[:3],
        "achieved_updates_per_s": round(len(sent) / max(span, duration), 1) if sent else 0.0,
        "post_p50_ms": _ms(percentile(responses, 50)),
        "post_p99_ms": _ms(percentile(responses, 99)),
        "send_lag_p99_ms": _ms(percentile(lags, 99)),
    }


def fleet_stats(marked: dict) -> dict:
    workers = marked["workers"]
    total = {k: sum(w[k] for w in workers) for k in ("receipts", "duplicates", "held", "replays", "unfilled_gaps",
                                                     "disconnects", "batches", "ticks", "connected")}  # fmt: skip
    sized = sum(w["updates_sized"] for w in workers)
    total["update_event_bytes"] = round(sum(w["update_bytes"] for w in workers) / sized) if sized else None
    total["client_cpu_percent"] = round(sum(100 * w["cpu_s"] / w["wall_s"] for w in workers), 1)
    return total


def cleanup(files: list[str]) -> None:
    for path in files:
        Path(path).unlink(missing_ok=True)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


ROWS = [
    ("boards (clients)", "clients"), ("updates/s (target rate)", "updates_per_s"),
    ("updates/s achieved (posts answered)", "achieved_updates_per_s"), ("duration, s", "duration_s"),
    ("latency p50, ms", "p50_ms"), ("latency p95, ms", "p95_ms"), ("latency p99, ms", "p99_ms"),
    ("p99 until the last board has it, ms", "p99_all_boards_ms"), ("delivered fraction", "delivered_fraction"),
    ("lost deliveries", "lost"), ("max sustained updates/s (p99 ≤ 1 s, nothing lost)", "max_sustained_updates_per_s"),
    ("snapshot for a new board, ms", "snapshot_ms"), ("snapshot size, bytes", "snapshot_bytes"),
    ("web process peak RSS (larger of two), MB", "rss_mb"),
    ("web processes CPU (sum, 100 = one core), %", "cpu_percent"),
    ("client CPU (Node, sum), %", "client_cpu_percent"), ("driver CPU (form and SMS posts), %", "driver_cpu_percent"),
    ("PostgreSQL CPU, %", "postgres_cpu_percent"), ("Redis CPU, %", "redis_cpu_percent"),
    ("form/SMS POST p50, ms", "post_p50_ms"), ("form/SMS POST p99, ms", "post_p99_ms"),
    ("replay requests by boards", "replays"), ("updates held behind a gap", "held"),
    ("update event size, bytes", "update_event_bytes"),
    ("floor: python-socketio p99, ms", "floor_p99_ms"), ("floor: Node socket.io p99, ms", "node_p99_ms"),
    ("our p99 ÷ python-socketio floor p99", "ratio_to_floor"), ("our p99 ÷ Node floor p99", "ratio_to_node"),
]  # fmt: skip


def markdown(results: dict) -> str:
    national, regional = results, results.get("regional", {})
    m = results["machine"]
    lines = [
        f"# Benchmark: {results['homes']:,} homes, {results['regions']} regions, {results['kinds']} kinds of care",
        "",
        f"Machine: {m['nproc']} × {m['cpu_model']}, {m['ram_gib']} GiB RAM; Node {m['node']}. "
        f"Clients: {results['client']}. Production configuration: PostgreSQL, Redis, two gunicorn gevent web "
        f"processes. Whole run: {results['total_s']:.0f} s.",
        "",
        "| | national (every board watches England) | regional (each board its own region) |",
        "|---|---:|---:|",
    ]
    for label, key in ROWS:
        lines.append(f"| {label} | {_fmt(national.get(key))} | {_fmt(regional.get(key))} |")
    for name, scenario in (("national", national), ("regional", regional)):
        if not scenario.get("steps"):
            continue
        lines += ["", f"Rate steps, {name}:", "",
                  "| updates/s | achieved | p50 ms | p99 ms | delivered | web CPU % | POST p99 ms | stopped by |",
                  "|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for step in scenario["steps"]:
            keys = ("updates_per_s", "achieved_updates_per_s", "p50_ms", "p99_ms", "delivered_fraction", "cpu_percent",
                    "post_p99_ms", "failed")  # fmt: skip
            cells = [step.get(k) for k in keys]
            lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    targets = results.get("targets")
    if targets:
        lines += ["", f"Targets (national): {targets['text']} — {'met' if targets['met'] else 'NOT met'}."]
    for note in results.get("notes", []):
        lines += ["", f"- {note}"]
    return "\n".join(lines) + "\n"
