"""Bitbrains GWA-T-12 per-VM trace files (plain or gzip): cpu, memory, disk and network samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stackmeter.models import (
    BAD_CAPACITY,
    EMPTY_FILE,
    IMPLAUSIBLE,
    MAX_UTILIZATION,
    MAX_VALUE,
    OUT_OF_TIME_DOMAIN,
    WRONG_FORMAT,
    Entity,
    Parsed,
    Rejection,
    Samples,
    concat_samples,
    describe_implausible,
    describe_out_of_domain_s,
    in_time_domain_s,
    make_samples,
    no_samples,
)
from stackmeter.sources.tables import (
    check_order,
    check_used,
    first_of_equal,
    implausible_of,
    list_files,
    load_bytes,
    path_text,
    split_table,
)

HEADER = (
    "Timestamp [ms]",
    "CPU cores",
    "CPU capacity provisioned [MHZ]",
    "CPU usage [MHZ]",
    "CPU usage [%]",
    "Memory capacity provisioned [KB]",
    "Memory usage [KB]",
    "Disk read throughput [KB/s]",
    "Disk write throughput [KB/s]",
    "Network received throughput [KB/s]",
    "Network transmitted throughput [KB/s]",
)
(TS, _CORES, CPU_CAP, CPU_USED, _CPU_PCT, MEM_CAP, MEM_USED, DISK_R, DISK_W, NET_RX, NET_TX) = range(11)
KIB = 1024.0


def find_bitbrains_files(path: Path) -> list[Path]:
    """Return the trace files under ``path`` (a file, or a folder searched recursively for ``*.csv*``).

    :raises SourceUnavailable: when ``path`` does not exist or its folders cannot be listed
    """
    return list_files(path, lambda folder: sorted(p for p in folder.rglob("*.csv*") if p.is_file()))


def entity_of(path: Path) -> str:
    """Return the VM id of a trace file: its name without ``.csv`` / ``.csv.gz`` (``1.csv.gz`` → ``1``).

    Bytes of the name that are not UTF-8 are kept as ``\\xNN`` escapes.
    """
    name = path_text(path.name)
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return name


def load_bitbrains_file(
    path: Path,
    disk_capacity_bytes_s: float | None = None,
    network_capacity_bytes_s: float | None = None,
) -> Parsed:
    """Return the samples of one Bitbrains file.

    The timestamp column is in epoch seconds (despite its ``[ms]`` label). Disk and network have
    no capacity in the data: without ``disk_capacity_bytes_s`` / ``network_capacity_bytes_s``
    their samples carry an unknown capacity and are never judged for overload. Times outside the
    domain and implausible values (see :mod:`stackmeter.models.domain`) are refused per sample.
    """
    origin = path_text(path)
    entity = entity_of(path)
    raw, truncation = load_bytes(path)
    cut = () if truncation is None else (truncation,)
    if not raw.strip():
        return Parsed(origin, no_samples(), rejections=cut or (Rejection(origin, None, None, EMPTY_FILE),))
    if not raw.lstrip().startswith(b"Timestamp"):
        first = raw.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        detail = f"line 1 should be the Bitbrains header starting 'Timestamp [ms]', found {first!r}"
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, 1, None, WRONG_FORMAT, detail),))
    table = split_table(raw, origin, b";", skip_space=True)
    if len(table.header) != len(HEADER):
        detail = f"header has {len(table.header)} fields, Bitbrains has {len(HEADER)}"
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, 1, None, WRONG_FORMAT, detail),))
    rejections = table.rejections
    columns, lines = table.columns, table.lines

    ts_s = columns[TS]
    ok_ts = in_time_domain_s(ts_s)  # before any conversion to nanoseconds, which would wrap around
    for i in np.flatnonzero(~ok_ts & ~np.isnan(ts_s)):
        detail = describe_out_of_domain_s(ts_s[i])
        rejections.append(Rejection(origin, int(lines[i]), HEADER[TS], OUT_OF_TIME_DOMAIN, detail))
    rows = check_order(np.where(ok_ts, ts_s, np.nan), origin, HEADER[TS], lines, rejections)

    def used(*fields: int) -> tuple[np.ndarray, list[np.ndarray]]:
        ok = rows.copy()
        for field in fields:
            ok &= check_used(columns[field], origin, HEADER[field], lines, rejections) | ~rows
        return ok, [columns[field] for field in fields]

    def capacity_ok(field: int, ok: np.ndarray) -> np.ndarray:
        capacity = columns[field]
        bad = ok & ~(capacity > 0)
        for i in np.flatnonzero(bad & ~np.isnan(capacity)):
            rejections.append(
                Rejection(origin, int(lines[i]), HEADER[field], BAD_CAPACITY, f"{capacity[i]:g}")
            )
        return ok & ~bad

    parts: list[Samples] = []
    duplicates = 0

    def add(
        resource: str,
        ok: np.ndarray,
        used_values: np.ndarray,
        capacity: np.ndarray | float,
        fields: tuple[int, ...],
        capacity_field: int | None = None,
    ) -> None:
        nonlocal duplicates
        index = np.flatnonzero(ok)
        index = index[~refuse_implausible(resource, index, used_values, capacity, fields, capacity_field)]
        first = first_of_equal(ts_s[index])
        duplicates += int((~first).sum())
        index = index[first]
        capacity = capacity[index] if isinstance(capacity, np.ndarray) else capacity
        stamps = np.round(ts_s[index] * 1e9).astype(np.int64).astype("datetime64[ns]")
        parts.append(make_samples(stamps, entity, resource, used_values[index], capacity))

    def refuse_implausible(
        resource: str,
        index: np.ndarray,
        used_values: np.ndarray,
        capacity: np.ndarray | float,
        fields: tuple[int, ...],
        capacity_field: int | None,
    ) -> np.ndarray:
        """Report the samples at ``index`` that no real system gives; return their mask."""
        with np.errstate(invalid="ignore", over="ignore"):
            # the common case, every value far below the bounds, costs three comparisons
            if not (
                (used_values > MAX_VALUE[resource]).any()
                or (np.asarray(capacity) > MAX_VALUE[resource]).any()
                or (used_values > MAX_UTILIZATION * np.asarray(capacity)).any()
            ):
                return np.zeros(index.size, dtype=bool)
        capacities = np.broadcast_to(np.asarray(capacity, dtype=np.float64), used_values.shape)[index]
        used_here = used_values[index]
        bad = implausible_of(resource, used_here, capacities)
        for j in np.flatnonzero(bad):
            row = index[j]
            bound = MAX_VALUE[resource]
            if capacity_field is not None and not used_here[j] > bound and capacities[j] > bound:
                field = capacity_field
            else:
                field = max(fields, key=lambda f: columns[f][row])  # the largest part of a sum or max
            detail = describe_implausible(resource, used_here[j], capacities[j])
            rejections.append(Rejection(origin, int(lines[row]), HEADER[field], IMPLAUSIBLE, detail))
        return bad

    ok, (cpu,) = used(CPU_USED)
    add("cpu", capacity_ok(CPU_CAP, ok), cpu, columns[CPU_CAP], (CPU_USED,), CPU_CAP)
    ok, (memory,) = used(MEM_USED)
    add("memory", capacity_ok(MEM_CAP, ok), memory * KIB, columns[MEM_CAP] * KIB, (MEM_USED,), MEM_CAP)
    ok, (read, write) = used(DISK_R, DISK_W)
    disk_capacity = np.nan if disk_capacity_bytes_s is None else disk_capacity_bytes_s
    add("disk", ok, (read + write) * KIB, disk_capacity, (DISK_R, DISK_W))
    ok, (rx, tx) = used(NET_RX, NET_TX)
    network_capacity = np.nan if network_capacity_bytes_s is None else network_capacity_bytes_s
    add("network", ok, np.maximum(rx, tx) * KIB, network_capacity, (NET_RX, NET_TX))

    return Parsed(
        origin,
        concat_samples(parts),
        entities=(Entity(entity, "vm"),),
        rejections=tuple(rejections) + cut,
        duplicates=duplicates,
    )
