"""Canonical records shared by every layer: samples, entities, rejections (plain data, no I/O)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

RESOURCES = ("cpu", "memory", "disk", "network")
TIMESCALES = ("5m", "1h", "1d", "1w", "1mo")
KINDS = ("host", "vm")

# Reasons a sample, a line or a whole file is kept out of the store. Summaries count by these.
WRONG_FIELD_COUNT = "wrong field count"
NOT_A_NUMBER = "not a number"
NOT_FINITE = "not finite"
NEGATIVE_VALUE = "negative value"
BAD_CAPACITY = "zero, negative or missing capacity"
OUT_OF_ORDER = "timestamp out of order"
BAD_TIMESTAMP = "bad timestamp"
EMPTY_FILE = "empty file"
WRONG_FORMAT = "not this format"
UNREADABLE = "unreadable"
# Reasons the store itself refuses a sample (see docs/rollups.md).
TOO_LATE = "older than the back window"
COMPACTED = "older than compacted data"

# Rollup histograms of utilization: bins of 1/HISTOGRAM_BINS_PER_UNIT (1 %) from 0 up to
# HISTOGRAM_OVERFLOW_BIN / HISTOGRAM_BINS_PER_UNIT (200 %), then one overflow bin for all above.
# Bin i holds utilization u with i/100 <= u < (i+1)/100, the edges being the doubles i/100.
HISTOGRAM_BINS_PER_UNIT = 100
HISTOGRAM_OVERFLOW_BIN = 200
ROLLUP_LEVELS = ("5m", "1h", "1d")
# Live sources (collect, ingest prometheus) refuse a sample older than its series' latest less this.
DEFAULT_BACK_WINDOW_S = 7 * 86_400
# The timescales whose windows each timescale's windows nest in: a day lies in one week and one
# month, but a week may straddle two months. A level serves the timescales it nests in.
NESTS_IN = {
    "5m": ("5m", "1h", "1d", "1w", "1mo"),
    "1h": ("1h", "1d", "1w", "1mo"),
    "1d": ("1d", "1w", "1mo"),
    "1w": ("1w",),
    "1mo": ("1mo",),
}


class Samples(NamedTuple):
    """Columnar samples, all arrays of the same length.

    - ``ts``: ``datetime64[ns]``, UTC, the end of the measured interval;
    - ``entity``: object array of ``str``;
    - ``resource``: object array of ``str`` from :data:`RESOURCES`;
    - ``used``: ``float64`` in base units (cores or MHz, bytes, bytes/s, or a busy fraction);
    - ``capacity``: ``float64`` in the same unit, ``NaN`` when unknown.
    """

    ts: np.ndarray
    entity: np.ndarray
    resource: np.ndarray
    used: np.ndarray
    capacity: np.ndarray

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.ts.shape[0])

    @property
    def size(self) -> int:
        return int(self.ts.shape[0])


def make_samples(ts, entity, resource, used, capacity) -> Samples:
    """Return :class:`Samples` from array-likes; scalars for ``entity``, ``resource`` and
    ``capacity`` are broadcast to the length of ``ts``."""
    ts = np.asarray(ts, dtype="datetime64[ns]")
    n = ts.shape[0]

    def column(value, dtype):
        if np.ndim(value) == 0:
            array = np.empty(n, dtype=dtype)
            array.fill(value)  # much faster than np.full for object arrays
            return array
        array = np.asarray(value, dtype=dtype)
        if array.shape != (n,):
            raise ValueError(f"column of length {array.shape} for {n} timestamps")
        return array

    return Samples(
        ts=ts,
        entity=column(entity, object),
        resource=column(resource, object),
        used=column(used, np.float64),
        capacity=column(np.nan if capacity is None else capacity, np.float64),
    )


def no_samples() -> Samples:
    """Return an empty :class:`Samples`."""
    return make_samples(np.empty(0, "datetime64[ns]"), "", "cpu", np.empty(0), np.nan)


def concat_samples(parts: list[Samples]) -> Samples:
    """Return the samples of ``parts`` one after the other."""
    parts = [part for part in parts if part.size]
    if not parts:
        return no_samples()
    if len(parts) == 1:
        return parts[0]
    return Samples(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))


def take_samples(samples: Samples, index) -> Samples:
    """Return the samples selected by a boolean mask or an index array."""
    return Samples(*(column[index] for column in samples))


class Entity(NamedTuple):
    """Something with capacity: a host or a VM."""

    entity: str
    kind: str = "vm"
    project: str | None = None
    host: str | None = None


class Rejection(NamedTuple):
    """A line, a field or a whole file kept out of the store, and why."""

    path: str
    line: int | None
    field: str | None
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f"{self.field}: {self.reason}" if self.field else self.reason
        return f"{where}: {what}" + (f" ({self.detail})" if self.detail else "")


class Parsed(NamedTuple):
    """What a source made of one unit of input (a file, a scrape): samples and what it refused.

    ``entities`` lists every entity that ``samples`` mentions (the store trusts it when checking
    a batch for repeated samples); ``duplicates`` counts samples the source already dropped.
    """

    origin: str
    samples: Samples
    entities: tuple[Entity, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    duplicates: int = 0


class WriteResult(NamedTuple):
    """What one atomic batch added to the store.

    ``refused_by_reason`` counts the samples the store itself refused (older than the back
    window, or than what compaction dropped); ``refused_examples`` are the first of them. Both
    are also counted in ``rejected``, which counts every rejection of the batch.
    """

    batch_id: int
    samples_added: int
    duplicates: int
    rejected: int
    refused_by_reason: dict[str, int] = {}
    refused_examples: tuple[Rejection, ...] = ()


class ResourceCoverage(NamedTuple):
    """How much of a resource the store holds, fleet-wide.

    ``entities`` had at least one sample; ``without_capacity`` had samples but never a known
    capacity, so they cannot be judged. ``first_ts``/``last_ts`` cover judgeable samples only
    (``None`` when there are none); ``step_s`` is the typical sampling interval (median over entities).
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
    windows in which entity code ``i`` has judgeable samples at all. Entity codes index
    ``entity_names``.
    """

    timescale: str
    resource: str
    threshold: float
    entity_names: np.ndarray
    entity_windows: np.ndarray
    entity: np.ndarray
    window: np.ndarray
    samples: np.ndarray
    at_or_above: np.ndarray
    first_window: np.datetime64 | None
    last_window: np.datetime64 | None


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


class WorstEntity(NamedTuple):
    """An entity and the share of its windows (with data) in which it was overloaded."""

    entity: str
    share: float
    windows_overloaded: int
    windows: int


class OverloadCell(NamedTuple):
    """The overload report of one timescale and one resource (see DESIGN: overload report)."""

    timescale: str
    resource: str
    threshold: float
    share: float
    entities: int
    without_capacity: int
    windows: int
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
    served_by: dict[str, str] = {}
    served_note: str = ""


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


class CompactSummary(NamedTuple):
    """What ``compact`` dropped: rows older than each retention, counted back from ``as_of``.

    ``raw_before`` is the horizon of raw samples (``None`` when raw samples have no retention);
    ``rollup_before[level]`` the first window each level still keeps.
    """

    as_of: np.datetime64 | None
    raw_before: np.datetime64 | None
    samples_dropped: int
    rollup_rows_dropped: dict[str, int]
    rollup_before: dict[str, np.datetime64]


# --- Notification bus: events, dead letters, operations -------------------------------------

# Reasons a notification is dead-lettered instead of stored.
NOT_JSON = "not JSON"
NOT_AN_OBJECT = "not a JSON object"
WRONG_ENVELOPE = "wrong envelope"
NO_EVENT_TYPE = "no event type"
BAD_PAYLOAD = "payload is not an object"

# Outcomes of an operation.
SUCCESS = "success"
ERROR = "error"
TIMED_OUT = "timed_out"
RUNNING = "running"
OUTCOMES = (SUCCESS, ERROR, TIMED_OUT, RUNNING)


class Event(NamedTuple):
    """One notification from the bus, reduced to what operation timings need.

    ``ts`` is a timezone-aware UTC ``datetime`` (the notification's own timestamp); every other
    field is ``None`` when the message does not carry it. ``message_id`` identifies the message
    (its oslo ``message_id``, or a digest of its text when it has none): two events with the same
    ``message_id`` are one event.
    """

    ts: object
    event_type: str
    instance: str | None
    request_id: str | None
    host: str | None
    project: str | None
    flavor: str | None
    state: str | None
    fault: str | None
    message_id: str


class DeadLetter(NamedTuple):
    """A message that could not be read as a notification, kept with the reason.

    ``origin`` says where it came from (a queue name, or ``file:line``); ``digest`` identifies the
    text so a redelivered message is kept once.
    """

    received: object
    origin: str
    reason: str
    detail: str
    body: str
    digest: str


class NotificationsSummary(NamedTuple):
    """What an ingest of notifications (a file, or a listener's run) read, added and refused."""

    messages: int
    events_added: int
    duplicates: int
    dead_letters: int
    dead_by_reason: dict[str, int]
    dead_examples: tuple[DeadLetter, ...]
    batches: int


class OperationTimings(NamedTuple):
    """Per-window operation statistics and the parameters they were computed with."""

    timescale: str
    by: str | None
    operation: str | None
    timeout_s: float
    as_of: object  # pandas Timestamp (UTC), or None when the store holds no events
    operations: int
    stats: object  # pandas DataFrame, one row per window × operation (× group)
    failures: object  # pandas DataFrame: operation, fault, count


# States of a scraped target.
UP, DOWN, PENDING = "up", "down", "pending"


class TargetStatus(NamedTuple):
    """How scraping one exporter target goes: ``state`` is up, down or pending.

    Times are ns since the epoch (UTC), ``None`` when never; ``samples`` counts what it gave so far.
    """

    target: str
    exporter: str
    state: str = PENDING
    last_attempt_ns: int | None = None
    last_success_ns: int | None = None
    last_error: str | None = None
    failures: int = 0
    next_attempt_ns: int = 0
    samples: int = 0

    def lag_s(self, now_ns: int) -> float | None:
        """Seconds since the last successful scrape, ``None`` when there was none."""
        return None if self.last_success_ns is None else (now_ns - self.last_success_ns) / 1e9


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

    ``utilization[i]`` is the mean utilization in column ``i`` (``None`` for a gap) and
    ``overloaded[i]`` whether the overload rule fired there.
    """

    entity: str
    windows_overloaded: int
    windows: int
    share: float
    utilization: tuple[float | None, ...]
    overloaded: tuple[bool, ...]


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


class EntityOverload(NamedTuple):
    """An entity's utilization per resource over time at one timescale (what its page plots)."""

    entity: str
    timescale: str
    share: float
    resources: tuple[ResourceOverload, ...]
    served_by: dict[str, str] = {}
