"""Overload reports on a scaled Bitbrains data set, beside a real Prometheus holding the same data.

Run from the repository root with ../shared/data beside it (or STACKMETER_DATA pointing at it):

    python benchmarks/rollups.py --entities 2000 --scaling 500,2000,10000 --json results.json

Steps, all in one run:

1. ``benchmarks/scaled_bitbrains.py`` writes ``--entities`` Bitbrains files (30 days, 5 minutes,
   4 resources), ingested through ``operations.ingest`` with fixed disk and network capacities
   into a store with the default rollup levels (5m, 1h, 1d), and once more into a store without
   them: ingest rate, bytes per sample of the store file;
2. the full overload report (5 timescales × 4 resources) for each share, from rollups and from raw
   samples, best of ``--repeat`` warm runs; the two must be equal field by field;
3. the same utilizations (exported from the store) backfilled into Prometheus with promtool, which
   answers, per timescale × resource × share, which (entity, window) pairs were overloaded, and
   per day which series have a 95th percentile at or above θ; the answers must equal ours (the
   quantiles from rollups are bounds within a bin: they must not contradict Prometheus);
4. the report times at each entity count of ``--scaling`` (ours only: Prometheus runs at
   ``--entities`` only).

Nothing is written to BENCHMARKS.md: the results table is printed, and ``--json`` saves them.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import prometheus_peer as peer  # noqa: E402
from benchmarks.overload import machine  # noqa: E402
from benchmarks.scaled_bitbrains import DEFAULT_START, SOURCE, generate  # noqa: E402
from stackmeter import operations  # noqa: E402
from stackmeter.analysis.overload import detect_overloaded  # noqa: E402
from stackmeter.analysis.windows import (  # noqa: E402
    window_end,
    window_start,
    window_starts_between,
)
from stackmeter.models import (  # noqa: E402
    DEFAULT_THRESHOLDS,
    RAW,
    RESOURCES,
    TIMESCALE_SECONDS,  # noqa: E402
    TIMESCALES,
)
from stackmeter.store import open_store  # noqa: E402

# θ per resource: the project defaults (cpu, disk and network 0.8, memory 0.9), all on 1 % bin edges.
THRESHOLDS = dict(DEFAULT_THRESHOLDS)
DISK_BYTES_S = 20 * 2**20  # a VM's disk share: 20 MiB/s read + write
NETWORK_BYTES_S = 12.5e6  # a VM's network cap: 100 Mbit/s, busier direction
QUANTILE = 0.95
NS_PER_MS = 1_000_000


def report_from_rollups(store, share: float):
    return operations.overload_report(store, TIMESCALES, RESOURCES, THRESHOLDS, share)


def report_from_raw(store, share: float):
    return operations.overload_report(store, TIMESCALES, RESOURCES, THRESHOLDS, share, from_raw=True)


# Each way of producing the full report, timed alike.
REPORTS = {"rollups": report_from_rollups, "raw": report_from_raw}


def say(message: str) -> None:
    """Progress on stderr, so that a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def best_of(function, repeat: int) -> tuple[object, float]:
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - began)
    return result, best


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def build_store(folder: Path, entities: int, data: Path, jobs: int | None, raw_baseline: bool = False):
    """Generate ``entities`` files under ``folder`` and ingest them into a store with the default
    rollup levels (5m, 1h, 1d); return the store, its path and its figures.

    With ``raw_baseline``, the files are first ingested into a store without rollup levels too,
    for what rollups cost at ingest and on disk.
    """
    files = folder / f"bitbrains-{entities}"
    say(f"generating {entities:,} entities")
    generated = generate(files, entities, data, DEFAULT_START, jobs)
    figures = {
        "entities": entities,
        "generate_s": generated.seconds,
        "generated_lines": generated.lines,
        "generated_bytes": generated.bytes_written,
    }
    if raw_baseline:
        store, path, figures["without_rollups"] = _ingest(files, folder / f"raw-{entities}.duckdb", ())
        store.close()
        peer.remove(path)
    store, path, ingested = _ingest(files, folder / f"store-{entities}.duckdb", None)
    peer.remove(files)
    return store, path, {**figures, **ingested}


def _connection(store) -> duckdb.DuckDBPyConnection:
    """A connection of the benchmark's own to the store's file, for the SQL it runs itself (the
    store has no public connection; DuckDB shares the open database within the process), one per
    file for the whole run."""
    return _connect(str(store.path))


@functools.cache
def _connect(path: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(path)


def _ingest(files: Path, path: Path, rollup_levels: tuple[str, ...] | None):
    store = open_store(str(path), rollup_levels=rollup_levels)
    levels = store.read_levels()
    say(f"ingesting into a store with rollup levels {levels or 'none'}")
    began = time.perf_counter()
    summary = operations.ingest(
        store,
        "bitbrains",
        [files],
        disk_capacity_bytes_s=DISK_BYTES_S,
        network_capacity_bytes_s=NETWORK_BYTES_S,
    )
    ingest_s = time.perf_counter() - began
    _connection(store).execute("CHECKPOINT")
    figures = {
        "samples_read": summary.samples_read,
        "samples": summary.samples_added,
        "rejected": summary.rejected,
        "ingest_s": ingest_s,
        "ingest_samples_per_s": summary.samples_read / ingest_s,
        "store_bytes": path.stat().st_size,
        "bytes_per_sample": path.stat().st_size / summary.samples_added,
        "rollup_rows": {
            level: _connection(store).execute(f"SELECT count(*) FROM rollup_{level}").fetchone()[0]
            for level in levels
        },
    }
    return store, path, figures


def time_reports(store, shares: list[float], repeat: int) -> tuple[dict, dict, dict]:
    """Return {source: {share: best seconds}}, the reports, and checks: what served each report,
    and whether the report from rollups equals the one from raw samples field by field."""
    seconds: dict = {}
    reports: dict = {}
    for source, report in REPORTS.items():
        for share in shares:
            say(f"report from {source}, s = {share}, best of {repeat}")
            reports[source, share], spent = best_of(lambda r=report, s=share: r(store, s), repeat)
            seconds.setdefault(source, {})[str(share)] = spent
    checks = {
        "served_by": {source: reports[source, shares[0]].served_by for source in REPORTS},
        "rollups_equal_raw": all(
            _unserved(reports["rollups", share]) == _unserved(reports["raw", share]) for share in shares
        ),
    }
    return seconds, reports, checks


def _unserved(report):
    return report._replace(served_by={}, served_note="")


# -- the same questions, as (entity, window start) pairs --------------------------------------------


class Windows:
    """The windows of each timescale that the data spans, and a key per (entity, window)."""

    def __init__(self, store):
        first, last = (
            _connection(store)
            .execute("SELECT epoch_ms(min(ts)), epoch_ms(max(ts)) FROM samples WHERE capacity IS NOT NULL")
            .fetchone()
        )
        self.first = np.datetime64(first, "ms").astype("datetime64[ns]")
        self.last = np.datetime64(last, "ms").astype("datetime64[ns]")
        # Keys count 5-minute steps from the earliest window start of any timescale.
        self.origin = min(window_start(np.array([self.first]), t)[0] for t in TIMESCALES).astype(np.int64)
        names = _connection(store).execute("SELECT entity FROM entities ORDER BY entity").fetchnumpy()
        self.names = np.asarray(names["entity"], dtype=object)

    def starts(self, timescale: str) -> np.ndarray:
        first, last = (window_start(np.array([t]), timescale)[0] for t in (self.first, self.last))
        return window_starts_between(first, last, timescale)

    def keys(self, entity: np.ndarray, start_ns: np.ndarray) -> np.ndarray:
        """Sorted int64 keys: entity index × 2**32 + 5-minute steps since :attr:`origin`."""
        index = np.searchsorted(self.names, entity.astype(str).astype(object))
        steps = (start_ns.astype(np.int64) - self.origin) // (300 * 10**9)
        return np.sort(index.astype(np.int64) * 2**32 + steps)


def our_pairs(store, windows: Windows, shares: list[float]) -> tuple[dict, float]:
    """Overloaded (entity, window) keys per (timescale, resource, share), from the report's counts."""
    began = time.perf_counter()
    counts = store.read_window_counts(dict.fromkeys(TIMESCALES, RAW), THRESHOLDS)
    pairs = {}
    for (timescale, resource), cell in counts.items():
        for share in shares:
            entity, window = detect_overloaded(cell, share)
            pairs[timescale, resource, share] = windows.keys(cell.entity_names[entity], window)
    return pairs, time.perf_counter() - began


def our_quantiles(store, windows: Windows) -> tuple[dict, dict]:
    """Per resource, the (entity, day) keys whose 95th percentile is ≥ θ, from raw samples (exact)
    and from the 1d rollups: ``sure`` (lower bound ≥ θ), ``unsure`` (bounds straddle θ) and
    ``middle`` (the quantile given, the middle of its bounds, ≥ θ). Also the seconds each took."""
    answers: dict = {}
    seconds = {"raw": 0.0, "rollups": 0.0}
    for resource in RESOURCES:
        threshold = THRESHOLDS[resource]
        for source, from_raw in (("raw", True), ("rollups", False)):
            began = time.perf_counter()
            report = operations.utilization_quantiles(store, resource, QUANTILE, "1d", from_raw=from_raw)
            seconds[source] += time.perf_counter() - began
            rows = report.windows
            entity = np.array([row.entity for row in rows], dtype=object)
            start = np.array([row.window for row in rows], dtype="datetime64[ns]")
            lower, middle, upper = (
                np.array([getattr(row, f) for row in rows]) for f in ("lower", "quantile", "upper")
            )
            sure, unsure = lower >= threshold, (lower < threshold) & (upper >= threshold)
            answers[resource, source] = {
                "served_by": report.served_by,
                "sure": windows.keys(entity[sure], start[sure]),
                "unsure": windows.keys(entity[unsure], start[unsure]),
                "middle": windows.keys(entity[middle >= threshold], start[middle >= threshold]),
            }
    return answers, seconds


def prometheus_pairs(client, url: str, windows: Windows, shares: list[float], timescales, repeat: int):
    """The same pairs from PromQL, with the best time of each query over ``repeat`` runs."""
    pairs, timings = {}, {}
    for timescale in timescales:
        starts = windows.starts(timescale)
        ends_ms = window_end(starts, timescale).astype(np.int64) // NS_PER_MS - 1
        for resource in RESOURCES:
            for share in shares:
                best = None
                for _ in range(repeat):
                    if timescale == "1mo":  # months differ in length: one instant query per month
                        lengths = (
                            (window_end(starts, timescale) - starts).astype("timedelta64[s]").astype(int)
                        )
                        asks = [
                            (peer.overload_expr(resource, THRESHOLDS[resource], share, int(length)), int(at))
                            for length, at in zip(lengths, ends_ms, strict=True)
                        ]
                        answer = peer.ask_instants(client, url, asks)
                    else:
                        length = TIMESCALE_SECONDS[timescale]
                        expr = peer.overload_expr(resource, THRESHOLDS[resource], share, length)
                        answer = peer.ask_range(client, url, expr, int(ends_ms[0]), int(ends_ms[-1]), length)
                    best = answer if best is None or answer.wall_s < best.wall_s else best
                start_ns = _window_of(best.time_ms, starts, ends_ms)
                pairs[timescale, resource, share] = windows.keys(best.entity, start_ns)
                timings[timescale, resource, share] = (best.wall_s, best.server_s)
    return pairs, timings


def prometheus_quantile_pairs(client, url: str, windows: Windows, repeat: int):
    starts = windows.starts("1d")
    ends_ms = window_end(starts, "1d").astype(np.int64) // NS_PER_MS - 1
    pairs, timings = {}, {}
    for resource in RESOURCES:
        expr = peer.quantile_expr(resource, QUANTILE, THRESHOLDS[resource])
        answers = [
            peer.ask_range(client, url, expr, int(ends_ms[0]), int(ends_ms[-1]), 86_400)
            for _ in range(repeat)
        ]
        best = min(answers, key=lambda a: a.wall_s)
        pairs[resource] = windows.keys(best.entity, _window_of(best.time_ms, starts, ends_ms))
        timings[resource] = (best.wall_s, best.server_s)
    return pairs, timings


def _window_of(time_ms: np.ndarray, starts: np.ndarray, ends_ms: np.ndarray) -> np.ndarray:
    index = np.searchsorted(ends_ms, time_ms)
    if index.size and (index.max() >= ends_ms.size or not np.array_equal(ends_ms[index], time_ms)):
        raise RuntimeError("Prometheus answered at a time that is no window's end")
    return starts[index].astype(np.int64)


def compare(ours: np.ndarray, theirs: np.ndarray) -> dict:
    return {
        "ours": int(ours.size),
        "prometheus": int(theirs.size),
        "equal": bool(np.array_equal(ours, theirs)),
        "only_ours": int(np.setdiff1d(ours, theirs).size),
        "only_prometheus": int(np.setdiff1d(theirs, ours).size),
    }


def check_report(report, pairs: dict, windows: Windows, share: float) -> list[str]:
    """Check the report's figures per cell (ever, max and mean per window) against Prometheus' pairs."""
    differences = []
    for cell in report.cells:
        keys = pairs.get((cell.timescale, cell.resource, share))
        if keys is None or not cell.windows:
            continue
        starts = window_starts_between(cell.first_window, cell.last_window, cell.timescale)
        steps = (starts.astype(np.int64) - windows.origin) // (300 * 10**9)
        per_window = np.bincount(np.searchsorted(steps, keys % 2**32), minlength=starts.size)
        ever = np.unique(keys // 2**32).size
        if per_window.size != starts.size:
            differences.append(f"{cell.timescale} {cell.resource}: Prometheus has windows outside ours")
        elif (cell.overloaded_ever, cell.overloaded_max) != (ever, per_window.max()):
            differences.append(f"{cell.timescale} {cell.resource} s={share}: overloaded ever/max")
        elif abs(cell.overloaded_mean - per_window.mean()) > 1e-9:
            differences.append(f"{cell.timescale} {cell.resource} s={share}: mean overloaded per window")
    return differences


# -- the run ------------------------------------------------------------------------------------


def run_prometheus(
    store, windows: Windows, folder: Path, shares: list[float], repeat: int, ours: dict
) -> dict:
    """Export, backfill, serve and ask; return figures, timings and comparisons with ``ours``."""
    result: dict = {"version": peer.prometheus_version()}
    openmetrics, tsdb = folder / "utilization.om", folder / "tsdb"
    began = time.perf_counter()
    say("exporting OpenMetrics")
    samples = peer.export_openmetrics(_connection(store), openmetrics)
    result["export_s"] = time.perf_counter() - began
    result["samples"] = samples
    result["openmetrics_bytes"] = openmetrics.stat().st_size
    result["utilizations_not_read_back"] = peer.utilizations_read_back(_connection(store))
    began = time.perf_counter()
    say("backfilling with promtool")
    peer.backfill(openmetrics, tsdb)
    result["backfill_s"] = time.perf_counter() - began
    result["backfill_samples_per_s"] = samples / result["backfill_s"]
    result["tsdb_bytes_backfilled"] = peer.folder_bytes(tsdb)
    peer.remove(openmetrics)
    began = time.perf_counter()
    with peer.running_prometheus(tsdb, folder) as url:
        result["startup_s"] = time.perf_counter() - began
        began = time.perf_counter()
        say("Prometheus ready; waiting for its first compaction cycle")
        metrics = peer.wait_for_compaction(url, tsdb)
        result["compaction_wait_s"] = time.perf_counter() - began
        result["blocks"] = int(metrics.get("prometheus_tsdb_blocks_loaded", 0))
        result["tsdb_bytes"] = peer.folder_bytes(tsdb)
        result["tsdb_bytes_per_sample"] = result["tsdb_bytes"] / samples
        result["load_before_queries"] = load_average()
        with httpx.Client(timeout=None) as client:
            say("PromQL questions")
            quantile_pairs, quantile_times = prometheus_quantile_pairs(client, url, windows, repeat)
            pairs, timings = prometheus_pairs(client, url, windows, shares, TIMESCALES, repeat)
    result["quantile"] = {
        resource: _compare_quantiles(
            ours["quantile"], resource, quantile_pairs[resource], quantile_times[resource]
        )
        for resource in RESOURCES
    }
    result["cells"] = [
        {"timescale": t, "resource": r, "share": s, **compare(ours["pairs"][t, r, s], pairs[t, r, s]),
         "prometheus_s": timings[t, r, s][0], "prometheus_server_s": timings[t, r, s][1]}
        for (t, r, s) in pairs
    ]  # fmt: skip
    result["total_s"] = {
        str(s): sum(c["prometheus_s"] for c in result["cells"] if c["share"] == s) for s in shares
    }
    result["total_server_s"] = {
        str(s): sum(c["prometheus_server_s"] for c in result["cells"] if c["share"] == s) for s in shares
    }
    result["report_differences"] = [
        f"{source}: {difference}"
        for source in REPORTS
        for share in shares
        for difference in check_report(ours["reports"][source, share], pairs, windows, share)
    ]
    result["equal"] = (
        all(c["equal"] for c in result["cells"])
        and all(q["raw"]["equal"] and q["rollups_consistent"] for q in result["quantile"].values())
        and not result["report_differences"]
    )
    return result


def _compare_quantiles(ours: dict, resource: str, theirs: np.ndarray, times: tuple[float, float]) -> dict:
    """Raw quantiles must give Prometheus' answer exactly; rollup bounds must not contradict it."""
    raw, rollups = ours[resource, "raw"], ours[resource, "rollups"]
    decided_wrong = (
        np.setdiff1d(rollups["sure"], theirs).size
        + np.setdiff1d(theirs, np.union1d(rollups["sure"], rollups["unsure"])).size
    )
    return {
        "raw": compare(raw["sure"], theirs),
        "rollups_served_by": rollups["served_by"],
        "rollups_sure": int(rollups["sure"].size),
        "rollups_unsure": int(rollups["unsure"].size),
        "rollups_contradicting": int(decided_wrong),
        "rollups_consistent": decided_wrong == 0,
        "rollups_middle": compare(rollups["middle"], theirs),
        "prometheus_s": times[0],
        "prometheus_server_s": times[1],
    }


def run(options) -> dict:
    shares = [float(s) for s in options.shares.split(",")]
    scaling = [int(n) for n in options.scaling.split(",") if n.strip()]
    results: dict = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "thresholds": THRESHOLDS,
        "shares": shares,
        "quantile": QUANTILE,
        "disk_capacity_bytes_s": DISK_BYTES_S,
        "network_capacity_bytes_s": NETWORK_BYTES_S,
        "reports": list(REPORTS),
    }
    folder = Path(tempfile.mkdtemp(prefix="stackmeter-rollup-bench-", dir=options.workdir))
    try:
        store, path, figures = build_store(
            folder, options.entities, options.data, options.jobs, raw_baseline=True
        )
        figures["load_before_reports"] = load_average()
        figures["report_s"], reports, figures["checks"] = time_reports(store, shares, options.repeat)
        results["main"] = figures
        if not options.skip_prometheus:
            windows = Windows(store)
            ours = {"reports": reports}
            say("our answers as (entity, window) pairs, and quantiles")
            ours["pairs"], results["our_pairs_s"] = our_pairs(store, windows, shares)
            ours["quantile"], results["our_quantile_s"] = our_quantiles(store, windows)
            results["prometheus"] = run_prometheus(
                store, windows, folder, shares, options.prometheus_repeat, ours
            )
        store.close()
        if not options.keep:
            peer.remove(path)
        results["scaling"] = []
        for entities in scaling:
            if entities == options.entities:
                results["scaling"].append(figures)
                continue
            store, path, point = build_store(folder, entities, options.data, options.jobs)
            point["load_before_reports"] = load_average()
            point["report_s"], _, point["checks"] = time_reports(store, shares, options.repeat)
            store.close()
            if not options.keep:
                peer.remove(path)
            results["scaling"].append(point)
    finally:
        if not options.keep:
            peer.remove(folder)
    return results


def print_results(results: dict) -> None:
    main, shares = results["main"], results["shares"]
    print(f"Machine: {results['machine']}; {results['date']}")
    print(f"θ = {results['thresholds']}; shares {shares}; disk capacity {DISK_BYTES_S / 2**20:g} MiB/s, "
          f"network {NETWORK_BYTES_S * 8 / 1e6:g} Mbit/s per VM; reports: 5 timescales × 4 resources, "
          "best of the warm runs")  # fmt: skip
    print()
    print("| entities | samples | ingest s | ingest samples/s | bytes/sample | load | "
          + " | ".join(f"report {source} s={s} (s)" for source in REPORTS for s in shares)
          + " | rollups = raw | served by (rollups) |")  # fmt: skip
    print("|---" * (8 + len(REPORTS) * len(shares)) + "|")
    for point in results.get("scaling") or [main]:
        times = " | ".join(f"{point['report_s'][source][str(s)]:.3f}" for source in REPORTS for s in shares)
        served = ", ".join(f"{t}: {by}" for t, by in point["checks"]["served_by"]["rollups"].items())
        print(f"| {point['entities']:,} | {point['samples']:,} | {point['ingest_s']:.1f} | "
              f"{point['ingest_samples_per_s']:,.0f} | {point['bytes_per_sample']:.2f} | "
              f"{point['load_before_reports']} | {times} | "
              f"{'yes' if point['checks']['rollups_equal_raw'] else 'NO'} | {served} |")  # fmt: skip
    base = main.get("without_rollups")
    if base:
        print(f"\nWithout rollup levels ({main['entities']:,} entities): ingest {base['ingest_s']:.1f} s "
              f"({base['ingest_samples_per_s']:,.0f} samples/s), {base['bytes_per_sample']:.2f} bytes/sample; "
              f"rollup rows {main['rollup_rows']}")  # fmt: skip
    p = results.get("prometheus")
    if not p:
        print("\nPrometheus: skipped")
        return
    print(f"\nPrometheus {p['version']} on {main['entities']:,} entities: export {p['export_s']:.1f} s "
          f"({p['openmetrics_bytes'] / 2**30:.2f} GiB of OpenMetrics, {p['utilizations_not_read_back']} values "
          f"not read back exactly), backfill {p['backfill_s']:.1f} s ({p['backfill_samples_per_s']:,.0f} samples/s), "
          f"startup {p['startup_s']:.1f} s, compaction wait {p['compaction_wait_s']:.1f} s, {p['blocks']} blocks, "
          f"TSDB {p['tsdb_bytes'] / 2**20:.1f} MiB = {p['tsdb_bytes_per_sample']:.2f} bytes/sample "
          f"(ours {main['bytes_per_sample']:.2f}); load before queries {p['load_before_queries']}")  # fmt: skip
    print(
        "\n| timescale | resource | s | overloaded pairs (ours) | (Prometheus) | equal | Prometheus s | server s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for c in p["cells"]:
        print(f"| {c['timescale']} | {c['resource']} | {c['share']} | {c['ours']:,} | {c['prometheus']:,} | "
              f"{'yes' if c['equal'] else 'NO'} | {c['prometheus_s']:.3f} | {c['prometheus_server_s']:.3f} |")  # fmt: skip
    print(
        "\n| s | Prometheus s (server s) | "
        + " | ".join(f"ours {source} s | ratio" for source in REPORTS)
        + " |"
    )
    print("|---|---|" + "---|---|" * len(REPORTS))
    for s in shares:
        ratios = " | ".join(
            f"{main['report_s'][source][str(s)]:.3f} | {p['total_s'][str(s)] / main['report_s'][source][str(s)]:.1f}×"
            for source in REPORTS
        )
        print(f"| {s} | {p['total_s'][str(s)]:.2f} ({p['total_server_s'][str(s)]:.2f}) | {ratios} |")
    seconds = results["our_quantile_s"]
    print(f"\nPer day, series with quantile_over_time({QUANTILE}, u[1d]) ≥ θ; ours from raw "
          f"({seconds['raw']:.2f} s for 4 resources) and from rollups ({seconds['rollups']:.2f} s):")  # fmt: skip
    for resource, q in p["quantile"].items():
        raw, middle = q["raw"], q["rollups_middle"]
        print(f"  {resource}: Prometheus {raw['prometheus']:,} ({q['prometheus_s']:.2f} s); ours from raw {raw['ours']:,} "
              f"({'equal' if raw['equal'] else 'DIFFERENT: ' + str(raw['only_ours']) + ' only ours, ' + str(raw['only_prometheus']) + ' only Prometheus'}); "
              f"{q['rollups_served_by']}: {q['rollups_sure']:,} surely ≥ θ + {q['rollups_unsure']:,} within a bin of θ, "
              f"{q['rollups_contradicting']} contradicting Prometheus; middle of the bounds ≥ θ: {middle['ours']:,} "
              f"({middle['only_ours']} only ours, {middle['only_prometheus']} only Prometheus)")  # fmt: skip
    print(f"\nReport figures checked against Prometheus: {p['report_differences'] or 'all equal'}")
    print(f"Same answers: {'yes' if p['equal'] else 'NO'}")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument(
        "--entities", type=int, default=2000, help="entities of the main run (with Prometheus)"
    )
    arguments.add_argument(
        "--scaling", default="500,2000,10000", help="entity counts of the scaling curve ('' for none)"
    )
    arguments.add_argument("--shares", default="0.05,0.5", help="shares s to ask, comma-separated")
    arguments.add_argument("--repeat", type=int, default=3, help="runs of each of our reports (best kept)")
    arguments.add_argument(
        "--prometheus-repeat", type=int, default=2, help="runs of each PromQL query (best kept)"
    )
    arguments.add_argument("--skip-prometheus", action="store_true")
    arguments.add_argument("--data", type=Path, default=SOURCE, help="Bitbrains Rnd folder of month folders")
    arguments.add_argument("--workdir", type=Path, default=None, help="where the temporary folder goes")
    arguments.add_argument("--jobs", type=int, default=None, help="processes generating files")
    arguments.add_argument("--json", type=Path, help="write the results as JSON to this file")
    arguments.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = arguments.parse_args()
    if not options.data.is_dir():
        sys.exit(f"data not found: {options.data} (set STACKMETER_DATA or pass --data)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that Prometheus is stopped
    results = run(options)
    print_results(results)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if not all(point["checks"]["rollups_equal_raw"] for point in results["scaling"] or [results["main"]]):
        sys.exit("the reports from rollups and from raw samples differ")
    if results.get("prometheus") and not results["prometheus"]["equal"]:
        sys.exit("Prometheus and stackmeter disagree")


if __name__ == "__main__":
    main()
