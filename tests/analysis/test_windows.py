"""Window alignment: epoch multiples, UTC midnight, Monday weeks, calendar months."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.windows import (
    parse_timescales,
    window_end,
    window_index,
    window_start,
    window_starts_between,
)
from stackmeter.errors import ConfigError


@pytest.mark.parametrize(
    "ts, timescale, start, end",
    [
        ("2013-08-01T10:07:13", "5m", "2013-08-01T10:05", "2013-08-01T10:10"),
        ("2013-08-01T10:05:00", "5m", "2013-08-01T10:05", "2013-08-01T10:10"),
        ("2013-08-01T10:04:59.999", "5m", "2013-08-01T10:00", "2013-08-01T10:05"),
        ("2013-08-01T10:59:59", "1h", "2013-08-01T10:00", "2013-08-01T11:00"),
        ("2013-08-01T23:59:59", "1d", "2013-08-01T00:00", "2013-08-02T00:00"),
        ("2013-08-04T23:59:59", "1w", "2013-07-29T00:00", "2013-08-05T00:00"),  # Sunday
        ("2013-08-05T00:00:00", "1w", "2013-08-05T00:00", "2013-08-12T00:00"),  # Monday
        ("1970-01-01T00:00:00", "1w", "1969-12-29T00:00", "1970-01-05T00:00"),
        ("1969-12-31T23:59:59", "1h", "1969-12-31T23:00", "1970-01-01T00:00"),
        ("2016-02-29T12:00:00", "1mo", "2016-02-01T00:00", "2016-03-01T00:00"),
        ("2013-12-31T23:59:59", "1mo", "2013-12-01T00:00", "2014-01-01T00:00"),
    ],
)
def test_window_of_a_time(ts, timescale, start, end):
    got = window_start(np.array([ts], dtype="datetime64[ns]"), timescale)
    assert got[0] == np.datetime64(start, "ns")
    assert window_end(got, timescale)[0] == np.datetime64(end, "ns")


def test_windows_between_and_their_index():
    starts = window_starts_between(
        np.datetime64("2013-07-01", "ns"), np.datetime64("2013-09-01", "ns"), "1mo"
    )
    assert list(starts.astype("datetime64[M]").astype(str)) == ["2013-07", "2013-08", "2013-09"]
    np.testing.assert_array_equal(window_index(starts, starts[0], "1mo"), [0, 1, 2])
    days = window_starts_between(np.datetime64("2011-03-03", "ns"), np.datetime64("2011-03-06", "ns"), "1d")
    np.testing.assert_array_equal(window_index(days, days[0], "1d"), [0, 1, 2, 3])


def test_timescales_are_parsed_in_canonical_order():
    assert parse_timescales("1d, 5m") == ("5m", "1d")


@pytest.mark.parametrize("text", ["", "1y", "5m,2h"])
def test_unknown_timescales_name_the_valid_ones(text):
    with pytest.raises(ConfigError, match="5m, 1h, 1d, 1w, 1mo"):
        parse_timescales(text)
