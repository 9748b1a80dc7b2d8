"""The overload rule and report: per window, per entity, per timescale and resource (pure, vectorised)."""

from __future__ import annotations

import numpy as np

from stackmeter.analysis.windows import window_end, window_index, window_starts_between
from stackmeter.errors import ConfigError
from stackmeter.models import (
    COMPLETE_MIN_COVERAGE,
    DEFAULT_TOP,
    MAX_THRESHOLD,
    RESOURCES,
    FleetWindows,
    MultiResourceOverload,
    OverloadCell,
    ResourceCoverage,
    WindowCounts,
    WorstEntity,
)


def check_resource(resource: str) -> str:
    """Return ``resource`` if stackmeter knows it (cpu, memory, disk, network), else raise."""
    if resource not in RESOURCES:
        raise ConfigError(f"unknown resource {resource!r}; valid: {', '.join(RESOURCES)}", "resource")
    return resource


def check_share(share: float) -> float:
    """Return ``share`` if it is in (0, 1], else raise :class:`ConfigError`."""
    if not 0 < share <= 1:
        raise ConfigError(f"share must be above 0 and at most 1, got {share}", "share")
    return share


def check_threshold(resource: str, threshold: float) -> float:
    """Return ``threshold`` if it is a utilization above 0 and at most :data:`MAX_THRESHOLD`
    (values above 1 are allowed), else raise."""
    if not 0 < threshold <= MAX_THRESHOLD:
        raise ConfigError(
            f"threshold for {resource} must be a utilization above 0 and at most {MAX_THRESHOLD:g} "
            f"(e.g. 0.8), got {threshold}",
            "threshold",
        )
    return threshold


def detect_overloaded(counts: WindowCounts, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the (entity code, window start) pairs in which the entity was overloaded.

    Overloaded: the share of the window's samples with utilization ≥ threshold is ≥ ``share``.
    """
    overloaded = counts.at_or_above / counts.samples >= share
    return counts.entity_code[overloaded], counts.window[overloaded]


def fleet_windows(counts: WindowCounts, coverage: ResourceCoverage | None, share: float) -> FleetWindows:
    """Return the fleet of one resource window by window: entities and samples reported, the
    samples expected of them, whether the window is complete, and how many were overloaded.

    A window is complete once it has ended (its end is at most one sampling step after the last
    sample) and holds at least :data:`COMPLETE_MIN_COVERAGE` of the samples its entities would
    report over its whole length at the fleet's step; a window without samples is never complete,
    and when the step is unknown a window with samples is judged by its end alone.
    """
    step_s = coverage.step_s if coverage else None
    if counts.first_window is None or counts.last_window is None:
        empty = np.empty(0, np.int64)
        return FleetWindows(
            counts.timescale, counts.resource, counts.threshold, step_s, np.empty(0, "datetime64[ns]"),
            empty, empty, np.empty(0, np.float64), np.empty(0, bool), np.empty(0, bool), empty,
        )  # fmt: skip
    first, last, timescale = counts.first_window, counts.last_window, counts.timescale
    starts = window_starts_between(first, last, timescale)
    ends = window_end(starts, timescale)
    where = window_index(counts.fleet_window, first, timescale)
    entities = np.zeros(starts.size, np.int64)
    samples = np.zeros(starts.size, np.int64)
    entities[where] = counts.fleet_entities
    samples[where] = counts.fleet_samples
    entity, window = detect_overloaded(counts, share)
    overloaded = np.bincount(window_index(window, first, timescale), minlength=starts.size)
    step = np.timedelta64(int(round((step_s or 0) * 1e9)), "ns")
    last_ts = coverage.last_ts if coverage and coverage.last_ts is not None else ends[-1]
    ended = ends <= last_ts + step
    if step_s:
        lengths_s = (ends - starts).astype("timedelta64[ns]").astype(np.int64) / 1e9
        expected = entities * lengths_s / step_s
        complete = ended & (samples >= COMPLETE_MIN_COVERAGE * expected) & (samples > 0)
    else:
        expected = np.full(starts.size, np.nan)
        complete = ended & (samples > 0)
    return FleetWindows(
        timescale, counts.resource, counts.threshold, step_s, starts, entities, samples, expected,
        ended, complete, overloaded.astype(np.int64),
    )  # fmt: skip


def summarize_overload(
    counts: WindowCounts,
    coverage: ResourceCoverage | None,
    share: float,
    top: int = DEFAULT_TOP,
    fleet: FleetWindows | None = None,
) -> OverloadCell:
    """Return the :class:`OverloadCell` of one resource at one timescale (``fleet``, from
    :func:`fleet_windows`, is computed when not given)."""
    entities = coverage.entities if coverage else 0
    without_capacity = coverage.without_capacity if coverage else 0
    if counts.first_window is None or counts.last_window is None:
        return OverloadCell(
            counts.timescale, counts.resource, counts.threshold, share, entities, without_capacity,
            0, 0, None, None, 0, 0.0, 0, None, None, None, None, (),
        )  # fmt: skip
    fleet = fleet if fleet is not None else fleet_windows(counts, coverage, share)
    entity, _ = detect_overloaded(counts, share)
    per_window = fleet.overloaded
    per_entity = np.bincount(entity, minlength=counts.entity_names.size)
    complete = np.flatnonzero(fleet.complete)
    latest = complete[-1] if complete.size else None
    worst_index = int(np.argmax(per_window))
    trend = None
    if complete.size >= 2:
        # The least-squares slope, centred: exactly 0 for a constant count (polyfit leaves ~1e-16).
        x = complete - complete.mean()
        trend = float(np.dot(x, per_window[complete] - per_window[complete].mean()) / np.dot(x, x))
    return OverloadCell(
        timescale=counts.timescale,
        resource=counts.resource,
        threshold=counts.threshold,
        share=share,
        entities=entities,
        without_capacity=without_capacity,
        windows=int(per_window.size),
        windows_partial=int(per_window.size - complete.size),
        first_window=counts.first_window,
        last_window=counts.last_window,
        overloaded_ever=int(np.count_nonzero(per_entity)),
        overloaded_mean=float(per_window.mean()),
        overloaded_max=int(per_window[worst_index]),
        worst_window=fleet.window[worst_index] if entity.size else None,
        latest_window=None if latest is None else fleet.window[latest],
        overloaded_latest=None if latest is None else int(per_window[latest]),
        trend_per_window=trend,
        worst=_worst_entities(counts.entity_names, per_entity, counts.entity_windows, top),
    )


def _worst_entities(
    names: np.ndarray, overloaded: np.ndarray, windows: np.ndarray, top: int
) -> tuple[WorstEntity, ...]:
    codes = np.flatnonzero(overloaded)
    if codes.size == 0 or top <= 0:
        return ()
    shares = overloaded[codes] / windows[codes]
    # Largest share first, then most windows overloaded, then by name for a stable order.
    order = np.lexsort((names[codes].astype(str), -overloaded[codes], -shares))[:top]
    return tuple(
        WorstEntity(str(names[c]), float(shares[i]), int(overloaded[c]), int(windows[c]))
        for i, c in zip(order, codes[order], strict=True)
    )


def summarize_multi_resource(
    timescale: str, overloaded: list[tuple[np.ndarray, np.ndarray]], names: np.ndarray, top: int = DEFAULT_TOP
) -> MultiResourceOverload:
    """Return how many entities were overloaded in ≥ 2 resources in the same window.

    ``overloaded`` holds one (entity codes, window starts) pair per resource, as returned by
    :func:`detect_overloaded`; entity codes index ``names`` for every resource alike.
    """
    pairs = [(np.asarray(e, dtype=np.int64), np.asarray(w)) for e, w in overloaded if len(e)]
    if not pairs:
        return MultiResourceOverload(timescale, 0, 0, ())
    first = min(w.min() for _, w in pairs)
    ranks = [window_index(w, first, timescale) for _, w in pairs]
    width = max(int(r.max()) for r in ranks) + 1
    # One integer key per (entity, window); each resource's keys arrive sorted (by entity, then
    # window), and a stable sort merges sorted runs in about linear time.
    keys = np.sort(
        np.concatenate([e * width + r for (e, _), r in zip(pairs, ranks, strict=True)]), kind="stable"
    )
    multi = np.unique(keys[1:][keys[1:] == keys[:-1]]) // width
    codes, windows = np.unique(multi, return_counts=True)
    order = np.lexsort((names[codes].astype(str), -windows))[:top]
    worst = tuple((str(names[codes[i]]), int(windows[i])) for i in order)
    return MultiResourceOverload(timescale, int(codes.size), int(multi.size), worst)
