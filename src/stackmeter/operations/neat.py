"""Ingest of an OpenStack Neat run folder: the VMs' CPU samples and the run's own records."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stackmeter.models import Parsed, no_samples
from stackmeter.operations.traces import REJECTION_EXAMPLES, IngestSummary, check_input_paths, count_refused
from stackmeter.sources.neat import DB_TABLES, DEFAULT_VM_VCPUS, RUN_WINDOW_S, load_neat_run
from stackmeter.sources.tables import path_text
from stackmeter.store import Store

NEAT_SOURCE = "neat"


class NeatIngestSummary(NamedTuple):
    """What ingesting a run folder stored: the run (its window, UTC, and record counts) and its samples."""

    run: str
    window_start: np.datetime64
    window_end: np.datetime64
    utc_offset_s: int
    overload_detection: str | None
    hosts: int
    host_states: int
    overload_flags: int
    migrations: int
    samples: IngestSummary


def ingest_neat(
    store: Store,
    folder: Path,
    *,
    vm_vcpus: int = DEFAULT_VM_VCPUS,
    window_s: float = RUN_WINDOW_S,
    start: np.datetime64 | None = None,
    utc_offset_s: int | None = None,
) -> NeatIngestSummary:
    """Read an OpenStack Neat run folder into ``store``: its VMs' CPU utilization as samples
    (entities the VM uuids), and its window, hosts, host states, overload flags and migrations
    as a consolidation run named after the folder (replacing a run of that name).

    Bad lines are rejections, recorded with file, line and field in the store's rejections; the
    lines around them land. The samples are one atomic batch, the run's records another.

    :param vm_vcpus: vCPUs of every VM: a VM's capacity is that many cores of its host
    :param window_s: length of the run's metric window
    :param start: start of the window (UTC); by default the run's start, read off its host states
    :param utc_offset_s: how far the testbed's clock was ahead of UTC; by default read off the VM samples
    :raises SourceUnavailable: when the folder or a file it needs is missing
    :raises ParseError: when a table cannot be read at all, or the run's start or clock cannot be told
    """
    check_input_paths([folder])
    parsed = load_neat_run(Path(folder), vm_vcpus, window_s, start, utc_offset_s)
    records, vm_part = parsed.records, parsed.vm_samples
    db_part = Parsed(path_text(Path(folder) / "db"), no_samples(), rejections=parsed.rejections)
    written = store.write_parsed([vm_part, db_part], NEAT_SOURCE)
    store.write_consolidation_run(records)
    rejections = [*vm_part.rejections, *parsed.rejections]
    totals: Counter = Counter(rejected=len(rejections))
    reasons: Counter = Counter(rejection.reason for rejection in rejections)
    examples = rejections[:REJECTION_EXAMPLES]
    count_refused(written, totals, reasons, examples)
    samples = vm_part.samples
    summary = IngestSummary(
        trace_format=NEAT_SOURCE,
        files=len(DB_TABLES) + 1,
        files_with_samples=int(samples.size > 0),
        entities=len(vm_part.entities),
        samples_read=samples.size,
        samples_added=written.samples_added,
        duplicates=written.duplicates,
        rejected=totals["rejected"],
        rejected_by_reason=dict(reasons.most_common()),
        rejection_examples=tuple(examples),
        first_ts=samples.ts.min() if samples.size else None,
        last_ts=samples.ts.max() if samples.size else None,
        batches=1,
    )
    return NeatIngestSummary(
        run=records.run,
        window_start=records.window_start,
        window_end=records.window_end,
        utc_offset_s=records.utc_offset_s,
        overload_detection=records.overload_detection,
        hosts=len(records.hosts),
        host_states=records.host_states.seq.size,
        overload_flags=records.overloads.seq.size,
        migrations=records.migrations.seq.size,
        samples=summary,
    )
