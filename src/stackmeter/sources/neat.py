"""OpenStack Neat run folders: VM CPU from libvirt counters, host states, overload flags, migrations.

A run folder holds ``vm_cpu_samples.csv(.gz)`` (the data collectors' libvirt readings) and
``db/``, the framework's database as CSV: ``hosts``, ``vms``, ``host_states`` (1 active,
0 asleep), ``host_overload`` (0/1, written by the collectors on change) and ``vm_migrations``.
The database wrote its times in the testbed's clock; the collectors' readings carry both that
clock (``log_time``) and Unix times, which give the clock's offset from UTC.
"""

from __future__ import annotations

import configparser
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stackmeter.errors import ParseError, SourceUnavailable
from stackmeter.models import (
    OUT_OF_TIME_DOMAIN,
    TIME_MAX_NS,
    TIME_MIN_NS,
    WRONG_FORMAT,
    Entity,
    Parsed,
    Rejection,
    make_samples,
)
from stackmeter.models.consolidation import (
    OPENSTACK_NEAT,
    ConsolidationHost,
    ConsolidationRun,
    HostFlags,
    Migrations,
)
from stackmeter.sources.table_rows import (
    DUPLICATE_ID,
    BadField,
    convert_rows,
    first_of_each_id,
    flag_field,
    integer_field,
    name_field,
    number_field,
    positive_field,
    wall_time_us,
)
from stackmeter.sources.tables import load_bytes, path_text

# Reasons a line of a run folder is kept out, beside the shared ones (stackmeter.models).
UNKNOWN_HOST = "unknown host"
UNKNOWN_VM = "unknown VM"
# A VM just arrived on its host: the collector has no earlier counter reading there and logs the
# VM's last value from the database again, which is not a measurement of any interval.
NO_COUNTERS = "no CPU-time counters"
COUNTER_RESET = "CPU-time counter went down"
NO_INTERVAL = "interval not positive"

VM_SAMPLES = ("vm_cpu_samples.csv.gz", "vm_cpu_samples.csv")
DB_TABLES = {
    "hosts": ("id", "hostname", "cpu_mhz", "cpu_cores", "ram"),
    "vms": ("id", "uuid"),
    "host_states": ("id", "host_id", "timestamp", "state"),
    "host_overload": ("id", "host_id", "timestamp", "overload"),
    "vm_migrations": ("id", "vm_id", "host_id", "timestamp"),
}
VM_SAMPLE_COLUMNS = (
    "log_time", "compute_host", "vm_uuid", "prev_cpu_time_ns", "cur_cpu_time_ns",
    "prev_time_epoch_s", "cur_time_epoch_s",
)  # fmt: skip
CONFIG_FILE = "neat_config_sanitized.conf"
# The length of a run's metric window: the published experiments measured 24 h of each run.
RUN_WINDOW_S = 86_400.0
# The testbed's clock is ahead of UTC by a whole number of these (time zones are quarter hours).
_OFFSET_STEP_S = 900
# A VM of the testbed has one vCPU: its MHz never passes one core's 2792 (the highest of the 30
# runs is 2698), so its capacity is one core of its host.
DEFAULT_VM_VCPUS = 1

_US = 1_000_000


class NeatRun(NamedTuple):
    """What a run folder holds: the run's records, its VMs' CPU samples (with the rejections of
    their file) and the rejections of the database tables and the configuration."""

    records: ConsolidationRun
    vm_samples: Parsed
    rejections: tuple[Rejection, ...]


def load_neat_run(
    folder: Path,
    vm_vcpus: int = DEFAULT_VM_VCPUS,
    window_s: float = RUN_WINDOW_S,
    start: np.datetime64 | None = None,
    utc_offset_s: int | None = None,
) -> NeatRun:
    """Read an OpenStack Neat run folder.

    The run is named after the folder. Its metric window starts at ``start`` (UTC) or, without
    it, at the last moment the database logs every host of ``hosts.csv`` active at once (the
    global manager does so when it starts: in each of the 30 published runs, the start of the
    window that their metrics were computed over), and lasts ``window_s``.

    A VM sample's time is the end of its interval (the collector's Unix time); its CPU in MHz is
    core MHz × Δcpu_time_ns / (Δt · 1e9), where core MHz is its host's ``cpu_mhz`` / ``cpu_cores``,
    and its capacity ``vm_vcpus`` cores. Every unusable line is a rejection naming file, line and
    field; the lines around it are kept.

    :param utc_offset_s: how far the testbed's clock was ahead of UTC; by default read off the VM
        samples (their ``log_time`` less their Unix time, to the quarter hour)
    :raises SourceUnavailable: when the folder or one of its files (``db/*.csv``, the VM samples)
        is missing or unreadable
    :raises ParseError: when a table's header lacks a column, no host is usable, or the clock's
        offset or the run's start cannot be told
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceUnavailable(f"{path_text(folder)}: no such run folder")
    rejections: list[Rejection] = []
    hosts_path = _db_file(folder, "hosts")
    hosts = _load_hosts(hosts_path, rejections)
    if not hosts:
        raise ParseError("no usable host: a run needs its hosts", path_text(hosts_path))
    vms = _load_vms(_db_file(folder, "vms"), rejections)
    states = _load_flags(_db_file(folder, "host_states"), "state", hosts, rejections)
    overloads = _load_flags(_db_file(folder, "host_overload"), "overload", hosts, rejections)
    migrations = _load_migrations(_db_file(folder, "vm_migrations"), hosts, vms, rejections)
    samples_path = next((folder / name for name in VM_SAMPLES if (folder / name).is_file()), None)
    if samples_path is None:
        raise SourceUnavailable(f"{path_text(folder)}: no {VM_SAMPLES[0]} (nor {VM_SAMPLES[1]})")
    vm_samples, offsets = _load_vm_samples(samples_path, hosts, vm_vcpus)
    offset_s = _utc_offset(offsets, samples_path) if utc_offset_s is None else int(utc_offset_s)
    offset_us = offset_s * _US
    if start is None:
        start_us = _run_start_us(states, hosts, _db_file(folder, "host_states")) - offset_us
    else:
        start_us = int(np.asarray(start, dtype="datetime64[us]").astype(np.int64))
    records = ConsolidationRun(
        run=path_text(folder.resolve().name),
        framework=OPENSTACK_NEAT,
        window_start=_ns(start_us),
        window_end=_ns(start_us + int(round(window_s * _US))),
        utc_offset_s=offset_s,
        overload_detection=_overload_detection(folder / CONFIG_FILE, rejections),
        hosts=tuple(hosts.values()),
        host_states=_utc_flags(states, offset_us, _db_file(folder, "host_states"), rejections),
        overloads=_utc_flags(overloads, offset_us, _db_file(folder, "host_overload"), rejections),
        migrations=_utc_migrations(migrations, offset_us, _db_file(folder, "vm_migrations"), rejections),
    )
    return NeatRun(records, vm_samples, tuple(rejections))


def _db_file(folder: Path, table: str) -> Path:
    path = folder / "db" / f"{table}.csv"
    if not path.is_file():
        raise SourceUnavailable(f"{path_text(path)}: no such file (a Neat run folder has db/{table}.csv)")
    return path


def _ns(us: int) -> np.datetime64:
    return np.datetime64(us, "us").astype("datetime64[ns]")


# -- the database tables ---------------------------------------------------------------------------


def _load_hosts(path: Path, rejections: list[Rejection]) -> dict[int, ConsolidationHost]:
    def convert(row: dict[str, str]) -> tuple:
        host = ConsolidationHost(
            host=name_field(row["hostname"], "hostname"),
            cpu_mhz=positive_field(row["cpu_mhz"], "cpu_mhz"),
            cpu_cores=integer_field(row["cpu_cores"], "cpu_cores", minimum=1),
            ram_mb=positive_field(row["ram"], "ram"),
        )
        return (0, integer_field(row["id"], "id"), host)

    rows = convert_rows(path, DB_TABLES["hosts"], rejections, convert)
    hosts: dict[int, ConsolidationHost] = {}
    names: set[str] = set()
    for line, host_id, host in first_of_each_id(path, rows, rejections):
        if host.host in names:
            detail = f"hostname {host.host!r} again"
            rejections.append(Rejection(path_text(path), line, "hostname", DUPLICATE_ID, detail))
            continue
        names.add(host.host)
        hosts[host_id] = host
    return hosts


def _load_vms(path: Path, rejections: list[Rejection]) -> dict[int, str]:
    def convert(row: dict[str, str]) -> tuple:
        return (0, integer_field(row["id"], "id"), name_field(row["uuid"], "uuid"))

    rows = convert_rows(path, DB_TABLES["vms"], rejections, convert)
    return {vm_id: uuid for _, vm_id, uuid in first_of_each_id(path, rows, rejections)}


def _host_of(value: str, hosts: dict[int, ConsolidationHost]) -> str:
    host_id = integer_field(value, "host_id")
    if host_id not in hosts:
        raise BadField("host_id", UNKNOWN_HOST, f"host_id {host_id} is not in hosts.csv")
    return hosts[host_id].host


def _load_flags(
    path: Path, column: str, hosts: dict[int, ConsolidationHost], rejections: list[Rejection]
) -> list[tuple]:
    """``(line, id, host, testbed time µs, flag)`` of each usable line of a host flag table."""
    table = "host_states" if column == "state" else "host_overload"

    def convert(row: dict[str, str]) -> tuple:
        return (
            0,
            integer_field(row["id"], "id"),
            _host_of(row["host_id"], hosts),
            wall_time_us(row["timestamp"], "timestamp"),
            flag_field(row[column], column),
        )

    return first_of_each_id(path, convert_rows(path, DB_TABLES[table], rejections, convert), rejections)


def _load_migrations(
    path: Path, hosts: dict[int, ConsolidationHost], vms: dict[int, str], rejections: list[Rejection]
) -> list[tuple]:
    """``(line, id, testbed time µs, VM uuid, host)`` of each usable migration."""

    def convert(row: dict[str, str]) -> tuple:
        vm_id = integer_field(row["vm_id"], "vm_id")
        if vm_id not in vms:
            raise BadField("vm_id", UNKNOWN_VM, f"vm_id {vm_id} is not in vms.csv")
        host = _host_of(row["host_id"], hosts)
        return (
            0,
            integer_field(row["id"], "id"),
            wall_time_us(row["timestamp"], "timestamp"),
            vms[vm_id],
            host,
        )

    return first_of_each_id(
        path, convert_rows(path, DB_TABLES["vm_migrations"], rejections, convert), rejections
    )


def _in_domain(path: Path, rows: list[tuple], position: int, offset_us: int, rejections: list) -> list[tuple]:
    """The rows whose testbed time (at ``position``), moved to UTC, lies in the time domain."""
    kept = []
    for row in rows:
        utc_ns = (row[position] - offset_us) * 1000
        if TIME_MIN_NS <= utc_ns < TIME_MAX_NS:
            kept.append(row)
        else:
            detail = f"{row[position] / _US - offset_us / _US:g} s since 1970 UTC is outside 1970 to 2200"
            rejections.append(Rejection(path_text(path), row[0], "timestamp", OUT_OF_TIME_DOMAIN, detail))
    return kept


def _utc_flags(rows: list[tuple], offset_us: int, path: Path, rejections: list) -> HostFlags:
    rows = _in_domain(path, rows, 3, offset_us, rejections)
    return HostFlags(
        seq=np.array([row[1] for row in rows], dtype=np.int64),
        host=np.array([row[2] for row in rows], dtype=object),
        ts=(np.array([row[3] for row in rows], dtype=np.int64) - offset_us)
        .astype("datetime64[us]")
        .astype("datetime64[ns]"),
        flag=np.array([row[4] for row in rows], dtype=bool),
    )


def _utc_migrations(rows: list[tuple], offset_us: int, path: Path, rejections: list) -> Migrations:
    rows = _in_domain(path, rows, 2, offset_us, rejections)
    return Migrations(
        seq=np.array([row[1] for row in rows], dtype=np.int64),
        ts=(np.array([row[2] for row in rows], dtype=np.int64) - offset_us)
        .astype("datetime64[us]")
        .astype("datetime64[ns]"),
        vm=np.array([row[3] for row in rows], dtype=object),
        host=np.array([row[4] for row in rows], dtype=object),
    )


def _run_start_us(states: list[tuple], hosts: dict[int, ConsolidationHost], path: Path) -> int:
    """The last testbed time at which every host is logged active at once."""
    everyone = {host.host for host in hosts.values()}
    active_at: dict[int, set[str]] = {}
    for _, _, host, wall_us, active in states:
        if active:
            active_at.setdefault(wall_us, set()).add(host)
    starts = [wall_us for wall_us, active in active_at.items() if active >= everyone]
    if not starts:
        raise ParseError(
            "cannot tell when the run started: no moment at which every host of hosts.csv is logged "
            "active; give the start of the run's window",
            path_text(path),
        )
    return max(starts)


def _overload_detection(path: Path, rejections: list[Rejection]) -> str | None:
    """The overload detection the run's configuration names, with its parameters (``None`` without one)."""
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(load_bytes(path)[0].decode("utf-8"))
    except (UnicodeDecodeError, configparser.Error) as exc:
        rejections.append(
            Rejection(path_text(path), None, None, WRONG_FORMAT, str(exc).splitlines()[0][:120])
        )
        return None
    factory = parser.defaults().get("algorithm_overload_detection_factory")
    if not factory:
        return None
    parameters = parser.defaults().get("algorithm_overload_detection_parameters", "")
    return f"{factory.removeprefix('neat.locals.overload.')} {parameters}".strip()


# -- the VMs' CPU samples --------------------------------------------------------------------------


def _load_vm_samples(
    path: Path, hosts: dict[int, ConsolidationHost], vm_vcpus: int
) -> tuple[Parsed, Counter]:
    """The CPU samples of the VMs, and how often each offset of the testbed's clock from UTC
    (seconds, to the quarter hour) is seen."""
    rejections: list[Rejection] = []
    core_mhz = {host.host: host.cpu_mhz / host.cpu_cores for host in hosts.values()}
    offsets: Counter = Counter()

    def convert(row: dict[str, str]) -> tuple:
        host = name_field(row["compute_host"], "compute_host")
        if host not in core_mhz:
            raise BadField("compute_host", UNKNOWN_HOST, f"{host[:40]!r} is not in hosts.csv")
        vm = name_field(row["vm_uuid"], "vm_uuid")
        counters = [row[name] for name in VM_SAMPLE_COLUMNS[3:]]
        if not any(counters):
            raise BadField(
                "cur_cpu_time_ns",
                NO_COUNTERS,
                "a VM new on its host: the collector repeated an earlier value",
            )
        before_ns = integer_field(row["prev_cpu_time_ns"], "prev_cpu_time_ns")
        after_ns = integer_field(row["cur_cpu_time_ns"], "cur_cpu_time_ns")
        before_s = number_field(row["prev_time_epoch_s"], "prev_time_epoch_s")
        after_s = number_field(row["cur_time_epoch_s"], "cur_time_epoch_s")
        if not TIME_MIN_NS / 1e9 <= after_s < TIME_MAX_NS / 1e9:
            raise BadField(
                "cur_time_epoch_s", OUT_OF_TIME_DOMAIN, f"{after_s:g} s since 1970 is outside 1970 to 2200"
            )
        if after_ns < before_ns:
            raise BadField(
                "cur_cpu_time_ns", COUNTER_RESET, f"{after_ns} after {before_ns}: a reset, not a rate"
            )
        if not after_s > before_s:
            raise BadField("cur_time_epoch_s", NO_INTERVAL, f"{after_s:.6f} is not after {before_s:.6f}")
        mhz = core_mhz[host] * (after_ns - before_ns) / ((after_s - before_s) * 1e9)
        try:
            logged_us = wall_time_us(row["log_time"], "log_time")
            offsets[round((logged_us / _US - after_s) / _OFFSET_STEP_S) * _OFFSET_STEP_S] += 1
        except BadField:
            pass  # the log time only dates the testbed's clock; the Unix times date the sample
        return (0, vm, int(round(after_s * 1e9)), mhz, vm_vcpus * core_mhz[host])

    rows = convert_rows(path, VM_SAMPLE_COLUMNS, rejections, convert)
    rows.sort(key=lambda row: (row[1], row[2], row[0]))
    kept: list[tuple] = []
    duplicates = 0
    for row in rows:
        if kept and (kept[-1][1], kept[-1][2]) == (row[1], row[2]):
            duplicates += 1  # the same VM at the same time: the first line wins
            continue
        kept.append(row)
    entity = np.array([row[1] for row in kept], dtype=object)
    samples = make_samples(
        np.array([row[2] for row in kept], dtype=np.int64).astype("datetime64[ns]"),
        entity,
        "cpu",
        np.array([row[3] for row in kept], dtype=np.float64),
        np.array([row[4] for row in kept], dtype=np.float64),
    )
    entities = tuple(Entity(vm, "vm") for vm in dict.fromkeys(entity.tolist()))
    return Parsed(path_text(path), samples, entities, tuple(rejections), duplicates), offsets


def _utc_offset(offsets: Counter, path: Path) -> int:
    if not offsets:
        raise ParseError(
            "cannot tell the testbed clock's offset from UTC: no VM sample has both its log time and "
            "its Unix time; give the offset",
            path_text(path),
        )
    return int(offsets.most_common(1)[0][0])
