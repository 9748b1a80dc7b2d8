"""The DuckDB store: idempotent, atomic batches, migrations, and windows bucketed as DESIGN.md says."""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pytest

from stackmeter.analysis.windows import window_start
from stackmeter.errors import SchemaOutdated, StoreError
from stackmeter.models import RAW, TIMESCALES, Entity, Parsed, make_samples
from stackmeter.sources.bitbrains import load_bitbrains_file
from stackmeter.store import open_store
from stackmeter.store.duckdb.schema import MIGRATIONS, read_schema_version
from tests.reference import FIXTURES
from tests.store.sql import connection_of


def real_parts():
    return [
        load_bitbrains_file(path, 1e6, 1e6)
        for path in sorted((FIXTURES / "bitbrains" / "2013-8").glob("*.gz"))
    ]


def test_writing_the_same_input_twice_adds_nothing(store):
    parts = real_parts()
    expected = sum(part.samples.size for part in parts)
    first = store.write_parsed(parts, "test")
    assert first.samples_added == expected
    second = store.write_parsed(real_parts(), "test")
    assert second.samples_added == 0
    assert second.duplicates == expected + sum(part.duplicates for part in parts)
    assert store.read_status().samples == expected
    assert store.read_status().entities == 4


def test_a_batch_failing_half_way_leaves_the_store_as_it_was(store):
    good = real_parts()
    store.write_parsed(good[:1], "test")
    before = store.read_status()
    ts = np.array(["2013-08-01T00:00", "2013-08-01T00:05"], dtype="datetime64[ns]")
    # the second part breaks a constraint of the entities table (an unknown kind) after the first was queued
    bad = Parsed("bad", make_samples(ts, "new-vm", "cpu", [0.5, 0.6], 1.0), (Entity("new-vm", "container"),))
    with pytest.raises(StoreError, match="store unchanged"):
        store.write_parsed([good[1], bad], "test")
    after = store.read_status()
    assert (after.samples, after.entities, after.batches, after.rejected) == (
        before.samples, before.entities, before.batches, before.rejected
    )  # fmt: skip
    assert not store.has_entity("new-vm")


@pytest.mark.parametrize(
    ("ts_ns", "used", "capacity", "reason"),
    [
        (-1, 0.5, 1.0, "time out of range"),  # 1969-12-31T23:59:59.999999999
        (7_258_118_400 * 10**9, 0.5, 1.0, "time out of range"),  # 2200-01-01
        (np.iinfo(np.int64).min, 0.5, 1.0, "time out of range"),  # NaT
        (10**18, -1.0, 1.0, "negative value"),
        (10**18, np.nan, 1.0, "not finite"),
        (10**18, np.inf, 1.0, "not finite"),
        (10**18, 0.5, 0.0, "zero, negative or missing capacity"),
        (10**18, 0.5, np.inf, "zero, negative or missing capacity"),
        (10**18, 1e308, 20_800.0, "implausible"),
        (10**18, 10_001.0, 1.0, "implausible"),
    ],
)
def test_the_store_refuses_what_no_source_may_give_and_writes_the_rest(store, ts_ns, used, capacity, reason):
    """Whatever the caller, nothing outside the domain enters the store, and the batch still lands."""
    good_ts = np.array([10**18, 10**18 + 300 * 10**9], dtype="datetime64[ns]")
    good = Parsed("good", make_samples(good_ts, "vm", "cpu", [0.1, 0.2], 1.0))
    bad = Parsed(
        "bad", make_samples(np.array([ts_ns], dtype="datetime64[ns]"), "other", "cpu", [used], capacity)
    )
    result = store.write_parsed([good, bad], "test")
    assert (result.samples_added, result.rejected) == (2, 1)
    assert result.refused_by_reason == {reason: 1}
    assert store.read_status().samples == 2
    rows = connection_of(store).execute("SELECT origin, field, reason FROM rejections").fetchall()
    assert rows == [("bad", "cpu", reason)]


def test_names_that_are_not_utf8_are_stored_with_escapes(store):
    name = os.fsdecode(b"caf\xe9")
    ts = np.array([10**18], dtype="datetime64[ns]")
    part = Parsed(os.fsdecode(b"/t/caf\xe9.csv"), make_samples(ts, name, "cpu", [0.5], 1.0), (Entity(name),))
    assert store.write_parsed([part], "test").samples_added == 1
    assert [row.entity for row in store.read_entities()] == ["caf\\xe9"]


def test_duplicates_across_files_of_one_batch_keep_the_first(store):
    ts = np.array(["2013-08-01T00:00", "2013-08-01T00:05"], dtype="datetime64[ns]")
    a = Parsed("a", make_samples(ts, "vm", "cpu", [0.1, 0.2], 1.0))
    b = Parsed("b", make_samples(ts[1:], "vm", "cpu", [0.9], 1.0))
    result = store.write_parsed([a, b], "test")
    assert (result.samples_added, result.duplicates) == (2, 1)
    np.testing.assert_array_equal(store.read_series("vm", "cpu").used, [0.1, 0.2])


def test_file_store_persists_and_records_its_schema_version(tmp_path):
    path = str(tmp_path / "s.duckdb")
    with open_store(path) as opened:
        opened.write_parsed(real_parts()[:1], "test")
        count = opened.read_status().samples
    with open_store(path) as reopened:
        assert reopened.read_status().samples == count
        assert read_schema_version(connection_of(reopened)) == len(MIGRATIONS)


def test_a_store_from_a_newer_stackmeter_is_refused(tmp_path):
    path = str(tmp_path / "s.duckdb")
    open_store(path).close()
    con = duckdb.connect(path)
    con.execute("INSERT INTO schema_version VALUES (?)", [len(MIGRATIONS) + 1])
    con.close()
    with pytest.raises(SchemaOutdated, match="upgrade stackmeter"):
        open_store(path)


def test_unopenable_store_is_a_store_error(tmp_path):
    (tmp_path / "dir.duckdb").mkdir()
    with pytest.raises(StoreError, match="cannot open store"):
        open_store(str(tmp_path / "dir.duckdb"))


def test_rejections_are_kept_aside_with_their_location(store):
    parsed = load_bitbrains_file(FIXTURES / "bitbrains" / "2013-7" / "196.csv.gz")
    result = store.write_parsed([parsed], "test")
    assert result.rejected == len(parsed.rejections) > 0
    line, field = (
        connection_of(store).execute("SELECT line, field FROM rejections ORDER BY line LIMIT 1").fetchall()[0]
    )
    first = min(parsed.rejections, key=lambda r: r.line)
    assert (line, field) == (first.line, first.field)


BOUNDARIES = [
    "1970-01-01T00:00:00",  # a Thursday: its week starts Monday 1969-12-29
    "2011-03-03T00:00:00",
    "2011-03-03T23:59:59.999999",
    "2013-07-31T23:55:00",
    "2013-08-01T00:00:00",
    "2013-09-29T23:59:59",  # a Sunday
    "2013-09-30T00:00:00",  # a Monday
    "2016-02-29T12:34:56",
    "2024-12-31T23:59:59",
]


@pytest.mark.parametrize("timescale", TIMESCALES)
def test_store_windows_equal_the_analysis_windows(store, timescale):
    ts = np.array(BOUNDARIES, dtype="datetime64[ns]")
    store.write_parsed([Parsed("t", make_samples(ts, "vm", "cpu", np.ones(ts.size), 1.0))], "test")
    counts = store.read_window_counts({timescale: RAW}, {"cpu": 0.5})[timescale, "cpu"]
    expected, per_window = np.unique(window_start(ts, timescale), return_counts=True)
    np.testing.assert_array_equal(counts.window, expected)
    np.testing.assert_array_equal(counts.samples, per_window)


def test_series_bounds_are_start_inclusive_end_exclusive(store):
    ts = np.arange(
        np.datetime64("2013-08-01T00:00"), np.datetime64("2013-08-01T01:00"), np.timedelta64(5, "m")
    )
    store.write_parsed([Parsed("t", make_samples(ts, "vm", "memory", np.arange(ts.size), 100.0))], "test")
    series = store.read_series(
        "vm", "memory", np.datetime64("2013-08-01T00:10"), np.datetime64("2013-08-01T00:30")
    )
    np.testing.assert_array_equal(series.used, [2, 3, 4, 5])
    assert (series.capacity == 100).all()
