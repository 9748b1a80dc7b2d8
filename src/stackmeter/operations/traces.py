"""Ingest of trace files and the bundled sample."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources as package_resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from stackmeter.errors import ConfigError, SourceUnavailable
from stackmeter.models import (
    MAX_VALUE,
    UNREADABLE,
    Parsed,
    Rejection,
    WriteResult,
    no_samples,
    utf8_text,
)
from stackmeter.sources import TRACE_FORMATS, TraceFormat
from stackmeter.store import Store

# Files are written in batches of about this many samples: each batch is one transaction.
BATCH_SAMPLES = 1_000_000
REJECTION_EXAMPLES = 10


class IngestSummary(NamedTuple):
    """What an ingest read, added and refused."""

    trace_format: str
    files: int
    files_with_samples: int
    entities: int
    samples_read: int
    samples_added: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejection_examples: tuple[Rejection, ...]
    first_ts: np.datetime64 | None
    last_ts: np.datetime64 | None
    batches: int

    @property
    def usable(self) -> bool:
        """Whether anything usable was found (a re-ingest of known samples counts as usable)."""
        return self.samples_read > 0


Progress = Callable[[int, int], None]


def check_input_paths(paths: Iterable[Path]) -> None:
    """Raise :class:`SourceUnavailable` when none of ``paths`` exists, so that a mistyped path
    fails before a store is created for it (a missing path beside others is a refusal of the ingest)."""
    paths = [Path(path) for path in paths]
    missing = [path for path in paths if not os.path.exists(path)]  # False, not OSError, for a bad name
    if paths and len(missing) == len(paths):
        raise SourceUnavailable(f"{utf8_text(', '.join(map(str, missing)))}: no such file or folder")


def find_trace_files(trace_format: str, paths: Iterable[Path]) -> list[Path]:
    """Return the files of ``trace_format`` under ``paths`` (files or folders), in a stable order.

    :raises SourceUnavailable: naming a path that does not exist
    """
    trace = _trace_format(trace_format)
    return [file for path in paths for file in trace.find_files(Path(path))]


def _find_or_refuse(trace: TraceFormat, paths: list[Path]) -> tuple[list[Path], list[Rejection]]:
    """Return the files under ``paths``, and a refusal for each path that does not exist."""
    files: list[Path] = []
    missing: list[Rejection] = []
    for path in paths:
        if not os.path.exists(path):
            missing.append(Rejection(utf8_text(str(path)), None, None, UNREADABLE, "no such file or folder"))
            continue
        try:
            files.extend(trace.find_files(Path(path)))
        except SourceUnavailable as exc:
            missing.append(Rejection(utf8_text(str(path)), None, None, UNREADABLE, utf8_text(str(exc))))
    return files, missing


def ingest(
    store: Store,
    trace_format: str,
    paths: Iterable[Path],
    *,
    disk_capacity_bytes_s: float | None = None,
    network_capacity_bytes_s: float | None = None,
    azure_start: np.datetime64 | None = None,
    batch_samples: int = BATCH_SAMPLES,
    back_window_s: float | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Read trace files into ``store`` and return what was read, added and refused.

    Valid samples land even when other lines, fields or files of the input are bad; each bad one
    is recorded in the store's rejections with its file, line and field. Files are written in
    batches of about ``batch_samples`` samples, each batch atomically.

    :param disk_capacity_bytes_s: capacity of a Bitbrains VM's disk; without it disk is not judged
    :param network_capacity_bytes_s: the same for the network
    :param azure_start: time of ``t_index = 0`` of Azure tables (the Unix epoch when omitted)
    :param back_window_s: refuse samples older than their series' latest sample in the store
        less this many seconds (counted as rejections). Without it, files may come in any time
        order (month 9, then month 7): the rollups stay exact whatever the order
    :param progress: called with (files done, files in all) after each file
    """
    trace = _trace_format(trace_format)
    for resource, capacity in (("disk", disk_capacity_bytes_s), ("network", network_capacity_bytes_s)):
        if capacity is not None and not 0 < capacity <= MAX_VALUE[resource]:
            raise ConfigError(
                f"{resource} capacity {capacity:g} bytes/s is not above 0 and at most {MAX_VALUE[resource]:g}",
                f"{resource}_capacity",
            )
    paths = list(paths)
    check_input_paths(paths)
    files, missing = _find_or_refuse(trace, paths)
    options_by_format: dict[str, dict[str, Any]] = {
        "bitbrains": {
            "disk_capacity_bytes_s": disk_capacity_bytes_s,
            "network_capacity_bytes_s": network_capacity_bytes_s,
        },
        "azure": {} if azure_start is None else {"start": azure_start},
    }
    options = options_by_format.get(trace_format, {})
    totals: Counter = Counter()
    reasons: Counter = Counter()
    examples: list[Rejection] = []
    entities: set[str] = set()
    first_ts = last_ts = None
    pending: list[Parsed] = [
        Parsed(rejection.path, no_samples(), rejections=(rejection,)) for rejection in missing
    ]
    pending_samples = 0
    totals["rejected"] += len(missing)
    reasons.update(rejection.reason for rejection in missing)
    examples.extend(missing[:REJECTION_EXAMPLES])

    # One writer thread: a batch is written while the next is parsed (DuckDB releases the GIL),
    # batches still land one at a time and in order, and a failed write stops the ingest.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stackmeter-writer")
    writing: Future | None = None

    def wait_for_write() -> None:
        nonlocal writing
        if writing is not None:
            result = writing.result()
            writing = None
            totals["added"] += result.samples_added
            totals["duplicates"] += result.duplicates
            totals["batches"] += 1
            count_refused(result, totals, reasons, examples)

    def flush() -> None:
        nonlocal pending, pending_samples, writing
        wait_for_write()
        if pending:
            writing = writer.submit(store.write_parsed, pending, trace_format, back_window_s)
        pending, pending_samples = [], 0

    try:
        for done, file in enumerate(files, start=1):
            try:
                parsed = trace.load_file(file, **options)
            except SourceUnavailable as exc:
                parsed = Parsed(
                    utf8_text(str(file)),
                    no_samples(),
                    rejections=(
                        Rejection(utf8_text(str(file)), None, None, UNREADABLE, utf8_text(str(exc))),
                    ),
                )
            samples = parsed.samples
            totals["read"] += samples.size
            totals["rejected"] += len(parsed.rejections)
            reasons.update(rejection.reason for rejection in parsed.rejections)
            examples.extend(parsed.rejections[: REJECTION_EXAMPLES - len(examples)])
            if samples.size:
                totals["files_with_samples"] += 1
                entities.update(entity.entity for entity in parsed.entities)
                if not parsed.entities:
                    entities.update(pd.unique(samples.entity).tolist())
                lo, hi = samples.ts.min(), samples.ts.max()
                first_ts = lo if first_ts is None else min(first_ts, lo)
                last_ts = hi if last_ts is None else max(last_ts, hi)
            pending.append(parsed)
            pending_samples += samples.size
            if pending_samples >= batch_samples:
                flush()
            if progress:
                progress(done, len(files))
        flush()
        wait_for_write()
    finally:
        writer.shutdown(wait=True)
    return IngestSummary(
        trace_format=trace_format,
        files=len(files),
        files_with_samples=totals["files_with_samples"],
        entities=len(entities),
        samples_read=totals["read"],
        samples_added=totals["added"],
        duplicates=totals["duplicates"],
        rejected=totals["rejected"],
        rejected_by_reason=dict(reasons.most_common()),
        rejection_examples=tuple(examples),
        first_ts=first_ts,
        last_ts=last_ts,
        batches=totals["batches"],
    )


def count_refused(result: WriteResult, totals: Counter, reasons: Counter, examples: list[Rejection]) -> None:
    """Add the samples the store refused in a write (too late) to an ingest's rejection tallies."""
    refused = sum(result.refused_by_reason.values())
    if refused:
        totals["rejected"] += refused
        reasons.update(result.refused_by_reason)
        examples.extend(result.refused_examples[: REJECTION_EXAMPLES - len(examples)])


def _trace_format(name: str) -> TraceFormat:
    if name not in TRACE_FORMATS:
        raise ConfigError(f"unknown trace format {name!r}; valid: {', '.join(TRACE_FORMATS)}")
    return TRACE_FORMATS[name]


def bundled_sample() -> dict[str, Path]:
    """Return the folders of the sample shipped with stackmeter: one PlanetLab day, a Bitbrains month."""
    root = Path(str(package_resources.files("stackmeter") / "samples"))
    return {"planetlab": root / "planetlab" / "20110303", "bitbrains": root / "bitbrains" / "2013-8"}
