"""The operations page's chart data against the per-window stats it is drawn from."""

from __future__ import annotations

import math

import pytest

from stackmeter import operations
from stackmeter.store import open_store
from stackmeter.web.charts import CHART_OPERATIONS, operation_chart_data
from tests.bus_store import write_bus_store


@pytest.fixture(scope="module")
def stats_of(tmp_path_factory):
    path = write_bus_store(tmp_path_factory.mktemp("charts"), 150)
    with open_store(path) as store:
        yield lambda operation=None: operations.operation_timings(store, "1h", operation).stats


def same(a: list, b: list) -> bool:
    return [x is None for x in a] == [y is None for y in b] and all(
        math.isclose(x, y) for x, y in zip(a, b, strict=True) if x is not None
    )


def test_one_operation_draws_its_percentiles_per_window(stats_of):
    stats = stats_of("create")
    chart = operation_chart_data(stats, "create")
    assert chart["window"] == sorted(int(t.timestamp()) for t in stats["window"])
    assert [line["label"] for line in chart["durations"]] == ["p50", "p95", "p99"]
    for line, column in zip(chart["durations"], ("p50_s", "p95_s", "p99_s"), strict=True):
        expected = [None if math.isnan(v) else v for v in stats.sort_values("window")[column]]
        assert same(line["values"], expected), column


def test_all_operations_draw_the_most_frequent_and_the_failure_rate(stats_of):
    stats = stats_of()
    chart = operation_chart_data(stats, None)
    counts = stats.groupby("operation")["count"].sum().sort_values(ascending=False, kind="stable")
    assert [line["label"] for line in chart["durations"]] == [
        f"{n} p95" for n in counts.index[:CHART_OPERATIONS]
    ]
    windows = sorted(set(stats["window"]))
    assert len(chart["window"]) == len(windows)
    for i, window in enumerate(windows):
        rows = stats[stats["window"] == window]
        failed = int(rows["error"].sum() + rows["timed_out"].sum())
        finished = failed + int(rows["success"].sum())
        assert chart["failure"][i] == (pytest.approx(failed / finished) if finished else None)


def test_no_window_no_chart(stats_of):
    assert operation_chart_data(stats_of().iloc[:0], None) is None
