"""Tumbling UTC windows: 5m and 1h since the epoch, days, Monday weeks, calendar months."""

from __future__ import annotations

import numpy as np

from stackmeter.errors import ConfigError
from stackmeter.models import TIMESCALES

_NS_PER_S = 1_000_000_000
# 1970-01-01 was a Thursday: Monday 1969-12-29 is 3 days before the epoch.
_MONDAY_OFFSET_S = 3 * 86_400


def _floor_seconds(length_s: int, offset_s: int = 0):
    def start(ts: np.ndarray) -> np.ndarray:
        seconds = ts.astype("datetime64[s]").astype(np.int64) + offset_s
        return ((seconds // length_s) * length_s - offset_s).astype("datetime64[s]").astype("datetime64[ns]")

    def advance(starts: np.ndarray, count: int | np.ndarray = 1) -> np.ndarray:
        return starts + np.asarray(count, dtype=np.int64) * np.timedelta64(length_s, "s")

    return start, advance


def _month_start(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[M]").astype("datetime64[ns]")


def _month_advance(starts: np.ndarray, count: int | np.ndarray = 1) -> np.ndarray:
    months = starts.astype("datetime64[M]") + np.asarray(count, dtype=np.int64)
    return months.astype("datetime64[ns]")


_GROUPINGS = {
    "5m": _floor_seconds(300),
    "1h": _floor_seconds(3_600),
    "1d": _floor_seconds(86_400),
    "1w": _floor_seconds(7 * 86_400, _MONDAY_OFFSET_S),
    "1mo": (_month_start, _month_advance),
}

# Nominal lengths, for display and for choosing step sizes; months vary.
TIMESCALE_SECONDS = {"5m": 300, "1h": 3_600, "1d": 86_400, "1w": 604_800, "1mo": 2_629_746}


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
    if timescale == "1mo":
        return (starts.astype("datetime64[M]") - np.datetime64(first_start, "M")).astype(np.int64)
    length_ns = TIMESCALE_SECONDS[check_timescale(timescale)] * _NS_PER_S
    return ((starts - np.datetime64(first_start, "ns")).astype(np.int64)) // length_ns


def window_starts_between(
    first_start: np.datetime64, last_start: np.datetime64, timescale: str
) -> np.ndarray:
    """Return every window start from ``first_start`` to ``last_start`` inclusive."""
    count = int(window_index(np.array([last_start]), first_start, timescale)[0]) + 1
    _, advance = _GROUPINGS[check_timescale(timescale)]
    return advance(np.full(count, first_start, dtype="datetime64[ns]"), np.arange(count))
