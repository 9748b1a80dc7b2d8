"""SQL window starts agree with numpy's on every timescale, at the edges where calendars turn."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from stackmeter.analysis.windows import window_start
from stackmeter.models import TIMESCALE_TABLE, Timescale
from stackmeter.store.duckdb.sql import datetime_of, timescale_floor_sql, us_of, window_start_sql

US = np.timedelta64(1, "us")
# Month ends, leap days, year ends, a Monday at midnight and the Sunday before, the epoch and
# the end of the time domain; each also a microsecond before and after.
EDGES = np.array(
    [
        "1970-01-01T00:00:00",
        "1970-01-04T23:59:59.999999",  # a Sunday
        "1970-01-05T00:00:00",  # a Monday
        "2012-02-29T00:00:00",
        "2012-02-29T12:34:56.789012",
        "2012-03-01T00:00:00",
        "2013-07-31T23:59:59.999999",
        "2013-08-01T00:00:00",
        "2013-09-01T22:02:56",
        "2015-12-31T23:59:59.999999",
        "2016-01-01T00:00:00",
        "2016-02-29T23:59:59.999999",
        "2016-03-01T00:00:00",
        "2024-01-01T00:00:00",  # a Monday and a year start
        "2024-12-29T23:59:59",  # a Sunday
        "2024-12-30T00:00:00",  # a Monday in a week straddling two years
        "2199-12-31T00:00:00",
        "2199-12-31T23:59:59.999999",
    ],
    dtype="datetime64[us]",
)
TIMES = np.unique(np.concatenate([EDGES - US, EDGES, EDGES + US]))


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


def sql_floors(con, timescale: Timescale, times: np.ndarray) -> np.ndarray:
    us = [int(t) for t in times.astype(np.int64)]
    rows = con.execute(
        f"SELECT {timescale_floor_sql(timescale, 'x')} FROM (SELECT unnest(?::BIGINT[]) AS x, "
        "generate_subscripts(?::BIGINT[], 1) AS i) ORDER BY i",
        [us, us],
    ).fetchall()
    return np.array([datetime_of(row[0]) for row in rows], dtype="datetime64[ns]")


@pytest.mark.parametrize("timescale", TIMESCALE_TABLE, ids=lambda t: t.name)
def test_sql_window_starts_equal_numpy_ones_on_every_timescale(con, timescale):
    expected = window_start(TIMES.astype("datetime64[ns]"), timescale.name)
    np.testing.assert_array_equal(sql_floors(con, timescale, TIMES), expected)
    assert window_start_sql(timescale.name, "x") == timescale_floor_sql(timescale, "x")


@pytest.mark.parametrize("months", [2, 3, 12])
def test_windows_of_several_months_count_from_january_1970(con, months):
    quarter = Timescale(f"{months}mo", None, months * 2_629_746, months=months)
    in_months = TIMES.astype("datetime64[M]").astype(np.int64)
    expected = ((in_months // months) * months).astype("datetime64[M]").astype("datetime64[ns]")
    np.testing.assert_array_equal(sql_floors(con, quarter, TIMES), expected)


def test_times_cross_to_sql_and_back_to_the_microsecond():
    for t in TIMES:
        assert datetime_of(us_of(t)) == t
    assert datetime_of(None) is None
