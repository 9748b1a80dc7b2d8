"""Parsing + conversion throughput of a node_exporter scrape, beside prometheus_client's parser alone.

Run from the repository root with ../shared/data beside it (or STACKMETER_DATA pointing at it):

    python benchmarks/exposition.py                # prints the section
    python benchmarks/exposition.py --write FILE   # and appends it to FILE (e.g. BENCHMARKS.md)

Both sides read the same text, in alternation, many times; each is timed by its best and median
run. Ours hands prometheus_client's parser only the lines of the families the mapping needs (a
prefix test per line) and turns them into the four host samples with rates against the previous
scrape (the steady state of `stackmeter collect`). A third row parses every family, as ours does
when a body holds none of the families it needs (to report what is wrong with it).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stackmeter.sources.exposition import parse_exposition  # noqa: E402
from stackmeter.sources.node_exporter import convert_node_exporter, parse_node_exporter  # noqa: E402

DATA = Path(os.environ.get("STACKMETER_DATA", ROOT.parent / "shared" / "data"))
RUNS = 200
STEP_NS = 15 * 10**9


def bare_parser(text: str) -> int:
    """prometheus_client's own parser, every sample materialised, nothing else."""
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--write", type=Path, help="append the section to this Markdown file")
    arguments.add_argument("--runs", type=int, default=RUNS)
    options = arguments.parse_args()

    path = DATA / "node_exporter" / "e2e-output.txt"
    text = path.read_text(encoding="utf-8")
    samples = bare_parser(text)
    scraped_at = time.time_ns()
    _, state = parse_node_exporter(text, scraped_at - STEP_NS)

    bare_s, ours_s, full_s = [], [], []
    for _ in range(options.runs):
        start = time.perf_counter()
        bare_parser(text)
        bare_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        parsed, _ = parse_node_exporter(text, scraped_at, state)
        ours_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        full, _ = convert_node_exporter(parse_exposition(text, "benchmark"), scraped_at, state)
        full_s.append(time.perf_counter() - start)
    assert parsed.samples.size >= 2, "the steady state should give cpu and disk samples"
    assert full.samples.used.tolist() == parsed.samples.used.tolist()

    rows = []
    for name, timings in (
        ("prometheus_client parser alone, every family", bare_s),
        ("stackmeter parse + convert (families it needs)", ours_s),
        ("stackmeter parse + convert, every family parsed", full_s),
    ):
        best, median = min(timings), statistics.median(timings)
        rows.append((name, best, median, samples / median))
    ratio_best = rows[1][1] / rows[0][1]
    ratio_median = rows[1][2] / rows[0][2]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"## Exposition: parsing + conversion ({datetime.date.today().isoformat()})",
        "",
        f"Machine: {machine}, prometheus_client {version('prometheus_client')}. "
        f"Data: node_exporter `e2e-output.txt` ({text.count(chr(10)):,} lines, {samples:,} samples), "
        f"{options.runs} runs of each side in alternation. `benchmarks/exposition.py`.",
        "",
        "| pipeline | best ms | median ms | exposition samples/s (median) |",
        "|---|---|---|---|",
    ]
    for name, best, median, rate in rows:
        lines.append(f"| {name} | {best * 1e3:.2f} | {median * 1e3:.2f} | {rate:,.0f} |")
    full_ratio = rows[2][2] / rows[0][2]
    lines += [
        "",
        f"Ours / bare parser time: {ratio_median:.2f}× (median), {ratio_best:.2f}× (best); target ≤ 1.5×. "
        f"Parsing every family: {full_ratio:.2f}× (median).",
    ]
    text_out = "\n".join(lines) + "\n"
    print(text_out)
    if options.write:
        existing = options.write.read_text() if options.write.exists() else "# Benchmarks\n"
        options.write.write_text(existing.rstrip("\n") + "\n\n" + text_out)


if __name__ == "__main__":
    main()
