"""Bitbrains files: real excerpts read like pandas reads them, and every kind of bad line located."""

from __future__ import annotations

import gzip
import os
import zlib
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackmeter.errors import SourceUnavailable
from stackmeter.models import (
    BAD_CAPACITY,
    EMPTY_FILE,
    IMPLAUSIBLE,
    MAX_UTILIZATION,
    NEGATIVE_VALUE,
    NOT_A_NUMBER,
    NOT_FINITE,
    OUT_OF_ORDER,
    OUT_OF_TIME_DOMAIN,
    RESOURCES,
    TRUNCATED_FILE,
    WRONG_FIELD_COUNT,
    WRONG_FORMAT,
    take_samples,
)
from stackmeter.sources.bitbrains import HEADER, entity_of, find_bitbrains_files, load_bitbrains_file
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
        row(-50),                       # line 14: negative timestamp, before the time domain
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
        (14, "Timestamp [ms]", OUT_OF_TIME_DOMAIN),  # before 1970
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


CLEAN = FIXTURES / "bitbrains" / "2013-8" / "41.csv.gz"  # no bad line, no duplicate


def same_samples(parsed, expected) -> None:
    assert parsed.samples.size == expected.samples.size
    for got, want in zip(parsed.samples, expected.samples, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_cut_file_lands_the_rows_before_the_cut(tmp_path):
    stream = CLEAN.read_bytes()[:20_000]
    cut = tmp_path / "cut" / "41.csv.gz"
    cut.parent.mkdir()
    cut.write_bytes(stream)
    parsed = load_bitbrains_file(cut)
    # independently: Python's zlib, then the complete lines as a plain file of the same name
    text = zlib.decompressobj(wbits=31).decompress(stream)
    rows = text[: text.rfind(b"\n") + 1]
    plain = tmp_path / "plain" / "41.csv"
    plain.parent.mkdir()
    plain.write_bytes(rows)
    same_samples(parsed, load_bitbrains_file(plain))
    assert parsed.samples.size == 4 * (rows.count(b"\n") - 1) == 4 * 1444
    [truncation] = parsed.rejections
    assert (truncation.line, truncation.reason) == (rows.count(b"\n") + 1, TRUNCATED_FILE)


def test_a_file_cut_inside_its_header_is_one_refusal(tmp_path):
    path = tmp_path / "41.csv.gz"
    path.write_bytes(CLEAN.read_bytes()[:60])
    parsed = load_bitbrains_file(path)
    assert parsed.samples.size == 0
    assert [(r.line, r.reason) for r in parsed.rejections] == [(1, TRUNCATED_FILE)]


def clean_lines() -> list[bytes]:
    return gzip.decompress(CLEAN.read_bytes()).split(b"\n")


def write_lines(folder, lines: list[bytes]):
    """The lines as the plain file ``41.csv`` in a folder of its own (same name, same entity)."""
    folder.mkdir(exist_ok=True)
    path = folder / "41.csv"
    path.write_bytes(b"\n".join(lines))
    return path


def edited(line: bytes, **fields: bytes) -> bytes:
    row = line.split(b";")
    for index, value in fields.items():
        row[int(index[1:])] = b"\t" + value
    return b";".join(row)


@pytest.mark.parametrize("ts", [b"99999999999", b"1e300", b"-5", b"7258118400", b"-1e300"])
def test_times_outside_the_domain_are_refused_per_row(tmp_path, ts):
    lines = clean_lines()
    bad = lines.copy()
    bad[99] = edited(lines[99], f0=ts)  # line 100
    parsed = load_bitbrains_file(write_lines(tmp_path / "bad", bad))
    assert [(r.line, r.field, r.reason) for r in parsed.rejections] == [
        (100, "Timestamp [ms]", OUT_OF_TIME_DOMAIN)
    ]
    del lines[99]
    same_samples(parsed, load_bitbrains_file(write_lines(tmp_path / "without", lines)))


@pytest.mark.parametrize(
    "fields, resource, field, detail",
    [
        ({"f3": b"2e9"}, "cpu", "CPU usage [MHZ]", "used 2e+09 above 1e+09"),
        ({"f3": b"{busy}"}, "cpu", "CPU usage [MHZ]", "utilization {u} above {max}"),
        ({"f2": b"2e9", "f3": b"10"}, "cpu", "CPU capacity provisioned [MHZ]", "capacity 2e+09 above 1e+09"),
        ({"f6": b"1.2e15"}, "memory", "Memory usage [KB]", "used 1.2288e+18 above 1.15292e+18"),
        ({"f8": b"1e13"}, "disk", "Disk write throughput [KB/s]", "used 1.024e+16 above 1e+15"),
        ({"f9": b"1e13"}, "network", "Network received throughput [KB/s]", "used 1.024e+16 above 1e+15"),
    ],
)
def test_implausible_values_refuse_their_resource_only(tmp_path, fields, resource, field, detail):
    lines = clean_lines()
    bad = lines.copy()
    capacity_mhz = float(lines[99].split(b";")[2])
    busy = capacity_mhz * MAX_UTILIZATION * 1.01  # just above what a real system reports
    fields = {key: value.replace(b"{busy}", repr(busy).encode()) for key, value in fields.items()}
    detail = detail.format(u=f"{busy / capacity_mhz:g}", max=f"{MAX_UTILIZATION:g}")
    bad[99] = edited(lines[99], **fields)
    parsed = load_bitbrains_file(write_lines(tmp_path / "bad", bad))
    [rejection] = parsed.rejections
    assert (rejection.line, rejection.field, rejection.reason, rejection.detail) == (
        100,
        field,
        IMPLAUSIBLE,
        detail,
    )
    clean = load_bitbrains_file(CLEAN)
    ts = np.datetime64(int(lines[99].split(b";")[0]), "s")
    at_row = parsed.samples.ts == ts
    assert sorted(parsed.samples.resource[at_row]) == sorted(set(RESOURCES) - {resource})
    elsewhere = (clean.samples.ts != ts) | (clean.samples.resource != resource)
    same_samples(parsed, clean._replace(samples=take_samples(clean.samples, elsewhere)))


def test_garbage_lines_around_valid_rows_change_nothing_else(tmp_path):
    # a garbage row with a readable time repeats the row above, so as not to put the next out of order
    garbage = {
        10: b"\xff\xfe\x00 not a row",
        20: b'{ts};\t"8;\t20799.99',
        30: b"{ts};\t8;\t20799.99;\t\xe9;\t0;\t2.0E7;\t\xff;\t'0;\t\"0;\t-;\tx\r",
        40: b";" * 10,
        50: b"99999999999;\t1e300;\t-5;\tnan;\t0;\t0;\t0;\t0;\t0;\t0;\t0",
        60: b"{ts};\t8;\t1e300;\t1;\t0;\t1e300;\t1e300;\t1e300;\t1;\t1;\t1e300",
    }
    lines = clean_lines()
    for number in sorted(garbage):
        lines.insert(number - 1, garbage[number].replace(b"{ts}", lines[number - 2].split(b";")[0]))
    parsed = load_bitbrains_file(write_lines(tmp_path / "bad", lines))
    same_samples(parsed, load_bitbrains_file(CLEAN))
    assert {r.line for r in parsed.rejections} == set(garbage)
    assert all(str(r).encode("utf-8") for r in parsed.rejections)


def test_file_names_that_are_not_utf8_give_escaped_origin_and_entity(tmp_path):
    path = tmp_path / os.fsdecode(b"vm-\xff.csv.gz")
    path.write_bytes(CLEAN.read_bytes())
    parsed = load_bitbrains_file(path)
    assert entity_of(path) == "vm-\\xff" and set(parsed.samples.entity) == {"vm-\\xff"}
    assert parsed.origin == str(tmp_path) + "/vm-\\xff.csv.gz"
    assert parsed.entities[0].entity.encode("utf-8") and parsed.origin.encode("utf-8")


def test_a_path_that_does_not_exist_is_unavailable(tmp_path):
    with pytest.raises(SourceUnavailable, match="no such file or folder"):
        find_bitbrains_files(tmp_path / "2013-13")
    assert find_bitbrains_files(CLEAN) == [CLEAN]


EXCERPT = clean_lines()[:200]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    field=st.integers(1, len(HEADER) - 1),
    value=st.binary(max_size=30).filter(lambda b: b";" not in b and b"\n" not in b)
    | st.sampled_from([b"1e300", b"-0", b"1e-320", b"9" * 40, b"0x10", b"1_000", b" 1", b'"', b"\r"]),
)
def test_any_bytes_in_a_field_touch_only_that_row(tmp_path, field, value):
    bad = EXCERPT.copy()
    bad[100] = edited(EXCERPT[100], **{f"f{field}": value})
    parsed = load_bitbrains_file(write_lines(tmp_path / "bad", bad))
    clean = load_bitbrains_file(write_lines(tmp_path / "clean", EXCERPT))
    ts = np.datetime64(int(EXCERPT[100].split(b";")[0]), "s")
    for got, want in zip(parsed.samples, clean.samples, strict=True):
        np.testing.assert_array_equal(got[parsed.samples.ts != ts], want[clean.samples.ts != ts])
    assert {r.line for r in parsed.rejections} <= {101}
    assert all(str(r).encode("utf-8") for r in parsed.rejections)


@pytest.mark.parametrize("row", [0, 1, 50])
def test_one_time_far_ahead_refuses_its_row_only(tmp_path, row):
    lines = clean_lines()
    bad = lines.copy()
    bad[row + 1] = edited(lines[row + 1], f0=b"4102444800")  # 2100-01-01, inside the domain
    parsed = load_bitbrains_file(write_lines(tmp_path / "bad", bad))
    assert [(r.line, r.reason) for r in parsed.rejections] == [(row + 2, OUT_OF_ORDER)]
    del lines[row + 1]
    same_samples(parsed, load_bitbrains_file(write_lines(tmp_path / "without", lines)))
