import numpy as np
import pandas as pd
import pytest

from stackmeter.analysis.operation_stats import (
    failure_kinds,
    operation_stats,
    with_fleet_utilization,
)
from stackmeter.errors import ConfigError


def operations(rows):
    """rows: (operation, start 'HH:MM', duration_s or None, outcome, host, started)"""
    frame = pd.DataFrame(rows, columns=["operation", "start", "duration_s", "outcome", "host", "started"])
    start = pd.to_datetime("2026-03-02 " + frame["start"]).dt.tz_localize("UTC")
    frame["start"] = start.where(frame["started"])
    frame["end"] = start + pd.to_timedelta(frame["duration_s"].fillna(0), unit="s")
    frame["duration_s"] = frame["duration_s"].where(frame["started"])
    frame["fault"] = np.where(
        frame["outcome"] == "error", "Boom on 3f2a8c1e-0b1d-4c7e-9a0f-1234567890ab", None
    )
    frame["scheduling_s"] = np.where(frame["operation"] == "create", 2.0, np.nan)
    return frame.assign(flavor=None, project="p", instance="i", request_id="r")


DURATIONS = [float(d) for d in range(1, 101)]  # 1 … 100 s, all successful creates in hour 10
ROWS = [("create", "10:00", d, "success", "cn-1" if d <= 50 else "cn-2", True) for d in DURATIONS] + [
    ("create", "10:30", 500.0, "error", "cn-1", True),
    ("create", "10:40", None, "timed_out", "cn-2", True),
    ("create", "10:50", 5.0, "success", "cn-1", False),  # an end without a start
    ("delete", "11:10", 8.0, "success", "cn-1", True),
    ("delete", "11:20", None, "running", "cn-1", True),
]


def test_hourly_stats_with_quantiles_of_successful_durations():
    stats = operation_stats(operations(ROWS), "1h")
    assert list(stats["operation"]) == ["create", "delete"]
    create = stats.iloc[0]
    assert create["window"] == pd.Timestamp("2026-03-02 10:00", tz="UTC")
    assert (create["count"], create["success"], create["error"]) == (103, 100, 1)
    assert (create["timed_out"], create["running"], create["without_start"]) == (1, 0, 1)
    assert create["p50_s"] == pytest.approx(np.quantile(DURATIONS, 0.5))
    assert create["p95_s"] == pytest.approx(np.quantile(DURATIONS, 0.95))
    assert create["p99_s"] == pytest.approx(np.quantile(DURATIONS, 0.99))
    assert create["max_s"] == 100.0
    assert create["mean_scheduling_s"] == 2.0
    delete = stats.iloc[1]
    assert (delete["count"], delete["success"], delete["running"], delete["max_s"]) == (2, 1, 1, 8.0)


def test_daily_stats_grouped_by_host():
    stats = operation_stats(operations(ROWS), "1d", by="host")
    creates = stats[stats["operation"] == "create"].set_index("host")
    assert creates.loc["cn-1", "count"] == 50 + 1 + 1
    assert creates.loc["cn-1", "p50_s"] == pytest.approx(np.quantile(DURATIONS[:50], 0.5))
    assert creates.loc["cn-2", "max_s"] == 100.0
    assert creates.loc["cn-2", "timed_out"] == 1


def test_unknown_grouping_is_refused():
    with pytest.raises(ConfigError, match="host, flavor, project"):
        operation_stats(operations(ROWS), "1h", by="colour")


def test_no_operations_give_an_empty_table():
    assert operation_stats(operations([]), "1h").empty


def test_failure_kinds_merge_faults_that_differ_only_by_instance():
    kinds = failure_kinds(operations(ROWS + [("delete", "11:30", 1.0, "error", "cn-1", True)]))
    assert kinds.to_dict("records") == [
        {"operation": "create", "fault": "Boom on <uuid>", "count": 1},
        {"operation": "delete", "fault": "Boom on <uuid>", "count": 1},
    ]


def test_fleet_utilization_stands_beside_its_window():
    utilization = pd.DataFrame(
        {"window": pd.to_datetime(["2026-03-02 10:00"]).tz_localize("UTC"), "fleet_cpu_utilization": [0.5]}
    )
    stats = with_fleet_utilization(operation_stats(operations(ROWS), "1h"), utilization)
    assert stats["fleet_cpu_utilization"].tolist()[0] == 0.5
    assert np.isnan(stats["fleet_cpu_utilization"].tolist()[1])
