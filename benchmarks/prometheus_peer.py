"""A private Prometheus holding the same utilizations as a store, asked the same overload questions.

The store's samples go out as OpenMetrics text (``stackmeter_utilization{entity,resource}`` =
``used / capacity`` as DuckDB computes it, printed as the shortest text that reads back to the
same float64), are backfilled with ``promtool tsdb create-blocks-from openmetrics``, and served by
a ``prometheus`` started on a free loopback port with no scrape targets, stopped on the way out.

Windows: stackmeter's window is ``[start, start + T)``. A PromQL range at evaluation time ``t``
covers ``[t - T, t]`` in Prometheus 2 (``(t - T, t]`` in 3); evaluated at ``end - 1 ms`` both
cover exactly the samples of ``[start, end)``, since every sample is on the 5-minute grid. The
share of samples at or above θ comes from a ``[T:5m]`` subquery of ``u >= bool θ``, whose points
fall on that grid; the lookback delta is set to 1 minute so that a missing sample stays a gap
instead of repeating the previous one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np
import orjson

METRIC = "stackmeter_utilization"
MAX_BLOCK = "744h"  # promtool keeps the largest compatible block range below it (486h)
LOOKBACK = "1m"
MAX_POINTS = 10_000  # Prometheus refuses a range query of more than 11,000 points per series
STARTUP_S = 600


def export_openmetrics(con, path: Path) -> int:
    """Write every judged sample of the store as OpenMetrics text to ``path``; return the count."""
    con.execute(
        f"""
        COPY (
            SELECT line FROM (
                SELECT 0 AS part, 0 AS entity_id, 0 AS resource_code, NULL::TIMESTAMPTZ AS ts,
                       '# TYPE {METRIC} gauge' AS line
                UNION ALL
                SELECT 1, s.entity_id, s.resource_code, s.ts,
                       '{METRIC}{{entity="' || e.entity || '",resource="' || r.resource || '"}} '
                       || CAST(s.used / s.capacity AS VARCHAR) || ' ' || CAST(epoch(s.ts) AS BIGINT)
                FROM samples s JOIN entities e USING (entity_id) JOIN resources r USING (resource_code)
                WHERE s.capacity IS NOT NULL
                UNION ALL
                SELECT 2, 0, 0, NULL, '# EOF'
            ) ORDER BY part, entity_id, resource_code, ts
        ) TO '{path}' (FORMAT csv, HEADER false, QUOTE '', ESCAPE '')
        """
    )
    return con.execute("SELECT count(*) FROM samples WHERE capacity IS NOT NULL").fetchone()[0]


def utilizations_read_back(con) -> int:
    """Return how many utilizations do not read back from their text to the same float64 (want 0)."""
    return con.execute(
        "SELECT count(*) FROM samples WHERE capacity IS NOT NULL "
        "AND CAST(CAST(used / capacity AS VARCHAR) AS DOUBLE) <> used / capacity"
    ).fetchone()[0]


def backfill(openmetrics: Path, tsdb: Path) -> None:
    """Turn the OpenMetrics file into TSDB blocks under ``tsdb``."""
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", f"--max-block-duration={MAX_BLOCK}", "--quiet",
         "openmetrics", str(openmetrics), str(tsdb)],
        check=True,
    )  # fmt: skip


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_prometheus(tsdb: Path, folder: Path) -> Iterator[str]:
    """Run ``prometheus`` on ``tsdb`` on a free loopback port; yield its base URL; stop it after."""
    config = folder / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = _free_port()
    log = (folder / "prometheus.log").open("wb")
    command = [
        shutil.which("prometheus") or "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={tsdb}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=100y",
        "--query.max-samples=2000000000",
        "--query.timeout=1h",
        f"--query.lookback-delta={LOOKBACK}",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {process.returncode}; see {folder / 'prometheus.log'}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready after {STARTUP_S} s")
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _own_metrics(url: str) -> dict[str, float]:
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("prometheus_tsdb_") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values


def wait_for_compaction(url: str, tsdb: Path, timeout_s: float = 3600) -> dict[str, float]:
    """Wait until Prometheus has run its first compaction cycle and left its blocks alone.

    Prometheus triggers compaction a minute after start; it is over when no block is being written
    or deleted and the block count holds still for 10 s.
    """
    deadline = time.monotonic() + timeout_s
    steady_since, last = None, None
    while time.monotonic() < deadline:
        metrics = _own_metrics(url)
        busy = any(".tmp" in p.name for p in tsdb.iterdir())
        state = (
            metrics.get("prometheus_tsdb_blocks_loaded"),
            metrics.get("prometheus_tsdb_compactions_total"),
        )
        triggered = metrics.get("prometheus_tsdb_compactions_triggered_total", 0) >= 1
        if triggered and not busy and state == last:
            steady_since = steady_since or time.monotonic()
            if time.monotonic() - steady_since >= 10:
                return metrics
        else:
            steady_since = None
        last = state
        time.sleep(1)
    raise RuntimeError(f"prometheus still compacting after {timeout_s} s")


class Answer(NamedTuple):
    """The points of a PromQL answer: for each, the series' entity and its evaluation time (ms)."""

    entity: np.ndarray  # object array of str
    time_ms: np.ndarray  # int64
    wall_s: float  # round trips, JSON decoding included
    server_s: float  # Prometheus' own execution time, summed over requests


def duration_text(seconds: int) -> str:
    for unit, length in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % length == 0:
            return f"{seconds // length}{unit}"
    return f"{seconds}s"


def overload_expr(resource: str, threshold: float, share: float, window_s: int) -> str:
    """PromQL of the windows of length ``window_s`` in which ``resource`` was overloaded."""
    selector = f'{METRIC}{{resource="{resource}"}}'
    window = duration_text(window_s)
    return (
        f"sum_over_time(({selector} >= bool {threshold!r})[{window}:5m]) "
        f"/ count_over_time({selector}[{window}]) >= {share!r}"
    )


def quantile_expr(resource: str, quantile: float, threshold: float) -> str:
    return f'quantile_over_time({quantile!r}, {METRIC}{{resource="{resource}"}}[1d]) >= {threshold!r}'


def _ask(client: httpx.Client, url: str, path: str, params: dict) -> tuple[list, float]:
    response = client.post(f"{url}/api/v1/{path}", data={**params, "stats": "all"})
    body = orjson.loads(response.content)
    if body.get("status") != "success":
        raise RuntimeError(f"PromQL {params['query']!r}: {body.get('error', response.text[:200])}")
    timings = body["data"].get("stats", {}).get("timings", {})
    return body["data"]["result"], float(timings.get("execTotalTime", 0.0))


def _collect(series: list, entities: list, times: list, instant_ms: int | None = None) -> None:
    for one in series:
        if instant_ms is not None:
            entities.append(one["metric"]["entity"])
            times.append(instant_ms)
            continue
        stamps = [round(point[0] * 1000) for point in one["values"]]
        entities.extend([one["metric"]["entity"]] * len(stamps))
        times.extend(stamps)


def ask_range(client: httpx.Client, url: str, expr: str, first_ms: int, last_ms: int, step_s: int) -> Answer:
    """Evaluate ``expr`` at ``first_ms, first_ms + step, …, last_ms``, in chunks of ``MAX_POINTS``."""
    entities: list[str] = []
    times: list[int] = []
    wall, server = time.perf_counter(), 0.0
    step_ms = step_s * 1000
    start = first_ms
    while start <= last_ms:
        end = min(last_ms, start + (MAX_POINTS - 1) * step_ms)
        params = {
            "query": expr,
            "start": f"{start / 1000:.3f}",
            "end": f"{end / 1000:.3f}",
            "step": str(step_s),
        }
        series, spent = _ask(client, url, "query_range", params)
        server += spent
        _collect(series, entities, times)
        start = end + step_ms
    wall = time.perf_counter() - wall
    return Answer(np.array(entities, dtype=object), np.array(times, dtype=np.int64), wall, server)


def ask_instants(client: httpx.Client, url: str, exprs_at: list[tuple[str, int]]) -> Answer:
    """Evaluate each ``(expr, time_ms)`` as an instant query (for windows of unequal lengths)."""
    entities: list[str] = []
    times: list[int] = []
    wall, server = time.perf_counter(), 0.0
    for expr, at_ms in exprs_at:
        series, spent = _ask(client, url, "query", {"query": expr, "time": f"{at_ms / 1000:.3f}"})
        server += spent
        _collect(series, entities, times, instant_ms=at_ms)
    wall = time.perf_counter() - wall
    return Answer(np.array(entities, dtype=object), np.array(times, dtype=np.int64), wall, server)


def prometheus_version() -> str:
    try:
        text = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return "not installed"
    return text.split("\n", 1)[0].removeprefix("prometheus, ")


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        os.remove(path)
