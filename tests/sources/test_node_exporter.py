"""node_exporter mapping on the upstream e2e fixture; expected values come from the fixture's own numbers."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from stackmeter import models
from stackmeter.sources.exposition import CounterState, instance_of
from stackmeter.sources.node_exporter import HostRules, parse_node_exporter

FIXTURE = Path(__file__).parents[1] / "fixtures" / "node_exporter" / "e2e-output.txt"
ORIGIN = "http://hv1.example:9100/metrics"
T0 = np.datetime64("2026-03-02T10:00:00", "ns")
STEP_S = 15
T1 = T0 + np.timedelta64(STEP_S, "s")


def read_fixture() -> str:
    return FIXTURE.read_text(encoding="utf-8")


def series_values(text: str, name: str) -> dict[str, float]:
    """``{labels text: value}`` of a metric, read straight off the exposition lines."""
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", re.MULTILINE)
    return {match.group(1) or "": float(match.group(2)) for match in pattern.finditer(text)}


def advance(text: str, name: str, deltas: dict[str, float]) -> str:
    """The exposition with the series of ``name`` whose labels text contains a key increased by its delta."""

    def bump(match: re.Match) -> str:
        labels, value = match.group(1) or "", float(match.group(2))
        delta = sum(amount for key, amount in deltas.items() if key in labels)
        return f"{name}{labels} {value + delta!r}"

    return re.sub(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", bump, text, flags=re.MULTILINE)


def insert_after_type(text: str, name: str, lines: list[str]) -> str:
    """The exposition with sample lines added to the family ``name`` (right after its TYPE line)."""
    type_line = f"# TYPE {name} "
    start = text.index(type_line)
    end = text.index("\n", start) + 1
    return text[:end] + "".join(line + "\n" for line in lines) + text[end:]


def with_memory_and_network(text: str, rx: dict[str, float], tx: dict[str, float]) -> str:
    """The fixture plus what it lacks: MemAvailable (= MemFree + Buffers + Cached) and byte counters."""
    free = series_values(text, "node_memory_MemFree_bytes")[""]
    buffers = series_values(text, "node_memory_Buffers_bytes")[""]
    cached = series_values(text, "node_memory_Cached_bytes")[""]
    text = insert_after_type(
        text, "node_memory_MemFree_bytes", [f"node_memory_MemAvailable_bytes {free + buffers + cached!r}"]
    )
    rx_lines = [
        f'node_network_receive_bytes_total{{device="{device}"}} {value!r}' for device, value in rx.items()
    ]
    tx_lines = [
        f'node_network_transmit_bytes_total{{device="{device}"}} {value!r}' for device, value in tx.items()
    ]
    text = insert_after_type(text, "node_network_receive_bytes_total", rx_lines)
    return insert_after_type(text, "node_network_transmit_bytes_total", tx_lines)


def by_resource(parsed: models.Parsed) -> dict[str, tuple[float, float]]:
    samples = parsed.samples
    return {r: (u, c) for r, u, c in zip(samples.resource, samples.used, samples.capacity, strict=True)}


START_RX = {"eth0": 7.0e9, "bond0": 9.0e9, "lo": 1.0e9, "veth1a2b": 2.0e9}
START_TX = {"eth0": 3.0e9, "bond0": 4.0e9, "lo": 1.0e9, "veth1a2b": 2.0e9}


@pytest.fixture
def two_scrapes():
    first = with_memory_and_network(read_fixture(), START_RX, START_TX)
    second = advance(
        first, "node_cpu_seconds_total", {'mode="user"': 3.0, 'mode="system"': 1.5, 'mode="idle"': 9.0}
    )
    second = advance(second, "node_cpu_seconds_total", {'mode="iowait"': 1.0, 'mode="softirq"': 0.15})
    second = advance(second, "node_disk_io_time_seconds_total", {'"sda"': 7.5, '"vda"': 3.0, '"sr0"': 15.0})
    second = advance(
        second, "node_network_receive_bytes_total", {'"eth0"': 30e6, '"bond0"': 3e6, '"lo"': 9e9}
    )
    second = advance(second, "node_network_transmit_bytes_total", {'"eth0"': 15e6, '"veth1a2b"': 8e9})
    return first, second


def test_first_scrape_gives_memory_only_and_a_counter_state(two_scrapes):
    first, _ = two_scrapes
    parsed, state = parse_node_exporter(first, T0, origin=ORIGIN)
    memory = (
        series_values(first, "node_memory_MemTotal_bytes")[""],
        series_values(first, "node_memory_MemAvailable_bytes")[""],
    )
    assert by_resource(parsed) == {"memory": (memory[0] - memory[1], memory[0])}
    assert list(parsed.samples.ts) == [T0]
    assert state.scraped_at_ns == T0.astype(np.int64)
    cpu_series = series_values(first, "node_cpu_seconds_total")
    assert sum(1 for series in state.values if series[0] == "node_cpu_seconds_total") == len(cpu_series)
    assert parsed.rejections == ()


def test_second_scrape_follows_the_mapping(two_scrapes):
    first, second = two_scrapes
    _, state = parse_node_exporter(first, T0, origin=ORIGIN)
    parsed, _ = parse_node_exporter(second, T1, state, origin=ORIGIN)

    cpus = {
        re.search(r'cpu="(\d+)"', labels).group(1)
        for labels in series_values(first, "node_cpu_seconds_total")
    }
    busy_per_cpu_s = 3.0 + 1.5 + 0.15  # user + system + softirq; idle and iowait are not busy
    memory_total = series_values(first, "node_memory_MemTotal_bytes")[""]
    memory_available = series_values(first, "node_memory_MemAvailable_bytes")[""]
    speed_eth0 = series_values(first, "node_network_speed_bytes")['{device="eth0"}']
    expected = {
        "cpu": (len(cpus) * busy_per_cpu_s / STEP_S, float(len(cpus))),
        "memory": (memory_total - memory_available, memory_total),
        "disk": (7.5 / STEP_S, 1.0),  # sda; sr0 (optical) is excluded
        "network": (30e6 / STEP_S, speed_eth0),  # eth0 receive; lo and veth are not physical
    }
    got = by_resource(parsed)
    assert got.keys() == expected.keys()
    for resource, (used, capacity) in expected.items():
        assert got[resource][0] == pytest.approx(used, rel=1e-9), resource
        assert got[resource][1] == pytest.approx(capacity), resource
    assert set(parsed.samples.entity) == {"hv1.example:9100"}
    assert parsed.entities == (models.Entity("hv1.example:9100", kind="host"),)
    assert (parsed.samples.ts == T1).all()


def test_interface_rule_is_configurable(two_scrapes):
    first, second = two_scrapes
    rules = HostRules(interface_exclude=r"lo|eth0")
    _, state = parse_node_exporter(first, T0, origin=ORIGIN, rules=rules)
    parsed, _ = parse_node_exporter(second, T1, state, origin=ORIGIN, rules=rules)
    used, capacity = by_resource(parsed)["network"]
    assert used == pytest.approx(8e9 / STEP_S)  # veth1a2b transmit now counts
    assert math.isnan(capacity)  # no speed for it: unknown capacity, kept


def test_nodename_names_the_host():
    text = read_fixture() + 'node_uname_info{machine="x86_64",nodename="compute-7",release="6.1"} 1\n'
    parsed, _ = parse_node_exporter(text, T0, origin=ORIGIN)
    assert parsed.entities[0].entity == "compute-7"
    assert instance_of(ORIGIN) == "hv1.example:9100"


def test_fixture_as_is_reports_what_it_lacks_once():
    parsed, state = parse_node_exporter(read_fixture(), T0, origin=ORIGIN)
    missing = {rejection.field for rejection in parsed.rejections}
    assert missing == {"node_memory_MemAvailable_bytes", "node_network_receive_bytes_total"}
    assert parsed.samples.size == 0
    again, _ = parse_node_exporter(read_fixture(), T1, state, origin=ORIGIN)
    assert again.rejections == ()  # not every round: once per target and run


def test_counter_reset_gives_no_rate_for_that_interval(two_scrapes):
    first, second = two_scrapes
    _, state = parse_node_exporter(first, T0, origin=ORIGIN)
    sda_before = series_values(first, "node_disk_io_time_seconds_total")['{device="sda"}']
    reset = advance(second, "node_disk_io_time_seconds_total", {'"sda"': -sda_before})  # sda restarted near 0
    reset = advance(reset, "node_cpu_seconds_total", {'cpu="3",mode="user"': -400.0})
    parsed, state = parse_node_exporter(reset, T1, state, origin=ORIGIN)
    got = by_resource(parsed)
    assert "cpu" not in got  # one busy series was reset: the sum would be wrong
    assert got["disk"][0] == pytest.approx(3.0 / STEP_S)  # vda, the busiest device with a rate
    # After the reset, rates resume from the new values.
    later = advance(reset, "node_cpu_seconds_total", {'mode="user"': 1.5})
    parsed, _ = parse_node_exporter(later, T1 + np.timedelta64(STEP_S, "s"), state, origin=ORIGIN)
    assert by_resource(parsed)["cpu"][0] == pytest.approx(8 * 1.5 / STEP_S)


@pytest.mark.parametrize("bad", ["NaN", "+Inf", "-Inf", "-3"])
def test_invalid_counter_value_is_rejected_and_drops_only_its_resource(two_scrapes, bad):
    first, second = two_scrapes
    _, state = parse_node_exporter(first, T0, origin=ORIGIN)
    broken = re.sub(
        r'^(node_cpu_seconds_total\{cpu="2",mode="user"\}) \S+$', rf"\1 {bad}", second, flags=re.M
    )
    parsed, new_state = parse_node_exporter(broken, T1, state, origin=ORIGIN)
    assert set(by_resource(parsed)) == {"memory", "disk", "network"}
    [rejection] = parsed.rejections
    assert rejection.field == 'node_cpu_seconds_total{cpu="2",mode="user"}'
    assert rejection.reason == (models.NEGATIVE_VALUE if bad == "-3" else models.NOT_FINITE)
    assert ("node_cpu_seconds_total", (("cpu", "2"), ("mode", "user"))) not in new_state.values
    assert np.isfinite(parsed.samples.used).all()


def test_duplicate_series_first_wins(two_scrapes):
    first, second = two_scrapes
    _, state = parse_node_exporter(first, T0, origin=ORIGIN)
    duplicated = second + 'node_disk_io_time_seconds_total{device="sda"} 1e12\n'
    parsed, _ = parse_node_exporter(duplicated, T1, state, origin=ORIGIN)
    assert parsed.duplicates == 1
    assert by_resource(parsed)["disk"][0] == pytest.approx(7.5 / STEP_S)


def test_a_previous_state_from_the_future_gives_no_rates(two_scrapes):
    first, second = two_scrapes
    _, state = parse_node_exporter(second, T1, origin=ORIGIN)
    parsed, _ = parse_node_exporter(first, T0, state, origin=ORIGIN)
    assert set(by_resource(parsed)) == {"memory"}


def test_empty_state_is_the_default():
    assert CounterState() == (None, {})


def test_unknown_link_speed_is_unknown_capacity_not_an_error(two_scrapes):
    first, second = (
        text.replace(
            'node_network_speed_bytes{device="eth0"} 1.25e+08',
            'node_network_speed_bytes{device="eth0"} -125000',
        )
        for text in two_scrapes
    )
    _, state = parse_node_exporter(first, T0, origin=ORIGIN)
    parsed, _ = parse_node_exporter(second, T1, state, origin=ORIGIN)
    used, capacity = by_resource(parsed)["network"]
    assert used == pytest.approx(30e6 / STEP_S) and math.isnan(capacity)
    assert parsed.rejections == ()


BUSY = models.MAX_UTILIZATION * 2  # twice the busiest fraction a real system reports


@pytest.mark.parametrize(
    "name, deltas, resource, detail",
    [
        # a counter that jumps: 8 CPUs busy for 1e12 s each in 15 s
        ("node_cpu_seconds_total", {'mode="user"': 1e12}, "cpu", "used 5.33333e+11 above 1e+09"),
        ("node_disk_io_time_seconds_total", {'"sda"': STEP_S * BUSY}, "disk", "utilization"),
        ("node_network_receive_bytes_total", {'"eth0"': STEP_S * 2e15}, "network", "used 2e+15 above 1e+15"),
        ("node_network_receive_bytes_total", {'"eth0"': 1e308}, "network", "used 6.66667e+306 above 1e+15"),
    ],
)
def test_implausible_rates_are_refused_and_the_other_resources_land(
    two_scrapes, name, deltas, resource, detail
):
    first, second = two_scrapes
    _, state = parse_node_exporter(first, T0, origin=ORIGIN)
    parsed, _ = parse_node_exporter(advance(second, name, deltas), T1, state, origin=ORIGIN)
    assert set(by_resource(parsed)) == set(models.RESOURCES) - {resource}
    [rejection] = parsed.rejections
    assert (rejection.path, rejection.field, rejection.reason) == (ORIGIN, resource, models.IMPLAUSIBLE)
    assert rejection.detail.startswith(detail)


@pytest.mark.parametrize(
    "at", [np.datetime64("0001-01-01", "s"), np.datetime64("2200-01-01", "s"), -1, 2**63 - 1]
)
def test_a_scrape_time_outside_the_domain_gives_no_samples_and_keeps_the_state(two_scrapes, at):
    first, second = two_scrapes
    _, state = parse_node_exporter(first, T0, origin=ORIGIN)
    parsed, kept = parse_node_exporter(second, at, state, origin=ORIGIN)
    assert parsed.samples.size == 0 and kept == state
    [rejection] = parsed.rejections
    assert (rejection.path, rejection.reason) == (ORIGIN, models.OUT_OF_TIME_DOMAIN)
    assert rejection.detail.startswith("scrape time ")
