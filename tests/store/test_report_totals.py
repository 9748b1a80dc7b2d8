"""Report totals kept at write time: batch by batch they equal what pandas counts over the samples
the store accepted, and what summing the levels afresh gives; reports read them and say the same."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackmeter import operations
from stackmeter.models import DEFAULT_THRESHOLDS
from stackmeter.store import open_store
from stackmeter.store.duckdb import report_totals
from tests.reference import window_of
from tests.store.sql import connection_of
from tests.store.test_rollup_writes import BACK_WINDOW_S, TIMESCALES, histories, simulate, write_history

SERVING = dict(zip(TIMESCALES, ("5m", "1h", "1d", "1d", "1d"), strict=True))
WATCHED = {"cpu": DEFAULT_THRESHOLDS["cpu"], "memory": DEFAULT_THRESHOLDS["memory"]}


def kept_frame(con, table: str) -> pd.DataFrame:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").df()


def judged_windows(kept: pd.DataFrame, timescale: str) -> pd.DataFrame:
    """Per (resource, entity, window) of the judged samples: samples, and samples ≥ the default θ."""
    rows = kept[kept["capacity"].notna()].copy()
    rows["window"] = window_of(rows["ts"], timescale)
    theta = rows["resource"].map(DEFAULT_THRESHOLDS).astype(np.float64)
    rows["over"] = (rows["used"] / rows["capacity"]).astype(np.float64) >= theta
    rows["u"] = (rows["used"] / rows["capacity"]).astype(np.float64)
    per = rows.groupby(["resource", "entity", "window"])
    return per["over"].agg(["size", "sum"]).join(per["u"].sum()).reset_index()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), back_window_s=st.sampled_from((None, BACK_WINDOW_S)))
def test_totals_equal_pandas_over_the_accepted_samples(history, back_window_s):
    frame, plan = history
    with open_store(":memory:") as store:
        write_history(store, frame, plan, back_window_s)
        kept, _, _ = simulate(frame, plan, back_window_s)
        con = connection_of(store)
        assert report_totals.read_built(con) == SERVING
        names = dict(con.execute("SELECT entity_id, entity FROM entities").fetchall())
        codes = {"cpu": 0, "memory": 1}
        for timescale in TIMESCALES:
            expected = judged_windows(kept, timescale)
            windows = con.execute(
                "SELECT resource_code, window_us, entities, samples, utilization_sum FROM report_windows "
                "WHERE timescale = ? ORDER BY ALL",
                [timescale],
            ).fetchall()
            per_window = (
                expected.groupby(["resource", "window"])
                .agg(entities=("size", "size"), samples=("size", "sum"), total=("u", "sum"))
                .reset_index()
            )
            assert [row[:4] for row in windows] == sorted(
                (codes[r], pd.Timestamp(w).value // 1000, int(n), int(s))
                for r, w, n, s, _ in per_window.itertuples(index=False)
            )
            # Sums moved batch by batch differ from one sum in their last bits only.
            np.testing.assert_allclose(
                [row[4] for row in windows],
                per_window.sort_values(["resource", "window"])["total"],
                rtol=1e-9,
            )
            entities = con.execute(
                "SELECT resource_code, entity_id, windows, first_us, last_us FROM report_entities "
                "WHERE timescale = ? ORDER BY ALL",
                [timescale],
            ).fetchall()
            per_entity = expected.groupby(["resource", "entity"])["window"].agg(["size", "min", "max"])
            assert sorted((r, names[e], n, lo, hi) for r, e, n, lo, hi in entities) == sorted(
                (codes[r], e, int(n), pd.Timestamp(lo).value // 1000, pd.Timestamp(hi).value // 1000)
                for (r, e), (n, lo, hi) in per_entity.iterrows()
            )
            overloads = con.execute(
                "SELECT resource_code, entity_id, window_us, samples, at_or_above FROM report_overloads "
                "WHERE timescale = ? ORDER BY ALL",
                [timescale],
            ).fetchall()
            over = expected[expected["sum"] > 0]
            assert sorted((r, names[e], w, n, k) for r, e, w, n, k in overloads) == sorted(
                (codes[r], e, pd.Timestamp(w).value // 1000, int(n), int(k))
                for r, e, w, n, k in over[["resource", "entity", "window", "size", "sum"]].itertuples(
                    index=False
                )
            )
            sizes = con.execute(
                "SELECT resource_code, samples, windows FROM report_sizes WHERE timescale = ? ORDER BY ALL",
                [timescale],
            ).fetchall()
            counted = expected.groupby(["resource", "size"]).size()
            assert sizes == sorted((codes[r], int(n), int(w)) for (r, n), w in counted.items())

        # Summing the levels afresh gives the same totals as moving them batch by batch.
        moved = {table: kept_frame(con, table) for table in report_totals.TABLES}
        con.execute("BEGIN")
        report_totals.prepare(con, store.read_levels(), rebuild=store.read_levels())
        con.execute("COMMIT")
        for table, before in moved.items():
            pd.testing.assert_frame_equal(kept_frame(con, table), before, check_exact=False, rtol=1e-9)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), share=st.sampled_from((0.01, 0.05, 0.5, 1.0)))
def test_reports_from_the_totals_equal_reports_from_raw_samples(history, share):
    frame, plan = history
    with open_store(":memory:") as store:
        write_history(store, frame, plan, None)
        con = connection_of(store)
        codes = {0: WATCHED["cpu"], 1: WATCHED["memory"]}
        assert all(report_totals.serves(con, t, level, codes) for t, level in SERVING.items())
        kept = operations.overload_report(
            store, TIMESCALES, ("cpu", "memory"), WATCHED, share, top=5, fleet=True
        )
        raw = operations.overload_report(
            store, TIMESCALES, ("cpu", "memory"), WATCHED, share, top=5, from_raw=True, fleet=True
        )
        assert kept.served_by == {t: f"rollup {level}" for t, level in SERVING.items()}
        assert kept.cells == raw.cells and kept.multi_resource == raw.multi_resource
        for got, expected in zip(kept.fleet, raw.fleet, strict=True):
            for field in ("window", "entities", "samples", "ended", "complete", "overloaded"):
                np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))


def test_an_unwatched_threshold_reads_the_level_and_says_the_same(tmp_path):
    frame = pd.DataFrame(
        {
            "entity": ["a"] * 4 + ["b"] * 4,
            "resource": ["cpu"] * 8,
            "ts": pd.to_datetime(
                ["2013-08-01T00:00", "2013-08-01T00:05", "2013-08-01T01:00", "2013-08-02T00:00"] * 2
            ),
            "used": [0.96, 0.5, 0.85, 0.1, 0.2, 0.97, 0.99, 0.3],
            "capacity": [1.0] * 8,
        }
    )
    with open_store(str(tmp_path / "store.duckdb")) as store:
        write_history(store, frame, [list(range(8))], None)
        con = connection_of(store)
        assert not report_totals.serves(con, "1h", "1h", {0: 0.95})
        report = operations.overload_report(store, ("1h", "1d"), ("cpu",), {"cpu": 0.95}, 0.05)
        hours = {cell.timescale: cell.overloaded_ever for cell in report.cells}
        # a: 0.96 in the 00:00 hour; b: 0.97 in 00:00 and 0.99 in 01:00.
        assert hours == {"1h": 2, "1d": 2}
        assert [cell.overloaded_max for cell in report.cells] == [2, 2]
