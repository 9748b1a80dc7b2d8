"""Times between Python and SQL: ``datetime64[ns]`` <-> epoch µs, and SQL window starts from the timescale table."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from stackmeter.models import TIMESCALE_BY_NAME, Timescale

_US_PER_S = 1_000_000


def floor_sql(column_us: str, length_us: int, offset_us: int = 0) -> str:
    """SQL flooring epoch microseconds to a multiple of ``length_us`` less ``offset_us`` (also below zero)."""
    c, n = column_us, length_us
    return f"({c} - ((({c} + {offset_us}) % {n}) + {n}) % {n})"


def timescale_floor_sql(timescale: Timescale, column_us: str) -> str:
    """SQL of the start (epoch µs, UTC) of the ``timescale`` window holding ``column_us``, as
    :func:`stackmeter.analysis.windows.window_start` computes it in numpy."""
    if timescale.length_s is not None:
        return floor_sql(column_us, timescale.length_s * _US_PER_S, timescale.offset_s * _US_PER_S)
    if timescale.months == 1:
        return f"epoch_us(date_trunc('month', make_timestamp({column_us})))"
    # Calendar windows of several months, counted from January 1970.
    t = f"make_timestamp({column_us})"
    months = f"((year({t}) - 1970) * 12 + month({t}) - 1)"
    first = f"({months} - ((({months}) % {timescale.months}) + {timescale.months}) % {timescale.months})"
    return f"epoch_us(TIMESTAMP '1970-01-01' + to_months({first}::INTEGER))"


def window_start_sql(timescale: str, column_us: str) -> str:
    """SQL of the start (epoch µs, UTC) of the window of the named ``timescale`` holding ``column_us``."""
    return timescale_floor_sql(TIMESCALE_BY_NAME[timescale], column_us)


def time_of(us: int) -> np.datetime64:
    """Epoch microseconds from SQL as a ``datetime64[ns]``."""
    return np.datetime64(int(us), "us").astype("datetime64[ns]")


def datetime_of(us: int | None) -> np.datetime64 | None:
    """Epoch microseconds from SQL as a ``datetime64[ns]`` (``None`` stays ``None``)."""
    return None if us is None else time_of(us)


def times_of(us: object) -> np.ndarray:
    """An array of epoch microseconds from SQL (times, window starts) as ``datetime64[ns]``."""
    return np.asarray(us, dtype=np.int64).astype("datetime64[us]").astype("datetime64[ns]")


def utc_windows_of(window_us: object) -> pd.DatetimeIndex:
    """An array of epoch microseconds from SQL as window starts of a pandas frame (``datetime64[ns, UTC]``)."""
    return pd.DatetimeIndex(times_of(window_us)).tz_localize("UTC")


def utc_times_of(column: pd.Series) -> pd.Series:
    """A ``TIMESTAMPTZ`` column read from SQL into pandas as ``datetime64[ns, UTC]``."""
    return pd.to_datetime(column, utc=True).astype("datetime64[ns, UTC]")


def us_of(value: np.datetime64) -> int:
    """A time as epoch microseconds (floored), for SQL parameters."""
    return int(np.asarray(value, dtype="datetime64[us]").astype(np.int64))


def optional_us_of(value: np.datetime64 | None) -> int | None:
    """A time as epoch microseconds (floored), for SQL parameters; ``None`` stays ``None``."""
    return None if value is None else us_of(value)


def timestamp_array(values: object) -> pa.Array:
    """Times (``datetime64``) as an Arrow ``timestamp[us, UTC]`` column (floored to the µs), for writes
    to ``TIMESTAMPTZ`` columns."""
    return pa.array(np.asarray(values, dtype="datetime64[us]"), pa.timestamp("us", tz="UTC"))


def timestamp_param(value: np.datetime64 | int) -> datetime:
    """A time (or epoch µs) as a naive UTC ``datetime``, for ``TIMESTAMPTZ`` parameters (the
    store's connections are set to UTC)."""
    return np.asarray(value, dtype="datetime64[us]").item()


def utc_literal(ts: np.datetime64) -> str:
    """A time as a SQL ``TIMESTAMPTZ`` literal text, to the microsecond."""
    return str(np.datetime_as_string(np.asarray(ts, dtype="datetime64[us]"), unit="us")) + "Z"
