"""Trace files with garbage in them: the valid rows around it land exactly, the garbage does not.

Each example writes real excerpts with one piece of garbage each (a line, a field, a cut, an
encoding, an odd file name, a day at the domain's edge) beside a clean copy, ingests them together
and compares with what the clean excerpt gives. Every example's files have entity names of their
own, so that one store serves the whole module.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import math
import os
import tempfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from stackmeter import operations
from stackmeter.errors import ConfigError
from stackmeter.models.domain import MAX_UTILIZATION, TIME_MAX_S, TIME_MIN_S
from stackmeter.store import open_store
from stackmeter.store.duckdb.schema import CODE_RESOURCES
from tests.fuzz import garbage
from tests.fuzz.garbage import assert_store_valid, brief, last_batch, number_of, refusable, shown_name
from tests.store.sql import connection_of

FIXTURES = Path(__file__).parents[1] / "fixtures"
BITBRAINS = gzip.decompress((FIXTURES / "bitbrains" / "2013-8" / "41.csv.gz").read_bytes()).split(b"\n")[:31]
BITBRAINS_TEXT = b"\n".join(BITBRAINS) + b"\n"
BITBRAINS_TS = [int(line.split(b";")[0]) for line in BITBRAINS[1:]]
PLANETLAB_DAY = "20110303"
PLANETLAB = (FIXTURES / "planetlab" / PLANETLAB_DAY / "146-179_surfsnel_dsl_internl_net_root").read_bytes()
PLANETLAB_LINES = PLANETLAB.split(b"\n")[:-1]
PLANETLAB_DAY_US = int(np.datetime64("2011-03-03", "us").astype(np.int64))
_AZURE = (FIXTURES / "azure" / "microsoft_max_10vms.csv").read_bytes().split(b"\n")
AZURE_VMS = _AZURE[0].decode().split(",")[1:]
AZURE_ROWS = [line for line in _AZURE[1:41] if int(line.split(b",")[0]) % 2]  # t_index 1, 3, … 39
AZURE_T = [int(line.split(b",")[0]) for line in AZURE_ROWS]
# Bitbrains fields that feed each resource (cores and CPU % feed none).
BITBRAINS_RESOURCE = {
    2: "cpu",
    3: "cpu",
    5: "memory",
    6: "memory",
    7: "disk",
    8: "disk",
    9: "network",
    10: "network",
}
BITBRAINS_CAPACITY = {2, 5}
RESOURCES = frozenset(("cpu", "memory", "disk", "network"))
US = 10**6
STEP_US = 300 * US
NAMES = itertools.count()
ODD_DAYS = (
    "19691231", "19700101", "21991231", "22000101", "00010101", "99991231", "16000101", "22620412",
    "22620411", "16770921", "20110230", "20111301", "00000000", "20110300",
)  # fmt: skip


def samples_of(store, entity: str) -> dict[tuple[str, int], tuple[float, float | None]]:
    """``{(resource, ts µs): (used, capacity)}`` of one entity in the store."""
    return samples_by_entity(store, [entity])[entity]


def samples_by_entity(store, entities: list[str]) -> dict[str, dict]:
    """:func:`samples_of` for several entities, in one query."""
    rows = (
        connection_of(store)
        .execute(
            """SELECT e.entity, s.resource_code, epoch_us(s.ts), s.used, s.capacity
           FROM samples s JOIN entities e USING (entity_id) WHERE list_contains(?, e.entity)""",
            [entities],
        )
        .fetchall()
    )
    found: dict[str, dict] = {entity: {} for entity in entities}
    for entity, code, ts, used, capacity in rows:
        found[entity][CODE_RESOURCES[code], ts] = (used, capacity)
    return found


@functools.cache
def baseline() -> dict:
    """What the clean excerpts give: the samples of the Bitbrains and PlanetLab file, of each Azure VM."""
    with tempfile.TemporaryDirectory() as temporary, open_store(":memory:") as clean:
        folder = Path(temporary)
        (folder / PLANETLAB_DAY).mkdir()
        (folder / "bitbrains.csv").write_bytes(BITBRAINS_TEXT)
        (folder / PLANETLAB_DAY / "planetlab").write_bytes(PLANETLAB)
        (folder / "azure.csv").write_bytes(b"\n".join([_AZURE[0], *AZURE_ROWS]) + b"\n")
        for trace_format, path in (
            ("bitbrains", "bitbrains.csv"),
            ("planetlab", f"{PLANETLAB_DAY}/planetlab"),
            ("azure", "azure.csv"),
        ):
            assert operations.ingest(clean, trace_format, [folder / path]).rejected == 0
        return {
            "bitbrains": samples_of(clean, "bitbrains"),
            "planetlab": samples_of(clean, "planetlab"),
            "azure": {vm: samples_of(clean, vm) for vm in AZURE_VMS},
        }


@pytest.fixture(scope="module")
def store():
    with open_store(":memory:", rollup_levels=("1d",)) as opened:
        yield opened


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("traces")


def ingest(store, trace_format: str, paths: list[Path], **options) -> tuple[operations.IngestSummary, int]:
    """Ingest, check that nothing invalid entered; return the summary and how many rejections the
    store recorded."""
    before = last_batch(store)
    summary = operations.ingest(store, trace_format, paths, **options)
    assert_store_valid(store, before)
    (recorded,) = (
        connection_of(store)
        .execute("SELECT count(*) FROM rejections WHERE batch_id > ?", [before])
        .fetchall()[0]
    )
    return summary, recorded


# -- garbage, and what must land despite it --------------------------------------------------


class Garbled(NamedTuple):
    """One file with garbage, and what ingesting it must give.

    ``expected`` must land exactly. Besides it, ``others`` says what may land: ``none``; ``clean``
    (samples of the clean excerpt only); ``row`` (the garbage row's, at ``row_ts_us``, of no
    resource in ``refused``); ``one row`` (one time, a cut line's); ``any`` (checked only for validity).
    """

    kind: str
    content: bytes
    expected: dict
    others: str
    rejected: bool = False  # a rejection must be recorded
    row_ts_us: int | None = None
    refused: frozenset = frozenset()
    name: bytes = b""
    value: bytes = b""

    def __repr__(self) -> str:
        return (
            f"Garbled({self.kind}, value={brief(self.value)}, name={self.name!r}, "
            f"content={brief(self.content)})"
        )


def check(got: dict, garbled: Garbled, clean: dict, refused_whole: bool = False) -> bool:
    """Assert what ``garbled`` says of the samples that landed; return whether any of them is not
    one of the clean excerpt's (garbage that landed)."""
    event(f"{garbled.kind}{', rejected' if garbled.rejected else ''}")
    lost = {key: value for key, value in garbled.expected.items() if got.get(key) != value}
    assert not lost, f"{len(lost)} valid samples lost or changed, e.g. {next(iter(lost.items()))}"
    extras = {key: value for key, value in got.items() if key not in garbled.expected}
    others = "none" if refused_whole else garbled.others
    if others == "none":
        assert not extras, extras
    elif others == "clean":
        assert all(clean.get(key) == value for key, value in extras.items()), extras
    elif others == "row":
        assert all(ts == garbled.row_ts_us and resource not in garbled.refused for resource, ts in extras), (
            extras
        )
    elif others == "one row":
        assert len({ts for _, ts in extras}) <= 1, extras
    return any(clean.get(key) != value for key, value in extras.items())


def still_reports(store, n: int, landed: bool) -> None:
    """When garbage landed (and on the first example), the store still reports."""
    if landed or n == 0:
        operations.overload_report(store, "1d")


def _rows_text(header: bytes, rows: list[bytes]) -> bytes:
    return b"\n".join([header, *rows]) + b"\n"


def _whole_rows(prefix: bytes, header: bool) -> int:
    """How many data rows of a cut file are whole (their line feed is there)."""
    return max(0, prefix.count(b"\n") - header)


@st.composite
def bitbrains_garbage(draw) -> Garbled:
    rows, clean = BITBRAINS[1:], baseline()["bitbrains"]
    j = draw(st.integers(0, len(rows) - 1))

    def of_rows(count: int) -> dict:
        return (
            {key: value for key, value in clean.items() if key[1] < BITBRAINS_TS[count] * US}
            if count < len(rows)
            else dict(clean)
        )

    kind = draw(st.sampled_from(("field", "field", "field", "line", "encoding", "gzip cut", "cut", "name")))
    if kind == "line":
        line = draw(garbage.lines())
        content = _rows_text(BITBRAINS[0], rows[: j + 1] + [line] + rows[j + 1 :])
        return Garbled(kind, content, clean, "any", line != b"" and b"\r" not in line, value=line)
    if kind == "encoding":
        encoding = draw(st.sampled_from(("utf-16", "utf-16-be", "utf-32", "cp500")))
        return Garbled(
            kind, BITBRAINS_TEXT.decode().encode(encoding), {}, "clean", True, value=encoding.encode()
        )
    if kind == "gzip cut":
        packed = gzip.compress(BITBRAINS_TEXT)
        offset = draw(st.integers(0, len(packed) - 1))
        prefix = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(packed[:offset])
        whole = _whole_rows(prefix, header=True)
        # the last whole line of a cut stream may be taken for a partial one
        return Garbled(
            kind, packed[:offset], of_rows(max(0, whole - 1)), "clean", True, value=str(offset).encode()
        )
    if kind == "cut":
        offset = draw(st.integers(0, len(BITBRAINS_TEXT)))
        prefix = BITBRAINS_TEXT[:offset]
        return Garbled(
            kind, prefix, of_rows(_whole_rows(prefix, header=True)), "one row", value=str(offset).encode()
        )
    if kind == "name":
        content = _rows_text(BITBRAINS[0], rows[:1] + [b"x"] + rows[1:])
        return Garbled(kind, content, clean, "none", True, name=draw(garbage.file_names()))
    fields = rows[j].split(b";")
    field = draw(st.integers(0, len(fields) - 1))
    value = draw(garbage.field_bytes())
    ts = BITBRAINS_TS[j] + 150
    fields[0] = str(ts).encode()
    fields[field] = value
    content = _rows_text(BITBRAINS[0], rows[: j + 1] + [b";".join(fields)] + rows[j + 1 :])
    if field == 0:
        number = number_of(value)
        # a far future time inside the domain puts the rows after it out of order: tested apart
        assume(not (number is not None and TIME_MIN_S <= number < TIME_MAX_S and number > BITBRAINS_TS[j]))
        duplicate = number is not None and number in BITBRAINS_TS
        return Garbled(kind, content, clean, "none", not duplicate, value=value)
    if b";" in value or b"\n" in value:
        return Garbled(kind, content, clean, "none", True, value=value)
    if field in BITBRAINS_RESOURCE and refusable(value, field in BITBRAINS_CAPACITY):
        resource = frozenset((BITBRAINS_RESOURCE[field],))
        return Garbled(kind, content, clean, "row", True, ts * US, resource, value=value)
    return Garbled(kind, content, clean, "row", row_ts_us=ts * US, value=value)


@st.composite
def planetlab_garbage(draw) -> tuple[str, Garbled]:
    """A day folder name and a garbled file for it."""
    clean = baseline()["planetlab"]

    def without(*indices: int) -> dict:
        drop = {PLANETLAB_DAY_US + i * STEP_US for i in indices}
        return {key: value for key, value in clean.items() if key[1] not in drop}

    kind = draw(st.sampled_from(("line", "line", "line", "cut", "day", "name")))
    if kind == "cut":
        offset = draw(st.integers(0, len(PLANETLAB)))
        whole = PLANETLAB[:offset].count(b"\n")
        kept = without(*range(whole, len(PLANETLAB_LINES)))
        return PLANETLAB_DAY, Garbled(kind, PLANETLAB[:offset], kept, "one row", value=str(offset).encode())
    if kind == "day":
        day = draw(st.one_of(st.sampled_from(ODD_DAYS), st.integers(0, 99_999_999).map(lambda n: f"{n:08d}")))
        landed = planetlab_on(day)
        return day, Garbled(kind, PLANETLAB, landed, "none", len(landed) < len(clean), value=day.encode())
    if kind == "name":
        lines = PLANETLAB_LINES[:5] + [b"x"] + PLANETLAB_LINES[6:]
        content = b"\n".join(lines) + b"\n"
        return PLANETLAB_DAY, Garbled(
            kind, content, without(5), "none", True, name=draw(garbage.file_names())
        )
    k = draw(st.integers(0, len(PLANETLAB_LINES)))  # the last one appends a line
    value = draw(st.one_of(garbage.field_bytes(), garbage.lines())).replace(b"\n", b" ")
    lines = list(PLANETLAB_LINES)
    lines[k : k + 1] = [value]
    refused = frozenset(("cpu",)) if refusable(value) else frozenset()
    content = b"\n".join(lines) + b"\n"
    return PLANETLAB_DAY, Garbled(
        kind, content, without(k), "row", bool(refused), PLANETLAB_DAY_US + k * STEP_US, refused, value=value
    )


def planetlab_on(day: str) -> dict:
    """The clean samples as they land in a day folder named ``day``: those of its times in the domain."""
    try:
        midnight = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), tzinfo=UTC)
    except ValueError:
        return {}
    day_us = (midnight - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    shifted = {
        (resource, ts - PLANETLAB_DAY_US + day_us): value
        for (resource, ts), value in baseline()["planetlab"].items()
    }
    return {key: value for key, value in shifted.items() if TIME_MIN_S * US <= key[1] < TIME_MAX_S * US}


@st.composite
def azure_garbage(draw) -> Garbled:
    """Garbage in an Azure table without its header (the test writes a header of its own)."""
    rows, clean = AZURE_ROWS, baseline()["azure"]
    j = draw(st.integers(0, len(rows) - 1))
    body = b"\n".join(rows) + b"\n"

    def of_rows(count: int) -> dict:
        last_us = AZURE_T[count] * STEP_US if count < len(rows) else math.inf
        return {
            vm: {key: v for key, v in samples.items() if key[1] < last_us} for vm, samples in clean.items()
        }

    kind = draw(st.sampled_from(("field", "field", "field", "line", "cut", "name")))
    if kind == "line":
        line = draw(garbage.lines())
        content = b"\n".join(rows[: j + 1] + [line] + rows[j + 1 :]) + b"\n"
        return Garbled(kind, content, clean, "any", line != b"" and b"\r" not in line, value=line)
    if kind == "cut":
        offset = draw(st.integers(0, len(body)))
        return Garbled(
            kind, body[:offset], of_rows(body[:offset].count(b"\n")), "one row", value=str(offset).encode()
        )
    if kind == "name":
        content = b"\n".join(rows[:1] + [b"x"] + rows[1:]) + b"\n"
        return Garbled(kind, content, clean, "none", True, name=draw(garbage.file_names()))
    fields = rows[j].split(b",")
    field = draw(st.integers(0, len(fields) - 1))
    value = draw(garbage.field_bytes())
    t = AZURE_T[j] + 1
    fields[0] = str(t).encode()
    fields[field] = value
    content = b"\n".join(rows[: j + 1] + [b",".join(fields)] + rows[j + 1 :]) + b"\n"
    every = frozenset(AZURE_VMS)
    if field == 0:
        number = number_of(value)
        future = (
            number is not None and math.isfinite(number) and number == int(number) and number >= AZURE_T[j]
        )
        assume(not (future and number * 300 < TIME_MAX_S))  # in the domain and after row j: tested apart
        duplicate = number is not None and number in AZURE_T
        return Garbled(kind, content, clean, "none", not duplicate, refused=every, value=value)
    if b"," in value or b"\n" in value:
        return Garbled(kind, content, clean, "none", True, refused=every, value=value)
    percent = number_of(value)
    if refusable(value) or percent > MAX_UTILIZATION * 100:
        vm = frozenset((AZURE_VMS[field - 1],))
        return Garbled(kind, content, clean, "row", True, t * STEP_US, vm, value=value)
    return Garbled(kind, content, clean, "row", row_ts_us=t * STEP_US, value=value)


def odd_path(folder: Path, garbled: Garbled, n: int, suffix: str = "") -> Path:
    return folder / os.fsdecode(garbled.name + f"-{n}{suffix}".encode())


# -- the properties --------------------------------------------------------------------------


@given(files=st.lists(bitbrains_garbage(), min_size=1, max_size=3))
def test_bitbrains_garbage_keeps_the_rows_around_it(store, folder, files):
    n = next(NAMES)
    paths = [odd_path(folder, garbled, n * 10 + i, ".csv") for i, garbled in enumerate(files)]
    for path, garbled in zip(paths, files, strict=True):
        path.write_bytes(garbled.content)
    (folder / f"clean-{n}.csv").write_bytes(BITBRAINS_TEXT)
    summary, recorded = ingest(store, "bitbrains", [*paths, folder / f"clean-{n}.csv"])
    clean = baseline()["bitbrains"]
    assert samples_of(store, f"clean-{n}") == clean
    landed = [
        check(samples_of(store, shown_name(path.name.removesuffix(".csv"))), garbled, clean)
        for path, garbled in zip(paths, files, strict=True)
    ]
    still_reports(store, n, any(landed))
    if any(garbled.rejected for garbled in files):
        assert summary.rejected > 0 and recorded > 0


@given(files=st.lists(planetlab_garbage(), min_size=1, max_size=3))
def test_planetlab_garbage_keeps_the_lines_around_it(store, folder, files):
    n = next(NAMES)
    paths = []
    for i, (day, garbled) in enumerate(files):
        (folder / f"{n}-{i}" / day).mkdir(parents=True)
        paths.append(odd_path(folder / f"{n}-{i}" / day, garbled, n * 10 + i))
        paths[-1].write_bytes(garbled.content)
    (folder / f"{n}-{PLANETLAB_DAY}").mkdir()
    (folder / f"{n}-{PLANETLAB_DAY}" / PLANETLAB_DAY).mkdir()
    neighbour = folder / f"{n}-{PLANETLAB_DAY}" / PLANETLAB_DAY / f"clean-{n}"
    neighbour.write_bytes(PLANETLAB)
    summary, recorded = ingest(store, "planetlab", [*paths, neighbour])
    clean = baseline()["planetlab"]
    assert samples_of(store, f"clean-{n}") == clean
    landed = False
    for path, (_, garbled) in zip(paths, files, strict=True):
        got = samples_of(store, shown_name(path.name))
        landed |= check(got, garbled, clean)
        cell = got.get(("cpu", garbled.row_ts_us))
        if garbled.kind == "line" and cell is not None:  # a number: read as that number
            assert math.isclose(cell[0], number_of(garbled.value) / 100), cell
    still_reports(store, n, landed)
    if any(garbled.rejected for _, garbled in files):
        assert summary.rejected > 0 and recorded > 0


@given(files=st.lists(azure_garbage(), min_size=1, max_size=3))
def test_azure_garbage_keeps_the_rows_around_it(store, folder, files):
    n = next(NAMES)
    paths = []
    for i, garbled in enumerate(files):
        header = b",".join([b"t_index", *(f"{vm}-{n}-{i}".encode() for vm in AZURE_VMS)])
        paths.append(odd_path(folder, garbled, n * 10 + i, ".csv"))
        paths[-1].write_bytes(header + b"\n" + garbled.content)
    summary, recorded = ingest(store, "azure", paths)
    landed = samples_by_entity(store, [f"{vm}-{n}-{i}" for i in range(len(files)) for vm in AZURE_VMS])
    garbage_landed = False
    for i, garbled in enumerate(files):
        for vm in AZURE_VMS:
            got = landed[f"{vm}-{n}-{i}"]
            vm_garbled = garbled._replace(expected=garbled.expected[vm])
            garbage_landed |= check(
                got,
                vm_garbled,
                baseline()["azure"][vm],
                refused_whole=vm in garbled.refused and garbled.others == "none",
            )
            if vm in garbled.refused and garbled.others == "row":
                assert ("cpu", garbled.row_ts_us) not in got
    still_reports(store, n, garbage_landed)
    if any(garbled.rejected for garbled in files):
        assert summary.rejected > 0 and recorded > 0


AZURE_STARTS = (
    *garbage.EDGE_DATETIME64,
    np.datetime64(int(TIME_MAX_S) - 300 * 20, "s"),
    np.datetime64(int(TIME_MAX_S) - 300 * 39 - 1, "s"),
    np.datetime64(-300 * 10, "s"),
    np.datetime64(-1, "s"),
)


@given(start=st.sampled_from(AZURE_STARTS))
def test_azure_start_at_the_domain_edges_refuses_the_times_outside(store, folder, start):
    n = next(NAMES)
    path = folder / f"azure-start-{n}.csv"
    header = b",".join([b"t_index", *(f"{vm}-{n}".encode() for vm in AZURE_VMS)])
    path.write_bytes(b"\n".join([header, *AZURE_ROWS]) + b"\n")
    try:
        summary, _ = ingest(store, "azure", [path], azure_start=start)
        operations.overload_report(store, "1d")
    except ConfigError:
        summary = None
    start_us = int(start.astype(np.int64)) * US
    landed = samples_by_entity(store, [f"{vm}-{n}" for vm in AZURE_VMS])
    for vm in AZURE_VMS:
        shifted = {(r, ts + start_us): value for (r, ts), value in baseline()["azure"][vm].items()}
        inside = {key: value for key, value in shifted.items() if TIME_MIN_S * US <= key[1] < TIME_MAX_S * US}
        assert landed[f"{vm}-{n}"] == (inside if summary is not None else {}), summary
    if summary is not None and summary.samples_read < len(AZURE_ROWS) * len(AZURE_VMS):
        assert summary.rejected > 0


# One time in the domain but after the rows that follow it: only its row is out of place.
FUTURE_TIMES = (b"7258118399", b"7258118399.5", b"4102444800", b"1375400000")


@given(j=st.integers(0, 5), ts=st.sampled_from(FUTURE_TIMES))
def test_one_far_future_time_does_not_refuse_the_rows_after_it(store, folder, j, ts):
    n = next(NAMES)
    rows = list(BITBRAINS[1:])
    rows[j] = b";".join([ts, *rows[j].split(b";")[1:]])
    path = folder / f"future-{n}.csv"
    path.write_bytes(_rows_text(BITBRAINS[0], rows))
    ingest(store, "bitbrains", [path])
    operations.overload_report(store, "1d")
    got = samples_of(store, f"future-{n}")
    row_us = BITBRAINS_TS[j] * US
    expected = {key: value for key, value in baseline()["bitbrains"].items() if key[1] != row_us}
    lost = {ts for key, ts in expected if got.get((key, ts)) != expected[key, ts]}
    assert not lost, f"{len(lost)} rows after the far future one lost"
