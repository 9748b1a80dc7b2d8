"""UTC window starts in SQL: windows of 5m, 1h, 1d and 1w are multiples of their length since
the epoch (weeks start on Monday); months follow the calendar."""

from __future__ import annotations

import numpy as np

US = {"5m": 300_000_000, "1h": 3_600_000_000, "1d": 86_400_000_000, "1w": 604_800_000_000}
MONDAY_US = 3 * 86_400_000_000  # 1970-01-01 was a Thursday


def floor_sql(column: str, length_us: int, offset_us: int = 0) -> str:
    """SQL flooring epoch microseconds to a multiple of ``length_us`` (also below zero)."""
    return f"({column} - ((({column} + {offset_us}) % {length_us}) + {length_us}) % {length_us})"


def window_start_sql(timescale: str, column_us: str) -> str:
    """SQL of the start (epoch µs, UTC) of the ``timescale`` window holding ``column_us``."""
    if timescale == "1mo":
        return f"epoch_us(date_trunc('month', make_timestamp({column_us})))"
    return floor_sql(column_us, US[timescale], MONDAY_US if timescale == "1w" else 0)


def datetime_of(us) -> np.datetime64 | None:
    """Epoch microseconds from SQL as a ``datetime64[ns]`` (``None`` stays ``None``)."""
    return None if us is None else np.datetime64(int(us), "us").astype("datetime64[ns]")


def windows_of(window_us) -> np.ndarray:
    """An array of epoch microseconds from SQL as ``datetime64[ns]`` window starts."""
    return np.asarray(window_us, dtype=np.int64).astype("datetime64[us]").astype("datetime64[ns]")


def us_of(value: np.datetime64) -> int:
    """A time as epoch microseconds, for SQL parameters."""
    return int(np.datetime64(value, "us").astype(np.int64))
