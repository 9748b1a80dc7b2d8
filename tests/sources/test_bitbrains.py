"""Bitbrains files: real excerpts read like pandas reads them, and every kind of bad line located."""

from __future__ import annotations

import gzip
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from stackmeter.models import (
    BAD_CAPACITY,
    BAD_TIMESTAMP,
    EMPTY_FILE,
    NEGATIVE_VALUE,
    NOT_A_NUMBER,
    NOT_FINITE,
    OUT_OF_ORDER,
    WRONG_FIELD_COUNT,
    WRONG_FORMAT,
)
from stackmeter.sources.bitbrains import HEADER, entity_of, load_bitbrains_file
from tests.reference import FIXTURES

REAL = FIXTURES / "bitbrains" / "2013-7" / "196.csv.gz"  # has duplicates and zero capacities


def raw_frame(path):
    with gzip.open(path, "rt") as handle:
        frame = pd.read_csv(handle, sep=";\t", engine="python")
    frame.columns = [c.strip() for c in frame.columns]
    return frame


def test_real_file_matches_an_independent_read():
    parsed = load_bitbrains_file(REAL, disk_capacity_bytes_s=1e6)
    frame = raw_frame(REAL)
    samples = parsed.samples
    cpu = samples.resource == "cpu"
    valid = frame[frame["CPU capacity provisioned [MHZ]"] > 0].drop_duplicates("Timestamp [ms]")
    assert cpu.sum() == len(valid)
    np.testing.assert_array_equal(samples.used[cpu], valid["CPU usage [MHZ]"].to_numpy())
    np.testing.assert_array_equal(samples.capacity[cpu], valid["CPU capacity provisioned [MHZ]"].to_numpy())
    expected_ts = pd.to_datetime(valid["Timestamp [ms]"], unit="s").to_numpy()
    np.testing.assert_array_equal(samples.ts[cpu], expected_ts)
    memory = samples.resource == "memory"
    mem_valid = frame[frame["Memory capacity provisioned [KB]"] > 0].drop_duplicates("Timestamp [ms]")
    np.testing.assert_allclose(samples.used[memory], mem_valid["Memory usage [KB]"].to_numpy() * 1024)
    disk = samples.resource == "disk"
    all_rows = frame.drop_duplicates("Timestamp [ms]")
    read_write = all_rows["Disk read throughput [KB/s]"] + all_rows["Disk write throughput [KB/s]"]
    np.testing.assert_allclose(samples.used[disk], read_write.to_numpy() * 1024)
    assert (samples.capacity[disk] == 1e6).all()
    network = samples.resource == "network"
    assert np.isnan(samples.capacity[network]).all()  # no capacity given: never guessed
    # duplicates: rows sharing a timestamp, per resource, beyond the first valid one
    dup_rows = len(frame) - frame["Timestamp [ms]"].nunique()
    assert dup_rows > 0
    cpu_dups = (frame["CPU capacity provisioned [MHZ]"] > 0).sum() - len(valid)
    mem_dups = (frame["Memory capacity provisioned [KB]"] > 0).sum() - len(mem_valid)
    assert parsed.duplicates == cpu_dups + mem_dups + 2 * dup_rows
    reasons = Counter(r.reason for r in parsed.rejections)
    zero_cpu = (frame["CPU capacity provisioned [MHZ]"] <= 0).sum()
    zero_memory = (frame["Memory capacity provisioned [KB]"] <= 0).sum()
    assert reasons == {BAD_CAPACITY: zero_cpu + zero_memory}
    assert parsed.entities[0].entity == "196"


def test_entity_is_the_file_name_without_extensions(tmp_path):
    assert entity_of(REAL) == "196"
    assert entity_of(tmp_path / "12.csv") == "12"


def write(tmp_path, lines, name="7.csv"):
    path = tmp_path / name
    path.write_text(";\t".join(HEADER) + "\n" + "\n".join(lines) + "\n")
    return path


GOOD = "1372629804;\t2;\t5851.9989;\t87.7799835;\t1.5;\t8218624.0;\t1034592.8;\t160.8;\t21.7;\t0.26;\t1.46"


def row(ts, **changes):
    fields = GOOD.split(";\t")
    fields[0] = str(ts)
    for index, value in changes.items():
        fields[int(index[1:])] = value
    return ";\t".join(fields)


def test_every_bad_line_is_located_and_the_valid_ones_land(tmp_path):
    lines = [
        row(1000),                      # line 2: fine
        row(1300, f3="abc"),            # line 3: cpu usage not a number -> cpu rejected, rest land
        "1600;\t2;\t5851.9",            # line 4: wrong field count
        row(1900, f6="NaN"),            # line 5: memory usage NaN
        row(2200, f7="-5"),             # line 6: negative disk read
        row(2500, f2="0"),              # line 7: zero cpu capacity
        row(1200),                      # line 8: out of order
        row(2500),                      # line 9: duplicate of line 7's time: its cpu is the first valid one
        row(2800, f9="inf"),            # line 10: infinite network
        "",                             # line 11: empty line, not data
        row(3100, f0="x") if False else "zz;\t2;\t1;\t1;\t1;\t1;\t1;\t1;\t1;\t1;\t1",  # line 12: bad timestamp
        row(3400, f5=""),               # line 13: missing memory capacity
        row(-50),                       # line 14: negative timestamp
    ]  # fmt: skip
    parsed = load_bitbrains_file(write(tmp_path, lines), 1e6, 1e6)
    found = {(r.line, r.field, r.reason) for r in parsed.rejections}
    assert found == {
        (3, "CPU usage [MHZ]", NOT_A_NUMBER),
        (4, None, WRONG_FIELD_COUNT),
        (5, "Memory usage [KB]", NOT_A_NUMBER),
        (6, "Disk read throughput [KB/s]", NEGATIVE_VALUE),
        (7, "CPU capacity provisioned [MHZ]", BAD_CAPACITY),
        (8, "Timestamp [ms]", OUT_OF_ORDER),
        (10, "Network received throughput [KB/s]", NOT_FINITE),
        (12, "Timestamp [ms]", NOT_A_NUMBER),
        (13, "Memory capacity provisioned [KB]", NOT_A_NUMBER),
        (14, "Timestamp [ms]", BAD_TIMESTAMP),
    }
    assert all(str(r).startswith(str(tmp_path / "7.csv") + ":") for r in parsed.rejections)
    samples = parsed.samples
    landed = Counter(zip(samples.resource, samples.ts.astype("datetime64[s]").astype(int), strict=True))
    assert landed == Counter(
        {("cpu", 1000): 1, ("memory", 1000): 1, ("disk", 1000): 1, ("network", 1000): 1,
         ("memory", 1300): 1, ("disk", 1300): 1, ("network", 1300): 1,
         ("cpu", 1900): 1, ("disk", 1900): 1, ("network", 1900): 1,
         ("cpu", 2200): 1, ("memory", 2200): 1, ("network", 2200): 1,
         ("memory", 2500): 1, ("disk", 2500): 1, ("network", 2500): 1, ("cpu", 2500): 1,
         ("cpu", 2800): 1, ("memory", 2800): 1, ("disk", 2800): 1,
         ("cpu", 3400): 1, ("disk", 3400): 1, ("network", 3400): 1}
    )  # fmt: skip
    # line 9 repeats 2500: memory, disk and network of line 7 came first; cpu of line 7 was invalid
    assert parsed.duplicates == 3


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", EMPTY_FILE),
        (b"\n\n", EMPTY_FILE),
        (b"t_index,1,2\n1,2,3\n", WRONG_FORMAT),
        (b"\x89PNG\r\n", WRONG_FORMAT),
    ],
)
def test_empty_and_foreign_files_are_rejected_whole(tmp_path, content, reason):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    parsed = load_bitbrains_file(path)
    assert parsed.samples.size == 0
    assert [r.reason for r in parsed.rejections] == [reason]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = tmp_path / "plain-name.csv"
    path.write_bytes(gzip.compress((";\t".join(HEADER) + "\n" + GOOD + "\n").encode()))
    assert load_bitbrains_file(path).samples.size == 4
