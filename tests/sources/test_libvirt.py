"""libvirt exporter mapping on the README examples of three exporters; expected values from their numbers."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from stackmeter import models
from stackmeter.sources.libvirt import parse_libvirt

FIXTURES = Path(__file__).parents[1] / "fixtures" / "libvirt"
ORIGIN = "http://compute-3.example:9177/metrics"
T0 = np.datetime64("2026-03-02T10:00:00", "ns")
STEP_S = 20
T1 = T0 + np.timedelta64(STEP_S, "s")


def value_of(text: str, name: str, domain: str, extra: str = "") -> float:
    """The value of the first sample of ``name`` for ``domain`` (and containing ``extra``), from the text."""
    pattern = (
        rf'^{re.escape(name)}\{{[^}}]*domain="{re.escape(domain)}"[^}}]*{re.escape(extra)}[^}}]*\}} (\S+)$'
    )
    return float(re.search(pattern, text, re.MULTILINE).group(1))


def advance(text: str, deltas: dict[str, float]) -> str:
    """The text with every sample of each metric name in ``deltas`` increased by its delta."""
    for name, delta in deltas.items():
        text = re.sub(
            rf"^({re.escape(name)}\{{[^}}]*\}}) (\S+)$",
            lambda match, delta=delta: f"{match.group(1)} {float(match.group(2)) + delta!r}",
            text,
            flags=re.MULTILINE,
        )
    return text


DELTAS = {
    "libvirt_domain_info_cpu_time_seconds_total": 30.0,  # 1.5 cores over 20 s
    "libvirt_domain_block_stats_read_bytes_total": 4e6,
    "libvirt_domain_block_stats_write_bytes_total": 6e6,
    "libvirt_domain_interface_stats_receive_bytes_total": 2e6,
    "libvirt_domain_interface_stats_transmit_bytes_total": 5e6,
}


def two_scrapes(fixture: str) -> tuple[str, models.Parsed]:
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    first, state = parse_libvirt(text, T0, origin=ORIGIN)
    assert first.samples.resource.tolist().count("cpu") == 0  # a rate needs two scrapes
    second, _ = parse_libvirt(advance(text, DELTAS), T1, state, origin=ORIGIN)
    return text, second


def samples_of(parsed: models.Parsed, entity: str) -> dict[str, tuple[float, float]]:
    s = parsed.samples
    return {
        r: (u, c) for e, r, u, c in zip(s.entity, s.resource, s.used, s.capacity, strict=True) if e == entity
    }


def test_tinkoff_scheme_names_the_vm_by_its_openstack_uuid():
    text, parsed = two_scrapes("tinkoff_README_metrics_example.prom")
    uuid = re.search(r'libvirt_domain_info_meta\{[^}]*[,{]uuid="([^"]+)"', text).group(1)
    project = re.search(r'project_uuid="([^"]+)"', text).group(1)
    domain = "instance-00000337"
    vcpus = value_of(text, "libvirt_domain_info_virtual_cpus", domain)
    available = value_of(text, "libvirt_domain_memory_stats_available_bytes", domain)
    usable = value_of(text, "libvirt_domain_memory_stats_usable_bytes", domain)
    got = samples_of(parsed, uuid)
    assert got["cpu"] == pytest.approx((30.0 / STEP_S, vcpus))
    assert got["memory"] == pytest.approx((available - usable, available))
    # the exporter's own used_percent agrees with available − usable
    assert got["memory"][0] / got["memory"][1] * 100 == pytest.approx(
        value_of(text, "libvirt_domain_memory_stats_used_percent", domain)
    )
    assert got["disk"][0] == pytest.approx((4e6 + 6e6) / STEP_S)  # one device: sda
    assert got["network"][0] == pytest.approx(5e6 / STEP_S)  # transmit is the larger
    assert math.isnan(got["disk"][1]) and math.isnan(got["network"][1])
    assert parsed.entities == (models.Entity(uuid, "vm", project, "compute-3.example"),)


def test_inovex_scheme_uses_its_openstack_info_metric():
    text, parsed = two_scrapes("inovex_README_example.prom")
    info = re.search(r"^libvirt_domain_openstack_info\{([^}]*)\}", text, re.MULTILINE).group(1)
    uuid = re.search(r'instance_id="([^"]+)"', info).group(1)
    project = re.search(r'project_id="([^"]+)"', info).group(1)
    domain = re.search(r'domain="([^"]+)"', info).group(1)
    got = samples_of(parsed, uuid)
    assert got["cpu"] == pytest.approx(
        (30.0 / STEP_S, value_of(text, "libvirt_domain_info_virtual_cpus", domain))
    )
    available = value_of(text, "libvirt_domain_memory_stats_available_bytes", domain)
    usable = value_of(text, "libvirt_domain_memory_stats_usable_bytes", domain)
    assert got["memory"] == pytest.approx((available - usable, available))
    assert got["disk"][0] == pytest.approx(10e6 / STEP_S)
    assert got["network"][0] == pytest.approx(5e6 / STEP_S)
    # instance-00000337 appears only in time and flush counters here: it gets no samples
    assert {entity.entity for entity in parsed.entities} == {uuid}
    assert parsed.entities[0].project == project


def test_zhangjianweibj_scheme_reads_uuid_project_and_host_labels():
    text, parsed = two_scrapes("zhangjianweibj_README_example.prom")
    line = next(
        line for line in text.splitlines() if line.startswith("libvirt_domain_info_cpu_time_seconds_total")
    )
    uuid = re.search(r'instanceId="([^"]+)"', line).group(1)
    got = samples_of(parsed, uuid)
    assert got["cpu"][0] == pytest.approx(30.0 / STEP_S)
    assert math.isnan(got["cpu"][1])  # this example has no vCPU count: capacity unknown, kept
    hosts = {entity.host for entity in parsed.entities}
    assert hosts == {"cmp001.inspurcloud.com"}
    # no balloon statistics: memory is not guessed, and that is said on the first scrape only
    assert "memory" not in set(parsed.samples.resource)
    first, _ = parse_libvirt(text, T0, origin=ORIGIN)
    assert [r.field for r in first.rejections] == ["libvirt_domain_memory_stats_available_bytes"]
    assert parsed.rejections == ()
    # a VM with two disks gets their sum: vda and vdb of instance-00006269 each read 4e6 more
    vm = next(e.entity for e in parsed.entities if e.project and e.project.startswith("0c6a"))
    assert samples_of(parsed, vm)["disk"][0] == pytest.approx(2 * 4e6 / STEP_S)


def test_a_reset_cpu_counter_gives_no_cpu_sample():
    text = (FIXTURES / "tinkoff_README_metrics_example.prom").read_text(encoding="utf-8")
    _, state = parse_libvirt(text, T0, origin=ORIGIN)
    restarted = advance(text, {"libvirt_domain_info_cpu_time_seconds_total": -949_000.0})
    parsed, _ = parse_libvirt(restarted, T1, state, origin=ORIGIN)
    assert "cpu" not in set(parsed.samples.resource)
    assert "memory" in set(parsed.samples.resource)


def test_an_implausible_cpu_rate_is_refused_and_the_rest_of_the_vm_lands():
    text = (FIXTURES / "tinkoff_README_metrics_example.prom").read_text(encoding="utf-8")
    _, state = parse_libvirt(text, T0, origin=ORIGIN)
    jumped = advance(text, {**DELTAS, "libvirt_domain_info_cpu_time_seconds_total": STEP_S * 2e9})
    parsed, _ = parse_libvirt(jumped, T1, state, origin=ORIGIN)
    _, clean = two_scrapes("tinkoff_README_metrics_example.prom")
    [rejection] = parsed.rejections
    assert (rejection.reason, rejection.detail) == (models.IMPLAUSIBLE, "used 2e+09 above 1e+09")
    assert rejection.field.endswith(" cpu")
    kept = clean.samples.resource != "cpu"
    assert clean.samples.resource.tolist().count("cpu") == 1 + parsed.samples.resource.tolist().count("cpu")
    for got, want in zip(parsed.samples, clean.samples, strict=True):
        np.testing.assert_array_equal(got[parsed.samples.resource != "cpu"], want[kept])


def test_a_scrape_time_outside_the_domain_gives_no_samples():
    text = (FIXTURES / "tinkoff_README_metrics_example.prom").read_text(encoding="utf-8")
    _, state = parse_libvirt(text, T0, origin=ORIGIN)
    parsed, kept = parse_libvirt(
        advance(text, DELTAS), np.datetime64("9999-12-31", "s"), state, origin=ORIGIN
    )
    assert parsed.samples.size == 0 and kept == state
    assert [r.reason for r in parsed.rejections] == [models.OUT_OF_TIME_DOMAIN]
