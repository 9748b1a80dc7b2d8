"""`stackmeter serve` and `stackmeter demo` as an operator runs them: a real server process on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import ADMIN, ALPHA, cli_json, run_cli

TOKENS_FILE = f"{ADMIN} admin\n{ALPHA} read alpha\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.stderr.read()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"server not up at {url} after {seconds} s")


def stackmeter(*args: str, **kwargs) -> subprocess.Popen:
    command = [sys.executable, "-c", "from stackmeter.cli import app; app()", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_serve_answers_like_the_cli_and_never_logs_a_token(tmp_path, fleet_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKENS_FILE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = stackmeter("serve", "--store", fleet_path, "--port", str(port), "--tokens-file", str(tokens))
    try:
        wait_until_up(base + "/api/v1/status", server)
        overload = httpx.get(
            base + "/api/v1/overload?timescale=1d", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        wrong = httpx.get(
            base + "/api/v1/entities", headers={"Authorization": "Bearer wrong-token-0123456789"}
        )
        login = httpx.post(base + "/login", data={"token": ALPHA, "next": "/heatmap"})
        bad_login = httpx.post(base + "/login", data={"token": "guessed-token-0123456789"})
        page = httpx.get(base + "/heatmap", cookies={"stackmeter_token": ALPHA})
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    # uvicorn re-raises the signal once it has shut down gracefully, so the exit status is the signal.
    assert server.returncode in (0, -signal.SIGTERM), err
    # The server is in another process: close our own connections to the store file first.
    assert overload.json() == cli_json("overload", "--store", fleet_path, "--timescale", "1d")
    assert wrong.status_code == 401 and bad_login.status_code == 401
    assert login.status_code == 303 and login.headers["location"] == "/heatmap"
    assert (
        "httponly" in login.headers["set-cookie"].lower()
        and "samesite=strict" in login.headers["set-cookie"].lower()
    )
    assert (
        page.status_code == 200 and 'data-entity="196"' in page.text and 'data-entity="41"' not in page.text
    )
    logs = out + err
    assert '"GET /api/v1/overload?timescale=1d HTTP/1.1" 200' in logs
    assert "401 GET /api/v1/entities from 127.0.0.1: unknown token" in logs
    assert "Shutting down" in logs and "Application shutdown complete" in logs
    for secret in (ADMIN, ALPHA, "wrong-token-0123456789", "guessed-token-0123456789"):
        assert secret not in logs


def test_serve_refuses_other_addresses_without_tokens(fleet_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("STACKMETER_")}
    result = subprocess.run(
        [sys.executable, "-c", "from stackmeter.cli import app; app()", "serve", "--store", fleet_path, "--host", "0.0.0.0"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without tokens" in result.stderr


def test_demo_no_serve_prints_the_reports_and_exits(tmp_path):
    output = run_cli("demo", "--no-serve", "--keep-in", str(tmp_path))
    assert "Overloaded entities" in output and "Dashboard" not in output
    stored = cli_json("overload", "--store", str(tmp_path / "demo-bitbrains.duckdb"), "--timescale", "1d")
    assert stored["cells"][0]["entities"] == 20


def test_demo_serves_the_sample_for_a_while_and_prints_its_url(tmp_path):
    port = free_port()
    demo = stackmeter("demo", "--serve-for", "4", "--port", str(port), "--keep-in", str(tmp_path))
    wait_until_up(f"http://127.0.0.1:{port}/api/v1/status", demo, seconds=90)
    status = httpx.get(f"http://127.0.0.1:{port}/api/v1/status").json()
    out, err = demo.communicate(timeout=60)
    assert demo.returncode == 0, err
    assert f"Dashboard and API on http://127.0.0.1:{port}/" in err
    assert "Overloaded entities" in out
    assert status["entities"] == 20 and status["location"].endswith("demo-bitbrains.duckdb")
