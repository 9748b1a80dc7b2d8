"""The scaled Bitbrains data set of the benchmarks: deterministic, and the real values re-timed."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from benchmarks.scaled_bitbrains import generate

from stackmeter.sources.bitbrains import load_bitbrains_file

FIXTURES = Path(__file__).parent / "fixtures" / "bitbrains"  # VMs 41, 51, 176, 196 × 3 months
SPAN_S = 30 * 86_400
AUGUST_1 = 1_375_315_200  # 2013-08-01 00:00 UTC


def read_raw(path: Path) -> np.ndarray:
    with gzip.open(path, "rt") as handle:
        return np.loadtxt(handle, delimiter=";", skiprows=1, ndmin=2)


def expected_cpu(month: str, vm: str, rotation_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Times and cpu utilization of a VM's month, snapped, sliced, rotated: computed from the raw file."""
    snapped = {name: (read_raw(p)[:, 0].astype(np.int64) + 150) // 300 * 300 for name, p in _files(month)}
    slice_start = min(times[0] for times in snapped.values())
    table = read_raw(FIXTURES / month / f"{vm}.csv.gz")
    times = snapped[vm]
    first = np.array(
        [i == 0 or times[i] != times[i - 1] for i in range(times.size)]
    )  # files are in time order
    keep = first & (times >= slice_start) & (times < slice_start + SPAN_S) & (table[:, 2] > 0)
    new_times = AUGUST_1 + (times[keep] - slice_start + rotation_s) % SPAN_S
    order = np.argsort(new_times)
    return new_times[order], (table[keep, 3] / table[keep, 2])[order]


def _files(month: str):
    return [(p.name.split(".")[0], p) for p in sorted((FIXTURES / month).glob("*.csv.gz"))]


def test_the_same_options_write_the_same_bytes(tmp_path):
    generate(tmp_path / "a", 14, FIXTURES, jobs=1)
    generate(tmp_path / "b", 14, FIXTURES, jobs=2)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [f"vm-{k:05d}.csv.gz" for k in range(14)]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_an_entity_replays_the_real_values_of_its_vm_month_and_rotation(tmp_path):
    # 4 VMs (41, 51, 176, 196) × 3 months: entity 17 is VM 51 (17 mod 4 = 1) of 2013-8
    # ((17 // 4) mod 3 = 1), in its second turn (17 // 12 = 1): rotated by 1 day + 5 minutes.
    generate(tmp_path, 18, FIXTURES, jobs=1)
    parsed = load_bitbrains_file(tmp_path / "vm-00017.csv.gz")
    cpu = parsed.samples.resource == "cpu"
    times = parsed.samples.ts[cpu].astype("datetime64[s]").astype(np.int64)
    utilization = parsed.samples.used[cpu] / parsed.samples.capacity[cpu]

    expected_times, expected_utilization = expected_cpu("2013-8", "51", 86_400 + 300)
    assert not parsed.rejections and parsed.duplicates == 0
    np.testing.assert_array_equal(times, expected_times)
    np.testing.assert_array_equal(utilization, expected_utilization)
    assert times[0] == AUGUST_1 and times[-1] < AUGUST_1 + SPAN_S
