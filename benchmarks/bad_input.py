"""What bad input costs: ingest of the full Bitbrains Rnd set, clean and with 1 % of its lines garbage.

Run from the repository root with ../shared/data beside it (or STACKMETER_DATA pointing at it):

    python benchmarks/bad_input.py [--write BENCHMARKS.md] [--compare-with SRC]

Three ingests into fresh store files, one after the other in the same run:

- *clean*: the 300 real files as they are;
- *garbage*: the same files with 1 % of their data lines (chosen with a fixed seed) replaced by
  garbage — times outside the domain, numbers such as 1e308 or NaN, text, wrong field counts,
  invalid UTF-8 — each kind spoiling its whole line;
- *reference*: the same files with those lines removed. The garbage ingest must add exactly the
  samples of the reference, and store nothing else.

``--compare-with SRC`` also runs the clean ingest with the stackmeter whose ``src`` folder is SRC
(an earlier release, say), in a subprocess, for the ratio of the two.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STACKMETER_DATA", ROOT.parent / "shared" / "data"))
GARBAGE_SHARE = 0.01
GARBAGE = (
    b"99999999999;\t4;\t11703.99;\t100.0;\t1;\t16777216;\t100;\t0;\t0;\t0;\t0",  # year 5138
    b"-5;\t4;\t11703.99;\t100.0;\t1;\t16777216;\t100;\t0;\t0;\t0;\t0",  # before 1970
    b"1e300;\t4;\t11703.99;\t100.0;\t1;\t16777216;\t100;\t0;\t0;\t0;\t0",  # far beyond 2200
    b"nan;\t4;\t11703.99;\t100.0;\t1;\t16777216;\t100;\t0;\t0;\t0;\t0",
    b"garbage \xff\xfe not a line of this format",
    b"1376314846;\t4;\t11703.99",
)

# The ingest, as a script: run here and, with --compare-with, under another stackmeter.
INGEST = """
import json, sys, time
import duckdb
from pathlib import Path
from stackmeter import operations
from stackmeter.store import open_store
store = open_store(sys.argv[1])
paths = [Path(p) for p in sys.argv[2:]]
started = time.perf_counter()
summary = operations.ingest(store, "bitbrains", paths, disk_capacity_bytes_s=100 * 2**20,
                            network_capacity_bytes_s=125e6)
seconds = time.perf_counter() - started
store.close()
con = duckdb.connect(sys.argv[1])
con.execute("SET TimeZone = 'UTC'")
bad = con.execute(
    "SELECT count(*) FROM samples WHERE ts < '1970-01-01'::TIMESTAMPTZ OR ts >= '2200-01-01'::TIMESTAMPTZ "
    "OR NOT isfinite(used) OR used > 1e15 OR capacity > 1e15 OR used > 10000 * capacity"
).fetchall()[0][0]
print(json.dumps({"seconds": seconds, "read": summary.samples_read, "added": summary.samples_added,
                  "rejected": summary.rejected, "by_reason": summary.rejected_by_reason,
                  "invalid_in_store": bad}))
"""


def ingest(src: Path, store: Path, folders: list[Path]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", INGEST, str(store), *map(str, folders)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def spoil(files: list[Path], garbage_root: Path, reference_root: Path, seed: int = 10) -> int:
    """Write each file twice: with 1 % of its data lines garbage, and with those lines removed."""
    chance = random.Random(seed)
    spoiled = 0
    for path in files:
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
        garbage, reference = [lines[0]], [lines[0]]
        for line in lines[1:]:
            if line.strip() and chance.random() < GARBAGE_SHARE:
                garbage.append(chance.choice(GARBAGE))
                spoiled += 1
                continue
            garbage.append(line)
            reference.append(line)
        for root, content in ((garbage_root, garbage), (reference_root, reference)):
            target = root / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gzip.compress(b"\n".join(content), compresslevel=1))
    return spoiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", type=Path, help="append the results to this Markdown file")
    parser.add_argument("--compare-with", type=Path, help="src folder of another stackmeter to compare")
    args = parser.parse_args()
    source = DATA / "bitbrains_rnd"
    files = sorted(source.rglob("*.csv.gz"))
    if not files:
        sys.exit(f"no Bitbrains files under {source}: set STACKMETER_DATA")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        print(f"spoiling {len(files)} files…", file=sys.stderr)
        spoiled = spoil(files, folder / "garbage", folder / "reference")
        src = ROOT / "src"
        runs = {}
        for name, folders in (
            ("clean", [source]),
            ("garbage", [folder / "garbage"]),
            ("reference", [folder / "reference"]),
        ):
            print(f"ingest {name}…", file=sys.stderr)
            runs[name] = ingest(src, folder / f"{name}.duckdb", folders)
        if args.compare_with:
            print("ingest clean with the other stackmeter…", file=sys.stderr)
            runs["other"] = ingest(args.compare_with.resolve(), folder / "other.duckdb", [source])
    clean, garbage, reference = runs["clean"], runs["garbage"], runs["reference"]
    exact = garbage["added"] == reference["added"] and not garbage["invalid_in_store"]
    date = datetime.date.today().isoformat()
    lines = [
        f"## Bad input: what garbage costs an ingest ({date})",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}. Data: Bitbrains Rnd, "
        f"{len(files)} files (100 VMs × 3 months, 4 resources). Garbage: {spoiled:,} data lines "
        f"({GARBAGE_SHARE:.0%}, fixed seed) replaced by times outside 1970–2200, 1e300 or NaN times, "
        "text with invalid UTF-8 and wrong field counts. `benchmarks/bad_input.py`.",
        "",
        "| input | samples read | samples added | refusals | ingest s | samples/s |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("clean", "garbage", "reference", "other"):
        if name in runs:
            run = runs[name]
            label = "clean, earlier stackmeter" if name == "other" else name
            lines.append(
                f"| {label} | {run['read']:,} | {run['added']:,} | {run['rejected']:,} | "
                f"{run['seconds']:.2f} | {run['read'] / run['seconds']:,.0f} |"
            )
    lines += [
        "",
        f"Garbage / clean time: {garbage['seconds'] / clean['seconds']:.2f}×. The garbage ingest added "
        f"{'exactly' if exact else 'NOT'} the samples of the reference (the files without those lines), "
        f"and {garbage['invalid_in_store']} invalid samples are in its store. Refusals of the garbage "
        f"ingest by reason: {', '.join(f'{k} {v:,}' for k, v in garbage['by_reason'].items())}.",
    ]
    if "other" in runs:
        lines.append(
            f"Clean ingest, this stackmeter / the earlier one: {clean['seconds'] / runs['other']['seconds']:.2f}×."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with args.write.open("a") as handle:
            handle.write("\n" + text)
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()
