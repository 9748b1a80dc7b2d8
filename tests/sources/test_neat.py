"""OpenStack Neat run folders: the real fixture read as the csv module reads it, and garbage located."""

from __future__ import annotations

import csv
import gzip
import shutil
from datetime import datetime, timedelta

import numpy as np
import pytest

from stackmeter.errors import ParseError, SourceUnavailable
from stackmeter.models import BAD_TIMESTAMP, NOT_A_NUMBER, TRUNCATED_FILE, WRONG_FIELD_COUNT
from stackmeter.sources.neat import (
    COUNTER_RESET,
    NO_COUNTERS,
    NO_INTERVAL,
    UNKNOWN_HOST,
    UNKNOWN_VM,
    load_neat_run,
)
from stackmeter.sources.table_rows import DUPLICATE_ID, NOT_A_FLAG, NOT_TEXT
from tests.reference import FIXTURES

RUN = FIXTURES / "neat" / "thr-0.8-1"
# The window of this run's published metrics (results/do-all.sh), in the testbed's clock, UTC+11.
WINDOW_START_TESTBED = datetime(2013, 3, 13, 11, 8, 26)
TESTBED_UTC_OFFSET = timedelta(hours=11)


def rows(path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def utc(text: str) -> np.datetime64:
    """A testbed time of the database, in UTC."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S") - TESTBED_UTC_OFFSET
    return np.datetime64(moment, "ns")


@pytest.fixture(scope="module")
def run():
    return load_neat_run(RUN)


@pytest.fixture
def copy(tmp_path):
    """A copy of the fixture run that a test may spoil."""
    target = tmp_path / "thr-0.8-1"
    shutil.copytree(RUN, target)
    return target


def test_the_run_is_named_after_its_folder_and_starts_where_its_metrics_did(run):
    records = run.records
    assert records.run == "thr-0.8-1" and records.framework == "openstack-neat"
    assert records.utc_offset_s == 11 * 3600
    start = np.datetime64(WINDOW_START_TESTBED - TESTBED_UTC_OFFSET, "ns")
    assert (records.window_start, records.window_end) == (start, start + np.timedelta64(86400, "s"))
    assert records.overload_detection == 'trivial.threshold_factory {"threshold": 0.8}'


def test_hosts_and_every_record_are_read_in_database_order(run):
    records = run.records
    hosts = {row["id"]: row for row in rows(RUN / "db" / "hosts.csv")}
    assert [(h.host, h.cpu_mhz, h.cpu_cores, h.ram_mb) for h in records.hosts] == [
        (row["hostname"], float(row["cpu_mhz"]), int(row["cpu_cores"]), float(row["ram"]))
        for row in hosts.values()
    ]
    for table, flags, column in (
        ("host_states", records.host_states, "state"),
        ("host_overload", records.overloads, "overload"),
    ):
        raw = sorted(rows(RUN / "db" / f"{table}.csv"), key=lambda row: int(row["id"]))
        assert flags.seq.tolist() == [int(row["id"]) for row in raw]
        assert flags.host.tolist() == [hosts[row["host_id"]]["hostname"] for row in raw]
        assert flags.ts.tolist() == [utc(row["timestamp"]).tolist() for row in raw]
        assert flags.flag.tolist() == [row[column] == "1" for row in raw]
    uuids = {row["id"]: row["uuid"] for row in rows(RUN / "db" / "vms.csv")}
    raw = rows(RUN / "db" / "vm_migrations.csv")
    migrations = records.migrations
    assert migrations.seq.tolist() == [int(row["id"]) for row in raw]
    assert migrations.vm.tolist() == [uuids[row["vm_id"]] for row in raw]
    assert migrations.host.tolist() == [hosts[row["host_id"]]["hostname"] for row in raw]
    assert run.rejections == ()


def test_vm_cpu_is_the_libvirt_counters_rate_on_one_core(run):
    """MHz = core MHz × Δcpu_time_ns / (Δt · 1e9) with core MHz 22336 / 8; the collector logged its floor."""
    samples = run.vm_samples.samples
    by_key = {(e, int(t)): (u, c) for e, t, u, c in zip(samples.entity, samples.ts.astype(np.int64),
                                                         samples.used, samples.capacity, strict=True)}  # fmt: skip
    measured = 0
    for row in rows(RUN / "vm_cpu_samples.csv.gz"):
        if not row["cur_cpu_time_ns"]:
            continue
        delta_ns = int(row["cur_cpu_time_ns"]) - int(row["prev_cpu_time_ns"])
        delta_s = float(row["cur_time_epoch_s"]) - float(row["prev_time_epoch_s"])
        mhz = 2792 * delta_ns / (delta_s * 1e9)
        used, capacity = by_key[(row["vm_uuid"], round(float(row["cur_time_epoch_s"]) * 1e9))]
        assert used == pytest.approx(mhz, rel=1e-12) and capacity == 2792.0
        assert int(used) == int(row["cpu_mhz"])
        measured += 1
    assert samples.size == measured == 2999
    assert len(set(samples.entity)) == 28 == len(run.vm_samples.entities)


def test_a_reading_without_counters_is_refused_and_located(run):
    empty = [number for number, row in enumerate(rows(RUN / "vm_cpu_samples.csv.gz"), start=2)
             if not row["cur_cpu_time_ns"]]  # fmt: skip
    assert [(r.line, r.field, r.reason) for r in run.vm_samples.rejections] == [
        (line, "cur_cpu_time_ns", NO_COUNTERS) for line in empty
    ]
    assert empty == [2831]


def append(path, *lines: str) -> None:
    with open(path, "a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def test_garbage_in_the_database_tables_is_refused_by_line_and_field(copy):
    db = copy / "db"
    counts = {
        name: len(rows(db / f"{name}.csv")) for name in ("host_states", "host_overload", "vm_migrations")
    }
    append(db / "host_states.csv", "9001,1,2013-03-13 12:00:00", "9002,7,2013-03-13 12:00:00,1",
           "9003,1,2013-03-13 12:00:00,2", "9004,1,yesterday,1", "x,1,2013-03-13 12:00:00,1",
           "9005,1,2013-02-30 12:00:00,0", "9006,1,2013-03-13 12:00:00,1", "9006,1,2013-03-13 12:00:01,0")  # fmt: skip
    append(db / "host_overload.csv", "9101,1,2013-03-13 12:00:00,yes", "9102,1,2013-03-13 12:00:00,1")
    append(db / "vm_migrations.csv", "9201,999999,1,2013-03-13 12:00:00", "9202,2583,1,2013-03-13 12:00:00")
    with open(db / "vm_migrations.csv", "ab") as handle:
        handle.write(b"9203,2583,1,2013-03-13 12:00:00\xff\n")
    parsed = load_neat_run(copy)
    base = counts["host_states"] + 2
    found = {(r.path.split("/")[-1], r.line, r.field, r.reason) for r in parsed.rejections}
    assert found == {
        ("host_states.csv", base, None, WRONG_FIELD_COUNT),
        ("host_states.csv", base + 1, "host_id", UNKNOWN_HOST),
        ("host_states.csv", base + 2, "state", NOT_A_FLAG),
        ("host_states.csv", base + 3, "timestamp", BAD_TIMESTAMP),
        ("host_states.csv", base + 4, "id", NOT_A_NUMBER),
        ("host_states.csv", base + 5, "timestamp", BAD_TIMESTAMP),
        ("host_states.csv", base + 7, "id", DUPLICATE_ID),
        ("host_overload.csv", counts["host_overload"] + 2, "overload", NOT_A_FLAG),
        ("vm_migrations.csv", counts["vm_migrations"] + 2, "vm_id", UNKNOWN_VM),
        ("vm_migrations.csv", counts["vm_migrations"] + 4, None, NOT_TEXT),
    }
    # the valid lines around the bad ones land, the first of a repeated id among them
    assert parsed.records.host_states.seq.size == counts["host_states"] + 1
    assert parsed.records.overloads.seq.size == counts["host_overload"] + 1
    assert parsed.records.migrations.seq.size == counts["vm_migrations"] + 1


def test_garbage_in_the_vm_samples_is_refused_by_line_and_field(copy):
    path = copy / "vm_cpu_samples.csv.gz"
    good = rows(path)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    uuid = good[0]["vm_uuid"]
    bad = [
        f'"2013-03-13 21:00:00,000",compute3,{uuid},500,400,1363166800.0,1363167100.0,1',
        f'"2013-03-13 21:00:00,000",compute3,{uuid},400,500,1363167100.0,1363167100.0,1',
        f'"2013-03-13 21:00:00,000",compute9,{uuid},400,500,1363167100.0,1363167400.0,1',
        f'"2013-03-13 21:00:00,000",compute3,{uuid},four,500,1363167100.0,1363167400.0,1',
        f'"2013-03-13 21:00:00,000",compute3,{uuid},400,500,1363167100.0,nan,1',
        f'"2013-03-13 21:00:00,000",compute3,{uuid},400,500',
    ]
    path.write_bytes(gzip.compress("\n".join([*lines, *bad]).encode() + b"\n"))
    parsed = load_neat_run(copy).vm_samples
    first = len(lines) + 1
    assert [(r.line, r.field, r.reason) for r in parsed.rejections] == [
        (2831, "cur_cpu_time_ns", NO_COUNTERS),
        (first, "cur_cpu_time_ns", COUNTER_RESET),
        (first + 1, "cur_time_epoch_s", NO_INTERVAL),
        (first + 2, "compute_host", UNKNOWN_HOST),
        (first + 3, "prev_cpu_time_ns", NOT_A_NUMBER),
        (first + 4, "cur_time_epoch_s", NOT_A_NUMBER),
        (first + 5, None, WRONG_FIELD_COUNT),
    ]
    assert parsed.samples.size == 2999


def test_a_truncated_sample_file_keeps_what_came_before(copy):
    path = copy / "vm_cpu_samples.csv.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    parsed = load_neat_run(copy).vm_samples
    assert parsed.rejections[-1].reason == TRUNCATED_FILE
    assert 0 < parsed.samples.size < 2999


def test_a_missing_table_or_column_stops_the_run_naming_it(copy):
    (copy / "db" / "host_overload.csv").write_text("id,host_id,timestamp,flag\n1,1,2013-03-13 12:00:00,1\n")
    with pytest.raises(ParseError) as raised:
        load_neat_run(copy)
    assert (raised.value.path.endswith("host_overload.csv"), raised.value.line, raised.value.field) == (
        True, 1, "overload",
    )  # fmt: skip
    shutil.copy(RUN / "db" / "host_overload.csv", copy / "db" / "host_overload.csv")
    (copy / "db" / "vm_migrations.csv").unlink()
    with pytest.raises(SourceUnavailable, match="vm_migrations.csv"):
        load_neat_run(copy)
    with pytest.raises(SourceUnavailable, match="no such run folder"):
        load_neat_run(copy / "nowhere")


def test_a_run_without_a_start_needs_one_given(copy):
    states = copy / "db" / "host_states.csv"
    states.write_text("id,host_id,timestamp,state\n1,1,2013-03-13 12:00:00,0\n")
    with pytest.raises(ParseError, match="cannot tell when the run started"):
        load_neat_run(copy)
    start = np.datetime64("2013-03-13T01:00:00", "ns")
    records = load_neat_run(copy, start=start, window_s=3600).records
    assert (records.window_start, records.window_end) == (start, start + np.timedelta64(1, "h"))


def test_vcpus_and_an_offset_given_override_the_defaults(copy):
    parsed = load_neat_run(copy, vm_vcpus=2, utc_offset_s=10 * 3600)
    assert set(parsed.vm_samples.samples.capacity) == {2 * 2792.0}
    assert parsed.records.utc_offset_s == 36000
    assert parsed.records.window_start == np.datetime64(WINDOW_START_TESTBED - timedelta(hours=10), "ns")
