"""A real node_exporter: load we make on this machine, and traffic we send between namespaces of our own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackmeter import operations
from stackmeter.sources.exposition import CounterState
from stackmeter.sources.node_exporter import parse_node_exporter
from stackmeter.sources.scrape import Target
from stackmeter.store import open_store
from tests.integration.exporter_servers import (
    COLLECTORS,
    DISK_WRITER,
    burn_one_core,
    by_resource,
    free_port,
    read_proc_stat,
    require,
    scrape,
    scrape_between_kernel_reads,
    stop,
)

pytestmark = pytest.mark.integration


def test_cpu_and_disk_move_with_the_load_we_make(node_exporter, tmp_path):
    _, state = scrape(node_exporter, CounterState())
    time.sleep(1.0)
    quiet, state = scrape(node_exporter, state)
    assert set(by_resource(quiet)) >= {"cpu", "memory", "disk"}

    burner = burn_one_core()
    writer = subprocess.Popen([sys.executable, "-c", DISK_WRITER, str(tmp_path / "load.bin")])
    try:
        time.sleep(0.5)  # let the load settle
        _, state, (cpus, busy_before, ticks_before, t_before) = scrape_between_kernel_reads(
            node_exporter, state
        )
        time.sleep(3.0)
        loaded, state, (_, busy_after, ticks_after, t_after) = scrape_between_kernel_reads(
            node_exporter, state
        )
    finally:
        for process in (burner, writer):
            process.kill()
            process.wait()

    elapsed_s = t_after - t_before
    got = by_resource(loaded)
    busy_cores, capacity = got["cpu"]
    # Capacity is the CPU count the kernel lists.
    assert capacity == cpus
    # One process spinning: at least 0.8 of a core is busy, whatever else the machine runs.
    assert busy_cores >= 0.8
    # The kernel's own count over the same interval agrees within 0.25 cores (its reads bracket
    # the scrapes, which a loaded machine can delay by a few hundred ms).
    assert busy_cores == pytest.approx((busy_after - busy_before) / elapsed_s, abs=0.25)

    disk_busy, disk_capacity = got["disk"]
    kernel_busiest = max((ticks_after[d] - ticks_before[d]) / elapsed_s for d in ticks_after)
    assert disk_capacity == 1.0
    # Writing 8 MiB blocks with fsync in a loop keeps a disk busy: at least 10 % of the time
    # (about 35-85 % when the machine is otherwise quiet).
    assert disk_busy >= 0.10
    # The kernel's busiest device over the same interval agrees within 0.1.
    assert disk_busy == pytest.approx(kernel_busiest, abs=0.1)

    memory_used, memory_total = got["memory"]
    meminfo = dict(re.findall(r"^(\w+):\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE))
    assert memory_total == int(meminfo["MemTotal"]) * 1024
    # Memory moves between the scrape and this read by other processes: within 5 % of the total.
    used_now = (int(meminfo["MemTotal"]) - int(meminfo["MemAvailable"])) * 1024
    assert memory_used == pytest.approx(used_now, abs=0.05 * memory_total)


def test_collect_rounds_from_the_real_exporter(node_exporter):
    down = f"http://127.0.0.1:{free_port()}/metrics"
    with open_store(":memory:") as store:
        summary = operations.collect(store, [Target(node_exporter), Target(down)], every_s=0.5, for_s=1.5)
        statuses = {s.target: s for s in operations.list_sources(store)}
        host = store.read_entities()[0].entity
        cpu = store.read_series(host, "cpu")
        memory = store.read_series(host, "memory")
    assert summary.rounds == 3
    assert statuses[node_exporter].state == "up" and statuses[down].state == "down"
    assert memory.size == 3 and cpu.size == 2  # rates from the second round on
    assert set(cpu.capacity) == {read_proc_stat()[0]}
    assert ((cpu.used >= 0) & (cpu.used <= cpu.capacity * 1.05)).all()


# A scrape from inside a network namespace: when it started, the kernel's receive byte count of
# one interface at that moment, then the exposition.
SCRAPE_IN_NAMESPACE = """\
import sys, time, urllib.request
device = sys.argv[2]
started_ns = time.time_ns()
dev = open("/proc/net/dev").read()
rx = next(line.split(":")[1].split()[0] for line in dev.splitlines() if line.strip().startswith(device + ":"))
body = urllib.request.urlopen(sys.argv[1], timeout=5).read()
scraped_ns = (started_ns + time.time_ns()) // 2
sys.stdout.buffer.write(f"{scraped_ns} {rx}\\n".encode() + body)
"""

# Sends UDP datagrams of a fixed size at a fixed rate for a fixed time.
PACED_SENDER = """\
import socket, sys, time
address, per_s, size, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload, sent, start = b"x" * size, 0, time.monotonic()
while (elapsed := time.monotonic() - start) < seconds:
    while sent < int(elapsed * per_s):
        sender.sendto(payload, (address, 9))
        sent += 1
    time.sleep(0.002)
print(sent)
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def veth_pair():
    """Two network namespaces of our own joined by a veth pair: (receiver ns, sender ns, device, address)."""
    is_root = os.geteuid() == 0
    if not is_root and os.environ.get("CI") != "true":
        pytest.skip("network namespaces need root")
    require(is_root and shutil.which("ip") is not None, "network namespaces need root and iproute2")
    receiver, sender = f"smrx{os.getpid()}", f"smtx{os.getpid()}"
    try:
        ip("netns", "add", receiver)
        ip("netns", "add", sender)
        ip("-n", receiver, "link", "add", "smx0", "type", "veth", "peer", "name", "smx1", "netns", sender)
        ip("-n", receiver, "addr", "add", "10.213.7.1/30", "dev", "smx0")
        ip("-n", sender, "addr", "add", "10.213.7.2/30", "dev", "smx1")
        for namespace, device in ((receiver, "smx0"), (sender, "smx1")):
            ip("-n", namespace, "link", "set", "lo", "up")
            ip("-n", namespace, "link", "set", device, "up")
    except subprocess.CalledProcessError as exc:
        subprocess.run(["ip", "netns", "del", receiver], capture_output=True)
        subprocess.run(["ip", "netns", "del", sender], capture_output=True)
        require(False, f"cannot create network namespaces: {exc.stderr.decode().strip()}")
    yield receiver, sender, "smx0", "10.213.7.1"
    subprocess.run(["ip", "netns", "del", receiver], capture_output=True)
    subprocess.run(["ip", "netns", "del", sender], capture_output=True)


def scrape_in(namespace: str, url: str, device: str, previous: CounterState):
    answer = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", SCRAPE_IN_NAMESPACE, url, device],
        check=True,
        capture_output=True,
        timeout=10,
    ).stdout
    first_line, body = answer.split(b"\n", 1)
    scraped_ns, rx_bytes = (int(field) for field in first_line.split())
    parsed, state = parse_node_exporter(body, scraped_ns, previous, url)
    return parsed, state, scraped_ns, rx_bytes


def test_network_follows_traffic_sent_at_a_known_rate(veth_pair, tmp_path):
    receiver, sender, device, address = veth_pair
    require(shutil.which("prometheus-node-exporter") is not None, "prometheus-node-exporter is not installed")
    url = "http://127.0.0.1:9100/metrics"  # the receiver namespace's own loopback
    log = tmp_path / "node_exporter.log"
    with log.open("wb") as output:
        exporter = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                receiver,
                "prometheus-node-exporter",
                "--web.listen-address=127.0.0.1:9100",
            ]
            + COLLECTORS,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    per_s, payload_bytes, seconds = 2_000, 1_000, 5.0
    # On the wire each datagram is an Ethernet frame: 14 + IPv4 20 + UDP 8 + payload.
    expected_bytes_s = per_s * (14 + 20 + 8 + payload_bytes)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                _, state, *_ = scrape_in(receiver, url, device, CounterState())
                break
            except subprocess.CalledProcessError:
                require(
                    time.monotonic() < deadline and exporter.poll() is None,
                    f"node_exporter: {log.read_text()}",
                )
                time.sleep(0.2)
        traffic = subprocess.Popen(
            ["ip", "netns", "exec", sender, sys.executable, "-c", PACED_SENDER]
            + [address, str(per_s), str(payload_bytes), str(seconds)],
            stdout=subprocess.PIPE,
        )
        time.sleep(1.0)
        _, state, t0_ns, rx0 = scrape_in(receiver, url, device, state)
        time.sleep(3.0)
        parsed, state, t1_ns, rx1 = scrape_in(receiver, url, device, state)
        traffic.wait(timeout=10)
    finally:
        stop(exporter)
    used, capacity = by_resource(parsed)["network"]
    speed_mbit = int(
        subprocess.run(
            ["ip", "netns", "exec", receiver, "cat", f"/sys/class/net/{device}/speed"], capture_output=True
        ).stdout
    )
    assert capacity == speed_mbit * 1e6 / 8  # the veth's speed, as sysfs gives it
    # The kernel's own byte count over the same interval agrees within 3 %.
    assert used == pytest.approx((rx1 - rx0) / ((t1_ns - t0_ns) / 1e9), rel=0.03)
    # And the rate we sent at, within 10 % (pacing by a Python loop on a shared machine).
    assert used == pytest.approx(expected_bytes_s, rel=0.10)
