"""A real libvirt exporter (Debian's) on libvirt's built-in test hypervisor."""

from __future__ import annotations

import re

import httpx
import pytest

from stackmeter import operations
from stackmeter.sources.scrape import Target
from stackmeter.store import open_store
from tests.integration.exporter_servers import free_port, start, stop

pytestmark = pytest.mark.integration


def test_libvirt_exporter_on_libvirts_test_driver(tmp_path):
    """kumina's libvirt exporter (Debian's) reading libvirt's built-in test hypervisor.

    The test driver makes its counters from the wall clock: CPU time is the time since the epoch
    in seconds, and block and interface byte counters are fixed fractions of it. So each counter's
    rate is its value divided by the CPU time, which the exposition itself gives.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    command = [
        "prometheus-libvirt-exporter",
        f"--web.listen-address=127.0.0.1:{port}",
        "--libvirt.uri=test:///default",
        "--libvirt.export-nova-metadata",
    ]
    exporter = start(command, url, tmp_path / "log")
    try:
        text = httpx.get(url).text
        with open_store(":memory:") as store:
            summary = operations.collect(store, [Target(url, "libvirt")], every_s=1.0, for_s=3.0)
            [vm] = store.read_entities()
            series = {r: store.read_series(vm.entity, r) for r in ("cpu", "memory", "disk", "network")}
    finally:
        stop(exporter)

    def value(name: str, extra: str = "") -> float:
        return float(re.search(rf"^{name}{{[^}}]*{extra}[^}}]*}} (\S+)$", text, re.MULTILINE).group(1))

    wall_s = value("libvirt_domain_info_cpu_time_seconds_total")
    uuid = re.search(r'uuid="([^"]+)"', text).group(1)
    assert summary.rounds == 3 and vm.entity == uuid and vm.kind == "vm"
    # CPU time runs with the wall clock: one core busy, out of the domain's vCPUs; within 5 %.
    assert series["cpu"].size == 2
    assert series["cpu"].used == pytest.approx([1.0, 1.0], rel=0.05)
    assert set(series["cpu"].capacity) == {value("libvirt_domain_info_virtual_cpus")}
    disk_bytes_s = (
        value("libvirt_domain_block_stats_read_bytes_total")
        + value("libvirt_domain_block_stats_write_bytes_total")
    ) / wall_s
    assert series["disk"].used == pytest.approx([disk_bytes_s] * 2, rel=0.05)
    receive_s = value("libvirt_domain_interface_stats_receive_bytes_total") / wall_s
    transmit_s = value("libvirt_domain_interface_stats_transmit_bytes_total") / wall_s
    assert series["network"].used == pytest.approx([max(receive_s, transmit_s)] * 2, rel=0.05)
    # The test hypervisor has no balloon statistics: no memory sample rather than a wrong one.
    assert series["memory"].size == 0
