"""Load on the HTTP API: 50 concurrent clients asking ``/api/v1/overload`` of the full Bitbrains Rnd store.

Run from the repository root with ../shared/data beside it (or STACKMETER_DATA pointing at it):

    python benchmarks/api_load.py                       # builds the store in a temporary folder
    python benchmarks/api_load.py --store rnd.duckdb    # reuses (or builds once) a store file

The load comes from ``wrk`` (Debian package ``wrk``; installed when missing and run as root), which
keeps 50 connections busy for a fixed time and reports latency percentiles. The server is the real
``stackmeter serve`` on a loopback port, as operators run it. Scenarios:

- ``same report``: every client asks the default report; after the first request it comes from the
  server's report cache (keyed by project, parameters and the store's last batch).
- ``new report each request``: every request asks a share no other request asked, so each one is
  computed from the store: the worst case, what a dashboard of many different links would cause.
- ``status``: ``/api/v1/status``, a cheap route, shows what the HTTP layer alone costs.

Beside them, in the same run, the report computed in-process by ``operations.overload_report``
gives the floor an uncached request cannot beat; the ratio says what serving adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.overload import DATA, DISK, NETWORK, machine  # noqa: E402
from stackmeter import operations  # noqa: E402
from stackmeter.store import open_store  # noqa: E402

# wrk's Lua hook printing a JSON summary at the end.
WRK_SCRIPT = """
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"non_2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.status, errors.connect, errors.read, errors.write,
    errors.timeout))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "bitbrains_rnd", help="Bitbrains Rnd folder")
    parser.add_argument("--store", type=Path, help="store file to reuse, built from --data when missing")
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections [50]")
    parser.add_argument("--seconds", type=int, default=30, help="length of each scenario [30]")
    parser.add_argument(
        "--rounds", type=int, default=2, help="requests per client when every request is a new report [2]"
    )
    parser.add_argument("--write", type=Path, help="append the results as a section of this Markdown file")
    args = parser.parse_args()
    wrk = ensure_wrk()
    described = machine()
    with tempfile.TemporaryDirectory(prefix="stackmeter-load-") as folder:
        store_path = args.store or Path(folder) / "rnd.duckdb"
        samples = build_store(store_path, args.data)
        in_process = time_in_process(store_path)
        expected = cli_report(store_path)
        port = free_port()
        results = {}
        with serving(store_path, port):
            base = f"http://127.0.0.1:{port}"
            check_same_answer(base, expected)
            script = Path(folder) / "load.lua"
            script.write_text(WRK_SCRIPT)
            for name, path in (("same report (cached)", "/api/v1/overload"), ("status", "/api/v1/status")):
                print(f"{name}: {args.clients} clients for {args.seconds} s …", flush=True)
                results[name] = run_wrk(wrk, script, base + path, args.clients, args.seconds)
                print("  ", results[name], flush=True)
            name = "new report each request"
            print(f"{name}: {args.clients} clients × {args.rounds} requests …", flush=True)
            results[name] = asyncio.run(distinct_reports(base, args.clients, args.rounds))
            print("  ", results[name], flush=True)
    section = markdown(results, in_process, samples, described, args)
    print(section)
    if args.write:
        with args.write.open("a") as out:
            out.write("\n" + section)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install the Debian package wrk (sudo apt-get install wrk)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True)
    return shutil.which("wrk") or sys.exit("wrk did not install")


def build_store(path: Path, data: Path) -> int:
    with open_store(str(path)) as store:
        if not store.read_status().samples:
            if not data.is_dir():
                sys.exit(f"no Bitbrains Rnd data at {data}: pass --data or set STACKMETER_DATA")
            print(f"ingesting {data} …", flush=True)
            operations.ingest(
                store, "bitbrains", [data], disk_capacity_bytes_s=DISK, network_capacity_bytes_s=NETWORK
            )
        return store.read_status().samples


def time_in_process(path: Path, repeat: int = 3) -> float:
    best = float("inf")
    with open_store(str(path)) as store:
        for _ in range(repeat):
            started = time.perf_counter()
            operations.overload_report(store)
            best = min(best, time.perf_counter() - started)
    return best


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(store: Path, port: int):
    command = [sys.executable, "-m", "stackmeter", "serve", "--store", str(store), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                sys.exit(f"stackmeter serve stopped: {server.stderr.read()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                sys.exit("stackmeter serve did not answer within 60 s")
            time.sleep(0.2)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def cli_report(store_path: Path) -> dict:
    """`stackmeter overload --json` on the store (before serving: the server holds the file)."""
    cli = subprocess.run(
        [sys.executable, "-m", "stackmeter", "overload", "--store", str(store_path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(cli.stdout)


def check_same_answer(base: str, expected: dict) -> None:
    """The server must answer what the CLI answers: compare once before loading it."""
    served = httpx.get(f"{base}/api/v1/overload", timeout=120).json()
    if served != expected:
        sys.exit("the API's report differs from `stackmeter overload --json` on the same store")


def run_wrk(wrk: str, script: Path, url: str, clients: int, seconds: int) -> dict:
    threads = min(2, clients)
    done = subprocess.run(
        [wrk, f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "300s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


async def distinct_reports(base: str, clients: int, rounds: int) -> dict:
    """``clients`` concurrent clients each asking ``rounds`` reports no one asked before (a new share).

    A fixed number of requests rather than a fixed time: an uncached report takes seconds, and
    requests cut off at the end of a timed run would keep the server busy into the next scenario.
    """
    latencies: list[float] = []
    failures = 0

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal failures
        for round_ in range(rounds):
            share = 0.05 + (round_ * clients + number + 1) * 1e-6
            started = time.perf_counter()
            response = await http.get(f"{base}/api/v1/overload", params={"share": f"{share:.6f}"})
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(number, http) for number in range(clients)))
        duration = time.perf_counter() - started
    us = np.array(latencies) * 1e6
    return {
        "requests": len(latencies),
        "duration_us": int(duration * 1e6),
        "p50_us": int(np.percentile(us, 50)),
        "p90_us": int(np.percentile(us, 90)),
        "p99_us": int(np.percentile(us, 99)),
        "max_us": int(us.max()),
        "non_2xx": failures,
        "connect": 0,
        "read": 0,
        "write": 0,
        "timeout": 0,
        "per_second": len(latencies) / duration,
    }


def markdown(results: dict, in_process: float, samples: int, described: str, args) -> str:
    lines = [
        f"## HTTP API under load ({datetime.date.today().isoformat()})",
        "",
        f"Machine: {described}. Store: full Bitbrains Rnd, "
        f"{samples:,} samples. `stackmeter serve` on loopback; load from wrk, {args.clients} connections, "
        f"{args.seconds} s per scenario (`python benchmarks/api_load.py`).",
        "",
        "| scenario | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        errors = r["non_2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
        lines.append(
            f"| {name} | {r['per_second']:,.1f} | {r['p50_us'] / 1e3:,.1f} | {r['p90_us'] / 1e3:,.1f} | "
            f"{r['p99_us'] / 1e3:,.1f} | {r['max_us'] / 1e3:,.1f} | {errors} |"
        )
    uncached = results["new report each request"]
    lines += [
        "",
        f"The same report computed in-process (`operations.overload_report`, best of 3): {in_process:.2f} s, "
        f"at most {1 / in_process:.2f} reports/s one at a time. Uncached requests under load: "
        f"{uncached['per_second']:.2f}/s, {uncached['per_second'] * in_process:.2f}× the in-process rate.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
