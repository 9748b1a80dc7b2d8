import numpy as np
import pandas as pd
import pytest

from stackmeter.models import DeadLetter, Event, Parsed, make_samples
from stackmeter.store import open_store
from stackmeter.store.duckdb.schema import MIGRATIONS, read_schema_version
from tests.store.sql import connection_of

T0 = np.datetime64("2026-03-02T10:00", "ns")


def seconds(n):
    return np.timedelta64(round(n * 1e9), "ns")


def event(n, event_type="instance.reboot.start", fault=None):
    return Event(T0 + seconds(n), event_type, "vm-1", "req-1", "cn-1", "p", "m1", "active", fault, f"m{n}")


def letter(n):
    return DeadLetter(T0, "notifications.info", "not JSON", "Expecting value", f"{{bad {n}", f"d{n}")


def test_the_notification_tables_are_the_last_migration(store):
    assert read_schema_version(connection_of(store)) == len(MIGRATIONS)
    tables = {row[0] for row in connection_of(store).execute("SHOW TABLES").fetchall()}
    assert {"events", "deadletters"} <= tables


def test_events_round_trip(store):
    written = [event(0), event(7.25, "instance.reboot.error", fault="Boom")]
    assert store.write_notifications(written, []) == (2, 0)
    frame = store.read_events()
    assert list(frame["message_id"]) == ["m0", "m7.25"]
    assert list(frame["ts"]) == [
        pd.Timestamp(T0, tz="UTC"),
        pd.Timestamp(T0, tz="UTC") + pd.Timedelta(seconds=7.25),
    ]
    assert frame["fault"].tolist() == [None, "Boom"]
    assert frame.iloc[0][["instance", "request_id", "host", "project", "flavor", "state"]].tolist() == [
        "vm-1", "req-1", "cn-1", "p", "m1", "active",
    ]  # fmt: skip


def test_writing_again_adds_nothing(store):
    batch = [event(0), event(1), event(1)]
    assert store.write_notifications(batch, [letter(1), letter(1)]) == (2, 1)
    assert store.write_notifications(batch + [event(2)], [letter(1), letter(2)]) == (1, 1)
    assert store.count_notifications() == (3, 2)


def test_a_failed_batch_leaves_the_store_unchanged(store):
    store.write_notifications([event(0)], [])
    broken = event(5)._replace(ts=None)  # violates NOT NULL after the first row went in
    with pytest.raises(Exception, match="store unchanged"):
        store.write_notifications([event(4), broken], [letter(9)])
    assert store.count_notifications() == (1, 0)


def test_dead_letters_latest_first(store):
    later = letter(2)._replace(received=T0 + np.timedelta64(1, "m"))
    store.write_notifications([], [letter(1), later])
    assert [d.body for d in store.read_dead_letters()] == ["{bad 2", "{bad 1"]
    assert store.read_dead_letters(limit=1)[0].received == later.received


def test_fleet_cpu_utilization_per_window_from_samples_with_capacity(store):
    ts = np.array(
        ["2026-03-02T10:05", "2026-03-02T10:10", "2026-03-02T10:15", "2026-03-02T11:00"], "datetime64[ns]"
    )
    cpu = make_samples(ts, ["h1", "h2", "h3", "h1"], "cpu", [2.0, 6.0, 1.0, 4.0], [8.0, 8.0, np.nan, 16.0])
    memory = make_samples(ts[:1], "h1", "memory", [9.0], [10.0])
    store.write_parsed([Parsed("a", cpu), Parsed("b", memory)], source="test")
    frame = store.read_fleet_cpu_utilization("1h")
    assert frame["window"].tolist() == [
        pd.Timestamp("2026-03-02 10:00", tz="UTC"),
        pd.Timestamp("2026-03-02 11:00", tz="UTC"),
    ]
    assert frame["fleet_cpu_utilization"].tolist() == [0.5, 0.25]
    assert store.read_fleet_cpu_utilization("1d")["fleet_cpu_utilization"].tolist() == [
        pytest.approx((0.25 + 0.75 + 0.25) / 3)
    ]


def test_a_project_reader_sees_its_events_only_and_no_dead_letters(tmp_path):
    with open_store(str(tmp_path / "s.duckdb")) as store:
        theirs = event(9)._replace(project="other", message_id="theirs")
        store.write_notifications([event(0), event(1), theirs], [letter(1)])
        reader = store.reader("p")
        try:
            assert reader.count_notifications() == (2, 0)
            assert set(reader.read_events()["project"]) == {"p"}
            assert reader.read_last_event_time() == T0 + seconds(9)
        finally:
            reader.close()
