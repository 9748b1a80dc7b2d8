"""The overload rule and report: per window, per entity, per timescale and resource (pure, vectorised)."""

from __future__ import annotations

import numpy as np

from stackmeter.analysis.windows import window_end, window_index, window_starts_between
from stackmeter.errors import ConfigError
from stackmeter.models import (
    DEFAULT_TOP,
    MAX_THRESHOLD,
    RESOURCES,
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


def summarize_overload(
    counts: WindowCounts, coverage: ResourceCoverage | None, share: float, top: int = DEFAULT_TOP
) -> OverloadCell:
    """Return the :class:`OverloadCell` of one resource at one timescale."""
    entity, window = detect_overloaded(counts, share)
    entities = coverage.entities if coverage else 0
    without_capacity = coverage.without_capacity if coverage else 0
    if counts.first_window is None or counts.last_window is None:
        return OverloadCell(
            counts.timescale, counts.resource, counts.threshold, share, entities, without_capacity,
            0, None, None, 0, 0.0, 0, None, None, None, None, (),
        )  # fmt: skip
    first, last = counts.first_window, counts.last_window
    windows = int(window_index(np.array([last]), first, counts.timescale)[0]) + 1
    per_window = np.bincount(window_index(window, first, counts.timescale), minlength=windows)
    per_entity = np.bincount(entity, minlength=counts.entity_names.size)

    latest = _latest_complete_window(counts, coverage)
    overloaded_latest = None
    if latest is not None:
        overloaded_latest = int(per_window[window_index(np.array([latest]), first, counts.timescale)[0]])

    worst_index = int(np.argmax(per_window))
    trend = None
    if windows >= 2:
        trend = float(np.polyfit(np.arange(windows, dtype=np.float64), per_window.astype(np.float64), 1)[0])
    return OverloadCell(
        timescale=counts.timescale,
        resource=counts.resource,
        threshold=counts.threshold,
        share=share,
        entities=entities,
        without_capacity=without_capacity,
        windows=windows,
        first_window=first,
        last_window=last,
        overloaded_ever=int(np.count_nonzero(per_entity)),
        overloaded_mean=float(per_window.mean()),
        overloaded_max=int(per_window[worst_index]),
        worst_window=window_starts_between(first, last, counts.timescale)[worst_index]
        if entity.size
        else None,
        latest_window=latest,
        overloaded_latest=overloaded_latest,
        trend_per_window=trend,
        worst=_worst_entities(counts.entity_names, per_entity, counts.entity_windows, top),
    )


def _latest_complete_window(counts: WindowCounts, coverage: ResourceCoverage | None) -> np.datetime64 | None:
    """The last window that ends no later than one sampling step after the last sample."""
    if (
        coverage is None
        or coverage.last_ts is None
        or counts.first_window is None
        or counts.last_window is None
    ):
        return None
    step = np.timedelta64(int(round((coverage.step_s or 0) * 1e9)), "ns")
    candidates = window_starts_between(counts.first_window, counts.last_window, counts.timescale)[-2:]
    complete = window_end(candidates, counts.timescale) <= coverage.last_ts + step
    return candidates[complete][-1] if complete.any() else None


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
    if not overloaded:
        return MultiResourceOverload(timescale, 0, 0, ())
    entity = np.concatenate([pair[0] for pair in overloaded]).astype(np.int64)
    window = np.concatenate([pair[1] for pair in overloaded]).astype(np.int64)
    if entity.size == 0:
        return MultiResourceOverload(timescale, 0, 0, ())
    # One integer key per (entity, window): sorting it is far faster than a row-wise unique.
    window_starts, window_rank = np.unique(window, return_inverse=True)
    pairs, resources = np.unique(entity * window_starts.size + window_rank, return_counts=True)
    multi = pairs[resources >= 2] // window_starts.size
    codes, windows = np.unique(multi, return_counts=True)
    order = np.lexsort((names[codes].astype(str), -windows))[:top]
    worst = tuple((str(names[codes[i]]), int(windows[i])) for i in order)
    return MultiResourceOverload(timescale, int(codes.size), int(multi.size), worst)
