"""`compact`: raw samples and each rollup level kept for their own retention, and what that changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stackmeter import operations
from stackmeter.errors import ConfigError, StoreError
from stackmeter.models import COMPACTED, Entity, Parsed, make_samples
from stackmeter.settings import parse_retention
from stackmeter.store import open_store
from tests.reference import FIXTURES, read_bitbrains, window_of
from tests.store.sql import connection_of

BITBRAINS = FIXTURES / "bitbrains"
DAY_S = 86_400.0
RETENTION = {"raw": 20 * DAY_S, "5m": 20 * DAY_S, "1h": 45 * DAY_S, "1d": 3650 * DAY_S}
TIMESCALES = "5m,1h,1d,1w,1mo"


@pytest.fixture()
def store():
    store = open_store(":memory:")
    operations.ingest(store, "bitbrains", [BITBRAINS])
    yield store
    store.close()


@pytest.fixture(scope="module")
def raw():
    return read_bitbrains(sorted(BITBRAINS.rglob("*.csv.gz")), None, None)


def level_rows(store, level: str) -> tuple[int, int]:
    """The first window (epoch µs) and the row count of a level."""
    return connection_of(store).execute(f"SELECT min(window_us), count(*) FROM rollup_{level}").fetchall()[0]


def test_compact_drops_what_each_retention_no_longer_keeps(store, raw):
    before = {level: level_rows(store, level)[1] for level in ("5m", "1h", "1d")}
    summary = operations.compact(store, RETENTION)

    newest = raw["ts"].max()
    assert pd.Timestamp(summary.as_of) == newest
    raw_before = newest - pd.Timedelta(days=20)
    assert pd.Timestamp(summary.raw_before) == raw_before
    assert summary.samples_dropped == int((raw["ts"] < raw_before).sum())
    assert store.read_status().samples == int((raw["ts"] >= raw_before).sum())
    # A level keeps every window that ends after its horizon: the horizon's own window stays.
    assert pd.Timestamp(summary.rollup_before["5m"]) == raw_before.floor("5min")
    assert pd.Timestamp(summary.rollup_before["1h"]) == (newest - pd.Timedelta(days=45)).floor("1h")
    assert summary.rollup_rows_dropped["1d"] == 0
    for level in ("5m", "1h"):
        first, rows = level_rows(store, level)
        assert np.datetime64(first, "us") == summary.rollup_before[level]
        assert rows == before[level] - summary.rollup_rows_dropped[level]


def test_reports_from_rollups_outlive_the_raw_samples(store, raw):
    before = operations.overload_report(store, TIMESCALES)
    operations.compact(store, RETENTION)
    after = operations.overload_report(store, TIMESCALES)
    assert after.served_by == before.served_by
    # Days, weeks and months keep their whole history in the 1d level.
    for old, new in zip(before.cells, after.cells, strict=True):
        if old.timescale in ("1d", "1w", "1mo"):
            assert new == old
    # Compared with pandas over the samples that are left, raw samples lost most of it.
    from_raw = operations.overload_report(store, "1d", ("cpu",), from_raw=True)
    kept = raw[(raw["ts"] >= raw["ts"].max() - pd.Timedelta(days=20)) & (raw["resource"] == "cpu")]
    days = window_of(kept["ts"], "1d")
    assert from_raw.cells[0].windows == len(pd.date_range(days.min(), days.max(), freq="1D"))
    assert from_raw.cells[0].windows < after.cells[[c.timescale for c in after.cells].index("1d")].windows


def test_after_compaction_the_report_totals_sum_what_the_levels_still_hold(store):
    operations.compact(store, RETENTION)
    kept = operations.overload_report(store, TIMESCALES, fleet=True)
    con = connection_of(store)
    assert set(con.execute("SELECT timescale FROM report_timescales").fetchall()) == {
        (t,) for t in TIMESCALES.split(",")
    }
    # Without the totals every timescale is summed from its level's rows that are left.
    con.execute("BEGIN")
    con.execute("DELETE FROM report_timescales")
    scanned = operations.overload_report(store, TIMESCALES, fleet=True)
    con.execute("ROLLBACK")
    assert kept.cells == scanned.cells and kept.multi_resource == scanned.multi_resource
    for got, expected in zip(kept.fleet, scanned.fleet, strict=True):
        np.testing.assert_array_equal(got.window, expected.window)
        np.testing.assert_array_equal(got.samples, expected.samples)
        np.testing.assert_array_equal(got.overloaded, expected.overloaded)


def test_quantiles_from_the_daily_level_outlive_the_raw_samples(store, raw):
    summary = operations.compact(store, RETENTION)
    vm = raw[(raw["entity"] == "41") & (raw["resource"] == "cpu")]
    days = window_of(vm["ts"], "1d")
    rolled = operations.utilization_quantiles(store, "cpu", 0.95, "1d", "41")
    assert [pd.Timestamp(row.window) for row in rolled.windows] == sorted(days.unique())
    exact = operations.utilization_quantiles(store, "cpu", 0.95, "1d", "41", from_raw=True)
    kept_days = days[vm["ts"] >= pd.Timestamp(summary.raw_before)]
    assert [pd.Timestamp(row.window) for row in exact.windows] == sorted(kept_days.unique())


def test_samples_older_than_what_was_dropped_can_no_longer_land(store, raw):
    summary = operations.compact(store, RETENTION)
    newest = np.datetime64(summary.as_of, "ns")
    old = newest - np.timedelta64(25, "D")  # the raw samples around it are gone
    recent = newest - np.timedelta64(3, "D") + np.timedelta64(1, "s")
    part = Parsed(
        "late", make_samples([old, recent], "new-vm", "cpu", [0.5, 0.5], 1.0), entities=(Entity("new-vm"),)
    )
    result = store.write_parsed([part], "test")
    assert result.samples_added == 1
    assert result.refused_by_reason == {COMPACTED: 1}
    assert [r.reason for r in result.refused_examples] == [COMPACTED]
    # Ingesting the whole fixture again adds nothing: what is older is refused, the rest duplicates.
    again = operations.ingest(store, "bitbrains", [BITBRAINS])
    assert again.samples_added == 0
    assert again.rejected_by_reason[COMPACTED] == summary.samples_dropped
    before = operations.overload_report(store, TIMESCALES)
    assert operations.overload_report(store, TIMESCALES) == before


def test_a_level_cannot_be_kept_shorter_than_raw_samples_or_a_finer_level(store):
    with pytest.raises(ConfigError, match="rollup level 5m"):
        operations.compact(store, {"raw": 10 * DAY_S, "5m": 5 * DAY_S})
    with pytest.raises(ConfigError, match="rollup level 1d"):
        operations.compact(store, {"raw": 10 * DAY_S, "5m": 30 * DAY_S, "1h": 40 * DAY_S, "1d": 35 * DAY_S})


def test_compaction_counts_as_a_change_for_report_caches(store):
    before = store.read_last_batch()
    operations.compact(store, RETENTION)
    assert store.read_last_batch() > before


def test_compact_without_retention_keeps_everything(store, raw):
    summary = operations.compact(store, {})
    assert (summary.samples_dropped, summary.raw_before, summary.rollup_rows_dropped) == (0, None, {})
    assert store.read_status().samples == len(raw)
    assert operations.compact(open_store(":memory:"), RETENTION).as_of is None


def test_no_level_can_be_added_once_raw_samples_are_gone(tmp_path):
    path = str(tmp_path / "store.duckdb")
    with open_store(path) as store:
        operations.ingest(store, "bitbrains", [BITBRAINS / "2013-8"])
        operations.compact(store, {"raw": 5 * DAY_S})
    with pytest.raises(StoreError, match="rollup level 1w cannot be added"):
        open_store(path, rollup_levels=("5m", "1h", "1d", "1w"))
    with open_store(path, rollup_levels=("1h", "1d")) as store:  # dropping a level is allowed
        assert store.read_levels() == ("1h", "1d")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("raw=14d,5m=35d,1h=400d,1d=3650d", {"raw": 14 * DAY_S, "5m": 35 * DAY_S, "1h": 400 * DAY_S, "1d": 3650 * DAY_S}),
        (" raw = 12h , 1w=520w", {"raw": 12 * 3600.0, "1w": 520 * 7 * DAY_S}),
        ("", {}),
    ],
)  # fmt: skip
def test_parse_retention(text, expected):
    assert parse_retention(text) == expected


@pytest.mark.parametrize("text", ["raw", "2h=3d", "raw=soon"])
def test_parse_retention_refuses(text):
    with pytest.raises(ConfigError):
        parse_retention(text)
