"""Starting, stopping and reading the real servers of the integration tests, and the kernel's own counters."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from stackmeter.sources.exposition import CounterState
from stackmeter.sources.node_exporter import DEFAULT_DISK_EXCLUDE, HostRules, parse_node_exporter

COLLECTORS = ["--collector.disable-defaults"] + [
    f"--collector.{name}" for name in ("cpu", "meminfo", "diskstats", "netdev", "netclass", "uname")
]


def require(condition: bool, why: str) -> None:
    """Skip when ``condition`` fails, except in CI, where a missing server is a failure."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            require(False, f"{process.args[0]} exited with {process.returncode}: {log.read_text()[-500:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    require(False, f"{url} not ready after {seconds} s: {log.read_text()[-500:]}")


def start(command: list[str], ready_url: str, log: Path) -> subprocess.Popen:
    require(
        shutil.which(command[0]) is not None, f"{command[0]} is not installed (scripts/install-test-deps.sh)"
    )
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(ready_url, process, log)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def write_scrape_config(folder: Path, node_exporter: str) -> Path:
    """A Prometheus-format scrape configuration: the node_exporter every second."""
    config = folder / "scrape.yml"
    target = node_exporter.split("//")[1].split("/")[0]
    config.write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: node
                static_configs:
                  - targets: ["{target}"]
            """
        )
    )
    return config


def wait_for_scrapes(url: str, count: int, seconds: float = 20.0) -> None:
    """Wait until the server holds ``count`` scrapes of its target, so that rate() has data."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        flush_recent_samples(url)
        answer = httpx.get(f"{url}/api/v1/query", params={"query": "count_over_time(up[1m])"}).json()
        result = answer["data"]["result"]
        if result and float(result[0]["value"][1]) >= count:
            return
        time.sleep(0.5)
    require(False, f"the server at {url} did not scrape its target {count} times in {seconds} s")


def flush_recent_samples(url: str) -> None:
    """Make VictoriaMetrics' last seconds searchable now (it buffers them); Prometheus answers 404."""
    httpx.get(f"{url}/internal/force_flush")


def scrape(url: str, previous: CounterState, rules: HostRules = HostRules()):
    started_ns = time.time_ns()
    body = httpx.get(url, timeout=5.0).content
    scraped_ns = (started_ns + time.time_ns()) // 2  # as collect stamps a scrape
    return parse_node_exporter(body, scraped_ns, previous, url, rules)


def by_resource(parsed) -> dict[str, tuple[float, float]]:
    s = parsed.samples
    return {r: (u, c) for r, u, c in zip(s.resource, s.used, s.capacity, strict=True)}


def read_proc_stat() -> tuple[int, float]:
    """(CPU count, busy CPU seconds summed over CPUs) from /proc/stat, as the kernel counts them."""
    hertz = os.sysconf("SC_CLK_TCK")
    cpus, busy = 0, 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        if re.match(r"cpu\d+ ", line):
            fields = [int(x) for x in line.split()[1:]]
            cpus += 1
            # user nice system idle iowait irq softirq steal (guest is inside user)
            busy += sum(fields[:8]) - fields[3] - fields[4]
    return cpus, busy / hertz


def read_io_ticks_s() -> dict[str, float]:
    """Seconds each block device had I/O in flight (field 13 of /proc/diskstats, in ms)."""
    ticks = {}
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        if not re.fullmatch(DEFAULT_DISK_EXCLUDE, fields[2]):
            ticks[fields[2]] = int(fields[12]) / 1000
    return ticks


def scrape_between_kernel_reads(url: str, previous: CounterState):
    """A scrape, and the kernel's counters read just before and just after it, averaged.

    node_exporter reads them somewhere in between; on a loaded machine that can be a few hundred
    ms after the request starts, so the average is closer than either read.
    """
    reads = []
    for _ in range(2):
        reads.append((*read_proc_stat(), read_io_ticks_s(), time.monotonic()))
        if len(reads) == 1:
            parsed, state = scrape(url, previous)
    (cpus, busy_a, ticks_a, t_a), (_, busy_b, ticks_b, t_b) = reads
    ticks = {device: (ticks_a[device] + ticks_b.get(device, ticks_a[device])) / 2 for device in ticks_a}
    return parsed, state, (cpus, (busy_a + busy_b) / 2, ticks, (t_a + t_b) / 2)


def burn_one_core() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


# Writes 8 MiB blocks round a 128 MiB file and syncs each, bypassing the page cache where it can.
DISK_WRITER = """\
import mmap, os, sys
size = 8 << 20
buffer = mmap.mmap(-1, size)
buffer.write(os.urandom(size))
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    os.pwrite(fd, buffer, 0)
except OSError:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
block = 0
while True:
    os.pwrite(fd, buffer, (block % 16) * size)
    os.fsync(fd)
    block += 1
"""
