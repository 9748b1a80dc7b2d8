"""What stackmeter accepts: times from 1970 to 2200 UTC, and values a real system can report.

Every door (trace files, scrapes, server answers, messages, options, parameters) checks its input
against these bounds, and the store checks again before it writes, so that a time never wraps
around the nanosecond clock and a value no system reports never reaches a report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from stackmeter.models.samples import BAD_CAPACITY, NEGATIVE_VALUE, NOT_FINITE

# Times accepted, as UTC nanoseconds since the epoch: [TIME_MIN_NS, TIME_MAX_NS). Nanosecond
# datetimes hold about 1677 to 2262; the domain stays well inside, so that a time plus a window,
# a retention or a back window never leaves that range either.
TIME_MIN_NS = 0  # 1970-01-01T00:00:00Z
TIME_MAX_NS = 7_258_118_400 * 10**9  # 2200-01-01T00:00:00Z
TIME_MIN = np.datetime64(TIME_MIN_NS, "ns")
TIME_MAX = np.datetime64(TIME_MAX_NS, "ns")
TIME_MIN_S = TIME_MIN_NS / 1e9
TIME_MAX_S = TIME_MAX_NS / 1e9
TIME_DOMAIN = "1970-01-01 to 2200-01-01 UTC"
# The longest duration that makes sense between two accepted times (retentions, back windows).
MAX_DURATION_S = TIME_MAX_S - TIME_MIN_S

# Plausibility: a sample using more than MAX_UTILIZATION times its capacity, or a used value or
# capacity above MAX_VALUE of its resource (in base units), is not a measurement: a CPU at a
# million percent, or a disk moving a petabyte a second. Bounds are generous on purpose: a
# capacity an operator gives for a disk or a network may be off by orders of magnitude, and
# that should show as overload, not vanish; the bounds stop only numbers no system reports,
# far below where sums and histograms lose their meaning.
MAX_UTILIZATION = 10_000.0
MAX_VALUE = {
    "cpu": 1e9,  # cores, or MHz (a million 1 GHz cores)
    "memory": 2.0**60,  # bytes: an exbibyte
    "disk": 1e15,  # bytes/s (a petabyte a second), or a busy fraction
    "network": 1e15,  # bytes/s: 8 Pbit/s
}
# The base unit of a resource's used values, as the sources write them.
USED_UNITS = {"cpu": "cores or MHz", "memory": "bytes", "disk": "bytes/s", "network": "bytes/s"}
# The highest threshold θ a report takes (100 times the capacity).
MAX_THRESHOLD = 100.0

# Reasons a sample or a time is refused (counted in ingest summaries like the others).
OUT_OF_TIME_DOMAIN = "time out of range"
IMPLAUSIBLE = "implausible"


def in_time_domain_ns(ns: np.ndarray | int) -> np.ndarray | bool:
    """Whether UTC nanoseconds since the epoch lie in the accepted time domain."""
    return (np.asarray(ns) >= TIME_MIN_NS) & (np.asarray(ns) < TIME_MAX_NS)


def in_time_domain_s(seconds: np.ndarray | float) -> np.ndarray | bool:
    """Whether UTC seconds since the epoch (floats, NaN is not) lie in the accepted time domain."""
    seconds = np.asarray(seconds, dtype=np.float64)
    return (seconds >= TIME_MIN_S) & (seconds < TIME_MAX_S)


def describe_out_of_domain_s(seconds: float) -> str:
    """Say why a time (seconds since the epoch) is refused: ``1e+11 s since 1970 is after 2200-01-01``."""
    side = "before 1970-01-01" if seconds < TIME_MIN_S else "on or after 2200-01-01"
    return f"{seconds:g} s since 1970 is {side}"


def implausible_samples(resource: np.ndarray, used: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Return a mask of the samples no real system reports (see :data:`MAX_VALUE`).

    ``used`` and ``capacity`` must already be finite and not negative where they are set;
    ``capacity`` is ``NaN`` when unknown. A resource stackmeter does not know has no bound here.
    """
    codes, names = pd.factorize(np.asarray(resource, dtype=object))
    bound = resource_bounds(names)[codes]
    with np.errstate(invalid="ignore", over="ignore"):
        too_much = (used > bound) | (capacity > bound)
        too_busy = used > MAX_UTILIZATION * capacity
    return too_much | (too_busy & ~np.isnan(capacity))


def describe_implausible(resource: str, used: float, capacity: float) -> str:
    """Say why one sample is implausible, with its numbers."""
    bound = MAX_VALUE.get(resource, np.inf)
    if used > bound:
        return f"used {used:g} above {bound:g}"
    if capacity > bound:
        return f"capacity {capacity:g} above {bound:g}"
    return f"utilization {float(used) / float(capacity):g} above {MAX_UTILIZATION:g}"


def utf8_text(text: str) -> str:
    """Return ``text`` as valid UTF-8 text: bytes that were not UTF-8 (a file name's, kept by
    Python as surrogate escapes) are shown as backslash escapes, ``caf\\xe9``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def resource_bounds(names: Sequence[str] | np.ndarray) -> np.ndarray:
    """Return the :data:`MAX_VALUE` of each resource name, ``NaN`` for a name stackmeter does not
    know; one more ``NaN`` at the end, so that ``resource_bounds(names)[codes]`` of a factorization
    maps its missing code (-1) to ``NaN``."""
    return np.array([MAX_VALUE.get(name, np.nan) for name in names] + [np.nan], dtype=np.float64)


def invalid_samples(
    ts_ns: np.ndarray, bound: np.ndarray, used: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the samples that may not enter the store, and the reason of each.

    The store's last check, whatever the source: a time outside the domain, an unknown resource
    (``bound`` is ``NaN``), a ``used`` that is not a finite number of at least 0, a capacity that
    is not ``NaN`` or a finite number above 0, or an implausible value.

    :param bound: per sample, the :data:`MAX_VALUE` of its resource (see :func:`resource_bounds`)
    """
    with np.errstate(invalid="ignore", over="ignore"):
        checks: tuple[tuple[np.ndarray, str], ...] = (
            (~np.asarray(in_time_domain_ns(ts_ns)), OUT_OF_TIME_DOMAIN),
            (np.isnan(bound), "unknown resource"),
            (~np.isfinite(used), NOT_FINITE),
            (used < 0, NEGATIVE_VALUE),
            (~np.isnan(capacity) & ~((capacity > 0) & np.isfinite(capacity)), BAD_CAPACITY),
            ((used > bound) | (capacity > bound) | (used > MAX_UTILIZATION * capacity), IMPLAUSIBLE),
        )
        bad = np.zeros(ts_ns.shape, dtype=bool)
        for mask, _ in checks:
            bad |= mask
        index = np.flatnonzero(bad)
        reasons: np.ndarray = np.full(index.size, "", dtype=object)
        for mask, reason in checks:
            hit = mask[index] & (reasons == "")
            reasons[hit] = reason
    return index, reasons
