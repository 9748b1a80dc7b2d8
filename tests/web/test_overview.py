"""The overview's pieces: sparklines keep each stretch's peak, the severity scale, the fleet chart."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter import operations
from stackmeter.models import OverloadCell
from stackmeter.store import open_store
from stackmeter.web.overview import SPARK_HEIGHT, SPARK_POINTS, fleet_chart, matrix, severity, sparkline


def points(text: str) -> np.ndarray:
    return np.array([[float(v) for v in pair.split(",")] for pair in text.split()])


def test_a_long_series_keeps_the_peak_of_each_stretch():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 9, 8640)
    counts[4321] = 40  # one spike, which a mean or a stride would lose
    drawn = points(sparkline(counts, top=40))
    assert len(drawn) == SPARK_POINTS
    assert drawn[:, 1].min() == pytest.approx(2.0)  # the spike reaches the top of the box
    stretches = np.array_split(counts, SPARK_POINTS)
    heights = SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * np.array([s.max() for s in stretches]) / 40
    assert drawn[:, 1] == pytest.approx(heights, abs=0.05)


def test_a_short_series_has_a_point_per_window_and_a_row_shares_its_scale():
    drawn = points(sparkline(np.array([0, 2, 4]), top=8))
    assert drawn[:, 0] == pytest.approx([0, 60, 120])
    assert drawn[:, 1] == pytest.approx([26, 26 - 24 * 2 / 8, 26 - 24 * 4 / 8])
    assert sparkline(np.array([], np.int64), top=3) == ""


def cell(entities, without, latest) -> OverloadCell:
    return OverloadCell(
        "1d", "cpu", 0.8, 0.05, entities, without, 3, 0, None, None, 0, 0.0, 0, None, None, latest, None, ()
    )


@pytest.mark.parametrize(
    "entities, without, latest, expected",
    [(5, 5, None, "unjudged"), (5, 0, None, "unknown"), (100, 0, 0, "none"), (100, 0, 1, "low"),
     (100, 0, 4, "low"), (100, 0, 5, "medium"), (100, 0, 19, "medium"), (100, 0, 20, "high"),
     (10, 5, 1, "high")],
)  # fmt: skip
def test_severity_is_the_share_of_the_judged_fleet_overloaded_in_the_latest_complete_window(
    entities, without, latest, expected
):
    assert severity(cell(entities, without, latest)) == expected


def test_the_fleet_chart_and_matrix_are_the_reports_fleet(fleet_path):
    with open_store(fleet_path) as store:
        report = operations.overload_report(store, ("1d", "1w"), fleet=True)
    chart = fleet_chart(report, "1w")
    by_resource = {f.resource: f for f in report.fleet if f.timescale == "1w"}
    assert [s["resource"] for s in chart["series"]] == list(by_resource)
    for series in chart["series"]:
        fleet = by_resource[series["resource"]]
        assert series["overloaded"] == fleet.overloaded.tolist()
        assert chart["window"] == (fleet.window.astype("datetime64[s]").astype(int)).tolist()
    assert all(end - start == 7 * 86400 for start, end in zip(chart["window"], chart["ends"], strict=True))
    cells = matrix(report)
    assert set(cells) == {(c.timescale, c.resource) for c in report.cells}
    assert fleet_chart(report, "5m") is None
