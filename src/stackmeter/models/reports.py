"""Reports: coverage, window counts, overload, quantiles, compaction, heat maps, one entity's windows."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np


class ResourceCoverage(NamedTuple):
    """How much of a resource the store holds, fleet-wide.

    ``entities`` had at least one sample; ``without_capacity`` had samples but never a known
    capacity, so they cannot be judged. ``first_ts``/``last_ts`` cover judgeable samples only
    (``None`` when there are none); ``step_s`` is the typical sampling interval: an hour over the
    median count of samples per (entity, hour), or for steps of half an hour or more the median over
    entities of span / (samples − 1).
    """

    resource: str
    entities: int
    without_capacity: int
    samples: int
    first_ts: np.datetime64 | None
    last_ts: np.datetime64 | None
    step_s: float | None


class WindowCounts(NamedTuple):
    """Per-(entity, window) counts of one resource at one timescale, the input of the overload rule.

    Rows are listed only for windows holding at least one sample at or above ``threshold``: a
    window without one cannot be overloaded for any share > 0. ``entity_windows[i]`` counts the
    windows in which entity code ``i`` has judgeable samples at all. Entity codes (``entity_code``) index
    ``entity_names``.

    The fleet's totals per window, over every window holding a judgeable sample (ascending): in
    ``fleet_window[j]``, ``fleet_entities[j]`` entities reported ``fleet_samples[j]`` samples.
    They tell a complete window from a partial one (:data:`COMPLETE_MIN_COVERAGE`).
    """

    timescale: str
    resource: str
    threshold: float
    entity_names: np.ndarray
    entity_windows: np.ndarray
    entity_code: np.ndarray
    window: np.ndarray
    samples: np.ndarray
    at_or_above: np.ndarray
    first_window: np.datetime64 | None
    last_window: np.datetime64 | None
    fleet_window: np.ndarray
    fleet_entities: np.ndarray
    fleet_samples: np.ndarray


class EntitySummary(NamedTuple):
    """An entity and what the store holds of it."""

    entity: str
    kind: str
    project: str | None
    resources: tuple[str, ...]
    samples: int
    first_ts: np.datetime64
    last_ts: np.datetime64


class StoreStatus(NamedTuple):
    """Size and freshness of a store."""

    location: str
    size_bytes: int | None
    entities: int
    samples: int
    batches: int
    rejected: int
    last_write: np.datetime64 | None


DEFAULT_THRESHOLDS = {"cpu": 0.8, "memory": 0.9, "disk": 0.8, "network": 0.8}
DEFAULT_SHARE = 0.05
# How many worst entities a report lists, unless told; and the most it may be asked for.
DEFAULT_TOP = 10
MAX_TOP = 10_000_000
# What served a report read from the samples themselves rather than a rollup level.
RAW = "raw"
# A window is complete once it has ended and its entities reported at least this share of the
# samples they would over its whole length at the fleet's sampling step; else it is partial, and
# "latest" and the trend leave it out.
COMPLETE_MIN_COVERAGE = 0.5


class WorstEntity(NamedTuple):
    """An entity and the share of its windows (with data) in which it was overloaded."""

    entity: str
    share: float
    windows_overloaded: int
    windows: int


class OverloadCell(NamedTuple):
    """The overload report of one timescale and one resource (see DESIGN: overload report).

    ``latest_window`` is the latest complete window (:data:`COMPLETE_MIN_COVERAGE`), and
    ``trend_per_window`` the least-squares slope of the overloaded count over complete windows
    (``None`` with fewer than two); ``windows_partial`` counts the windows of the span that are
    not complete (the first and last are often partial, and a gap is).
    """

    timescale: str
    resource: str
    threshold: float
    share: float
    entities: int
    without_capacity: int
    windows: int
    windows_partial: int
    first_window: np.datetime64 | None
    last_window: np.datetime64 | None
    overloaded_ever: int
    overloaded_mean: float
    overloaded_max: int
    worst_window: np.datetime64 | None
    latest_window: np.datetime64 | None
    overloaded_latest: int | None
    trend_per_window: float | None
    worst: tuple[WorstEntity, ...]


class FleetWindows(NamedTuple):
    """One resource of the fleet window by window at one timescale: how many entities reported,
    how many samples against how many their sampling step gives, and how many were overloaded.

    Arrays have one element per window of the span (``window`` holds their starts, gaps
    included). ``expected_samples[j]`` is ``entities[j]`` × the window's length / ``step_s``
    (NaN when the step is unknown); ``ended[j]`` whether the window ended by the last sample
    (and one step), and ``complete[j]`` whether it also holds at least
    :data:`COMPLETE_MIN_COVERAGE` of them.
    """

    timescale: str
    resource: str
    threshold: float
    step_s: float | None
    window: np.ndarray
    entities: np.ndarray
    samples: np.ndarray
    expected_samples: np.ndarray
    ended: np.ndarray
    complete: np.ndarray
    overloaded: np.ndarray


class MultiResourceOverload(NamedTuple):
    """Entities overloaded in two or more resources during the same window, at one timescale."""

    timescale: str
    entities: int
    entity_windows: int
    worst: tuple[tuple[str, int], ...]


class OverloadReport(NamedTuple):
    """The overload report: one cell per timescale × resource, and the multi-resource counts."""

    thresholds: dict[str, float]
    share: float
    timescales: tuple[str, ...]
    resources: tuple[str, ...]
    cells: tuple[OverloadCell, ...]
    multi_resource: tuple[MultiResourceOverload, ...]
    served_by: Mapping[str, str] = MappingProxyType({})
    served_note: str = ""
    fleet: tuple[FleetWindows, ...] = ()


class WindowQuantile(NamedTuple):
    """A quantile of one entity's utilization over one window.

    The true value lies in ``[lower, upper]``; ``quantile`` is the middle of that interval. From raw
    samples the three are equal; from rollups the interval is at most one histogram bin wide
    (wider only above the top bin, where ``upper`` is the window's maximum).
    """

    entity: str
    window: np.datetime64
    samples: int
    quantile: float
    lower: float
    upper: float


class WindowHistograms(NamedTuple):
    """Histograms of utilization per (entity, window), flat: window i has ``samples[i]`` samples
    in ``[minimum[i], maximum[i]]``, counted ``counts[offsets[i]:offsets[i + 1]]`` in the bins
    ``bins[offsets[i]:offsets[i + 1]]`` (ascending; see ``HISTOGRAM_BINS_PER_UNIT``)."""

    entity: np.ndarray
    window: np.ndarray
    samples: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    offsets: np.ndarray
    bins: np.ndarray
    counts: np.ndarray


class QuantileReport(NamedTuple):
    """Per-window quantiles of utilization of one resource at one timescale.

    ``served_by`` names the rollup level (``rollup 1d``) or ``raw``. Quantiles interpolate
    linearly between order statistics (rank q·(n−1)), as numpy's default and PromQL's
    ``quantile_over_time`` do; ``bin_width`` bounds the error of a rollup answer (0 from raw).
    """

    resource: str
    timescale: str
    q: float
    served_by: str
    bin_width: float
    windows: tuple[WindowQuantile, ...]


class Dropped(NamedTuple):
    """What the store dropped (or, in a dry run, would drop) for retention: raw samples, rows per
    rollup level, and the first window each level still keeps."""

    samples: int
    rollup_rows: dict[str, int]
    kept_from: dict[str, np.datetime64]


class CompactSummary(NamedTuple):
    """What ``compact`` dropped (or, with ``dry_run``, would drop): rows older than each retention,
    counted back from ``as_of``.

    ``raw_before`` is the horizon of raw samples (``None`` when raw samples have no retention);
    ``rollup_before[level]`` the first window each level still keeps.
    """

    as_of: np.datetime64 | None
    raw_before: np.datetime64 | None
    samples_dropped: int
    rollup_rows_dropped: dict[str, int]
    rollup_before: dict[str, np.datetime64]
    dry_run: bool = False


class WindowUtilization(NamedTuple):
    """Per-(entity, window) utilization of one resource at one timescale, judgeable samples only.

    All arrays have one element per (entity, window) holding samples, ordered by entity then window:
    ``samples`` and ``at_or_above`` (samples with utilization ≥ ``threshold``) are the inputs of
    the overload rule; ``mean_utilization`` and ``max_utilization`` are what a chart draws.
    """

    timescale: str
    resource: str
    threshold: float
    entity: np.ndarray
    window: np.ndarray
    samples: np.ndarray
    at_or_above: np.ndarray
    mean_utilization: np.ndarray
    max_utilization: np.ndarray


class HeatMapRow(NamedTuple):
    """One entity of a heat map: its overload over all its windows, and its cells on the page.

    ``utilization[i]`` is the mean utilization in column ``i`` (``None`` for a gap),
    ``overloaded[i]`` whether the overload rule fired there, and ``samples[i]`` and
    ``at_or_above[i]`` the window's sample counts (all and ≥ θ; 0 in a gap) the rule was applied to.
    """

    entity: str
    windows_overloaded: int
    windows: int
    share: float
    utilization: tuple[float | None, ...]
    overloaded: tuple[bool, ...]
    samples: tuple[int, ...]
    at_or_above: tuple[int, ...]


class HeatMap(NamedTuple):
    """Entities × windows of one resource at one timescale, worst entities first, one page of each.

    ``entities`` counts every entity with judgeable samples (the rows of all pages); ``columns``
    are the window starts shown, at most a page of them, ending at the latest window by default.
    """

    timescale: str
    resource: str
    threshold: float
    share: float
    entities: int
    page: int
    page_size: int
    first_window: np.datetime64 | None
    last_window: np.datetime64 | None
    columns: tuple[np.datetime64, ...]
    rows: tuple[HeatMapRow, ...]
    served_by: str = "raw"


class ResourceOverload(NamedTuple):
    """One entity's windows of one resource at one timescale, with the overload rule applied."""

    resource: str
    threshold: float
    windows: int
    windows_overloaded: int
    window: np.ndarray
    mean_utilization: np.ndarray
    max_utilization: np.ndarray
    overloaded: np.ndarray


class ResourceUsage(NamedTuple):
    """One entity's used values of a resource it never reported a capacity for, per window at one
    timescale: no utilization, so the overload rule cannot judge it.

    ``used_unit`` is the base unit of ``mean_used`` and ``max_used`` (:data:`USED_UNITS`).
    """

    resource: str
    used_unit: str
    windows: int
    samples: int
    window: np.ndarray
    mean_used: np.ndarray
    max_used: np.ndarray


class EntityOverload(NamedTuple):
    """An entity's utilization per resource over time at one timescale (what its page plots).

    ``resources`` are the resources judged (a capacity known); ``unjudged`` those the entity has
    samples of but no capacity for, with their used values.
    """

    entity: str
    timescale: str
    share: float
    resources: tuple[ResourceOverload, ...]
    served_by: Mapping[str, str] = MappingProxyType({})
    unjudged: tuple[ResourceUsage, ...] = ()
