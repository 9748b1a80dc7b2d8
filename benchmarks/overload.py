"""Ingest rate and full overload report time on the full real data, beside a plain pandas report.

Run from the repository root with ../shared/data beside it (or STACKMETER_DATA pointing at it):

    python benchmarks/overload.py            # appends a dated section to BENCHMARKS.md

The pandas baseline starts from the samples already in memory (read independently from the raw
files) and computes the same report with groupby; its answers must equal ours.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reference import (  # noqa: E402
    multi_resource_reference,
    overload_reference,
    read_bitbrains,
    read_planetlab,
)

from stackmeter import operations  # noqa: E402
from stackmeter.models import RESOURCES, TIMESCALES  # noqa: E402
from stackmeter.store import open_store  # noqa: E402

DATA = Path(os.environ.get("STACKMETER_DATA", ROOT.parent / "shared" / "data"))
THRESHOLDS = {"cpu": 0.8, "memory": 0.9, "disk": 0.8, "network": 0.8}
DISK, NETWORK = 100 * 2**20, 125e6  # 100MiB/s and 1Gbit/s per VM


def timed(function, repeat=1):
    best_wall, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return result, best_wall, best_cpu


def pandas_report(raw: pd.DataFrame, resources):
    cells, multi = {}, {}
    for timescale in TIMESCALES:
        pairs = []
        for resource in resources:
            cell = overload_reference(raw, timescale, resource, THRESHOLDS[resource], 0.05, 10)
            cells[timescale, resource] = cell
            if cell["windows"]:
                pairs.append(cell["overloaded_pairs"])
        multi[timescale] = multi_resource_reference(pairs) if pairs else (0, 0)
    return cells, multi


def same_answers(report, cells, multi) -> list[str]:
    differences = []
    for cell in report.cells:
        expected = cells[cell.timescale, cell.resource]
        for field in ("entities", "without_capacity", "windows", "overloaded_ever"):
            if getattr(cell, field) != expected[field]:
                differences.append(f"{cell.timescale} {cell.resource} {field}")
        if expected["windows"]:
            if abs(cell.overloaded_mean - expected["overloaded_mean"]) > 1e-9:
                differences.append(f"{cell.timescale} {cell.resource} overloaded_mean")
            if (cell.overloaded_max, cell.overloaded_latest) != (
                expected["overloaded_max"],
                expected["overloaded_latest"],
            ):
                differences.append(f"{cell.timescale} {cell.resource} max/latest")
            if [w.entity for w in cell.worst] != [e for e, _ in expected["worst"]]:
                differences.append(f"{cell.timescale} {cell.resource} worst")
    for row in report.multi_resource:
        if (row.entities, row.entity_windows) != multi[row.timescale]:
            differences.append(f"{row.timescale} multi-resource")
    return differences


def run_dataset(name, trace_format, paths, read_raw, resources, options, folder):
    store = open_store(str(folder / f"{name}.duckdb"))
    summary, ingest_wall, ingest_cpu = timed(lambda: operations.ingest(store, trace_format, paths, **options))
    report, ours_wall, ours_cpu = timed(
        lambda: operations.overload_report(store, resources=resources), repeat=3
    )
    raw = read_raw()
    (cells, multi), pandas_wall, pandas_cpu = timed(lambda: pandas_report(raw, resources))
    differences = same_answers(report, cells, multi)
    size = os.path.getsize(folder / f"{name}.duckdb")
    store.close()
    return {
        "dataset": name,
        "files": summary.files,
        "samples": summary.samples_read,
        "ingest_s": ingest_wall,
        "ingest_cpu_s": ingest_cpu,
        "ingest_rate": summary.samples_read / ingest_wall,
        "bytes_per_sample": size / summary.samples_added,
        "ours_s": ours_wall,
        "pandas_s": pandas_wall,
        "speedup": pandas_wall / ours_wall,
        "equal": not differences,
        "differences": differences,
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    return f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, Python {platform.python_version()}, load average before the run {load}"


def main() -> None:
    bitbrains = DATA / "bitbrains_rnd"
    planetlab = DATA / "planetlab"
    if not bitbrains.is_dir() or not planetlab.is_dir():
        sys.exit(f"data not found under {DATA}: set STACKMETER_DATA")
    description = machine()
    results = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        results.append(
            run_dataset(
                "Bitbrains Rnd (100 VMs, 3 months, 4 resources)", "bitbrains", [bitbrains],
                lambda: read_bitbrains(sorted(bitbrains.rglob("*.csv.gz")), DISK, NETWORK),
                RESOURCES, {"disk_capacity_bytes_s": DISK, "network_capacity_bytes_s": NETWORK}, folder,
            )
        )  # fmt: skip
        days = sorted(p for p in planetlab.iterdir() if p.is_dir())
        results.append(
            run_dataset(
                f"PlanetLab ({len(days)} days, cpu)", "planetlab", days,
                lambda: pd.concat([read_planetlab(day) for day in days], ignore_index=True),
                ("cpu",), {}, folder,
            )
        )  # fmt: skip
    lines = [
        f"## Overload: ingest and full report ({datetime.date.today().isoformat()})",
        "",
        f"Machine: {description}. Full report = 5 timescales × the data set's resources, "
        "defaults θ and s = 0.05; ours is the best of 3 warm runs on the store file, pandas one run "
        "on samples already in memory. `benchmarks/overload.py`.",
        "",
        "| data set | samples | ingest s | ingest samples/s | bytes/sample | report s (ours) | report s (pandas) | ratio | same answers |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['dataset']} | {r['samples']:,} | {r['ingest_s']:.2f} | {r['ingest_rate']:,.0f} | "
            f"{r['bytes_per_sample']:.1f} | {r['ours_s']:.3f} | {r['pandas_s']:.2f} | {r['speedup']:.1f}× | "
            f"{'yes' if r['equal'] else 'NO: ' + ', '.join(r['differences'][:5])} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    target = ROOT / "BENCHMARKS.md"
    existing = (
        target.read_text()
        if target.exists()
        else "# Benchmarks\n\nEvery figure comes from a script in `benchmarks/`, run on the full data sets.\n"
    )
    target.write_text(existing.rstrip("\n") + "\n\n" + text)
    if not all(r["equal"] for r in results):
        sys.exit("the pandas baseline and stackmeter disagree")


if __name__ == "__main__":
    main()
