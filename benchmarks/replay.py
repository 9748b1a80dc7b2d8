"""Consolidation replay, NPA and DVFS, on the ten PlanetLab days against CloudSim 3.0 run side by side.

Run from the repository root with ../shared beside it (or STACKMETER_DATA pointing at its data):

    python benchmarks/replay.py                          # prints the table
    python benchmarks/replay.py --write BENCHMARKS.md    # and writes (or replaces) its section there
    python benchmarks/replay.py --peer-days 2            # run the CloudSim peer on the first 2 days only

For each day, the trace files are read in name order (CloudSim's VM order with its files sorted),
value / 100, and stackmeter replays DVFS under both CloudSim profiles (``cloudsim-3.0-paper``: the
sample itself at the decision steps; ``cloudsim-3.0``: interpolated, as released) and NPA, on the
800 hosts of ``stackmeter/fleets/planetlab-800.toml``. Beside it, in the same run and one at a time, the
CloudSim 3.0 peer (``../shared/peers/cloudsim/run-planetlab DAY dvfs``, in its paper and interpolate
modes) runs the same day. The expected figures are the recorded CloudSim runs of the research
notes (``consolidation-cloudsim-runs.csv``, energy to 0.01 kWh) and their table of VMs that vanish.
The speed ratio is CloudSim's wall time (its ``java`` process reading the traces and simulating, as the
runner measures it) over stackmeter's (reading the traces plus the replay, in this process).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.overload import DATA, machine  # noqa: E402
from stackmeter.analysis.replay import replay  # noqa: E402
from stackmeter.models import ReplayPolicy  # noqa: E402
from stackmeter.sources.fleet import SHIPPED_FLEETS, load_fleet  # noqa: E402

SHARED = DATA.parent
FLEET = SHIPPED_FLEETS / "planetlab-800.toml"
SECTION = "## Consolidation replay: NPA and DVFS against CloudSim 3.0"
NPA_KWH = 2410.80
# VMs that vanish per day in CloudSim 3.0, from the research notes (§1.2), file order sorted:
# "one zero at a step" (paper-compatible) and "two consecutive zeros" (as released).
DAYS = "20110303 20110306 20110309 20110322 20110325 20110403 20110409 20110411 20110412 20110420".split()
REMOVED = {
    "paper": dict(zip(DAYS, (749, 707, 936, 1202, 799, 1065, 1044, 906, 767, 815), strict=True)),
    "interpolate": dict(zip(DAYS, (532, 523, 782, 939, 591, 769, 803, 683, 575, 634), strict=True)),
}
# stackmeter's profile and the CSV's variant for each peer mode.
MODES = {
    "paper": ("cloudsim-3.0-paper", "3.0-paper-compatible"),
    "interpolate": ("cloudsim-3.0", "3.0-as-shipped"),
}


def load_day(folder: Path) -> np.ndarray:
    """The day's ``VMs × 288`` utilization, files in name order, percent / 100."""
    names = sorted(path.name for path in folder.iterdir() if path.is_file())
    rows = [np.array((folder / name).read_bytes().split(), dtype=np.float64) for name in names]
    return np.array(rows) / 100.0


def recorded_dvfs(path: Path) -> dict[tuple[str, str], float]:
    """(CSV variant, day) → DVFS energy of the recorded CloudSim runs."""
    with path.open(newline="") as handle:
        return {
            (row["variant"], row["day"]): float(row["energy_kwh"])
            for row in csv.DictReader(handle)
            if row["policy"] == "dvfs"
        }


def run_peer(runner: Path, day: str, mode: str) -> dict[str, Any]:
    """One CloudSim run of DVFS on ``day``, its JSON and the wall time of the whole call."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(runner), day, "dvfs"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CLOUDSIM_MODE": mode},
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["call_s"] = time.perf_counter() - started
    return figures


def best_of(repeat: int, work: Any) -> tuple[Any, float]:
    """The result of ``work()`` and its best wall time over ``repeat`` runs."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return result, best


def run_day(folder: Path, paper: Any, repeat: int) -> dict[str, Any]:
    """stackmeter's replays of one day: DVFS under both profiles and NPA, with their timings."""
    utilization, load_s = best_of(repeat, lambda: load_day(folder))
    row: dict[str, Any] = {"day": folder.name, "vms": utilization.shape[0], "load_s": load_s}
    for mode, (semantics, _) in MODES.items():
        result, replay_s = best_of(
            repeat,
            lambda s=semantics: replay(utilization, paper.fleet, paper.vm_types, ReplayPolicy("dvfs"), s),
        )
        row[mode] = {"result": result, "replay_s": replay_s}
    npa, npa_s = best_of(
        repeat, lambda: replay(utilization, paper.fleet, paper.vm_types, ReplayPolicy("npa"))
    )
    row["npa"] = {"result": npa, "replay_s": npa_s}
    return row


def java_version() -> str:
    """The JVM the peer runs on."""
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "no JVM"
    return done.stderr.splitlines()[0].strip() if done.stderr else "unknown JVM"


# -- the report ------------------------------------------------------------------------------


def _kwh(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _delta(ours: float, theirs: float | None) -> str:
    return "—" if theirs is None else f"{ours - theirs:+.4f}"


def mode_table(rows: list[dict[str, Any]], mode: str) -> list[str]:
    """The per-day table of one profile: energy, VMs removed, shutdowns, timings."""
    semantics, variant = MODES[mode]
    lines = [
        f"**DVFS, `{semantics}`** (peer: `CLOUDSIM_MODE={mode}`; CSV rows `{variant},dvfs`)",
        "",
        "| day | VMs | kWh stackmeter | kWh CSV | kWh CloudSim | Δ vs CSV | VMs removed stackmeter "
        "| VMs removed (notes) | host shutdowns stackmeter / CloudSim | stackmeter s (load + replay) "
        "| CloudSim s | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours = row[mode]["result"]
        peer = row.get("peer", {}).get(mode)
        ours_s = row["load_s"] + row[mode]["replay_s"]
        peer_kwh = _kwh(None if peer is None else peer["energy_kwh"])
        peer_shutdowns = "—" if peer is None else f"{peer['host_shutdowns']:.0f}"
        peer_s = "—" if peer is None else f"{peer['wall_s']:.2f}"
        ratio = "—" if peer is None else f"{peer['wall_s'] / ours_s:.0f}×"
        notes = REMOVED[mode].get(row["day"])
        lines.append(
            f"| {row['day']} | {row['vms']:,} | {ours.energy_kwh:,.4f} | {_kwh(row['csv'][mode])} | {peer_kwh} "
            f"| {_delta(ours.energy_kwh, row['csv'][mode])} | {ours.vms_removed:,} "
            f"| {'—' if notes is None else f'{notes:,}'} | {ours.host_shutdowns} / {peer_shutdowns} "
            f"| {row['load_s']:.3f} + {row[mode]['replay_s']:.3f} | {peer_s} | {ratio} |"
        )
    return lines


def _agrees_with_peer(ours: Any, peer: dict[str, Any]) -> bool:
    """Same energy to CloudSim's printed 0.01 kWh, same shutdowns, same mean time before one (0.01 s)."""
    return (
        round(ours.energy_kwh, 2) == peer["energy_kwh"]
        and ours.host_shutdowns == peer["host_shutdowns"]
        and abs(ours.mean_time_before_host_shutdown_s - peer["mean_time_before_host_shutdown_s"]) <= 0.005
    )


def mode_summary(rows: list[dict[str, Any]], mode: str) -> str:
    """One line on a profile: agreement with the CSV, the notes and the peer; median energy; speed."""
    semantics = MODES[mode][0]
    results = [row[mode]["result"] for row in rows]
    within = sum(
        1
        for row, ours in zip(rows, results, strict=True)
        if row["csv"][mode] is not None and abs(ours.energy_kwh - row["csv"][mode]) <= 0.01
    )
    removed = sum(
        1
        for row, ours in zip(rows, results, strict=True)
        if ours.vms_removed == REMOVED[mode].get(row["day"])
    )
    ran = [row for row in rows if mode in row["peer"]]
    agree = sum(1 for row in ran if _agrees_with_peer(row[mode]["result"], row["peer"][mode]))
    line = (
        f"- `{semantics}`: energy within ±0.01 kWh of the CSV on {within} of {len(rows)} days, VMs removed "
        f"exactly as the notes' table on {removed} of {len(rows)}; on the {len(ran)} days CloudSim ran here, "
        f"the same energy to its printed 0.01 kWh, the same host shutdowns and the same mean time before a "
        f"shutdown (to its printed 0.01 s) on {agree}. Median energy "
        f"{median(r.energy_kwh for r in results):.2f} kWh."
    )
    if ran:
        total = [row["peer"][mode]["wall_s"] / (row["load_s"] + row[mode]["replay_s"]) for row in ran]
        alone = [row["peer"][mode]["wall_s"] / row[mode]["replay_s"] for row in ran]
        line += (
            f" Speed, CloudSim / stackmeter: {min(total):.0f}×–{max(total):.0f}× (median {median(total):.0f}×) "
            f"with stackmeter reading the traces, {min(alone):.0f}×–{max(alone):.0f}× "
            f"(median {median(alone):.0f}×) for the replay alone."
        )
    return line


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """Agreement per profile, NPA, what the speed ratio means, and the totals over the days."""
    npa = [row["npa"]["result"].energy_kwh for row in rows]
    replay_s = sum(row[m]["replay_s"] for row in rows for m in (*MODES, "npa"))
    load_s = sum(row["load_s"] for row in rows)
    return [
        *(mode_summary(rows, mode) for mode in MODES),
        f"- NPA: {min(npa):.4f}–{max(npa):.4f} kWh on every day (CloudSim {NPA_KWH:.2f}: 800 hosts at full "
        "power from 0 to the last step, 86 100.1 s); the peer's runner has no NPA, so the figure is "
        "CloudSim's as the notes give it.",
        "- DVFS is CloudSim's cheapest run (one placement, no migration events): much of its wall time is "
        "the JVM starting and reading the traces, so these ratios are a floor; the migrating policies "
        "(15–75 s a day in CloudSim) are the real test of speed.",
        f"- All {len(rows)} days × 3 replays (DVFS twice, NPA): {replay_s:.2f} s of replay, plus "
        f"{load_s:.2f} s reading the {sum(row['vms'] for row in rows):,} trace files.",
    ]


def markdown(rows: list[dict[str, Any]], described: str, jvm: str, repeat: int) -> str:
    """This benchmark's section of BENCHMARKS.md."""
    today = datetime.date.today().isoformat()
    lines = [
        f"{SECTION} ({today})",
        "",
        f"Machine: {described}. Peer: CloudSim 3.0 (`../shared/peers/cloudsim`, {jvm}), one run at a time. "
        f"`python benchmarks/replay.py --write BENCHMARKS.md`.",
        "",
        "**Data.** The ten PlanetLab days of Beloglazov & Buyya 2012 (`../shared/data/planetlab`, 11,746 "
        "files × 288 samples), files in name order; the 800 hosts and four VM types of "
        "`stackmeter/fleets/planetlab-800.toml`. Expected figures: the recorded CloudSim runs "
        "(`consolidation-cloudsim-runs.csv` of the research notes, energy printed to 0.01 kWh) and the notes' "
        f"table of VMs that vanish. stackmeter times are the best of {repeat} runs in one process; "
        "CloudSim's are its runner's `wall_s` (the `java` process: JVM start, reading the traces, "
        "simulating; the one-off compilation excluded).",
        "",
    ]
    for mode in MODES:
        lines += [*mode_table(rows, mode), ""]
    lines += summary(rows)
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of ``path`` (from its heading to the next ``## ``), or append it.

    The file is shared by every benchmark, so it is read right before writing and only this
    section changes.
    """
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find("\n" + SECTION)
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n\n" + section)
        return
    end = text.find("\n## ", start + 1)
    rest = "" if end < 0 else "\n\n" + text[end + 1 :]
    path.write_text(text[: start + 1] + section.rstrip("\n") + "\n" + rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA / "planetlab", help="folder of PlanetLab day folders"
    )
    parser.add_argument(
        "--runs", type=Path, default=SHARED / "research" / "consolidation-cloudsim-runs.csv",
        help="the recorded CloudSim runs (CSV)",
    )  # fmt: skip
    parser.add_argument(
        "--peer", type=Path, default=SHARED / "peers" / "cloudsim" / "run-planetlab", help="CloudSim's runner"
    )
    parser.add_argument("--peer-days", type=int, default=10, help="days to run CloudSim on, in order [10]")
    parser.add_argument(
        "--peer-modes", default="paper,interpolate", help="CloudSim modes to run [paper,interpolate]"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each stackmeter timing [3]")
    parser.add_argument("--write", type=Path, help="write (or replace) the section in this Markdown file")
    args = parser.parse_args()
    described = machine()
    paper = load_fleet(FLEET)
    recorded = recorded_dvfs(args.runs)
    days = sorted(p for p in args.data.iterdir() if p.is_dir())
    rows = []
    for index, folder in enumerate(days):
        row = run_day(folder, paper, args.repeat)
        row["csv"] = {mode: recorded.get((variant, folder.name)) for mode, (_, variant) in MODES.items()}
        row["peer"] = {}
        if index < args.peer_days:
            for mode in args.peer_modes.split(","):
                row["peer"][mode] = run_peer(args.peer, folder.name, mode)
        rows.append(row)
        print(
            folder.name,
            *(f"{mode} {row[mode]['result'].energy_kwh:.4f} kWh" for mode in MODES),
            *(f"peer {mode} {p['energy_kwh']} kWh {p['wall_s']} s" for mode, p in row["peer"].items()),
            flush=True,
        )
    section = markdown(rows, described, java_version(), args.repeat)
    print(section)
    if args.write:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
