import numpy as np
import pandas as pd
import pytest

from stackmeter.models import DeadLetter, Entity, Event, Parsed, make_samples
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


# -- the fleet's CPU load from the rollup levels, against the raw samples --------------------------

# A Sunday: the days run over two weeks' edges and a month's.
FLEET_START = np.datetime64("2026-01-25T00:00", "ns")


def fleet_samples(seed: int = 5) -> tuple[Parsed, pd.DataFrame]:
    """Three hosts' CPU every 7 minutes over 12 days (one without a capacity for its first days, one
    that stops half way) and memory that must not count; and the same samples as a frame."""
    rng = np.random.default_rng(seed)
    step = np.timedelta64(7, "m")
    frames = []
    for host, cores, start, days in (("h1", 8.0, 0, 12), ("h2", 32.0, 0, 6), ("h3", 4.0, 3, 9)):
        ts = FLEET_START + np.timedelta64(start, "D") + np.arange(days * 24 * 60 // 7) * step
        ts = ts + rng.integers(0, 60, ts.size) * np.timedelta64(1, "s")  # off the window edges
        used = rng.uniform(0, 1.6, ts.size) * cores  # utilization over 1 as well, as traces give it
        capacity = np.full(ts.size, cores)
        if host == "h3":
            capacity[ts < FLEET_START + np.timedelta64(5, "D")] = np.nan  # no capacity known yet
        frames.append(pd.DataFrame({"ts": ts, "entity": host, "used": used, "capacity": capacity}))
    frame = pd.concat(frames, ignore_index=True)
    cpu = make_samples(frame["ts"], frame["entity"], "cpu", frame["used"], frame["capacity"])
    return Parsed("fleet", cpu), frame


def expected_fleet(frame: pd.DataFrame, timescale: str) -> pd.Series:
    """The mean of used / capacity per UTC window, over the samples with a capacity (pandas alone)."""
    judged = frame[frame["capacity"].notna()]
    ts = pd.DatetimeIndex(judged["ts"])
    if timescale == "1w":
        window = ts.normalize() - pd.to_timedelta(ts.day_of_week, unit="D")  # Monday 00:00
    elif timescale == "1mo":
        window = ts.to_period("M").to_timestamp()
    else:
        window = ts.floor({"5m": "5min", "1h": "1h", "1d": "1D"}[timescale])
    utilization = (judged["used"] / judged["capacity"]).to_numpy()
    return pd.Series(utilization).groupby(window.tz_localize("UTC")).mean()


@pytest.mark.parametrize("levels", [("5m", "1h", "1d"), ("1d",), ()], ids=["5m-1h-1d", "1d", "no-levels"])
def test_fleet_cpu_utilization_from_rollups_equals_the_raw_samples_mean(tmp_path, levels):
    parsed, frame = fleet_samples()
    memory = make_samples(frame["ts"][:50], "h1", "memory", np.full(50, 9.0), 10.0)
    with open_store(str(tmp_path / "fleet.duckdb"), rollup_levels=levels) as store:
        store.write_parsed([parsed, Parsed("memory", memory)], source="test")
        assert store.read_levels() == levels
        for timescale in ("5m", "1h", "1d", "1w", "1mo"):
            got = store.read_fleet_cpu_utilization(timescale)
            expected = expected_fleet(frame, timescale)
            assert got["window"].tolist() == expected.index.tolist(), timescale
            np.testing.assert_allclose(got["fleet_cpu_utilization"], expected.to_numpy(), rtol=1e-12)


def test_fleet_cpu_utilization_outlives_compacted_raw_samples(tmp_path):
    """Raw samples dropped by retention still count, from the rollups kept after them."""
    parsed, frame = fleet_samples(seed=8)
    with open_store(str(tmp_path / "fleet.duckdb")) as store:
        store.write_parsed([parsed], source="test")
        dropped = store.drop_older(FLEET_START + np.timedelta64(6, "D"), {})
        assert dropped.samples == (frame["ts"] < FLEET_START + np.timedelta64(6, "D")).sum() > 0
        got = store.read_fleet_cpu_utilization("1d")
        expected = expected_fleet(frame, "1d")
        assert got["window"].tolist() == expected.index.tolist()
        np.testing.assert_allclose(got["fleet_cpu_utilization"], expected.to_numpy(), rtol=1e-12)


def test_a_project_reader_sees_its_entities_fleet_load_only(tmp_path):
    parsed, frame = fleet_samples(seed=9)
    with open_store(str(tmp_path / "fleet.duckdb")) as store:
        entities = (Entity("h1", "host", "p"), Entity("h2", "host", "q"), Entity("h3", "host", "q"))
        store.write_parsed([parsed._replace(entities=entities)], source="test")
        reader = store.reader("p")
        try:
            got = reader.read_fleet_cpu_utilization("1h")
        finally:
            reader.close()
    expected = expected_fleet(frame[frame["entity"] == "h1"], "1h")
    assert got["window"].tolist() == expected.index.tolist()
    np.testing.assert_allclose(got["fleet_cpu_utilization"], expected.to_numpy(), rtol=1e-12)


def test_events_of_some_types_only_and_the_kinds_held(store):
    written = [event(0), event(1, "instance.update"), event(2, "instance.reboot.error", fault="Boom"),
               event(3, "instance.reboot.end")]  # fmt: skip
    store.write_notifications(written, [])
    assert store.read_event_kinds() == [
        ("instance.reboot.end", False), ("instance.reboot.error", True), ("instance.reboot.start", False),
        ("instance.update", False),
    ]  # fmt: skip
    some = store.read_events({"instance.reboot.start", "instance.reboot.error"})
    assert list(some["message_id"]) == ["m0", "m2"] and some["fault"].tolist() == [None, "Boom"]
    assert store.read_events([]).empty and list(store.read_events([]).columns) == list(Event._fields)
    assert store.read_events()["message_id"].tolist() == ["m0", "m1", "m2", "m3"]
