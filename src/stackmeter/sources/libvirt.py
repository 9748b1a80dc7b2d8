"""libvirt exporter scrapes -> per-VM cpu, memory, disk and network samples, named by OpenStack uuid."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import numpy as np

from stackmeter import models
from stackmeter.sources.exposition import (
    MISSING_METRIC,
    CounterState,
    Exposition,
    Rates,
    Series,
    SeriesValues,
    instance_of,
    parse_exposition,
    pick_valid,
    rate_counters,
    refuse_sample,
    refuse_scrape_time,
    to_ns,
)

CPU_TIME = "libvirt_domain_info_cpu_time_seconds_total"
VCPUS = "libvirt_domain_info_virtual_cpus"
MEM_AVAILABLE = "libvirt_domain_memory_stats_available_bytes"
MEM_USABLE = "libvirt_domain_memory_stats_usable_bytes"
DISK_READ = "libvirt_domain_block_stats_read_bytes_total"
DISK_WRITE = "libvirt_domain_block_stats_write_bytes_total"
NET_RECEIVE = "libvirt_domain_interface_stats_receive_bytes_total"
NET_TRANSMIT = "libvirt_domain_interface_stats_transmit_bytes_total"
# OpenStack metadata: a separate info metric (inovex, Tinkoff) or labels on every series (zhangjianweibj).
OPENSTACK_INFO = "libvirt_domain_openstack_info"
TINKOFF_META = "libvirt_domain_info_meta"
COUNTERS = (CPU_TIME, DISK_READ, DISK_WRITE, NET_RECEIVE, NET_TRANSMIT)
NAMES = (*COUNTERS, VCPUS, MEM_AVAILABLE, MEM_USABLE, OPENSTACK_INFO, TINKOFF_META)

# (uuid label, project label) of each way an exporter names the OpenStack instance, most specific first.
OPENSTACK_LABELS = (("instanceId", "projectId"), ("instance_id", "project_id"), ("uuid", "project_uuid"))


class _Domain(NamedTuple):
    entity: str
    project: str | None


def parse_libvirt(
    text: str | bytes,
    scraped_at: datetime | np.datetime64 | int,
    previous: CounterState = CounterState(),
    origin: str = "libvirt_exporter",
    host: str | None = None,
    openmetrics: bool | None = None,
) -> tuple[models.Parsed, CounterState]:
    """Return each VM's samples at ``scraped_at`` and the counter state for the next scrape.

    - cpu: rate of CPU time in cores; capacity the vCPU count (unknown when not exported);
    - memory: guest balloon statistics, available − usable bytes; capacity available bytes
      (no sample without balloon statistics: the host's view counts all of the guest's memory as used);
    - disk: Σ over devices of read + write bytes/s; network: max(Σ receive, Σ transmit) bytes/s over
      interfaces; both with unknown capacity.

    A VM is named by its OpenStack instance uuid and project when the exporter gives them, else by
    its libvirt domain name.

    :param host: the hypervisor the exporter runs on; by default a ``host`` label, else the target's host
    """
    exposition = parse_exposition(text, origin, NAMES, openmetrics)
    return convert_libvirt(exposition, to_ns(scraped_at), previous, host)


def convert_libvirt(
    exposition: Exposition, scraped_at_ns: int, previous: CounterState, host: str | None = None
) -> tuple[models.Parsed, CounterState]:
    """Return the samples of a parsed libvirt exporter exposition (see :func:`parse_libvirt`)."""
    refused = refuse_scrape_time(exposition, scraped_at_ns)
    if refused is not None:  # nothing to say at a time that cannot be stored; the next scrape rates
        return refused, previous
    rejections = list(exposition.rejections)
    valid: dict[str, SeriesValues] = {}
    duplicates = 0
    for name in NAMES:
        valid[name], dropped = pick_valid(exposition, name, rejections)
        duplicates += dropped
    counters = {series: value for name in COUNTERS for series, (_, value) in valid[name].items()}
    rates, state = rate_counters(counters, scraped_at_ns, previous)

    domains = _name_domains(valid)
    default_host = host or instance_of(exposition.origin).rsplit(":", 1)[0]
    rows: list[tuple[str, str, float, float]] = []
    for domain, cpu_time_series in _first_series_by_domain(valid[CPU_TIME]).items():
        rate = rates.get(cpu_time_series)
        if rate is not None:
            vcpus = _gauge(valid[VCPUS], domain)
            rows.append((domain, "cpu", rate, np.nan if vcpus is None else vcpus))
    for domain in _domains_of(valid[MEM_AVAILABLE]):
        available, usable = _gauge(valid[MEM_AVAILABLE], domain), _gauge(valid[MEM_USABLE], domain)
        if available is not None and usable is not None:
            rows.append((domain, "memory", available - usable, available))
    disk, disk_incomplete = _summed_rates(valid, rates, (DISK_READ, DISK_WRITE))
    for domain in sorted(disk.keys() - disk_incomplete):
        rows.append((domain, "disk", disk[domain], np.nan))
    receive, receive_incomplete = _summed_rates(valid, rates, (NET_RECEIVE,))
    transmit, transmit_incomplete = _summed_rates(valid, rates, (NET_TRANSMIT,))
    for domain in sorted((receive.keys() | transmit.keys()) - receive_incomplete - transmit_incomplete):
        rows.append((domain, "network", max(receive.get(domain, 0.0), transmit.get(domain, 0.0)), np.nan))
    if previous.scraped_at_ns is None and exposition.values and not exposition.values.get(MEM_AVAILABLE):
        # said on a target's first scrape, not every round after
        rejections.append(models.Rejection(exposition.origin, None, MEM_AVAILABLE, MISSING_METRIC, "memory"))

    kept = []
    for domain, resource, used, capacity in rows:
        refusal = (
            (models.BAD_CAPACITY, str(capacity)) if capacity <= 0 else refuse_sample(resource, used, capacity)
        )
        if refusal:
            rejections.append(models.Rejection(exposition.origin, None, f"{domain} {resource}", *refusal))
        else:
            kept.append((domains.get(domain, _Domain(domain, None)).entity, resource, used, capacity))
    samples = models.make_samples(
        np.full(len(kept), scraped_at_ns, dtype="datetime64[ns]"),
        np.array([row[0] for row in kept], object),
        np.array([row[1] for row in kept], object),
        [row[2] for row in kept],
        [row[3] for row in kept],
    )
    hosts = _hosts(valid)
    seen = sorted({domain for domain, *_ in rows})
    entities = tuple(
        models.Entity(named.entity, kind="vm", project=named.project, host=hosts.get(domain, default_host))
        for domain in seen
        for named in (domains.get(domain, _Domain(domain, None)),)
    )
    parsed = models.Parsed(exposition.origin, samples, entities, tuple(rejections), duplicates)
    return parsed, state


def _name_domains(valid: dict[str, SeriesValues]) -> dict[str, _Domain]:
    """Map each libvirt domain to its OpenStack uuid and project, from whichever labels carry them."""
    named: dict[str, _Domain] = {}
    for name in (OPENSTACK_INFO, TINKOFF_META, *COUNTERS):
        for labels, _ in valid[name].values():
            domain = labels.get("domain")
            if domain is None or domain in named:
                continue
            for uuid_label, project_label in OPENSTACK_LABELS:
                if labels.get(uuid_label):
                    named[domain] = _Domain(labels[uuid_label], labels.get(project_label) or None)
                    break
    return named


def _hosts(valid: dict[str, SeriesValues]) -> dict[str, str]:
    return {
        labels["domain"]: labels["host"]
        for name in COUNTERS
        for labels, _ in valid[name].values()
        if labels.get("host") and labels.get("domain")
    }


def _first_series_by_domain(series_values: SeriesValues) -> dict[str, Series]:
    first: dict[str, Series] = {}
    for series, (labels, _) in series_values.items():
        first.setdefault(labels.get("domain", ""), series)
    return first


def _domains_of(series_values: SeriesValues) -> list[str]:
    return list(dict.fromkeys(labels.get("domain", "") for labels, _ in series_values.values()))


def _gauge(series_values: SeriesValues, domain: str) -> float | None:
    for labels, value in series_values.values():
        if labels.get("domain", "") == domain:
            return value
    return None


def _summed_rates(
    valid: dict[str, SeriesValues], rates: Rates, names: Iterable[str]
) -> tuple[dict[str, float], set[str]]:
    """Σ rate per domain over the series of ``names``, and the domains with a series lacking a rate."""
    sums: dict[str, float] = {}
    incomplete: set[str] = set()
    for name in names:
        for series, (labels, _) in valid[name].items():
            domain = labels.get("domain", "")
            rate = rates.get(series)
            if rate is None:
                incomplete.add(domain)
            else:
                sums[domain] = sums.get(domain, 0.0) + rate
    return sums, incomplete
