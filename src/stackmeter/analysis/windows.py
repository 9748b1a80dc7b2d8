"""Tumbling UTC windows: 5m and 1h since the epoch, days, Monday weeks, calendar months."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stackmeter.errors import ConfigError
from stackmeter.models import TIMESCALE_BY_NAME, TIMESCALE_TABLE, TIMESCALES

_NS_PER_S = 1_000_000_000


def _floor_seconds(length_s: int, offset_s: int = 0) -> tuple[_Start, _Advance]:
    def start(ts: np.ndarray) -> np.ndarray:
        seconds = ts.astype("datetime64[s]").astype(np.int64) + offset_s
        return ((seconds // length_s) * length_s - offset_s).astype("datetime64[s]").astype("datetime64[ns]")

    def advance(starts: np.ndarray, count: int | np.ndarray = 1) -> np.ndarray:
        return starts + np.asarray(count, dtype=np.int64) * np.timedelta64(length_s, "s")

    return start, advance


def _floor_months(months: int) -> tuple[_Start, _Advance]:
    def start(ts: np.ndarray) -> np.ndarray:
        since_1970 = ts.astype("datetime64[M]").astype(np.int64)
        return ((since_1970 // months) * months).astype("datetime64[M]").astype("datetime64[ns]")

    def advance(starts: np.ndarray, count: int | np.ndarray = 1) -> np.ndarray:
        shifted = starts.astype("datetime64[M]") + np.asarray(count, dtype=np.int64) * months
        return shifted.astype("datetime64[ns]")

    return start, advance


_Start = Callable[[np.ndarray], np.ndarray]
_Advance = Callable[..., np.ndarray]
_GROUPINGS = {
    t.name: _floor_months(t.months) if t.length_s is None else _floor_seconds(t.length_s, t.offset_s)
    for t in TIMESCALE_TABLE
}


def check_timescale(timescale: str) -> str:
    """Return ``timescale`` if it is one of :data:`TIMESCALES`, else raise :class:`ConfigError`."""
    if timescale not in _GROUPINGS:
        raise ConfigError(f"unknown timescale {timescale!r}; valid: {', '.join(TIMESCALES)}", "timescale")
    return timescale


def parse_timescales(text: str) -> tuple[str, ...]:
    """Return the timescales of a comma-separated list such as ``"1h,1d"``, in canonical order."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"no timescale given; valid: {', '.join(TIMESCALES)}", "timescale")
    for name in names:
        check_timescale(name)
    return tuple(name for name in TIMESCALES if name in names)


def window_start(ts: np.ndarray, timescale: str) -> np.ndarray:
    """Return the start (``datetime64[ns]``) of the window of ``timescale`` holding each ``ts``."""
    start, _ = _GROUPINGS[check_timescale(timescale)]
    return start(np.asarray(ts, dtype="datetime64[ns]"))


def window_end(starts: np.ndarray, timescale: str) -> np.ndarray:
    """Return the (exclusive) end of windows given by their starts."""
    _, advance = _GROUPINGS[check_timescale(timescale)]
    return advance(np.asarray(starts, dtype="datetime64[ns]"))


def window_index(starts: np.ndarray, first_start: np.datetime64, timescale: str) -> np.ndarray:
    """Return, for each window start, how many windows after ``first_start`` it begins (0-based)."""
    starts = np.asarray(starts, dtype="datetime64[ns]")
    months = TIMESCALE_BY_NAME[check_timescale(timescale)].months
    if months:
        return (starts.astype("datetime64[M]") - np.datetime64(first_start).astype("datetime64[M]")).astype(
            np.int64
        ) // months
    length_ns = (TIMESCALE_BY_NAME[timescale].length_s or 0) * _NS_PER_S
    return ((starts - np.datetime64(first_start).astype("datetime64[ns]")).astype(np.int64)) // length_ns


def window_starts_between(
    first_start: np.datetime64, last_start: np.datetime64, timescale: str
) -> np.ndarray:
    """Return every window start from ``first_start`` to ``last_start`` inclusive."""
    count = int(window_index(np.array([last_start]), first_start, timescale)[0]) + 1
    _, advance = _GROUPINGS[check_timescale(timescale)]
    return advance(np.full(count, first_start, dtype="datetime64[ns]"), np.arange(count))
