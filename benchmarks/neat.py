"""A real consolidated cloud, measured: the 30 OpenStack Neat testbed runs ingested, their AITF, AOTF
and migrations against the published figures, and a replay of the same VM traces beside them.

Run from the repository root with ../shared beside it (or STACKMETER_DATA pointing at its data):

    python benchmarks/neat.py                          # prints the table
    python benchmarks/neat.py --write BENCHMARKS.md    # and writes (or replaces) its section there

Each run folder is ingested into its own store (``stackmeter ingest neat``), measured from the
store (``stackmeter replay --measured``), and compared with the published per-run figures of the
Neat paper's experiments (``results/metrics.csv``, transcribed in tests/analysis/test_measured.py).
On the THR-0.8 runs, THR-MMT-0.8 and LRR-MMT-1.2 are replayed on ``neat-testbed-4`` over the run's
window, beside what Neat did on the real hosts.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.analysis.test_measured import PUBLISHED  # noqa: E402

from benchmarks.overload import DATA, machine  # noqa: E402
from benchmarks.replay import write_section  # noqa: E402
from stackmeter import operations  # noqa: E402
from stackmeter.store import open_store  # noqa: E402

RUNS = DATA / "openstack_neat_testbed" / "runs"
SECTION = "## Neat testbed: a real consolidated cloud, measured (2026-12-02)"
REPLAYED_RUNS = ("thr-0.8-1", "thr-0.8-2", "thr-0.8-3")
REPLAYED_POLICIES = ("thr-mmt-0.8", "lrr-mmt-1.2")


def run_one(folder: Path, store_dir: Path) -> dict:
    """Ingest one run into a fresh store, measure it, and replay the policies when asked."""
    path = store_dir / f"{folder.name}.duckdb"
    with open_store(path) as store:
        started = time.perf_counter()
        summary = operations.ingest_neat(store, folder)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        measured = operations.measured_run(store)
        measure_s = time.perf_counter() - started
        row = {"run": folder.name, "summary": summary, "measured": measured, "ingest_s": ingest_s}
        row["measure_s"] = measure_s
        if folder.name in REPLAYED_RUNS:
            started = time.perf_counter()
            report = operations.replay_store(
                store,
                REPLAYED_POLICIES,
                "neat-testbed-4",
                start=measured.window_start,
                end=measured.window_end,
            )
            row["replay"] = report
            row["replay_s"] = time.perf_counter() - started
    path.unlink()
    return row


def markdown(rows: list[dict]) -> str:
    """The section: per run measured vs published, the differences, the replay beside three runs."""
    aitf_diff = max(abs(r["measured"].aitf - PUBLISHED[r["run"]][1]) for r in rows)
    aotf_diff = max(abs(r["measured"].aotf - PUBLISHED[r["run"]][2]) for r in rows)
    same_migrations = sum(r["measured"].migrations == PUBLISHED[r["run"]][3] for r in rows)
    samples = sum(r["summary"].samples.samples_added for r in rows)
    refused = sum(r["summary"].samples.rejected for r in rows)
    lines = [
        SECTION,
        "",
        f"Machine: {machine()}. `python benchmarks/neat.py --write BENCHMARKS.md`.",
        "",
        "**Data.** The 30 runs of `../shared/data/openstack_neat_testbed` (4 hosts, 28 VMs, ~24 h each), "
        "each ingested into a fresh store with `stackmeter ingest neat`, then measured from the store "
        "(`stackmeter replay --measured`). Expected: the published per-run figures of the Neat paper's "
        "experiments (`results/metrics.csv` of its experiments repository).",
        "",
        f"- {len(rows)} runs: AITF within {aitf_diff:.1e} and AOTF within {aotf_diff:.1e} of the published "
        f"figures, migrations the same on {same_migrations} of {len(rows)}.",
        f"- {samples:,} VM samples stored, {refused:,} lines refused (readings without CPU-time counters, "
        "a VM just migrated), ingest "
        f"{sum(r['ingest_s'] for r in rows):.1f} s for all 30 (median {median(r['ingest_s'] for r in rows):.2f} s "
        f"a run), measuring {max(r['measure_s'] for r in rows) * 1000:.0f} ms at most.",
        "",
        "| run | AITF measured / published | AOTF measured / published | migrations | energy kWh (Neat's model) | all on kWh |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        m, published = r["measured"], PUBLISHED[r["run"]]
        lines.append(
            f"| {r['run']} | {m.aitf:.6f} / {published[1]:.6f} | {m.aotf:.6f} / {published[2]:.6f} | "
            f"{m.migrations} / {published[3]} | {m.energy_kwh:.2f} | {m.energy_all_on_kwh:.2f} |"
        )
    lines += [
        "",
        "**Replayed beside the real run** (the run's 28 VM traces over its window, on `neat-testbed-4`: "
        "4 hosts of 22,336 MHz, power the published model's line from 270 W idle to 450 W; the replay's "
        "energy is each host's power at its simulated load with empty hosts at 0 W, Neat's is its "
        "model over the measured fractions, so the two energies are not like for like)",
        "",
        "| run | row | energy kWh | migrations | SLATAH % | replay s (both policies, from the store) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "replay" not in r:
            continue
        lines.append(f"| {r['run']} | measured (Neat THR-0.8) | {r['measured'].energy_kwh:.2f} | "
                     f"{r['measured'].migrations} | - | - |")  # fmt: skip
        for result in r["replay"].results:
            lines.append(
                f"| {r['run']} | {result.policy} | {result.energy_kwh:.2f} | {result.migrations} | "
                f"{100 * result.slatah:.2f} | {r['replay_s']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the section into this markdown file")
    args = parser.parse_args()
    if not RUNS.is_dir():
        sys.exit(
            f"no Neat testbed runs at {RUNS}: put ../shared beside the repository or set STACKMETER_DATA"
        )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for run in sorted(RUNS.iterdir()):
            rows.append(run_one(run, Path(folder)))
            print(f"{datetime.datetime.now():%H:%M:%S} {run.name}", file=sys.stderr, flush=True)
    section = markdown(rows)
    print(section)
    if args.write:
        write_section(args.write, section, (SECTION.split(" (")[0],))


if __name__ == "__main__":
    main()
