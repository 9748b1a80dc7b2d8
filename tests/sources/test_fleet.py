"""Fleet files: the shipped paper setup, and every kind of garbage refused with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackmeter.errors import ParseError, SourceUnavailable
from stackmeter.models import HOSTS_INTERLEAVED, VMS_CONTIGUOUS
from stackmeter.sources.fleet import SHIPPED_FLEETS, load_fleet, parse_fleet

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = SHIPPED_FLEETS / "planetlab-800.toml"

GOOD = """\
name = "lab"
host_order = "grouped"
vm_assignment = "round-robin"

[[hosts]]
name = "small"
count = 2
pes = 4
mips_per_pe = 2400
ram_mb = 16384
bandwidth_mbit_s = 10000
power_w = [50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150]

[[hosts]]
name = "big"
count = 1
pes = 16
mips_per_pe = 2800.5
ram_mb = 131072
bandwidth_mbit_s = 25000
power_w = [100, 120, 140, 160, 180, 200, 220, 240, 260, 280, 300]

[[vm_types]]
name = "m1.small"
mips_per_pe = 2400
pes = 1
ram_mb = 2048
bandwidth_mbit_s = 1000
"""


def test_the_shipped_fleet_is_the_papers():
    # Beloglazov & Buyya 2012 as CloudSim 3.0's Constants.java sets it up (and the data README):
    # 400 + 400 hosts, even ids G4 (2 × 1860 MIPS), odd ids G5 (2 × 2660), 4 GB, 1 Gbit/s.
    shipped = load_fleet(SHIPPED)
    fleet, vm_types = shipped.fleet, shipped.vm_types
    assert fleet.hosts == 800 and fleet.host_order == HOSTS_INTERLEAVED
    g4, g5 = (group.host_type for group in fleet.groups)
    assert [group.hosts for group in fleet.groups] == [400, 400]
    assert (g4.pes, g4.mips_per_pe, g4.ram_mb, g4.bandwidth_mbit_s) == (2, 1860, 4096, 1000)
    assert (g5.pes, g5.mips_per_pe, g5.ram_mb, g5.bandwidth_mbit_s) == (2, 2660, 4096, 1000)
    assert g4.power.watts == (86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117)
    assert g5.power.watts == (93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135)
    assert vm_types.assignment == VMS_CONTIGUOUS
    sizes = [(t.mips_per_pe, t.pes, t.ram_mb, t.bandwidth_mbit_s) for t in vm_types.types]
    assert sizes == [(2500, 1, 870, 100), (2000, 1, 1740, 100), (1000, 1, 1740, 100), (500, 1, 613, 100)]


def test_a_good_file():
    parsed = parse_fleet(GOOD, "lab.toml")
    assert parsed.fleet.name == "lab" and parsed.fleet.hosts == 3
    assert parsed.fleet.groups[1].host_type.mips == 16 * 2800.5
    assert parsed.vm_types.types[0].name == "m1.small"


def test_a_ram_allocation_ratio_is_optional_and_may_be_unbounded():
    parsed = parse_fleet(garbage("ram_mb = 131072\n", "ram_mb = 131072\nram_allocation_ratio = inf\n"))
    small, big = (group.host_type for group in parsed.fleet.groups)
    assert small.ram_allocation_ratio == 1.0
    assert big.ram_allocation_ratio == float("inf")
    parsed = parse_fleet(garbage("ram_mb = 16384\n", "ram_mb = 16384\nram_allocation_ratio = 1.5\n"))
    assert parsed.fleet.groups[0].host_type.ram_allocation_ratio == 1.5
    assert parsed.fleet.groups[0].host_type.wake_s == 0.0
    parsed = parse_fleet(garbage("ram_mb = 16384\n", "ram_mb = 16384\nwake_s = 45\n"))
    assert parsed.fleet.groups[0].host_type.wake_s == 45.0


def garbage(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "field", "line", "message"),
    [
        (garbage("count = 2", "count = 2 2"), None, 7, "not valid TOML"),
        (garbage('name = "lab"\n', ""), None, None, "missing name"),
        (
            garbage('host_order = "grouped"', 'host_order = "random"'),
            "host_order",
            2,
            "'interleaved' or 'grouped'",
        ),
        (garbage('vm_assignment = "round-robin"', "vm_assignment = 4"), "vm_assignment", 3, "'contiguous'"),
        (garbage('name = "lab"', 'name = "lab"\ncolour = "blue"'), "colour", 2, "unknown key"),
        (garbage("pes = 4\n", "pes = 4\ncores = 4\n"), "hosts[1].cores", 9, "unknown key"),
        (garbage("pes = 4\n", ""), "hosts[1]", 5, "missing pes"),
        (garbage("count = 2", "count = 0"), "hosts[1].count", 7, "whole number ≥ 1"),
        (garbage("count = 2", "count = 2.5"), "hosts[1].count", 7, "whole number ≥ 1"),
        (garbage("count = 2", "count = true"), "hosts[1].count", 7, "whole number ≥ 1"),
        (garbage("mips_per_pe = 2400\n", "mips_per_pe = -2400\n"), "hosts[1].mips_per_pe", 9, "number > 0"),
        (garbage("mips_per_pe = 2800.5", "mips_per_pe = nan"), "hosts[2].mips_per_pe", 18, "number > 0"),
        (garbage("ram_mb = 131072", "ram_mb = inf"), "hosts[2].ram_mb", 19, "number > 0"),
        (
            garbage("bandwidth_mbit_s = 10000", 'bandwidth_mbit_s = "10G"'),
            "hosts[1].bandwidth_mbit_s",
            11,
            "> 0",
        ),
        (garbage('name = "small"', 'name = ""'), "hosts[1].name", 6, "non-empty string"),
        (garbage('name = "big"', 'name = "small"'), "hosts[2].name", 15, "already the name"),
        (
            garbage("110, 120, 130, 140, 150]", "110, 105, 130, 140, 150]"),
            "hosts[1].power_w",
            12,
            "must not fall",
        ),
        (
            garbage("[50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150]", "[50, 150]"),
            "hosts[1].power_w",
            12,
            "2 values",
        ),
        (garbage("[50, 60, 70, 80, 90,", '[50, 60, "70", 80, 90,'), "hosts[1].power_w", 12, "'70' at 20 %"),
        (garbage("[50, 60, 70, 80, 90,", "[-50, 60, 70, 80, 90,"), "hosts[1].power_w", 12, "at 0 %"),
        (garbage("power_w = [100, 120", "power_w = 100\n# [100, 120"), "hosts[2].power_w", 21, "11 numbers"),
        (GOOD.replace("[[vm_types]]", "[vm_types]"), "vm_types", None, "[[vm_types]] tables"),
        (
            GOOD[: GOOD.index("[[vm_types]]")].replace('"round-robin"\n', '"round-robin"\nvm_types = []\n'),
            "vm_types",
            4,
            "one or more",
        ),
        (garbage("pes = 1\n", "pes = 0\n"), "vm_types[1].pes", 26, "whole number ≥ 1"),
        (garbage("ram_mb = 2048", "ram_mb = 0"), "vm_types[1].ram_mb", 27, "number > 0"),
        (
            garbage("ram_mb = 16384\n", "ram_mb = 16384\nram_allocation_ratio = 0\n"),
            "hosts[1].ram_allocation_ratio",
            11,
            "number > 0 or inf",
        ),
        (
            garbage("ram_mb = 131072\n", 'ram_mb = 131072\nram_allocation_ratio = "1.5"\n'),
            "hosts[2].ram_allocation_ratio",
            20,
            "number > 0 or inf, not '1.5'",
        ),
        (
            garbage("ram_mb = 16384\n", "ram_mb = 16384\nwake_s = -30\n"),
            "hosts[1].wake_s",
            11,
            "number of seconds ≥ 0, not -30",
        ),
        (
            garbage("ram_mb = 16384\n", "ram_mb = 16384\nram_allocation_ratio = nan\n"),
            "hosts[1].ram_allocation_ratio",
            11,
            "number > 0 or inf",
        ),
    ],
)
def test_garbage_is_refused_naming_file_line_and_key(text, field, line, message):
    with pytest.raises(ParseError) as caught:
        parse_fleet(text, "fleets/lab.toml")
    error = caught.value
    assert str(error).startswith("fleets/lab.toml")
    assert message in str(error)
    assert error.path == "fleets/lab.toml"
    assert error.field == field
    assert error.line == line
    if field:
        assert field in str(error)


def test_files_that_cannot_be_read(tmp_path):
    with pytest.raises(SourceUnavailable, match="missing.toml"):
        load_fleet(tmp_path / "missing.toml")
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(GOOD.replace('"lab"', '"l\xe4b"').encode("latin-1"))
    with pytest.raises(ParseError, match="UTF-8") as caught:
        load_fleet(latin1)
    assert caught.value.line == 1
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ParseError, match="not valid TOML"):
        load_fleet(binary)
