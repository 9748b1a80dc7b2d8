"""PlanetLab day folders and Azure tables: real excerpts, and bad input located by file and line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stackmeter.models import EMPTY_FILE, NEGATIVE_VALUE, NOT_A_NUMBER, OUT_OF_ORDER, WRONG_FORMAT
from stackmeter.sources.traces import find_planetlab_files, load_azure_file, load_planetlab_file
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
