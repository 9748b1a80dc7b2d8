"""Rollups on real traces: any ingest order gives the same report, the opt-in back window refuses
and counts what it should, a late sample updates every level, and old stores get their levels."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from stackmeter import operations
from stackmeter.models import TOO_LATE, Entity, Parsed, make_samples
from stackmeter.store import open_store
from stackmeter.store.duckdb.schema import MIGRATIONS, read_schema_version
from tests.reference import FIXTURES, read_bitbrains
from tests.store.sql import connection_of

BITBRAINS = FIXTURES / "bitbrains"
MONTHS = [BITBRAINS / month for month in ("2013-7", "2013-8", "2013-9")]
TIMESCALES = "5m,1h,1d,1w,1mo"
DISK, NETWORK = 2 * 2**20, 100e3


def without_source(report):
    return report._replace(served_by={}, served_note="")


def ingest_files(trace_format: str, files, **options):
    store = open_store(":memory:")
    operations.ingest(store, trace_format, files, **options)
    return store


@pytest.mark.parametrize(
    "trace_format, files, options",
    [
        # the bundled sample, file by file in reverse, a few files a batch
        ("bitbrains", sorted(operations.find_trace_files("bitbrains", [operations.bundled_sample()["bitbrains"]])),
         {"disk_capacity_bytes_s": DISK, "network_capacity_bytes_s": NETWORK, "batch_samples": 100_000}),
        ("planetlab", sorted(operations.find_trace_files("planetlab", [operations.bundled_sample()["planetlab"]])),
         {"batch_samples": 50_000}),
        # three months of four VMs, month by month: September, August, then July
        ("bitbrains", MONTHS, {"disk_capacity_bytes_s": DISK, "network_capacity_bytes_s": NETWORK,
                               "batch_samples": 30_000}),
        # two PlanetLab days three days apart
        ("planetlab", [FIXTURES / "planetlab" / "20110303", FIXTURES / "planetlab" / "20110306"], {}),
    ],
    ids=["bundled-bitbrains", "bundled-planetlab", "bitbrains-months", "planetlab-days"],
)  # fmt: skip
def test_reverse_order_gives_the_same_report_as_in_order(trace_format, files, options):
    in_order = ingest_files(trace_format, files, **options)
    reverse = ingest_files(trace_format, files[::-1], **options)
    assert in_order.read_status().samples == reverse.read_status().samples
    forward_report = operations.overload_report(in_order, TIMESCALES, top=20)
    reverse_report = operations.overload_report(reverse, TIMESCALES, top=20)
    assert set(reverse_report.served_by.values()) == {"rollup 5m", "rollup 1h", "rollup 1d"}
    assert reverse_report == forward_report
    assert without_source(reverse_report) == without_source(
        operations.overload_report(reverse, TIMESCALES, top=20, from_raw=True)
    )
    for timescale in ("1h", "1w"):
        assert operations.utilization_quantiles(reverse, "cpu", 0.95, timescale) == (
            operations.utilization_quantiles(in_order, "cpu", 0.95, timescale)
        )


def test_an_opt_in_back_window_refuses_and_counts_older_samples():
    store = open_store(":memory:")
    operations.ingest(store, "bitbrains", [BITBRAINS / "2013-8"], back_window_s=7 * 86_400)
    july = operations.ingest(store, "bitbrains", [BITBRAINS / "2013-7"], back_window_s=7 * 86_400)
    # A July sample is too late when its series' latest August sample is more than 7 days after it.
    raw_july = read_bitbrains(sorted((BITBRAINS / "2013-7").glob("*.csv.gz")), None, None)
    raw_august = read_bitbrains(sorted((BITBRAINS / "2013-8").glob("*.csv.gz")), None, None)
    latest = raw_august.groupby(["entity", "resource"])["ts"].max().rename("latest").reset_index()
    joined = raw_july.merge(latest, on=["entity", "resource"], how="left")
    late = int((joined["ts"] < joined["latest"] - pd.Timedelta(days=7)).sum())
    assert late > 0
    assert july.rejected_by_reason[TOO_LATE] == late
    assert july.samples_added == len(raw_july) - late
    assert july.rejection_examples[0].reason in july.rejected_by_reason
    stored = (
        connection_of(store)
        .execute("SELECT count(*), count(DISTINCT origin) FROM rejections WHERE reason = ?", [TOO_LATE])
        .fetchall()[0]
    )
    assert stored == (
        late,
        raw_july.loc[joined["ts"] < joined["latest"] - pd.Timedelta(days=7), "entity"].nunique(),
    )
    assert store.read_status().samples == len(raw_august) + july.samples_added
    # Without the back window, the same files in the same order all land.
    unbounded = open_store(":memory:")
    operations.ingest(unbounded, "bitbrains", [BITBRAINS / "2013-8"])
    assert operations.ingest(unbounded, "bitbrains", [BITBRAINS / "2013-7"]).samples_added == len(raw_july)


def level_row(con, level: str, entity: str, window: np.datetime64):
    return con.execute(
        f"""SELECT r.samples, coalesce(r.utilization_max, r.utilization_min), r.histogram
            FROM rollup_{level} r JOIN entities e USING (entity_id)
            WHERE e.entity = ? AND r.resource_code = 0 AND r.window_us = ?""",
        [entity, int(np.datetime64(window, "us").astype(np.int64))],
    ).fetchall()


def test_a_late_sample_within_the_back_window_updates_every_level():
    store = open_store(":memory:")
    operations.ingest(store, "bitbrains", [BITBRAINS / "2013-8"])
    con = connection_of(store)
    windows = {"5m": "2013-08-30T00:00:00", "1h": "2013-08-30T00:00:00", "1d": "2013-08-30T00:00:00"}
    before = {level: level_row(con, level, "41", np.datetime64(w)) for level, w in windows.items()}
    late = np.datetime64("2013-08-30T00:00:01", "ns")  # between two samples of that VM
    part = Parsed("late", make_samples([late], "41", "cpu", [1.7], 1.0), entities=(Entity("41"),))
    result = store.write_parsed([part], "test", back_window_s=7 * 86_400)
    assert (result.samples_added, result.refused_by_reason) == (1, {})
    for level, window in windows.items():
        (samples, maximum, histogram), *_ = level_row(con, level, "41", np.datetime64(window))
        old_samples, old_maximum = (before[level][0][0], before[level][0][1]) if before[level] else (0, 0)
        assert samples == old_samples + 1, level
        assert maximum == max(old_maximum, 1.7), level
        assert histogram is None or {"bin": 170, "samples": 1} in histogram, level
    again = store.write_parsed([part], "test")
    assert (again.samples_added, again.duplicates) == (1 - 1, 1)
    report = operations.overload_report(store, "5m,1h,1d")
    assert without_source(report) == without_source(
        operations.overload_report(store, "5m,1h,1d", from_raw=True)
    )


def rollup_frame(con, level: str) -> pd.DataFrame:
    return con.execute(
        f"SELECT e.entity, r.* EXCLUDE (entity_id) FROM rollup_{level} r JOIN entities e USING (entity_id) "
        "ORDER BY e.entity, resource_code, window_us"
    ).df()


def test_a_store_written_before_rollups_gets_its_levels_when_opened(tmp_path):
    built = str(tmp_path / "built.duckdb")
    with open_store(built) as store:
        operations.ingest(
            store, "bitbrains", MONTHS, disk_capacity_bytes_s=DISK, network_capacity_bytes_s=NETWORK
        )
    old = str(tmp_path / "old.duckdb")
    con = duckdb.connect(old)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, ddl in enumerate(MIGRATIONS[:3], start=1):
        con.execute(ddl)
        con.execute("INSERT INTO schema_version VALUES (?)", [number])
    con.execute(f"ATTACH '{built}' AS built (READ_ONLY)")
    con.execute("INSERT INTO entities SELECT * FROM built.entities")
    con.execute("INSERT INTO samples SELECT * FROM built.samples")
    con.close()

    with open_store(old) as migrated, open_store(built) as incremental:
        assert read_schema_version(connection_of(migrated)) == len(MIGRATIONS) == 6
        assert migrated.read_levels() == ("5m", "1h", "1d")
        for level in ("5m", "1h", "1d"):
            got, expected = (
                rollup_frame(connection_of(migrated), level),
                rollup_frame(connection_of(incremental), level),
            )
            pd.testing.assert_frame_equal(got, expected, rtol=1e-12)
        assert operations.overload_report(migrated, TIMESCALES) == operations.overload_report(
            incremental, TIMESCALES
        )
        # The report totals: summed from the levels when the store is opened, or moved batch by batch.
        for table in ("report_windows", "report_entities", "report_sizes", "report_overloads"):
            got, expected = (report_frame(connection_of(store), table) for store in (migrated, incremental))
            assert len(got) > 0
            pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-9)


def report_frame(con, table: str) -> pd.DataFrame:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").df()


def test_levels_follow_what_the_store_is_opened_with(tmp_path):
    path = str(tmp_path / "store.duckdb")
    with open_store(path, rollup_levels=()) as store:
        operations.ingest(store, "bitbrains", [BITBRAINS / "2013-8"])
        assert store.read_levels() == ()
        report = operations.overload_report(store, "1h,1d")
        assert (report.served_by, report.served_note) == (
            {"1h": "raw", "1d": "raw"},
            "no rollup level fits 1h, 1d",
        )
    with open_store(path, rollup_levels=("1h", "1w")) as store:
        assert store.read_levels() == ("1h", "1w")
        report = operations.overload_report(store, "5m,1h,1d,1w")
        assert report.served_by == {"5m": "raw", "1h": "rollup 1h", "1d": "rollup 1h", "1w": "rollup 1w"}
        assert without_source(report) == without_source(
            operations.overload_report(store, "5m,1h,1d,1w", from_raw=True)
        )
    with open_store(path) as store:
        assert store.read_levels() == ("1h", "1w")
    with open_store(path, rollup_levels=("1d",)) as store:
        assert store.read_levels() == ("1d",)
        assert connection_of(store).execute("SELECT count(*) FROM rollup_1h").fetchall()[0][0] == 0


def assert_same_windows(got, expected):
    """Heat maps or entity pages alike: counts and flags equal, means equal up to summation order."""
    assert [type(value) for value in got] == [type(value) for value in expected]
    for name, value in got._asdict().items():
        other = getattr(expected, name)
        if name in ("served_by",):
            continue
        if isinstance(value, tuple) and value and hasattr(value[0], "_asdict"):
            for row, other_row in zip(value, other, strict=True):
                assert_same_windows(row, other_row)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f" or name == "utilization":
            np.testing.assert_allclose(
                np.asarray(value, dtype=float), np.asarray(other, dtype=float), rtol=1e-12
            )
        else:
            assert np.array_equal(value, other) if isinstance(value, np.ndarray) else value == other, name


def test_heat_map_and_entity_pages_come_from_the_rollups_and_outlive_compaction():
    store = open_store(":memory:")
    operations.ingest(
        store, "bitbrains", MONTHS, disk_capacity_bytes_s=DISK, network_capacity_bytes_s=NETWORK
    )
    heat = operations.heat_map(store, "1d", "cpu", columns=100)
    entity = operations.entity_overload(store, "41", "1w")
    assert heat.served_by == "rollup 1d" and set(entity.served_by.values()) == {"rollup 1d"}
    raw_heat = operations.heat_map(store, "1d", "cpu", columns=100, from_raw=True)
    assert raw_heat.served_by == "raw"
    assert_same_windows(heat, raw_heat)
    assert_same_windows(entity, operations.entity_overload(store, "41", "1w", from_raw=True))
    assert len(heat.columns) == 92 and len(heat.rows) == 4
    # A threshold off a bin edge is read from raw samples.
    assert operations.heat_map(store, "1d", "cpu", threshold=0.855).served_by == "raw"

    operations.compact(store, {"raw": 10 * 86_400, "5m": 10 * 86_400, "1h": 10 * 86_400})
    assert_same_windows(operations.heat_map(store, "1d", "cpu", columns=100), heat)
    assert_same_windows(operations.entity_overload(store, "41", "1w"), entity)
