"""Maximum correlation (MC) selection: CloudSim 3.0 and stackmeter side by side on the ten PlanetLab days.

Run from the repository root with ../shared beside it (or STACKMETER_DATA pointing at its data):

    python benchmarks/replay_mc.py                          # prints the table
    python benchmarks/replay_mc.py --write BENCHMARKS.md    # and writes (or replaces) its section
    python benchmarks/replay_mc.py --days 3                 # the first 3 days only

For each day, CloudSim (paper mode, its runner's ``wall_s``) and stackmeter (reading the day's
traces plus the replay, in this process, after the compiled code is loaded) run LR-MC-1.2, one
after the other; the figures must agree to the digits CloudSim prints.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.overload import DATA, machine  # noqa: E402
from benchmarks.replay import FLEET, SHARED, load_day, run_peer, warm_up, write_section  # noqa: E402
from stackmeter.analysis.replay import parse_policy, replay  # noqa: E402
from stackmeter.sources.fleet import load_fleet  # noqa: E402

SECTION = "## Consolidation replay: MC selection beside CloudSim"
POLICY = "lr-mc-1.2"


def run(days: list[Path], runner: Path) -> list[dict[str, Any]]:
    """CloudSim's and stackmeter's LR-MC-1.2 on each day, with their times."""
    paper = load_fleet(FLEET)
    rows = []
    for folder in days:
        peer = run_peer(runner, folder.name, "paper", POLICY)
        started = time.perf_counter()
        utilization = load_day(folder)
        ours = replay(utilization, paper.fleet, paper.vm_types, parse_policy(POLICY))
        ours_s = time.perf_counter() - started
        agrees = (
            round(ours.energy_kwh, 2) == peer["energy_kwh"]
            and ours.migrations == peer["migrations"]
            and round(ours.slatah * 100, 2) == peer["slatah_percent"]
            and round(ours.pdm * 100, 2) == peer["pdm_percent"]
        )
        rows.append({"day": folder.name, "peer": peer, "ours": ours, "ours_s": ours_s, "agrees": agrees})
        print(
            folder.name,
            f"CloudSim {peer['energy_kwh']} kWh {peer['migrations']:.0f} {peer['wall_s']:.1f} s,",
            f"stackmeter {ours.energy_kwh:.2f} kWh {ours.migrations} {ours_s:.2f} s",
            "agrees" if agrees else "DIFFERS",
            flush=True,
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The section for BENCHMARKS.md."""
    ratios = [row["peer"]["wall_s"] / row["ours_s"] for row in rows]
    lines = [
        f"{SECTION} ({datetime.date.today().isoformat()})",
        "",
        f"Machine: {machine()}. `python benchmarks/replay_mc.py --write BENCHMARKS.md`. Data: {len(rows)} "
        "PlanetLab days, files in name order, on `planetlab-800`, semantics `cloudsim-3.0-paper`; CloudSim "
        "in paper mode, one run at a time beside stackmeter's. MC regresses each candidate VM's last "
        "≤ 30 utilizations on the other candidates' (normal equations, Gauss-Jordan, R²) for every VM "
        "it takes off a host; stackmeter runs that arithmetic compiled, in CloudSim's order.",
        "",
        "| day | kWh CloudSim / stackmeter | migrations | SLATAH % | PDM % | CloudSim s | stackmeter s | ratio | same figures |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row, ratio in zip(rows, ratios, strict=True):
        peer, ours = row["peer"], row["ours"]
        lines.append(
            f"| {row['day']} | {peer['energy_kwh']:.2f} / {ours.energy_kwh:.2f} "
            f"| {peer['migrations']:,.0f} / {ours.migrations:,} "
            f"| {peer['slatah_percent']:.2f} / {ours.slatah * 100:.2f} "
            f"| {peer['pdm_percent']:.2f} / {ours.pdm * 100:.2f} "
            f"| {peer['wall_s']:.2f} | {row['ours_s']:.2f} | {ratio:.0f}× | {'yes' if row['agrees'] else 'no'} |"
        )
    lines += [
        "",
        f"- {sum(row['agrees'] for row in rows)} of {len(rows)} days give CloudSim's printed figures; "
        f"speed {min(ratios):.0f}×–{max(ratios):.0f}× (median {median(ratios):.0f}×). Median energy "
        f"{median(row['ours'].energy_kwh for row in rows):.2f} kWh, migrations "
        f"{median(row['ours'].migrations for row in rows):,.1f}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA / "planetlab", help="folder of PlanetLab day folders"
    )
    parser.add_argument("--peer", type=Path, default=SHARED / "peers" / "cloudsim" / "run-planetlab")
    parser.add_argument("--days", type=int, default=10, help="days to run, in order [10]")
    parser.add_argument("--write", type=Path, help="write (or replace) the section in this Markdown file")
    args = parser.parse_args()
    days = sorted(p for p in args.data.iterdir() if p.is_dir())[: args.days]
    warm_up(days[0], load_fleet(FLEET))
    replay(
        load_day(days[0])[:60, :60], load_fleet(FLEET).fleet, load_fleet(FLEET).vm_types, parse_policy(POLICY)
    )
    section = markdown(run(days, args.peer))
    print(section)
    if args.write:
        write_section(args.write, section, (SECTION,))


if __name__ == "__main__":
    main()
