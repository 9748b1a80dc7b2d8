"""A deterministic scaled data set built from the real Bitbrains Rnd traces, in their own file format.

Run from the repository root with ../shared/data beside it (or STACKMETER_DATA pointing at it):

    python benchmarks/scaled_bitbrains.py --entities 2000 --out /tmp/scaled

Entity ``k`` (named ``vm-00042`` for k = 42) replays one real (VM, month) trace:

- ``vm = k mod V`` and ``month = (k // V) mod M`` over the V VMs present in every one of the M
  month folders (100 VMs × 3 months in Bitbrains Rnd);
- each month contributes a 30-day slice starting at its earliest sample (snapped to 5 minutes);
- the slice is re-timed onto one common 30-day span (2013-08-01 UTC onwards by default) and rotated
  by ``(k // (V·M)) × (1 day + 5 minutes)`` modulo 30 days, so entities sharing a trace differ;
- timestamps are snapped to the 5-minute grid (``round(t / 300) × 300``); when two samples of a
  file snap to the same time, the first one in file order is kept.

Every other field of a line is copied byte for byte, so the values are the real ones. Files are
gzip level 1 with no time stamp in their header: the same options give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STACKMETER_DATA", ROOT.parent / "shared" / "data"))
SOURCE = DATA / "bitbrains_rnd"

STEP_S = 300
SPAN_DAYS = 30
DAY_S = 86_400
ROTATION_S = DAY_S + STEP_S
DEFAULT_START = "2013-08-01"
GZIP_LEVEL = 1


class Trace(NamedTuple):
    """One source file, on the 5-minute grid: header line, snapped times, and the rest of each line."""

    header: bytes
    snapped_s: np.ndarray  # int64 epoch seconds, unique, in file order
    rests: list[bytes]  # each line from its first ';' on, with its newline


class Plan(NamedTuple):
    """Where entity ``k`` comes from."""

    name: str
    source: Path
    slice_start_s: int
    rotation_s: int


def entity_name(k: int) -> str:
    return f"vm-{k:05d}"


def snap(ts_s: np.ndarray) -> np.ndarray:
    """Round epoch seconds to the nearest multiple of 5 minutes (halves up)."""
    return (ts_s + STEP_S // 2) // STEP_S * STEP_S


def read_trace(path: Path) -> Trace:
    """Return the lines of a Bitbrains file with their snapped times, first of each snapped time kept."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = raw.splitlines(keepends=True)
    header, body = lines[0], [line for line in lines[1:] if line.strip()]
    if not body[-1].endswith(b"\n"):
        body[-1] += b"\n"
    cut = [line.index(b";") for line in body]
    ts_s = np.array([int(line[:i]) for line, i in zip(body, cut, strict=True)], dtype=np.int64)
    _, first = np.unique(snap(ts_s), return_index=True)  # first occurrence in file order
    keep = np.sort(first)
    return Trace(header, snap(ts_s)[keep], [body[i][cut[i] :] for i in keep])


def _files_by_vm(month: Path) -> dict[str, Path]:
    files = [p for p in month.iterdir() if p.name.endswith((".csv", ".csv.gz"))]
    return {p.name.split(".")[0]: p for p in files}


def _first_time_s(path: Path) -> int:
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
        handle.readline()
        for line in handle:
            if line.strip():
                return int(line.split(b";", 1)[0])
    raise ValueError(f"{path}: no samples")


def plan_entities(source: Path, entities: int) -> list[Plan]:
    """Return the plan of entities ``0 .. entities-1`` over the month folders under ``source``."""
    months = sorted(p for p in source.iterdir() if p.is_dir())
    if not months:
        raise ValueError(f"no month folders under {source}")
    by_month = [_files_by_vm(month) for month in months]
    vms = sorted(set.intersection(*(set(files) for files in by_month)), key=lambda vm: (len(vm), vm))
    if not vms:
        raise ValueError(f"no VM is present in every month folder under {source}")
    starts = [int(snap(np.array([min(_first_time_s(f) for f in files.values())]))[0]) for files in by_month]
    span_s = SPAN_DAYS * DAY_S
    plans = []
    for k in range(entities):
        vm, month, turn = k % len(vms), (k // len(vms)) % len(months), k // (len(vms) * len(months))
        plans.append(
            Plan(entity_name(k), by_month[month][vms[vm]], starts[month], turn * ROTATION_S % span_s)
        )
    return plans


def retime(trace: Trace, plan: Plan, start_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (new times, indices into the trace's lines) of one entity, in time order."""
    span_s = SPAN_DAYS * DAY_S
    offset = trace.snapped_s - plan.slice_start_s
    inside = np.flatnonzero((offset >= 0) & (offset < span_s))
    new_s = start_s + (offset[inside] + plan.rotation_s) % span_s
    order = np.argsort(new_s, kind="stable")
    return new_s[order], inside[order]


def entity_bytes(trace: Trace, plan: Plan, start_s: int) -> tuple[bytes, int]:
    """Return the (uncompressed) file of one entity and its number of data lines."""
    new_s, index = retime(trace, plan, start_s)
    rests = trace.rests
    body = b"".join([b"%d" % t + rests[i] for t, i in zip(new_s.tolist(), index.tolist(), strict=True)])
    return trace.header + body, int(index.size)


def _write_group(plans: list[Plan], out: Path, start_s: int, level: int) -> tuple[int, int]:
    """Write the entities of one source file; return (lines, bytes written)."""
    trace = read_trace(plans[0].source)
    lines = size = 0
    for plan in plans:
        text, count = entity_bytes(trace, plan, start_s)
        data = gzip.compress(text, compresslevel=level, mtime=0)
        (out / f"{plan.name}.csv.gz").write_bytes(data)
        lines, size = lines + count, size + len(data)
    return lines, size


class Generated(NamedTuple):
    entities: int
    lines: int
    bytes_written: int
    seconds: float


def generate(
    out: Path,
    entities: int,
    source: Path = SOURCE,
    start: str = DEFAULT_START,
    jobs: int | None = None,
    level: int = GZIP_LEVEL,
) -> Generated:
    """Write ``entities`` files ``vm-NNNNN.csv.gz`` into ``out``; return what was written.

    Work is split by source file (each is read once), over ``jobs`` processes.
    """
    began = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    start_s = int(np.datetime64(start, "s").astype(np.int64))
    groups: dict[Path, list[Plan]] = {}
    for plan in plan_entities(source, entities):
        groups.setdefault(plan.source, []).append(plan)
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1:
        results = [_write_group(plans, out, start_s, level) for plans in groups.values()]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_write_group, plans, out, start_s, level) for plans in groups.values()]
            results = [future.result() for future in futures]
    lines = sum(count for count, _ in results)
    size = sum(written for _, written in results)
    return Generated(entities, lines, size, time.perf_counter() - began)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--entities", type=int, default=2000)
    arguments.add_argument("--out", type=Path, required=True, help="folder for the generated files")
    arguments.add_argument("--data", type=Path, default=SOURCE, help="Bitbrains Rnd folder of month folders")
    arguments.add_argument("--start", default=DEFAULT_START, help="first day (UTC) of the 30-day span")
    arguments.add_argument("--jobs", type=int, default=None, help="processes (default: one per core)")
    options = arguments.parse_args()
    if not options.data.is_dir():
        sys.exit(f"data not found: {options.data} (set STACKMETER_DATA or pass --data)")
    done = generate(options.out, options.entities, options.data, options.start, options.jobs)
    print(
        f"{done.entities:,} entities, {done.lines:,} lines, {done.bytes_written / 2**20:,.1f} MiB "
        f"in {done.seconds:.1f} s -> {options.out}"
    )


if __name__ == "__main__":
    main()
