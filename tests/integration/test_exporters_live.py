"""Real node_exporter and Prometheus on loopback ports of their own: load we make must show as we made it.

Install the servers with ``scripts/install-test-deps.sh``. With CI=true a server that cannot start
fails the test; elsewhere it skips.
"""

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
import numpy as np
import pytest

from stackmeter import operations
from stackmeter.sources.exposition import CounterState
from stackmeter.sources.node_exporter import DEFAULT_DISK_EXCLUDE, HostRules, parse_node_exporter
from stackmeter.sources.scrape import Target
from stackmeter.store import open_store

pytestmark = pytest.mark.integration

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


@pytest.fixture(scope="module")
def node_exporter(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("node_exporter") / "log"
    command = ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}", *COLLECTORS]
    url = f"http://127.0.0.1:{port}/metrics"
    process = start(command, url, log)
    yield url
    stop(process)


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


@pytest.fixture(scope="module")
def metric_servers(node_exporter, tmp_path_factory):
    """Prometheus and VictoriaMetrics, both scraping the node_exporter every second: name -> API root."""
    folder = tmp_path_factory.mktemp("servers")
    config = write_scrape_config(folder, node_exporter)
    ports = {"prometheus": free_port(), "victoria-metrics": free_port()}
    commands = {
        "prometheus": [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        ],
        "victoria-metrics": [
            "victoria-metrics",
            f"-httpListenAddr=127.0.0.1:{ports['victoria-metrics']}",
            f"-storageDataPath={folder / 'victoria-metrics'}",
            f"-promscrape.config={config}",
            "-search.latencyOffset=0s",  # answer up to now, not 30 s ago as by default
            "-retentionPeriod=1d",
        ],
    }
    ready = {"prometheus": "/-/ready", "victoria-metrics": "/health"}
    processes = {}
    try:
        for name, command in commands.items():  # both start at once, then both are waited for
            require(
                shutil.which(command[0]) is not None,
                f"{command[0]} is not installed (scripts/install-test-deps.sh)",
            )
            with (folder / f"{name}.log").open("wb") as output:
                processes[name] = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, url in urls.items():
            wait_until_ready(url + ready[name], processes[name], folder / f"{name}.log")
            wait_for_scrapes(url, 3)
        yield urls
    finally:
        for process in processes.values():
            stop(process)


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


def test_prometheus_and_victoria_metrics_agree_with_direct_collection(node_exporter, metric_servers):
    step_s = 2.0
    burner = burn_one_core()
    direct = []
    try:
        time.sleep(1.0)
        _, state = scrape(node_exporter, CounterState())
        for _ in range(5):
            time.sleep(step_s)
            parsed, state = scrape(node_exporter, state)
            direct.append(parsed)
    finally:
        burner.kill()
        burner.wait()
    time.sleep(1.5)  # the servers scrape every second: let them catch up
    first, last = direct[0].samples.ts[0], direct[-1].samples.ts[0]
    host = direct[0].entities[0].entity

    def direct_mean(resource: str) -> float:
        return float(np.mean([by_resource(p)[resource][0] for p in direct]))

    total = by_resource(direct[0])["memory"][1]
    for server_url in metric_servers.values():
        flush_recent_samples(server_url)
        with open_store(":memory:") as store:
            summary = operations.ingest_prometheus(store, server_url, first, last, step_s, rate_window_s=3.0)
            assert summary.samples_added > 0 and store.has_entity(host)  # named by nodename both ways
            via_server = {r: store.read_series(host, r) for r in ("cpu", "memory", "disk")}
        # Busy cores: the server rates over 3 s windows at 1 s scrapes, ours over 2 s between our
        # own scrapes; the means over the same 10 s agree within 0.25 cores.
        assert via_server["cpu"].size >= 4, server_url
        assert float(np.mean(via_server["cpu"].used)) == pytest.approx(direct_mean("cpu"), abs=0.25)
        assert set(via_server["cpu"].capacity) == {by_resource(direct[0])["cpu"][1]}
        # Memory within 2 % of the total, disk busy within 0.1.
        memory_mean = float(np.mean(via_server["memory"].used))
        assert memory_mean == pytest.approx(direct_mean("memory"), abs=0.02 * total)
        assert set(via_server["memory"].capacity) == {total}
        assert float(np.mean(via_server["disk"].used)) == pytest.approx(direct_mean("disk"), abs=0.1)


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
