"""node_exporter scrapes -> per-host cpu, memory, disk and network samples, as DESIGN's mapping says."""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

import numpy as np

from stackmeter import models
from stackmeter.sources.exposition import (
    MISSING_METRIC,
    CounterState,
    Exposition,
    Rates,
    SeriesValues,
    instance_of,
    parse_exposition,
    pick_valid,
    rate_counters,
    refuse_sample,
    refuse_scrape_time,
    to_ns,
)

# Interfaces that are not a physical link of the host: loopback, container and VM plumbing,
# bridges, tunnels and overlays. Matched against the whole device name.
DEFAULT_INTERFACE_EXCLUDE = (
    r"lo|veth.*|docker.*|br-.*|br[0-9]+|virbr.*|vnet[0-9]+|tap.*|tun[0-9]*|qbr.*|qvb.*|qvo.*|qr-.*|qg-.*"
    r"|ovs-.*|vxlan.*|genev_sys_.*|gre.*|flannel.*|cni.*|cali.*|kube-.*|weave.*|dummy.*|wg[0-9]+|ifb[0-9]+"
)
# Block devices that are not disks: RAM disks, compressed swap in RAM, loop files, floppies, optical.
# Both rules are written so that they read the same as Python and as PromQL (RE2) regular expressions.
DEFAULT_DISK_EXCLUDE = r"ram[0-9]+|zram[0-9]+|loop[0-9]+|fd[0-9]+|sr[0-9]+"

# Modes of node_cpu_seconds_total that are not busy time.
IDLE_MODES = frozenset({"idle", "iowait"})

CPU = "node_cpu_seconds_total"
MEM_TOTAL = "node_memory_MemTotal_bytes"
MEM_AVAILABLE = "node_memory_MemAvailable_bytes"
DISK_IO_TIME = "node_disk_io_time_seconds_total"
NET_RECEIVE = "node_network_receive_bytes_total"
NET_TRANSMIT = "node_network_transmit_bytes_total"
NET_SPEED = "node_network_speed_bytes"
UNAME = "node_uname_info"
NAMES = (CPU, MEM_TOTAL, MEM_AVAILABLE, DISK_IO_TIME, NET_RECEIVE, NET_TRANSMIT, NET_SPEED, UNAME)
COUNTERS = (CPU, DISK_IO_TIME, NET_RECEIVE, NET_TRANSMIT)


class HostRules(NamedTuple):
    """Which devices count. ``HostRules(interface_exclude=r"lo|eth1")`` keeps every other interface."""

    interface_exclude: str = DEFAULT_INTERFACE_EXCLUDE
    disk_exclude: str = DEFAULT_DISK_EXCLUDE


def parse_node_exporter(
    text: str | bytes,
    scraped_at: datetime | np.datetime64 | int,
    previous: CounterState = CounterState(),
    origin: str = "node_exporter",
    rules: HostRules = HostRules(),
    openmetrics: bool | None = None,
) -> tuple[models.Parsed, CounterState]:
    """Return one host's samples at ``scraped_at`` and the counter state for the next scrape.

    Memory needs one scrape; cpu, disk and network are rates since ``previous`` (none on the first
    scrape, none for a series that was reset). The host is named by ``node_uname_info``'s
    ``nodename``, or by the target's ``host:port`` when the exporter does not say.

    :param scraped_at: when the scrape started (aware ``datetime``, UTC ``datetime64`` or ns)
    :param origin: the target URL or file, used in rejections and as a fallback host name
    """
    exposition = parse_exposition(text, origin, NAMES, openmetrics)
    return convert_node_exporter(exposition, to_ns(scraped_at), previous, rules)


def convert_node_exporter(
    exposition: Exposition, scraped_at_ns: int, previous: CounterState, rules: HostRules = HostRules()
) -> tuple[models.Parsed, CounterState]:
    """Return the samples of a parsed node_exporter exposition (see :func:`parse_node_exporter`)."""
    refused = refuse_scrape_time(exposition, scraped_at_ns)
    if refused is not None:  # nothing to say at a time that cannot be stored; the next scrape rates
        return refused, previous
    rejections = list(exposition.rejections)
    valid: dict[str, SeriesValues] = {}
    duplicates = 0
    invalid: set[str] = set()
    for name in NAMES:
        before = len(rejections)
        # node_exporter gives -1 Mbit/s (as bytes) for a link whose speed the kernel does not know
        valid[name], dropped = pick_valid(exposition, name, rejections, negative_ok=name == NET_SPEED)
        duplicates += dropped
        if len(rejections) > before:
            invalid.add(name)
    counters = {series: value for name in COUNTERS for series, (_, value) in valid[name].items()}
    rates, state = rate_counters(counters, scraped_at_ns, previous)

    host = _host_name(valid[UNAME], exposition.origin)
    found = (
        None if CPU in invalid else _cpu_busy_cores(valid[CPU], rates),  # a sum needs all its parts
        _memory_used_bytes(valid[MEM_TOTAL], valid[MEM_AVAILABLE]),
        _disk_busy_fraction(valid[DISK_IO_TIME], rates, re.compile(rules.disk_exclude)),
        _network_bytes_per_s(valid, rates, re.compile(rules.interface_exclude)),
    )
    resources, used, capacity = [], [], []
    for resource, result, needed in zip(
        models.RESOURCES, found, (CPU, MEM_AVAILABLE, DISK_IO_TIME, NET_RECEIVE), strict=True
    ):
        if result is None:
            # said on a target's first scrape, not every round after
            if previous.scraped_at_ns is None and not exposition.values.get(needed):
                rejections.append(models.Rejection(exposition.origin, None, needed, MISSING_METRIC, resource))
            continue
        sample_used, sample_capacity = result
        if sample_capacity <= 0:  # NaN (unknown) lands: reports count it apart
            rejections.append(
                models.Rejection(exposition.origin, None, resource, models.BAD_CAPACITY, str(sample_capacity))
            )
            continue
        refusal = refuse_sample(resource, sample_used, sample_capacity)
        if refusal:
            rejections.append(models.Rejection(exposition.origin, None, resource, *refusal))
            continue
        resources.append(resource)
        used.append(sample_used)
        capacity.append(sample_capacity)
    samples = models.make_samples(
        np.full(len(used), scraped_at_ns, dtype="datetime64[ns]"),
        host,
        np.array(resources, object),
        used,
        capacity,
    )
    parsed = models.Parsed(
        origin=exposition.origin,
        samples=samples,
        entities=(models.Entity(host, kind="host"),),
        rejections=tuple(rejections),
        duplicates=duplicates,
    )
    return parsed, state


def _host_name(uname: SeriesValues, origin: str) -> str:
    for labels, _ in uname.values():
        if labels.get("nodename"):
            return labels["nodename"]
    return instance_of(origin)


def _cpu_busy_cores(cpu: SeriesValues, rates: Rates) -> tuple[float, float] | None:
    """Σ rate over busy modes, and the CPU count; ``None`` unless every busy series has a rate."""
    cpus: set[str] = set()
    busy_cores = 0.0
    for series, (labels, _) in cpu.items():
        cpus.add(labels.get("cpu", ""))
        if labels.get("mode") in IDLE_MODES:
            continue
        rate = rates.get(series)
        if rate is None:
            return None
        busy_cores += rate
    if not cpus:
        return None
    return busy_cores, float(len(cpus))


def _memory_used_bytes(total: SeriesValues, available: SeriesValues) -> tuple[float, float] | None:
    if not total or not available:
        return None
    total_bytes = next(iter(total.values()))[1]
    available_bytes = next(iter(available.values()))[1]
    return total_bytes - available_bytes, total_bytes


def _disk_busy_fraction(
    io_time: SeriesValues, rates: Rates, exclude: re.Pattern[str]
) -> tuple[float, float] | None:
    """The busiest device's share of time with I/O in flight; capacity 1."""
    busiest = None
    for series, (labels, _) in io_time.items():
        rate = rates.get(series)
        if rate is None or exclude.fullmatch(labels.get("device", "")):
            continue
        busiest = rate if busiest is None else max(busiest, rate)
    return None if busiest is None else (busiest, 1.0)


def _network_bytes_per_s(
    valid: dict[str, SeriesValues], rates: Rates, exclude: re.Pattern[str]
) -> tuple[float, float] | None:
    """The busiest physical interface's max(receive, transmit) bytes/s, and its speed (NaN unknown)."""
    transmit = {
        labels.get("device", ""): rates.get(series) for series, (labels, _) in valid[NET_TRANSMIT].items()
    }
    speed = {labels.get("device", ""): value for labels, value in valid[NET_SPEED].values()}
    busiest = None
    for series, (labels, _) in valid[NET_RECEIVE].items():
        device = labels.get("device", "")
        receive_rate, transmit_rate = rates.get(series), transmit.get(device)
        if receive_rate is None or transmit_rate is None or exclude.fullmatch(device):
            continue
        bytes_per_s = max(receive_rate, transmit_rate)
        if busiest is None or bytes_per_s > busiest[0]:
            speed_bytes = speed.get(device, np.nan)
            busiest = (bytes_per_s, speed_bytes if speed_bytes > 0 else np.nan)
    return busiest
