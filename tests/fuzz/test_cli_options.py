"""Every CLI option that takes a time or a number, given garbage: exit 0, 1 or 2, never a traceback."""

from __future__ import annotations

import json
import math
import os
import signal
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from stackmeter.cli import app
from stackmeter.errors import ConfigError
from stackmeter.units import parse_duration_seconds, parse_utc_time
from tests.fuzz import garbage
from tests.fuzz.test_notifications import valid_messages
from tests.http_stub import serving

FIXTURES = Path(__file__).parents[1] / "fixtures"
BITBRAINS = FIXTURES / "bitbrains" / "2013-8" / "41.csv.gz"
AZURE = FIXTURES / "azure" / "microsoft_max_10vms.csv"
# Values as a shell passes them: bytes that are not UTF-8 arrive as surrogate escapes.
SHELL_BYTES = tuple(os.fsdecode(raw) for raw in garbage.INVALID_UTF8 if raw) + (
    "-",
    "--",
    "-1",
    "--help",
    "=",
)


def durations() -> st.SearchStrategy[str]:
    units = st.sampled_from(("ms", "s", "m", "h", "d", "w", "", " s", "S", "sec", "y"))
    return st.one_of(st.tuples(garbage.numbers(), units).map("".join), garbage.values())


def rates() -> st.SearchStrategy[str]:
    units = st.sampled_from(("B/s", "MiB/s", "Gbit/s", "Gbps", "kB/s", "TiB/s", "bit/s", "", "B", "/s"))
    return st.one_of(st.tuples(garbage.numbers(), units).map("".join), garbage.values())


def thresholds() -> st.SearchStrategy[str]:
    pair = st.tuples(st.sampled_from(("cpu", "memory", "disk", "network", "gpu", "")), garbage.numbers())
    return st.one_of(
        st.lists(pair, min_size=1, max_size=3).map(lambda p: ",".join(f"{r}={v}" for r, v in p)),
        garbage.values(),
    )


def retentions() -> st.SearchStrategy[str]:
    pair = st.tuples(st.sampled_from(("raw", "5m", "1h", "1d", "1w", "x")), durations())
    return st.one_of(
        st.lists(pair, min_size=1, max_size=4).map(lambda p: ",".join(f"{k}={v}" for k, v in p)),
        garbage.values(),
    )


def odd(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(strategy, st.sampled_from(SHELL_BYTES))


class Invoked:
    """The outcome of one command, checked for what every command promises."""

    def __init__(self, args: list[str]):
        self.args = args
        self.result = CliRunner().invoke(app, args)
        result = self.result
        assert result.exit_code in (0, 1, 2), (result.exit_code, result.output[-2000:])
        assert "Traceback" not in result.output, result.output[-3000:]
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        if result.exit_code == 0 and "--json" in args:
            json.loads(result.stdout)
        if result.exit_code == 2:
            assert "Error" in result.output, result.output[-500:]


def count_samples(path: str) -> int:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute("SELECT count(*) FROM samples").fetchall()[0][0]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """A store file of one Bitbrains month and a notification stream, that commands only read."""
    folder = tmp_path_factory.mktemp("cli")
    path = str(folder / "read.duckdb")
    capture = folder / "capture.jsonl"
    capture.write_bytes(b"\n".join(orjson.dumps(message) for message in valid_messages(0)) + b"\n")
    for args in (["ingest", "bitbrains", str(BITBRAINS)], ["ingest", "notifications", str(capture)]):
        assert CliRunner().invoke(app, [*args, "--store", path]).exit_code == 0
    return path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> str:
    """A store file that ingests may write to."""
    return str(tmp_path_factory.mktemp("scratch") / "scratch.duckdb")


class _Refuses(BaseHTTPRequestHandler):
    """A Prometheus that answers every query with a bad_data error, at once."""

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        body = b'{"status":"error","errorType":"bad_data","error":"fuzz"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def prometheus_url():
    with serving(_Refuses) as url:
        yield url


# -- options that read the store -------------------------------------------------------------

# Each option with the other arguments of its command; a series is asked for a few hours only,
# so that a valid time prints a short answer.
READ_OPTIONS = {
    ("overload", "--threshold"): (thresholds(), ["--timescale", "1d"]),
    ("overload", "--share"): (garbage.numbers(), ["--timescale", "1d"]),
    ("overload", "--top"): (garbage.numbers(), ["--timescale", "1d"]),
    ("fleet", "--threshold"): (thresholds(), ["--timescale", "1w"]),
    ("fleet", "--share"): (garbage.numbers(), ["--timescale", "1w"]),
    ("fleet", "--last"): (garbage.numbers(), ["--timescale", "1d"]),
    ("series", "--from"): (garbage.times(), ["41", "--to", "2013-08-01T01:00"]),
    ("series", "--to"): (garbage.times(), ["41", "--from", "2013-08-30T18:00"]),
    ("quantile", "--q"): (garbage.numbers(), ["41", "--timescale", "1w"]),
    ("operations", "--timeout"): (garbage.numbers(), []),
    ("compact", "--as-of"): (garbage.times(), ["--dry-run"]),
    ("compact", "--retention"): (retentions(), ["--dry-run"]),
}


@given(data=st.data(), option=st.sampled_from(sorted(READ_OPTIONS)))
def test_options_of_commands_that_read(store, data, option):
    (command, name), (values, others) = option, READ_OPTIONS[option]
    value = data.draw(odd(values), label="value")
    before = count_samples(store) if command == "compact" else None
    invoked = Invoked([command, *others, f"{name}={value}", "--store", store, "--json"])
    if before is not None:  # a dry run drops nothing
        assert count_samples(store) == before
    if invoked.result.exit_code != 0:
        return
    answer = json.loads(invoked.result.stdout)
    if command == "series":  # the samples are those asked for
        bounds = dict(zip(others[1::2], others[2::2], strict=True)) | {name: value}
        first, last = parse_utc_time(bounds["--from"], "--from"), parse_utc_time(bounds["--to"], "--to")
        times = [np.datetime64(row["ts"].removesuffix("Z"), "ns") for row in answer["samples"]]
        assert all(first <= ts < last for ts in times), (first, last, times[:3])
    if name == "--as-of":  # compaction counts back from the time given, not a wrapped one
        as_of = np.datetime64(answer["as_of"].removesuffix("Z"), "ns")
        assert abs(as_of - parse_utc_time(value, "--as-of")) < np.timedelta64(1, "s"), answer["as_of"]


# -- options of ingests ----------------------------------------------------------------------


def _points(start: str, end: str | None, step: str) -> float:
    """How many points a range asks for, when its options are valid; 0 otherwise."""
    try:
        first = parse_utc_time(start, "--start")
        last = parse_utc_time(end, "--end") if end else np.datetime64("now", "ns")
        step_s = parse_duration_seconds(step)
    except ConfigError:
        return 0
    return (last - first).astype(np.int64) / 1e9 / step_s if step_s > 0 else 0


@st.composite
def ingest_arguments(draw, azure: Path, prometheus_url: str) -> list[str]:
    kind = draw(st.sampled_from(("azure", "bitbrains", "prometheus")))
    if kind == "azure":
        return ["ingest", "azure", str(azure), f"--start={draw(odd(garbage.times()))}"]
    if kind == "bitbrains":
        option = draw(st.sampled_from(("--disk-capacity", "--network-capacity")))
        return ["ingest", "bitbrains", str(BITBRAINS), f"{option}={draw(odd(rates()))}"]
    start, step = draw(odd(garbage.times())), draw(st.one_of(st.just("5m"), odd(durations())))
    end = draw(st.one_of(st.none(), odd(garbage.times())))
    # a range of billions of points is tested apart: it would take the whole run
    assume(not _points(start, end, step) > 1e7)
    args = ["ingest", "prometheus", f"--url={prometheus_url}", f"--start={start}", f"--step={step}"]
    return args + ([] if end is None else [f"--end={end}"])


@pytest.fixture(scope="module")
def azure(tmp_path_factory) -> Path:
    """A few rows of the Azure table."""
    path = tmp_path_factory.mktemp("azure") / "azure.csv"
    path.write_bytes(b"\n".join(AZURE.read_bytes().split(b"\n")[:13]) + b"\n")
    return path


@given(data=st.data())
def test_options_of_ingests(scratch, azure, prometheus_url, data):
    args = data.draw(ingest_arguments(azure, prometheus_url), label="arguments")
    result = Invoked([*args, "--store", scratch, "--json"]).result
    if result.exit_code != 0:
        return
    Invoked(["overload", "--timescale", "1d", "--store", scratch, "--json"])  # the store still reports
    summary = json.loads(result.stdout)
    if args[1] == "azure" and summary["first_ts"]:  # t_index 1 is 5 minutes after --start
        start = parse_utc_time(args[3].removeprefix("--start="), "--start")
        first = np.datetime64(summary["first_ts"].removesuffix("Z"), "ns")
        assert abs(first - (start + np.timedelta64(300, "s"))) < np.timedelta64(1, "s"), summary["first_ts"]


@contextmanager
def deadline(seconds: float):
    """Fail, rather than hang, when the block takes longer than ``seconds``."""

    def expire(*_):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_step_too_fine_for_the_range_is_refused_at_once(scratch, prometheus_url):
    """Two centuries at 1 ms are 7e12 points: refused, not planned chunk by chunk."""
    with deadline(2):
        args = ["ingest", "prometheus", f"--url={prometheus_url}", "--start=1970-01-01", "--end=2199-12-31"]
        Invoked([*args, "--step=1ms", "--store", scratch, "--json"])


# -- collect ---------------------------------------------------------------------------------


def _seconds(text: str) -> float | None:
    try:
        return parse_duration_seconds(text)
    except ConfigError:
        return None


@given(option=st.sampled_from(("--every", "--for", "--timeout")), value=odd(durations()))
def test_collect_durations(option, value):
    seconds = _seconds(value)
    # keep runs short: at most a few dozen rounds of a few milliseconds
    if option == "--every":
        assume(seconds is None or not seconds < 1e-4 or seconds <= 0)
    if option == "--for":
        assume(seconds is None or not seconds > 0.02 or math.isnan(seconds))
    options = {"--every": "1ms", "--for": "1ms", "--timeout": "1s", option: value}
    args = ["collect", "--target=http://127.0.0.1:1/metrics", "--store", ":memory:", "--json"]
    with deadline(3):
        Invoked(args + [f"{name}={text}" for name, text in options.items()])
