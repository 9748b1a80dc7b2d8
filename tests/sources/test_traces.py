"""PlanetLab day folders and Azure tables: real excerpts, and bad input located by file and line."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from stackmeter.errors import ConfigError, SourceUnavailable
from stackmeter.models import (
    EMPTY_FILE,
    IMPLAUSIBLE,
    MAX_UTILIZATION,
    NEGATIVE_VALUE,
    NOT_A_NUMBER,
    OUT_OF_ORDER,
    OUT_OF_TIME_DOMAIN,
    WRONG_FORMAT,
)
from stackmeter.sources.bitbrains import find_bitbrains_files
from stackmeter.sources.traces import (
    find_azure_files,
    find_planetlab_files,
    load_azure_file,
    load_planetlab_file,
)
from tests.reference import FIXTURES

DAY = FIXTURES / "planetlab" / "20110303"


def test_planetlab_file_is_288_percents_from_midnight():
    path = sorted(DAY.iterdir())[0]
    parsed = load_planetlab_file(path)
    percent = np.loadtxt(path)
    np.testing.assert_array_equal(parsed.samples.used, percent / 100)
    assert parsed.samples.ts[0] == np.datetime64("2011-03-03T00:00")
    assert parsed.samples.ts[-1] == np.datetime64("2011-03-03T23:55")
    assert (parsed.samples.capacity == 1).all()
    assert set(parsed.samples.entity) == {path.name}
    assert parsed.rejections == ()


def test_file_names_with_spaces_are_entities_as_they_are():
    (path,) = [p for p in DAY.iterdir() if " " in p.name]
    assert set(load_planetlab_file(path).samples.entity) == {path.name}


def test_folders_of_days_are_searched():
    files = find_planetlab_files(FIXTURES / "planetlab")
    assert len(files) == len(list(DAY.iterdir())) + len(list((FIXTURES / "planetlab" / "20110306").iterdir()))


def day_file(tmp_path, text, day="20110303", name="vm"):
    folder = tmp_path / day
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_bad_planetlab_lines_keep_the_times_of_the_good_ones(tmp_path):
    path = day_file(tmp_path, "10\nabc\n-3\nnan\n\n30\n")
    parsed = load_planetlab_file(path)
    assert {(r.line, r.reason) for r in parsed.rejections} == {
        (2, NOT_A_NUMBER), (3, NEGATIVE_VALUE), (4, NOT_A_NUMBER), (5, NOT_A_NUMBER)
    }  # fmt: skip
    np.testing.assert_array_equal(parsed.samples.used, [0.10, 0.30])
    expected = np.array(["2011-03-03T00:00", "2011-03-03T00:25"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(parsed.samples.ts, expected)


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty_planetlab_file(tmp_path, text):
    parsed = load_planetlab_file(day_file(tmp_path, text))
    assert [r.reason for r in parsed.rejections] == [EMPTY_FILE]


def test_planetlab_file_outside_a_day_folder_is_refused(tmp_path):
    parsed = load_planetlab_file(day_file(tmp_path, "10\n", day="march"))
    assert [r.reason for r in parsed.rejections] == [WRONG_FORMAT]
    assert "YYYYMMDD" in str(parsed.rejections[0])


AZURE = FIXTURES / "azure" / "microsoft_max_10vms.csv"


def test_azure_table_matches_pandas():
    start = np.datetime64("2017-01-01T00:00")
    parsed = load_azure_file(AZURE, start)
    table = pd.read_csv(AZURE)
    assert parsed.samples.size == table.shape[0] * (table.shape[1] - 1)
    vm = table.columns[3]
    mine = parsed.samples.entity == vm
    np.testing.assert_allclose(parsed.samples.used[mine], table[vm].to_numpy() / 100)
    expected = start + table["t_index"].to_numpy().astype(np.int64) * np.timedelta64(300, "s")
    np.testing.assert_array_equal(parsed.samples.ts[mine], expected.astype("datetime64[ns]"))


def test_bad_azure_cells_and_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("t_index,a,b 24\n1,10,20\n2,x,20\n3,10\n1,1,1\n4,-1,5\n4,7,7\n")
    parsed = load_azure_file(path)
    assert {(r.line, r.field, r.reason) for r in parsed.rejections} == {
        (3, "a", NOT_A_NUMBER), (4, None, "wrong field count"), (5, "t_index", OUT_OF_ORDER), (6, "a", NEGATIVE_VALUE)
    }  # fmt: skip
    assert sorted(set(parsed.samples.entity)) == ["a", "b"]  # "<id> <period>" columns are entity <id>
    # t_index 4 twice: a's first valid cell is on line 7 (line 6 had -1), b's is on line 6
    assert parsed.duplicates == 1
    landed = sorted(zip(parsed.samples.entity, np.round(parsed.samples.used * 100, 9), strict=True))
    assert landed == [("a", 7), ("a", 10), ("b", 5), ("b", 20), ("b", 20)]


def test_foreign_file_as_azure(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("hello,world\n")
    assert [r.reason for r in load_azure_file(path).rejections] == [WRONG_FORMAT]


REAL_VM = sorted(DAY.iterdir())[0]


def copy_to_day(tmp_path, day: str, text: str | None = None, name: str | None = None):
    """A real PlanetLab file (or ``text``) in a day folder of another name."""
    return day_file(tmp_path, REAL_VM.read_text() if text is None else text, day, name or REAL_VM.name)


@pytest.mark.parametrize("day", ["99991231", "16000101", "22000101", "19691231"])
def test_a_day_folder_outside_the_domain_refuses_its_files_whole(tmp_path, day):
    parsed = load_planetlab_file(copy_to_day(tmp_path, day))
    assert parsed.samples.size == 0
    [rejection] = parsed.rejections
    assert (rejection.line, rejection.reason) == (None, OUT_OF_TIME_DOMAIN)
    assert repr(day) in rejection.detail


def test_the_last_day_of_the_domain_keeps_the_times_before_its_end(tmp_path):
    percents = np.arange(300) % 90  # more lines than a day has: 288 fit before 2200-01-01
    parsed = load_planetlab_file(copy_to_day(tmp_path, "21991231", "\n".join(map(str, percents)) + "\n"))
    assert parsed.samples.size == 288
    assert parsed.samples.ts[-1] == np.datetime64("2199-12-31T23:55")
    assert [(r.line, r.reason) for r in parsed.rejections] == [
        (n, OUT_OF_TIME_DOMAIN) for n in range(289, 301)
    ]


def test_implausible_and_huge_percents_are_refused_on_their_line(tmp_path):
    lines = REAL_VM.read_text().splitlines()
    too_busy = MAX_UTILIZATION * 100
    lines[9] = f"{too_busy:.0f}"  # exactly the bound: kept
    lines[19] = f"{too_busy + 1:.0f}"
    lines[29] = "9" * 30  # more digits than an integer holds
    parsed = load_planetlab_file(copy_to_day(tmp_path, "20110303", "\n".join(lines) + "\n"))
    assert [(r.line, r.field, r.reason) for r in parsed.rejections] == [
        (20, "percent", IMPLAUSIBLE),
        (30, "percent", IMPLAUSIBLE),
    ]
    expected = np.loadtxt(REAL_VM) / 100
    expected[9] = MAX_UTILIZATION
    np.testing.assert_array_equal(parsed.samples.used, np.delete(expected, [19, 29]))
    np.testing.assert_array_equal(
        parsed.samples.ts, np.delete(load_planetlab_file(REAL_VM).samples.ts, [19, 29])
    )


def test_garbage_lines_keep_the_times_of_the_valid_ones(tmp_path):
    lines = REAL_VM.read_bytes().split(b"\n")
    garbage = {4: b"\xff\xfe", 8: b'"12', 12: b"1e400", 16: b"12;13", 20: b"\x00"}
    for index, line in garbage.items():
        lines[index] = line
    path = copy_to_day(tmp_path, "20110303", "")
    path.write_bytes(b"\n".join(lines))
    parsed = load_planetlab_file(path)
    assert {r.line for r in parsed.rejections} == {index + 1 for index in garbage}
    real = load_planetlab_file(REAL_VM).samples
    keep = np.ones(real.size, dtype=bool)
    keep[list(garbage)] = False
    np.testing.assert_array_equal(parsed.samples.ts, real.ts[keep])
    np.testing.assert_array_equal(parsed.samples.used, real.used[keep])


def test_names_that_are_not_utf8_are_escaped(tmp_path):
    path = copy_to_day(tmp_path, "20110303", name=os.fsdecode(b"vm-\xe9"))
    parsed = load_planetlab_file(path)
    assert set(parsed.samples.entity) == {"vm-\\xe9"} and parsed.origin.endswith("/20110303/vm-\\xe9")
    folder = tmp_path / os.fsdecode(b"2011\xff0303")
    folder.mkdir()
    (folder / "vm").write_text("10\n")
    [rejection] = load_planetlab_file(folder / "vm").rejections
    assert rejection.reason == WRONG_FORMAT and "\\xff" in rejection.detail and "\\xff" in rejection.path
    rejection.detail.encode("utf-8")


@pytest.mark.parametrize("find", [find_planetlab_files, find_bitbrains_files, find_azure_files])
def test_paths_that_do_not_exist_are_unavailable(tmp_path, find):
    missing = tmp_path / "20110303"
    with pytest.raises(SourceUnavailable, match=f"^{missing}: no such file or folder$"):
        find(missing)


def azure_lines() -> list[str]:
    return AZURE.read_text().splitlines()


def write_azure(folder, lines: list[str]):
    folder.mkdir(exist_ok=True)
    path = folder / AZURE.name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("t_index", ["99999999999", "1e300", "24192001", "1e19"])
def test_azure_rows_outside_the_domain_are_refused_and_the_rest_lands(tmp_path, t_index):
    lines = azure_lines()
    bad = lines[:50] + [t_index + lines[50][lines[50].index(",") :]] + lines[50:]
    parsed = load_azure_file(write_azure(tmp_path / "bad", bad), np.datetime64("2017-01-01"))
    assert [(r.line, r.field, r.reason) for r in parsed.rejections] == [(51, "t_index", OUT_OF_TIME_DOMAIN)]
    clean = load_azure_file(AZURE, np.datetime64("2017-01-01"))
    for got, want in zip(parsed.samples, clean.samples, strict=True):
        np.testing.assert_array_equal(got, want)


def test_azure_start_near_the_end_of_the_domain_keeps_the_rows_before_it(tmp_path):
    start = np.datetime64("2199-12-31T12:00", "ns")
    parsed = load_azure_file(AZURE, start)
    table = pd.read_csv(AZURE)
    end_s = (np.datetime64("2200-01-01") - start) / np.timedelta64(1, "s")
    fits = table["t_index"].to_numpy() * 300 < end_s
    assert parsed.samples.size == fits.sum() * (table.shape[1] - 1)
    assert parsed.samples.ts.max() == np.datetime64("2199-12-31T23:55")
    refused = [r.line for r in parsed.rejections]
    assert refused == (np.flatnonzero(~fits) + 2).tolist()
    assert {r.reason for r in parsed.rejections} == {OUT_OF_TIME_DOMAIN}
    far = load_azure_file(AZURE, np.datetime64("3000-01-01"))  # a start after: every row refused
    assert far.samples.size == 0 and len(far.rejections) == table.shape[0]
    before = load_azure_file(AZURE, np.datetime64("1969-12-31T23:50"))  # t_index 1 is 23:55
    assert [(r.line, r.reason) for r in before.rejections] == [(2, OUT_OF_TIME_DOMAIN)]
    assert before.samples.ts.min() == np.datetime64("1970-01-01T00:00")
    assert before.samples.size == (table.shape[0] - 1) * (table.shape[1] - 1)
    with pytest.raises(ConfigError):
        load_azure_file(AZURE, np.datetime64("NaT"))


def test_implausible_azure_cells_are_refused_alone(tmp_path):
    lines = azure_lines()
    cells = lines[10].split(",")
    cells[3] = f"{MAX_UTILIZATION * 100 * 2:g}"
    lines[10] = ",".join(cells)
    parsed = load_azure_file(write_azure(tmp_path / "bad", lines))
    vm = lines[0].split(",")[3]
    [rejection] = parsed.rejections
    assert (rejection.line, rejection.field, rejection.reason) == (11, vm, IMPLAUSIBLE)
    clean = load_azure_file(AZURE).samples
    t_index = int(cells[0])
    dropped = (clean.entity == vm) & (clean.ts == np.datetime64(t_index * 300, "s"))
    assert dropped.sum() == 1
    np.testing.assert_array_equal(parsed.samples.used, clean.used[~dropped])


def test_azure_start_long_before_the_domain_counts_exactly(tmp_path):
    first = (np.datetime64("1970-01-01", "s") - np.datetime64("0001-01-01", "s")).astype(np.int64) // 300
    path = write_azure(tmp_path / "old", ["t_index,vm", f"{first - 1},10", f"{first},20", f"{first + 1},30"])
    parsed = load_azure_file(path, np.datetime64("0001-01-01"))
    assert [(r.line, r.reason) for r in parsed.rejections] == [(2, OUT_OF_TIME_DOMAIN)]
    expected = np.array(["1970-01-01T00:00", "1970-01-01T00:05"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(parsed.samples.ts, expected)
