"""Samples and what reading them gives: entities, rejections and their reasons, write results."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

RESOURCES = ("cpu", "memory", "disk", "network")
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
# A compressed file cut short or corrupt: its readable lines land, the rest is this one refusal.
TRUNCATED_FILE = "truncated file"
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


class SampleSpan(NamedTuple):
    """The times of the oldest and newest samples a store has received (``None`` before any)."""

    first: np.datetime64 | None
    last: np.datetime64 | None


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

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def size(self) -> int:
        return int(self.ts.shape[0])


def make_samples(
    ts: ArrayLike, entity: ArrayLike, resource: ArrayLike, used: ArrayLike, capacity: ArrayLike
) -> Samples:
    """Return :class:`Samples` from array-likes; scalars for ``entity``, ``resource`` and
    ``capacity`` are broadcast to the length of ``ts``."""
    ts = np.asarray(ts, dtype="datetime64[ns]")
    n = ts.shape[0]

    def column(value: npt.ArrayLike, dtype: npt.DTypeLike) -> np.ndarray:
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


def take_samples(samples: Samples, index: np.ndarray) -> Samples:
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
    refused_by_reason: Mapping[str, int] = MappingProxyType({})
    refused_examples: tuple[Rejection, ...] = ()
