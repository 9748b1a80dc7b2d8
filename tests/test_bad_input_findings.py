"""One test per finding of issue 10 ("bad input never loses, corrupts or poisons data"), items 1-8.

Each test drives the public CLI or API with the input the finding describes and checks what a
user relies on: the exit code or status, the message, and that the store holds exactly the valid
data around the garbage (counted here from the raw files, independently of stackmeter).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from stackmeter.api import create_app
from stackmeter.cli import app
from stackmeter.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
MONTH = FIXTURES / "bitbrains" / "2013-8"  # four VMs, every line valid
AZURE = FIXTURES / "azure" / "microsoft_max_10vms.csv"
PLANETLAB_DAY = FIXTURES / "planetlab" / "20110303"
NOVA = FIXTURES / "nova_notifications"
RESOURCES_PER_LINE = 4  # a Bitbrains line gives cpu, memory, disk and network
CPU_USAGE, MEMORY_USAGE, NETWORK_RECEIVED = 3, 6, 9  # Bitbrains column indices
DOMAIN_END = datetime(2200, 1, 1, tzinfo=UTC)
ERROR_KEYS = {"error", "detail", "where"}

runner = CliRunner()


# --- helpers -------------------------------------------------------------------------------------


def invoke(*args, env: dict | None = None):
    return runner.invoke(app, [str(arg) for arg in args], env=env)


def ingest_json(trace_format: str, *paths, store) -> dict:
    result = invoke("ingest", trace_format, *paths, "--store", store, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def bitbrains_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        return handle.read().splitlines(keepends=True)


def month_samples() -> int:
    """Samples in the fixture month, counted from its lines (header excluded)."""
    return RESOURCES_PER_LINE * sum(len(bitbrains_lines(path)) - 1 for path in MONTH.glob("*.csv.gz"))


def with_field(line: str, column: int, value: str) -> str:
    fields = line.rstrip("\n").split(";")
    fields[column] = value if column == 0 else f"\t{value}"
    return ";".join(fields) + "\n"


def copy_month(folder: Path, changes: dict | None = None, dropped: tuple = ()) -> Path:
    """Copy the fixture month into ``folder``, with ``changes[(file, line)] = (column, value)``
    applied and the ``(file, line)`` pairs in ``dropped`` left out (lines count from 1, the header)."""
    folder.mkdir(parents=True)
    for path in sorted(MONTH.glob("*.csv.gz")):
        lines = bitbrains_lines(path)
        for (name, number), (column, value) in (changes or {}).items():
            if name == path.name:
                lines[number - 1] = with_field(lines[number - 1], column, value)
        kept = [line for number, line in enumerate(lines, 1) if (path.name, number) not in dropped]
        with gzip.open(folder / path.name, "wt") as handle:
            handle.writelines(kept)
    return folder


def table_counts(store) -> dict[str, int]:
    """Rows of the samples table and of every rollup level's table, read directly from the file."""
    with duckdb.connect(str(store), read_only=True) as con:
        names = [
            name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        ]
        kept = [n for n in names if n == "samples" or (n.startswith("rollup_") and n != "rollup_levels")]
        return {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in kept}


def query_one(store, sql: str):
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def entity_samples(store) -> dict[str, int]:
    result = invoke("entities", "--store", store, "--json")
    assert result.exit_code == 0, result.output
    return {row["entity"]: row["samples"] for row in json.loads(result.stdout)}


def said(text: str) -> str:
    """The message as one lowercase line (the consoles wrap long lines)."""
    return " ".join(text.split()).lower()


def no_traceback(result) -> bool:
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return not crashed and "Traceback" not in result.output


def run_module(*args, timeout_s: float) -> subprocess.CompletedProcess:
    """Run ``python -m stackmeter ARGS`` in a process of its own; fail if it is still running after ``timeout_s``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STACKMETER_")}
    try:
        return subprocess.run(
            [sys.executable, "-m", "stackmeter", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"stackmeter {' '.join(map(str, args))} still running after {timeout_s:g} s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def month_store(tmp_path_factory) -> Path:
    """A store file holding the fixture month (never changed: tests work on copies)."""
    path = tmp_path_factory.mktemp("month") / "month.duckdb"
    ingest_json("bitbrains", MONTH, store=path)
    return path


@pytest.fixture
def store_copy(month_store, tmp_path) -> Path:
    path = tmp_path / "copy.duckdb"
    shutil.copy(month_store, path)
    return path


@pytest.fixture(scope="module")
def client(month_store, tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "served.duckdb"
    shutil.copy(month_store, path)
    with TestClient(create_app(Settings(store=str(path))), raise_server_exceptions=False) as test_client:
        yield test_client


# --- 1. one time domain, 1970-01-01 .. 2200-01-01 UTC ----------------------------------------------


@pytest.mark.parametrize("as_of", ["1600-01-01", "2262-04-12"])
def test_compact_as_of_outside_the_time_domain_is_refused(store_copy, as_of):
    """1: `compact --as-of` outside the time domain is a usage error and drops nothing."""
    before = table_counts(store_copy)
    result = invoke("compact", "--store", store_copy, "--as-of", as_of, "--json")
    assert result.exit_code == 2, result.output
    assert "--as-of" in result.output
    assert table_counts(store_copy) == before
    assert before["samples"] == month_samples()


def test_compact_as_of_past_the_data_needs_force(store_copy):
    """1: an --as-of inside the domain but long after the store's data drops nothing without --force."""
    before = table_counts(store_copy)
    result = invoke("compact", "--store", store_copy, "--as-of", "2030-01-01", "--json")
    assert result.exit_code == 2, result.output
    assert "--force" in result.output
    assert table_counts(store_copy) == before


def test_compact_dry_run_says_what_it_would_drop_and_drops_nothing(store_copy):
    """1: `compact --dry-run` prints what compaction would drop and leaves the store unchanged."""
    before = table_counts(store_copy)
    dry = invoke("compact", "--store", store_copy, "--retention", "raw=7d", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert table_counts(store_copy) == before
    real = invoke("compact", "--store", store_copy, "--retention", "raw=7d", "--json")
    assert real.exit_code == 0, real.output
    dropped = json.loads(real.stdout)["samples_dropped"]
    assert dropped > 0 and table_counts(store_copy)["samples"] == before["samples"] - dropped
    assert str(dropped) in dry.stdout


def test_azure_start_outside_the_time_domain_is_refused(tmp_path):
    """1: `ingest azure --start 3000-01-01` is a usage error naming --start; nothing is stored."""
    store = tmp_path / "cloud.duckdb"
    result = invoke("ingest", "azure", AZURE, "--store", store, "--start", "3000-01-01")
    assert result.exit_code == 2, result.output
    assert "--start" in result.output
    assert not store.exists() or table_counts(store)["samples"] == 0


def test_azure_samples_past_the_time_domain_are_refused(tmp_path):
    """1: with `--start 2199-12-31` the rows past 2200-01-01 are refused as "time out of range"."""
    start = datetime(2199, 12, 31, tzinfo=UTC)
    rows = AZURE.read_text().splitlines()
    vms = len(rows[0].split(",")) - 1
    steps = [int(row.split(",")[0]) for row in rows[1:]]
    inside = sum(start + timedelta(minutes=5 * step) < DOMAIN_END for step in steps)
    assert 0 < inside < len(steps)
    store = tmp_path / "cloud.duckdb"
    summary = ingest_json("azure", AZURE, "--start", "2199-12-31", store=store)
    assert summary["samples_added"] == inside * vms
    assert "time out of range" in summary["rejected_by_reason"]
    assert query_one(store, "SELECT max(ts) FROM samples") < DOMAIN_END
    result = invoke("overload", "--store", store, "--json")
    assert result.exit_code == 0 and no_traceback(result), result.output


def test_planetlab_day_folder_outside_the_time_domain_is_refused(tmp_path):
    """1: a PlanetLab folder 99991231 is refused as "time out of range"; a valid day beside it lands."""
    vms = sorted(PLANETLAB_DAY.iterdir())
    (tmp_path / "99991231").mkdir()
    (tmp_path / "20110303").mkdir()
    shutil.copy(vms[0], tmp_path / "99991231" / vms[0].name)
    shutil.copy(vms[1], tmp_path / "20110303" / vms[1].name)
    valid = sum(1 for line in vms[1].read_text().splitlines() if line.strip())
    store = tmp_path / "cloud.duckdb"
    summary = ingest_json("planetlab", tmp_path / "99991231", tmp_path / "20110303", store=store)
    assert summary["samples_added"] == valid
    assert "time out of range" in summary["rejected_by_reason"]
    assert any("99991231" in example["path"] for example in summary["rejection_examples"])
    assert entity_samples(store) == {vms[1].name: valid}
    assert query_one(store, "SELECT min(ts) FROM samples") == datetime(2011, 3, 3, tzinfo=UTC)


def test_bitbrains_timestamp_outside_the_time_domain_refuses_that_line_only(tmp_path):
    """1: one Bitbrains timestamp 99999999999 is one refusal with file and line; the rest lands."""
    bad = copy_month(tmp_path / "bad", {("41.csv.gz", 100): (0, "99999999999")})
    without = copy_month(tmp_path / "without", dropped=(("41.csv.gz", 100),))
    summary = ingest_json("bitbrains", bad, store=tmp_path / "bad.duckdb")
    reference = ingest_json("bitbrains", without, store=tmp_path / "without.duckdb")
    assert reference["samples_added"] == month_samples() - RESOURCES_PER_LINE
    assert summary["samples_added"] == reference["samples_added"]
    assert "time out of range" in summary["rejected_by_reason"]
    assert any(
        example["reason"] == "time out of range"
        and example["path"].endswith("41.csv.gz")
        and example["line"] == 100
        for example in summary["rejection_examples"]
    )


def test_notifications_dated_outside_the_time_domain_are_dead_letters(tmp_path):
    """1: notifications dated 9999-12-31 and 0001-01-01 are dead letters; `operations` still works."""

    def message(name: str, message_id: str, timestamp: str) -> str:
        body = json.loads((NOVA / f"{name}.json").read_text())
        body.update(message_id=message_id, timestamp=timestamp)
        return json.dumps(body)

    valid = ["instance-create-start", "instance-create-end", "instance-delete-start", "instance-delete-end"]
    lines = [message(name, f"valid-{i}", f"2026-03-02 10:00:{i:02d}.000000") for i, name in enumerate(valid)]
    lines.append(message("instance-reboot-start", "future", "9999-12-31 23:59:59.000000"))
    lines.append(message("instance-reboot-end", "past", "0001-01-01 00:00:00.000000"))
    capture = tmp_path / "capture.jsonl"
    capture.write_text("\n".join(lines) + "\n")
    store = tmp_path / "cloud.duckdb"
    result = invoke("ingest", "notifications", capture, "--store", store, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["events_added"] == len(valid)
    assert summary["dead_by_reason"] == {"bad timestamp": 2}
    timings = invoke("operations", "--store", store, "--timescale", "1d", "--json")
    assert timings.exit_code == 0 and no_traceback(timings), timings.output
    json.loads(timings.stdout)


@pytest.mark.parametrize(("query", "parameter"), [("to=9999-12-31", "to"), ("from=99999-01-01", "from")])
def test_series_time_parameter_outside_the_domain_is_422(client, query, parameter):
    """1: `/api/v1/series` with a time outside the domain is a 422 naming the parameter."""
    response = client.get(f"/api/v1/series/41?{query}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert re.search(rf"\b{parameter}\b", str(body["where"])), body


def test_series_from_in_unix_seconds(client):
    """1: `from=1375315200` is read as Unix seconds: the same samples as from=2013-08-01T00:00:00Z."""
    by_seconds = client.get("/api/v1/series/41?from=1375315200")
    by_text = client.get("/api/v1/series/41?from=2013-08-01T00:00:00Z")
    assert by_seconds.status_code == by_text.status_code == 200
    assert by_text.json()["samples"]
    assert by_seconds.json()["samples"] == by_text.json()["samples"]


# --- 2. a file name that is not UTF-8 ----------------------------------------------------------------


def test_bitbrains_file_name_not_utf8_lands_with_its_neighbours(tmp_path):
    """2: a Bitbrains file whose name is not UTF-8 lands (shown with a backslash escape), beside the others."""
    folder = tmp_path / "month"
    folder.mkdir()
    odd = bitbrains_lines(MONTH / "176.csv.gz")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.csv"), "w") as handle:
        handle.writelines(odd)
    shutil.copy(MONTH / "41.csv.gz", folder / "41.csv.gz")
    store = tmp_path / "cloud.duckdb"
    result = invoke("ingest", "bitbrains", folder, "--store", store, "--json")
    assert result.exit_code == 0, result.output
    samples = entity_samples(store)
    assert samples["41"] == RESOURCES_PER_LINE * (len(bitbrains_lines(MONTH / "41.csv.gz")) - 1)
    escaped = [name for name in samples if "\\xe9" in name]
    assert len(escaped) == 1 and samples[escaped[0]] == RESOURCES_PER_LINE * (len(odd) - 1)


# --- 3. extreme numbers in parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/overload?threshold=cpu=1e308",
        "/api/v1/heatmap?threshold=1e308",
        "/api/v1/heatmap?threshold=cpu=1e308",
        "/api/v1/operations?timeout=nan",
        "/api/v1/operations?timeout=1e999",
    ],
)
def test_extreme_numbers_in_api_parameters_are_422(client, url):
    """3: an extreme threshold or a non-finite timeout is a 422 with the one error body, not a 500."""
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert set(response.json()) == ERROR_KEYS


@pytest.mark.parametrize("url", ["/?threshold=cpu=1e308", "/heatmap?threshold=cpu=1e308"])
def test_extreme_threshold_on_the_pages_is_a_client_error(client, url):
    """3: the dashboard pages answer an extreme threshold with a 4xx HTML page."""
    response = client.get(url)
    assert 400 <= response.status_code < 500, response.status_code
    assert response.headers["content-type"].startswith("text/html")


def test_extreme_threshold_on_the_cli_is_a_usage_error(store_copy):
    """3: `overload --threshold cpu=1e308` exits 2 with a message, not a traceback."""
    result = invoke("overload", "--store", store_copy, "--threshold", "cpu=1e308")
    assert result.exit_code == 2, result.output
    assert no_traceback(result) and "threshold" in said(result.output)


# --- 4. implausible values -----------------------------------------------------------------------------


def test_implausible_bitbrains_values_are_refused(tmp_path):
    """4: CPU 1e308 MHz, memory 1e30 KB and network 1e300 KB/s are refused as "implausible"; the rest lands."""
    changes = {
        ("41.csv.gz", 10): (CPU_USAGE, "1e308"),
        ("41.csv.gz", 20): (MEMORY_USAGE, "1e30"),
        ("51.csv.gz", 30): (NETWORK_RECEIVED, "1e300"),
    }
    store = tmp_path / "cloud.duckdb"
    summary = ingest_json("bitbrains", copy_month(tmp_path / "month", changes), store=store)
    assert summary["rejected_by_reason"] == {"implausible": len(changes)}
    assert summary["samples_added"] == month_samples() - len(changes)
    for resource in ("cpu", "memory"):
        for source in ((), ("--from-raw",)):
            result = invoke(
                "quantile", "--all", "--q", "1", "--resource", resource, *source, "--store", store, "--json"
            )
            assert result.exit_code == 0, result.output
            windows = json.loads(result.stdout)["windows"]
            assert windows and all(w[key] <= 100 for w in windows for key in ("quantile", "lower", "upper"))


# --- 5. a truncated .gz --------------------------------------------------------------------------------


def test_truncated_gzip_keeps_its_complete_rows(tmp_path):
    """5: the first 20 KB of a Bitbrains .csv.gz land their complete rows; the truncation is one refusal."""
    cut = (MONTH / "41.csv.gz").read_bytes()[: 20 * 1024]
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    rows = len(readable.split(b"\n")[:-1]) - 1  # the last piece is partial; the first line is the header
    assert rows > 1000
    folder = tmp_path / "month"
    folder.mkdir()
    (folder / "41.csv.gz").write_bytes(cut)
    shutil.copy(MONTH / "176.csv.gz", folder / "176.csv.gz")
    neighbour = RESOURCES_PER_LINE * (len(bitbrains_lines(MONTH / "176.csv.gz")) - 1)
    summary = ingest_json("bitbrains", folder, store=tmp_path / "cloud.duckdb")
    assert summary["samples_added"] == RESOURCES_PER_LINE * rows + neighbour
    assert summary["rejected"] == 1
    assert summary["rejection_examples"][0]["path"].endswith("41.csv.gz")


# --- 6. read commands never create a store -------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["overload"],
        ["entities"],
        ["series", "41"],
        ["quantile", "--all"],
        ["operations"],
        ["deadletters"],
        ["sources"],
    ],
    ids=lambda command: command[0],
)
def test_read_command_on_a_missing_store_fails_and_creates_nothing(tmp_path, command):
    """6: a read command on a --store path with no store exits 1 with "no store at" and creates no file."""
    store = tmp_path / "typo.duckdb"
    result = invoke(*command, "--store", store)
    assert result.exit_code == 1, result.output
    assert "no store at" in said(result.output)
    assert not store.exists()


def test_serve_on_a_missing_store_fails_before_serving(tmp_path):
    """6: `serve` on a missing store exits 1 with "no store at" instead of serving an empty dashboard."""
    store = tmp_path / "typo.duckdb"
    done = run_module("serve", "--store", store, "--port", free_port(), timeout_s=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no store at" in said(done.stdout + done.stderr)
    assert not store.exists()


def test_ingest_of_a_missing_path_leaves_no_store(tmp_path):
    """6: `ingest bitbrains` of a path that does not exist exits 1 and leaves no new store file."""
    store = tmp_path / "new.duckdb"
    result = invoke("ingest", "bitbrains", tmp_path / "does" / "not" / "exist", "--store", store)
    assert result.exit_code == 1, result.output
    assert "no such file or folder" in said(result.output)
    assert not store.exists()


# --- 7. refusals recorded once per input ---------------------------------------------------------------


def test_reingest_records_refusals_once(tmp_path):
    """7: ingesting the same files (one bad line) three times leaves as many rejections as the first time."""
    folder = copy_month(tmp_path / "month", {("41.csv.gz", 50): (CPU_USAGE, "abc")})
    store = tmp_path / "cloud.duckdb"
    first = ingest_json("bitbrains", folder, store=store)
    assert first["rejected_by_reason"] == {"not a number": 1}
    once = query_one(store, "SELECT count(*) FROM rejections")
    for _ in range(2):
        again = ingest_json("bitbrains", folder, store=store)
        assert again["samples_added"] == 0
    assert query_one(store, "SELECT count(*) FROM rejections") == once == 1
    with TestClient(create_app(Settings(store=str(store)))) as test_client:
        assert test_client.get("/api/v1/status").json()["rejected"] == once


# --- 8. smaller findings -------------------------------------------------------------------------------


def test_listen_gives_up_on_an_unreachable_broker(tmp_path):
    """8: `listen --idle-exit 3` with no broker listening exits non-zero, saying the broker is unreachable."""
    done = run_module(
        "listen",
        "--amqp",
        "amqp://guest:guest@127.0.0.1:1/",
        "--idle-exit",
        "3",
        "--store",
        tmp_path / "cloud.duckdb",
        timeout_s=60,
    )
    assert done.returncode != 0
    assert re.search(r"unreachable|cannot reach|could not reach", said(done.stderr + done.stdout)), (
        done.stderr
    )


@pytest.mark.parametrize("command", ["overload", "entities"])
def test_json_and_csv_together_is_a_usage_error(store_copy, command):
    """8: `--json --csv` together is a usage error, not silently JSON."""
    result = invoke(command, "--store", store_copy, "--json", "--csv")
    assert result.exit_code == 2, result.output


def test_heatmap_csv_format_gives_csv(client):
    """8: `/api/v1/heatmap?format=csv` answers CSV."""
    response = client.get("/api/v1/heatmap?format=csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")


def test_bad_setting_names_the_setting(store_copy):
    """8: STACKMETER_SHARE=abc is a usage error whose message names the share setting."""
    result = invoke("overload", "--store", store_copy, env={"STACKMETER_SHARE": "abc"})
    assert result.exit_code == 2, result.output
    assert "share" in said(result.output)


def test_end_before_start_shows_iso_times(tmp_path):
    """8: `ingest prometheus` with --end before --start says so in ISO times, not epoch floats."""
    result = invoke(
        "ingest",
        "prometheus",
        "--url",
        "http://127.0.0.1:1",
        "--start",
        "2026-03-02",
        "--end",
        "2026-03-01",
        "--store",
        tmp_path / "cloud.duckdb",
    )
    assert result.exit_code == 2, result.output
    assert "2026-03-01" in result.output and "2026-03-02" in result.output
    assert not re.search(r"\d{9,}\.\d", result.output)


@pytest.mark.parametrize(
    ("url", "status"),
    [("/api/v1/series/no-such-entity", 404), ("/api/v1/overload?top=abc", 422), ("/api/v1/nope", 404)],
)
def test_every_api_error_has_one_body(client, url, status):
    """8: an unknown entity, a validation error and an unknown route all answer {error, detail, where}."""
    response = client.get(url)
    assert response.status_code == status, response.text
    assert set(response.json()) == ERROR_KEYS


def test_ingest_planetlab_of_a_missing_folder_says_no_such_path(tmp_path):
    """8: `ingest planetlab` of a folder that does not exist says so, not "not this format"."""
    result = invoke(
        "ingest", "planetlab", tmp_path / "nonexistent" / "20110303", "--store", tmp_path / "s.duckdb"
    )
    assert result.exit_code == 1, result.output
    assert "no such file or folder" in said(result.output)
