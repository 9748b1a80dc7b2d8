"""Heat map and entity views of the overload rule: ranking entities, placing windows in columns (pure)."""

from __future__ import annotations

import numpy as np

from stackmeter.analysis.overload import detect_overloaded
from stackmeter.analysis.windows import window_index, window_start, window_starts_between
from stackmeter.models import (
    USED_UNITS,
    HeatMapRow,
    ResourceOverload,
    ResourceUsage,
    Samples,
    WindowCounts,
    WindowUtilization,
)


def rank_entities(counts: WindowCounts, share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (entity codes, windows overloaded, windows) of every entity with judgeable samples,
    worst first.

    The order is the overload report's ``worst`` order: largest share of windows overloaded, then
    most windows overloaded, then entity name; entities never overloaded follow by name.
    """
    entity, _ = detect_overloaded(counts, share)
    overloaded = np.bincount(entity, minlength=counts.entity_names.size)
    windows = counts.entity_windows
    codes = np.flatnonzero(windows > 0)
    shares = overloaded[codes] / windows[codes]
    order = np.lexsort((counts.entity_names[codes].astype(str), -overloaded[codes], -shares))
    codes = codes[order]
    return codes, overloaded[codes], windows[codes]


def choose_columns(
    first_window: np.datetime64,
    last_window: np.datetime64,
    timescale: str,
    count: int,
    end: np.datetime64 | None = None,
) -> np.ndarray:
    """Return up to ``count`` consecutive window starts ending at the window holding ``end``
    (the last window when ``None``), clipped to ``[first_window, last_window]``."""
    last = last_window if end is None else window_start(np.array([end]), timescale)[0]
    last = min(max(last, first_window), last_window)
    starts = window_starts_between(first_window, last, timescale)
    return starts[-count:]


def build_heat_map_rows(
    names: list[str],
    overloaded: np.ndarray,
    windows: np.ndarray,
    columns: np.ndarray,
    utilization: WindowUtilization,
    share: float,
) -> tuple[HeatMapRow, ...]:
    """Return one :class:`HeatMapRow` per name, its cells placed in ``columns`` (gaps are ``None``)."""
    rows = []
    timescale = utilization.timescale
    for name, windows_overloaded, entity_windows in zip(names, overloaded, windows, strict=True):
        mine = utilization.entity == name
        cells: list[float | None] = [None] * columns.size
        marks = [False] * columns.size
        samples = [0] * columns.size
        at_or_above = [0] * columns.size
        if columns.size and mine.any():
            index = window_index(utilization.window[mine], columns[0], timescale)
            counted, hits = utilization.samples[mine], utilization.at_or_above[mine]
            fired = hits / counted >= share
            means = utilization.mean_utilization[mine]
            inside = (index >= 0) & (index < columns.size)
            for i, mean, hot, n, n_hot in zip(
                index[inside], means[inside], fired[inside], counted[inside], hits[inside], strict=True
            ):
                cells[i] = float(mean)
                marks[i] = bool(hot)
                samples[i] = int(n)
                at_or_above[i] = int(n_hot)
        rows.append(
            HeatMapRow(
                entity=name,
                windows_overloaded=int(windows_overloaded),
                windows=int(entity_windows),
                share=float(windows_overloaded / entity_windows) if entity_windows else 0.0,
                utilization=tuple(cells),
                overloaded=tuple(marks),
                samples=tuple(samples),
                at_or_above=tuple(at_or_above),
            )
        )
    return tuple(rows)


def apply_overload_rule(utilization: WindowUtilization, share: float) -> ResourceOverload:
    """Return one entity's windows of one resource with the overload rule applied to each."""
    overloaded = utilization.at_or_above / np.maximum(utilization.samples, 1) >= share
    return ResourceOverload(
        resource=utilization.resource,
        threshold=utilization.threshold,
        windows=int(utilization.window.size),
        windows_overloaded=int(np.count_nonzero(overloaded)),
        window=utilization.window,
        mean_utilization=utilization.mean_utilization,
        max_utilization=utilization.max_utilization,
        overloaded=overloaded,
    )


def summarize_used(samples: Samples, timescale: str) -> ResourceUsage:
    """Return one entity's used values of one resource per window of ``timescale`` (mean, max),
    for a resource without capacity: what its page shows instead of an overload it cannot judge.

    ``samples`` are of one entity and one resource, in time order (as ``Store.read_series`` returns them).
    """
    resource = str(samples.resource[0]) if samples.ts.size else ""
    starts = window_start(samples.ts, timescale)
    window, first, counts = np.unique(starts, return_index=True, return_counts=True)
    used = samples.used.astype(np.float64)
    return ResourceUsage(
        resource=resource,
        used_unit=USED_UNITS.get(resource, ""),
        windows=int(window.size),
        samples=int(samples.ts.size),
        window=window,
        mean_used=np.add.reduceat(used, first) / counts if first.size else np.empty(0),
        max_used=np.maximum.reduceat(used, first) if first.size else np.empty(0),
    )
