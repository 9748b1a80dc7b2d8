"""Consolidation replay over a store: the VMs' history stepped through by each policy asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stackmeter.analysis.measured import measure_run
from stackmeter.analysis.replay.engine import parse_policy, replay
from stackmeter.errors import ConfigError, StoreError, UnknownEntity
from stackmeter.models import WindowQuery
from stackmeter.models.consolidation import MeasuredRun
from stackmeter.models.replay import DEFAULT_SEMANTICS, FleetFile
from stackmeter.models.replay_runs import REPLAY_INTERVAL_S, REPLAY_TIMESCALE, ReplayDemand, ReplayReport
from stackmeter.operations.rollups import read_utilization
from stackmeter.sources.fleet import SHIPPED_FLEETS, load_fleet
from stackmeter.store import Store

# Memory samples are bytes; the replay counts MB (MiB, as the fleet's RAM).
BYTES_PER_MB = 2**20
# A fleet named without a path is one shipped with stackmeter.
DEFAULT_FLEET = "planetlab-800"


def shipped_fleets() -> tuple[str, ...]:
    """Return the names of the fleet files shipped with stackmeter."""
    return tuple(sorted(path.stem for path in SHIPPED_FLEETS.glob("*.toml")))


def fleet_of(name_or_path: str) -> tuple[str, FleetFile]:
    """Return the name and contents of a fleet file: a path, or the name of a shipped fleet
    (``planetlab-800``, the 800 HP ML110 hosts of Beloglazov and Buyya's experiments)."""
    shipped = SHIPPED_FLEETS / f"{name_or_path}.toml"
    path = shipped if shipped.is_file() else Path(name_or_path)
    if not path.suffix and not path.exists():
        names = sorted(p.stem for p in SHIPPED_FLEETS.glob("*.toml"))
        raise ConfigError(
            f"no fleet {name_or_path!r}: give a fleet file, or one of {', '.join(names)}", "fleet"
        )
    return (path.stem if path == shipped else str(path)), load_fleet(path)


def read_demand(
    store: Store, start: np.datetime64 | None = None, end: np.datetime64 | None = None
) -> ReplayDemand:
    """Return each entity's mean CPU utilization per 5-minute window from ``start`` to ``end``
    (windows starting in ``[start, end)``; the whole history when omitted), entities by name,
    and the mean memory each uses per window (MB) when some of them have memory samples."""
    summaries = [e for e in store.read_entities() if "cpu" in e.resources]
    names = tuple(sorted(e.entity for e in summaries))
    last = None if end is None else end - np.timedelta64(1, "ns")
    query = WindowQuery(REPLAY_TIMESCALE, "cpu", 1.0, names, start, last)
    rows = read_utilization(store, query).utilization
    if rows.window.size == 0:
        raise StoreError(
            "no CPU utilization with a known capacity in the store for the span asked: nothing to replay"
        )
    entities = np.unique(rows.entity)
    first = rows.window.min()
    column = ((rows.window - first) // np.timedelta64(int(REPLAY_INTERVAL_S), "s")).astype(np.int64)
    row = np.searchsorted(entities, rows.entity)
    matrix = np.full((entities.size, int(column.max()) + 1), np.nan)
    matrix[row, column] = rows.mean_utilization
    gaps, before = _fill(matrix)
    with_memory = {e.entity for e in summaries if "memory" in e.resources}
    memory, memory_vms = _memory_mb(store, entities, with_memory, first, matrix.shape[1])
    return ReplayDemand(tuple(str(e) for e in entities), first, matrix, gaps, before, memory, memory_vms)


def _memory_mb(
    store: Store, entities: np.ndarray, with_memory: set[str], first: np.datetime64, windows: int
) -> tuple[np.ndarray | None, int]:
    """Each entity's mean memory in use per window (MB), gaps filled as CPU's, and how many
    entities had memory samples in the span; None and 0 when none had.

    A VM without memory samples uses none: the report says how many had them.
    """
    width = np.timedelta64(int(REPLAY_INTERVAL_S), "s")
    end = first + windows * width
    matrix = np.full((entities.size, windows), np.nan)
    found = 0
    for row, entity in enumerate(entities.tolist()):
        if entity not in with_memory:
            continue
        samples = store.read_series(entity, "memory", first, end)
        if samples.ts.size == 0:
            continue
        found += 1
        column = ((samples.ts - first) // width).astype(np.int64)
        sums = np.bincount(column, weights=samples.used, minlength=windows)
        counts = np.bincount(column, minlength=windows)
        with np.errstate(invalid="ignore"):
            matrix[row] = sums / counts / BYTES_PER_MB
    if found == 0:
        return None, 0
    _fill(matrix)
    return matrix, found


def _fill(matrix: np.ndarray) -> tuple[int, int]:
    """Fill gaps in place: between a row's first and last value with the value before; outside
    them with 0. Return how many of each were filled."""
    known = ~np.isnan(matrix)
    seen = np.maximum.accumulate(known, axis=1)
    ahead = np.maximum.accumulate(known[:, ::-1], axis=1)[:, ::-1]
    inside = seen & ahead & ~known
    outside = ~(seen & ahead)
    index = np.where(known, np.arange(matrix.shape[1]), 0)
    np.maximum.accumulate(index, axis=1, out=index)
    filled = matrix[np.arange(matrix.shape[0])[:, None], index]
    matrix[inside] = filled[inside]
    matrix[outside] = 0.0
    return int(inside.sum()), int(outside.sum())


def replay_store(
    store: Store,
    policies: Sequence[str],
    fleet: str = DEFAULT_FLEET,
    semantics: str = DEFAULT_SEMANTICS,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
) -> ReplayReport:
    """Replay each of ``policies`` (``npa``, ``dvfs``, …) over the store's VM history on ``fleet``.

    The VMs are the store's entities with CPU samples, typed in name order as the fleet file's
    ``vm_assignment`` says; their demand is the mean utilization per 5-minute window. When VMs
    have memory samples, their memory in use is replayed too: each result's ``memory_overload``
    says how often a host's VMs used more than its RAM, and a memory-aware policy (``…-mem``)
    counts each VM's 95th percentile of it.
    """
    if not policies:
        raise ConfigError("no policy given, e.g. dvfs", "policy")
    asked = [parse_policy(text) for text in policies]
    name, fleet_file = fleet_of(fleet)
    demand = read_demand(store, start, end)
    results = tuple(
        replay(
            demand.utilization,
            fleet_file.fleet,
            fleet_file.vm_types,
            policy,
            semantics,
            REPLAY_INTERVAL_S,
            memory_mb=demand.memory_mb,
        )
        for policy in asked
    )
    return ReplayReport(
        name, semantics, len(demand.entities), demand.utilization.shape[1], demand.first_window,
        demand.gaps_filled, demand.before_first, results, demand.memory_vms,
    )  # fmt: skip


def measured_run(store: Store, run: str | None = None) -> MeasuredRun:
    """Return what the consolidation run ``run`` measured over its window (AITF, AOTF,
    migrations, modelled energy); without ``run``, the store's only run.

    :raises UnknownEntity: when the store holds no run (a project's reader sees none), or not ``run``
    :raises ConfigError: when no run is named and the store holds several
    """
    runs = store.read_consolidation_runs()
    if not runs:
        raise UnknownEntity(
            "no consolidation run in the store: nothing measured (ingest one with `stackmeter ingest neat`)"
        )
    if run is None:
        if len(runs) > 1:
            raise ConfigError(f"the store holds {len(runs)} runs, name one: {', '.join(runs)}", "run")
        run = runs[0]
    records = store.read_consolidation_run(run)
    if records is None:
        raise UnknownEntity(f"no run {run!r} in the store; it holds {', '.join(runs)}")
    return measure_run(records)
