"""stackmeter collect, sources and ingest prometheus through Typer's runner, against local HTTP servers."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from stackmeter.cli import app
from stackmeter.store import open_store
from tests.http_stub import serving

FIXTURES = Path(__file__).parents[1] / "fixtures"
NODE = (
    FIXTURES / "node_exporter" / "e2e-output.txt"
).read_bytes() + b"node_memory_MemAvailable_bytes 1.5e+09\n"

runner = CliRunner()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        if url.path == "/metrics":
            body, content_type = NODE, "text/plain; version=0.0.4"
        elif url.path == "/api/v1/query_range":
            params = {key: values[0] for key, values in parse_qs(url.query).items()}
            start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
            times = [start + i * step for i in range(int((end - start) // step) + 1)]
            labels = {"instance": "10.0.0.9:9100", "job": "node"}
            result = [{"metric": labels, "values": [[t, "0.5"] for t in times]}]
            payload = {"status": "success", "data": {"resultType": "matrix", "result": result}}
            body, content_type = json.dumps(payload).encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    with serving(_Handler) as url:
        yield url


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_collect_then_sources(server, tmp_path):
    store = str(tmp_path / "live.duckdb")
    down = f"http://127.0.0.1:{closed_port()}/metrics"
    args = [
        "collect",
        "--target",
        f"{server}/metrics",
        "--target",
        down,
        "--every",
        "200ms",
        "--for",
        "600ms",
    ]
    result = runner.invoke(app, [*args, "--timeout", "1s", "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rounds"] == 3 and summary["stopped"] is False
    states = {row["target"]: row for row in summary["statuses"]}
    assert states[f"{server}/metrics"]["state"] == "up"
    assert states[down]["state"] == "down" and states[down]["last_error"].startswith("cannot connect")

    listed = runner.invoke(app, ["sources", "--store", store, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["target"]: row for row in json.loads(listed.stdout)}
    assert rows[f"{server}/metrics"]["samples"] > 0 and rows[f"{server}/metrics"]["lag_s"] >= 0
    assert rows[down]["last_success"] is None

    table = runner.invoke(app, ["sources", "--store", store])
    assert "cannot connect" in table.stdout and "never" in table.stdout


def test_collect_without_targets_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["collect", "--store", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 2
    assert "no targets" in result.stderr


def test_ingest_prometheus(server, tmp_path):
    store = str(tmp_path / "prom.duckdb")
    args = [
        "ingest",
        "prometheus",
        "--url",
        server,
        "--start",
        "2026-03-02T00:00",
        "--end",
        "2026-03-02T01:00",
    ]
    result = runner.invoke(app, [*args, "--step", "5m", "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # the fake answers 0.5 for every query: 13 steps × 4 resources of one host
    assert summary["samples_added"] == 13 * 4 and summary["entities"] == 1


def test_ingest_prometheus_unreachable_names_the_server(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    args = ["ingest", "prometheus", "--url", url, "--start", "2026-03-02", "--end", "2026-03-02T00:10"]
    result = runner.invoke(app, [*args, "--store", str(tmp_path / "p.duckdb")])
    assert result.exit_code == 1
    assert f"{url}/api/v1/query_range: cannot connect" in result.stderr


def test_ingest_prometheus_bad_header_is_a_usage_error(tmp_path):
    args = ["ingest", "prometheus", "--url", "http://x", "--start", "2026-03-02", "--header", "no-colon"]
    result = runner.invoke(app, [*args, "--store", str(tmp_path / "p.duckdb")])
    assert result.exit_code == 2
    assert "should read 'Name: value'" in result.stderr


def test_collect_stops_on_sigterm_keeping_its_rounds_and_sources_reads_meanwhile(server, tmp_path):
    store = str(tmp_path / "shared.duckdb")
    command = [str(Path(sys.executable).with_name("stackmeter")), "collect", "--target", f"{server}/metrics"]
    collector = subprocess.Popen(
        [*command, "--every", "300ms", "--store", store, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        # `sources` opens the store between the collector's rounds; wait for two (1 + 4 samples)
        while True:
            listed = runner.invoke(app, ["sources", "--store", store, "--json"])
            rows = json.loads(listed.stdout) if listed.exit_code == 0 else []
            if rows and rows[0]["samples"] >= 5:
                break
            assert time.monotonic() < deadline, listed.output
            time.sleep(0.2)
        collector.send_signal(signal.SIGTERM)
        stdout, stderr = collector.communicate(timeout=20)
    finally:
        collector.kill()
    assert collector.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["stopped"] is True and summary["rounds"] >= 2
    with open_store(store) as opened:
        assert opened.read_status().samples == summary["samples_added"] > 0
