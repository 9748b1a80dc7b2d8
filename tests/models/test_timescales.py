"""The views derived from the timescale table are the facts the code was written against."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.windows import window_end, window_start
from stackmeter.models import DEFAULT_TIMESCALES, NESTS_IN, TIMESCALE_SECONDS, TIMESCALE_TABLE, TIMESCALES
from stackmeter.models.timescales import Timescale, nests_in


def test_names_order_and_default():
    assert TIMESCALES == ("5m", "1h", "1d", "1w", "1mo")
    assert DEFAULT_TIMESCALES == "5m,1h,1d,1w,1mo"


def test_nesting_is_that_of_utc_windows():
    # A day lies in one week and one month; a week may straddle two months.
    assert dict(NESTS_IN) == {
        "5m": ("5m", "1h", "1d", "1w", "1mo"),
        "1h": ("1h", "1d", "1w", "1mo"),
        "1d": ("1d", "1w", "1mo"),
        "1w": ("1w",),
        "1mo": ("1mo",),
    }


def test_nominal_lengths():
    assert dict(TIMESCALE_SECONDS) == {"5m": 300, "1h": 3_600, "1d": 86_400, "1w": 604_800, "1mo": 2_629_746}


@pytest.mark.parametrize("timescale", TIMESCALE_TABLE, ids=lambda t: t.name)
def test_counts_are_summed_from_a_finer_timescale_that_nests(timescale):
    if timescale.counted_from != "samples":
        finer = next(t for t in TIMESCALE_TABLE if t.name == timescale.counted_from)
        assert TIMESCALES.index(finer.name) < TIMESCALES.index(timescale.name)
        assert nests_in(finer, timescale)


def test_nesting_rule_holds_for_timescales_not_in_the_table():
    quarter_hour = Timescale("15m", 900, 900)
    year = Timescale("1y", None, 31_556_952, months=12)
    quarter = Timescale("3mo", None, 7_889_238, months=3)
    by_name = {t.name: t for t in TIMESCALE_TABLE}
    assert nests_in(by_name["5m"], quarter_hour) and nests_in(quarter_hour, by_name["1h"])
    assert not nests_in(by_name["1h"], quarter_hour)
    assert nests_in(quarter_hour, year) and nests_in(by_name["1mo"], year) and nests_in(quarter, year)
    assert not nests_in(by_name["1w"], year) and not nests_in(year, by_name["1mo"])


@pytest.mark.parametrize("timescale", TIMESCALES)
def test_every_window_holds_its_start_and_ends_where_the_next_begins(timescale):
    ts = np.array(["2012-02-29T23:59:59", "2013-12-31T23:59:59.999999", "2024-07-01T00:00"], "datetime64[ns]")
    starts = window_start(ts, timescale)
    ends = window_end(starts, timescale)
    assert np.all(starts <= ts) and np.all(ts < ends)
    assert np.array_equal(window_start(ends, timescale), ends)
