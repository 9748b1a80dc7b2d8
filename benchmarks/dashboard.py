"""Every dashboard page and ``/api/v1`` list route timed over HTTP on a 10,000-entity scaled Bitbrains store.

Run from the repository root with ../shared/data beside it (or STACKMETER_DATA pointing at it):

    python benchmarks/dashboard.py                        # builds the store once, times, prints
    python benchmarks/dashboard.py --write BENCHMARKS.md  # and writes (or replaces) its section there

The store is built once into ``.benchmarks/dashboard/`` (git-ignored) and reused while its
manifest matches what this script would build: ``benchmarks/scaled_bitbrains.py`` writes
``--entities`` Bitbrains files (30 days from 2013-08-01, 5 minutes, 4 resources), ingested with the
disk and network capacities of ``benchmarks/rollups.py``; beside them, ``--operations`` cloud
operations from ``benchmarks/notification_stream.py`` (real StackTach sequences) spread over the same
30 days, with some malformed messages, so that the operations page and the dead letters have data.

Then, in order (the server holds the store file, so nothing else opens it while it serves):

1. ``stackmeter entities --json`` and ``stackmeter overload --json`` as subprocesses, wall time;
2. the operation behind each route called in-process (``operations.*`` on the store): the floor an
   uncached request cannot beat, as ``benchmarks/api_load.py`` sets its results beside one;
3. ``stackmeter serve`` on a loopback port, as operators run it, and every page and list route
   asked ``--repeat`` + 1 times with one keep-alive client: the first answer ("cold": nothing of it
   in the server's report cache) apart, the median and max of the others (cached where the route
   caches), and the answer's bytes. Routes go round by round, so none gets all the warm moments.

An answer slower than ``--timeout``, or a process holding more than ``--memory-gib`` of resident
memory, is given up (the server is started again) and the table says so: at 10,000 entities some
routes would otherwise take the machine's memory. ``--only`` and ``--skip`` choose targets by name,
``--bodies DIR`` keeps each answer in a file, to compare two versions of the code byte for byte.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx
from fastapi.routing import APIRoute

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import stackmeter  # noqa: E402
from benchmarks.api_load import free_port  # noqa: E402
from benchmarks.notification_stream import build_stream  # noqa: E402
from benchmarks.overload import machine  # noqa: E402
from benchmarks.rollups import DISK_BYTES_S, NETWORK_BYTES_S, load_average  # noqa: E402
from benchmarks.scaled_bitbrains import DEFAULT_START, SOURCE, SPAN_DAYS, generate  # noqa: E402
from stackmeter import operations  # noqa: E402
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S  # noqa: E402
from stackmeter.api.routes import router  # noqa: E402
from stackmeter.models import TIMESCALE_TABLE, TIMESCALES  # noqa: E402
from stackmeter.settings import Settings  # noqa: E402
from stackmeter.store import Store, open_store  # noqa: E402

FOLDER = ROOT / ".benchmarks" / "dashboard"
SECTION = "## Dashboard and API on a {entities:,}-entity store"
# The scripts whose output is the store: when one changes, the store is built again.
GENERATORS = ("benchmarks/scaled_bitbrains.py", "benchmarks/notification_stream.py")
DEFAULT_PAGE_SIZE = 1_000  # the API's, for the in-process floors of paged routes
SLOW_MS = 300.0
LONG_FLOOR_S = 2.0
CHECKED = ("entities", "overload")  # the commands run, and compared with their routes
CLI_TIMEOUTS = 2  # a command may take this many times an HTTP answer's limit (it starts Python, reads more)


def say(message: str) -> None:
    """Progress on stderr, so that a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the store -------------------------------------------------------------------------------


def wanted_manifest(entities: int, operations_count: int, malformed: int) -> dict[str, Any]:
    """What a store built now would be made of: reused only when its manifest says the same."""
    digest = hashlib.sha256()
    for name in GENERATORS:
        digest.update((ROOT / name).read_bytes())
    return {
        "entities": entities,
        "start": DEFAULT_START,
        "disk_capacity_bytes_s": DISK_BYTES_S,
        "network_capacity_bytes_s": NETWORK_BYTES_S,
        "operations": operations_count,
        "malformed": malformed,
        "generators_sha256": digest.hexdigest(),
    }


def ensure_store(entities: int, operations_count: int, malformed: int, data: Path, jobs: int | None) -> tuple:
    """Return (store path, manifest) of a current store, building it when missing or outdated."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"bitbrains-{entities}.duckdb"
    manifest_path = path.with_suffix(".json")
    wanted = wanted_manifest(entities, operations_count, malformed)
    if path.exists() and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("wanted") == wanted:
            say(f"reusing {path.relative_to(ROOT)} (built {manifest['built']})")
            return path, manifest
        say(f"{path.relative_to(ROOT)} was built from other options or generators: building it again")
    if not data.is_dir():
        sys.exit(f"no Bitbrains Rnd data at {data}: pass --data or set STACKMETER_DATA")
    manifest_path.unlink(missing_ok=True)
    figures = build_store(path, entities, operations_count, malformed, data, jobs)
    manifest = {"wanted": wanted, "built": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    manifest.update(figures)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path, manifest


def build_store(
    path: Path, entities: int, operations_count: int, malformed: int, data: Path, jobs: int | None
) -> dict[str, Any]:
    """Generate the files, ingest them and the notifications into a new store at ``path``; return its figures.

    The store is written under another name and renamed at the end, so a build cut short never
    looks current.
    """
    files = FOLDER / f"files-{entities}"
    building = path.with_name(path.stem + ".building.duckdb")
    for leftover in (
        building,
        building.with_name(building.name + ".wal"),
        path,
        path.with_name(path.name + ".wal"),
    ):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(files, ignore_errors=True)
    began = time.perf_counter()
    say(f"generating {entities:,} entities into {files.relative_to(ROOT)}")
    generated = generate(files, entities, data, DEFAULT_START, jobs)
    say(
        f"  {generated.lines:,} lines, {generated.bytes_written / 2**20:,.0f} MiB "
        f"in {generated.seconds:.0f} s"
    )
    with open_store(str(building)) as store:
        say("ingesting the files")
        ingest_began = time.perf_counter()
        summary = operations.ingest(
            store,
            "bitbrains",
            [files],
            disk_capacity_bytes_s=DISK_BYTES_S,
            network_capacity_bytes_s=NETWORK_BYTES_S,
            progress=_every(1_000, "files"),
        )
        ingest_s = time.perf_counter() - ingest_began
        say(f"  {summary.samples_added:,} samples in {ingest_s:.0f} s")
        notifications_began = time.perf_counter()
        capture = write_capture(FOLDER / "capture.jsonl", operations_count, malformed)
        noted = operations.ingest_notifications(store, capture)
        capture.unlink()
        notifications_s = time.perf_counter() - notifications_began
        status = store.read_status()
    shutil.rmtree(files)
    building.rename(path)
    figures = {
        "samples": status.samples,
        "entities_stored": status.entities,
        "days": SPAN_DAYS,
        "generate_s": round(generated.seconds, 1),
        "ingest_s": round(ingest_s, 1),
        "notifications_s": round(notifications_s, 1),
        "build_s": round(time.perf_counter() - began, 1),
        "messages": noted.messages,
        "events": noted.events_added,
        "dead_letters": noted.dead_letters,
        "store_bytes": path.stat().st_size,
    }
    say(f"store built in {figures['build_s']:.0f} s: {figures['store_bytes'] / 2**30:.1f} GiB")
    return figures


def _every(step: int, what: str) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            say(f"  {done:,} / {total:,} {what}")

    return progress


def write_capture(path: Path, operations_count: int, malformed: int) -> Path:
    """Write generated operations over the 30 days of the samples, one JSON message a line."""
    start = datetime.datetime.fromisoformat(DEFAULT_START).replace(tzinfo=datetime.UTC)
    stream = build_stream(
        operations_count, seed=12, start=start, span_s=SPAN_DAYS * 86_400, malformed=malformed
    )
    path.write_text("\n".join(body for _, body in stream.messages) + "\n")
    return path


# -- what is timed ---------------------------------------------------------------------------


class Target(NamedTuple):
    """One page or route: its group and name in the table, its URL path, and the operation behind it."""

    group: str
    name: str
    url: str
    floor: Callable[[Store], object] | None


def targets(entity: str, settings: Settings) -> list[Target]:
    """Every dashboard page and ``/api/v1`` list route, default paging, on ``entity`` where one is named."""
    columns = {t.name: t.heat_map_columns for t in TIMESCALE_TABLE}

    def overview(timescales: tuple[str, ...]) -> Callable[[Store], object]:
        return lambda store: operations.overload_report(
            store, timescales, thresholds=settings.thresholds, share=settings.share, top=settings.top
        )

    def fleet(timescale: str) -> Callable[[Store], object]:
        return lambda store: operations.overload_report(
            store, (timescale,), thresholds=settings.thresholds, share=settings.share, top=0, fleet=True
        )

    def quantile(timescale: str) -> Callable[[Store], object]:
        return lambda store: operations.quantile_page(
            store, "cpu", 0.95, timescale, page=1, page_size=DEFAULT_PAGE_SIZE
        )

    def heat_map(timescale: str, page: int, rows: int, width: int) -> Callable[[Store], object]:
        return lambda store: operations.heat_map(
            store, timescale, "cpu", settings.thresholds["cpu"], settings.share, page, rows, width
        )

    def entity_page(timescale: str) -> Callable[[Store], object]:
        return lambda store: operations.entity_overload(
            store, entity, timescale, settings.thresholds, settings.share
        )

    def timings(store: Store) -> object:
        return operations.operation_timings(store, "1h", None, None, DEFAULT_TIMEOUT_S)

    pages = [
        Target("page", "overview", "/", overview(settings.timescales)),
        *(Target("page", f"overview {t}", f"/?timescale={t}", overview((t,))) for t in TIMESCALES),
        *(
            Target(
                "page",
                f"heat map {t} cpu",
                f"/heatmap?timescale={t}&resource=cpu",
                heat_map(t, 1, 50, columns[t]),
            )
            for t in TIMESCALES
        ),
        Target(
            "page",
            "heat map 1h cpu, page 2",
            "/heatmap?timescale=1h&resource=cpu&page=2",
            heat_map("1h", 2, 50, columns["1h"]),
        ),
        *(
            Target("page", f"entity {t}", f"/entity/{entity}?timescale={t}", entity_page(t))
            for t in TIMESCALES
        ),
        Target("page", "operations", "/operations", timings),
        Target("page", "login", "/login", None),
    ]
    api = [
        Target("api", "overload", "/api/v1/overload", overview(settings.timescales)),
        Target("api", "entities", "/api/v1/entities", operations.list_entities),
        Target(
            "api", "series", f"/api/v1/series/{entity}", lambda store: operations.read_series(store, entity)
        ),
        Target("api", "status", "/api/v1/status", operations.store_status),
        Target("api", "heatmap", "/api/v1/heatmap", heat_map("1h", 1, 50, 168)),
        Target("api", "entity overload", f"/api/v1/entities/{entity}/overload", entity_page("1h")),
        Target("api", "operations", "/api/v1/operations", timings),
        Target(
            "api",
            "deadletters",
            "/api/v1/deadletters",
            lambda store: operations.dead_letters(store, DEFAULT_PAGE_SIZE),
        ),
        *(Target("api", f"fleet {t}", f"/api/v1/fleet?timescale={t}", fleet(t)) for t in ("5m", "1d")),
        # Last: the largest answers, kept whole in the report cache, weigh on what is asked after them.
        *(Target("api", f"quantile {t}", f"/api/v1/quantile?timescale={t}", quantile(t)) for t in TIMESCALES),
    ]
    return pages + api


def untimed(timed: list[Target]) -> list[str]:
    """The ``/api/v1`` GET routes that no target asks: a route added since this script was written."""
    paths = [urlsplit(target.url).path for target in timed]
    return [
        route.path
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or ())
        and not any(route.path_regex.match(path) for path in paths)
    ]


class Timing(NamedTuple):
    """Seconds of the first run, the median and max of the others, and the answer's bytes."""

    cold_s: float
    median_s: float
    max_s: float
    bytes: int

    @classmethod
    def of(cls, seconds: list[float], size: int) -> Timing:
        rest = seconds[1:] or seconds
        return cls(seconds[0], statistics.median(rest), max(rest), size)


class Limits(NamedTuple):
    """How long one answer may take, and how much resident memory a process may hold, till given up."""

    seconds: float
    memory_gib: float


class Watchdog:
    """Kills process ``pid`` once its resident memory passes ``gib``, so that a route that would
    need more fails instead of starving the machine (a cap inside the process, such as
    ``RLIMIT_DATA``, would also fail DuckDB's buffer pool, which sizes itself from the RAM)."""

    def __init__(self, pid: int, gib: float):
        self.pid, self.cap_kib, self.fired = pid, int(gib * 2**20), False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._stop.wait(0.05):
            try:
                rss = next(line for line in status.read_text().splitlines() if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                return
            if int(rss.split()[1]) > self.cap_kib:
                self.fired = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def time_cli(
    store_path: Path, repeat: int, limits: Limits
) -> tuple[dict[str, Timing], dict[str, Any], dict[str, str]]:
    """Wall time of ``stackmeter entities --json`` and ``stackmeter overload --json``, their answers,
    and why a command that failed did (given ``CLI_TIMEOUTS`` times an answer's time limit)."""
    results: dict[str, Timing] = {}
    answers: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for command in CHECKED:
        name = f"stackmeter {command} --json"
        seconds, out = [], b""
        for _ in range(repeat + 1):
            began = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "stackmeter", command, "--store", str(store_path), "--json"],
                stdout=subprocess.PIPE,
                cwd=ROOT,
            )
            watchdog = Watchdog(process.pid, limits.memory_gib)
            try:
                out, _ = process.communicate(timeout=CLI_TIMEOUTS * limits.seconds)
            except subprocess.TimeoutExpired:
                failed[name] = f"no answer within {CLI_TIMEOUTS * limits.seconds:g} s"
            finally:
                process.kill()
                watchdog.stop()
            if name not in failed and process.returncode != 0:
                failed[name] = (
                    f"over {limits.memory_gib:g} GiB" if watchdog.fired else f"status {process.returncode}"
                )
            if name in failed:
                say(f"  {name}: {failed[name]}")
                break
            seconds.append(time.perf_counter() - began)
        if name in failed:
            continue
        results[name] = Timing.of(seconds, len(out))
        answers[command] = json.loads(out)
        say(f"  {name}: {_ms(seconds[0])} ms first, {_ms(results[name].median_s)} ms median")
    return results, answers, failed


def time_floors(
    store_path: Path, chosen: list[Target], repeat: int, limits: Limits
) -> dict[str, float | str]:
    """Median seconds of each target's operation called in-process on the store (no report cache),
    each target in a child process of its own, given up (with the reason) past ``limits``."""
    floors: dict[str, float | str] = {}
    for target in chosen:
        if target.floor is None:
            continue
        floors[target.url] = _floor_in_child(store_path, target, repeat, limits)
        shown = floors[target.url]
        say(f"  in-process {target.name}: {shown if isinstance(shown, str) else _ms(shown) + ' ms'}")
    return floors


def _floor_in_child(store_path: Path, target: Target, repeat: int, limits: Limits) -> float | str:
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_run_floor, args=(sending, store_path, target, repeat))
    child.start()
    sending.close()
    assert child.pid is not None
    watchdog = Watchdog(child.pid, limits.memory_gib)
    answer: float | str = f"no answer within {limits.seconds * repeat:g} s"
    if receiving.poll(limits.seconds * repeat):
        try:
            answer = receiving.recv()
        except EOFError:
            answer = f"over {limits.memory_gib:g} GiB" if watchdog.fired else "failed: the process died"
    child.kill()
    child.join()
    watchdog.stop()
    return answer


def _run_floor(sending: Any, store_path: Path, target: Target, repeat: int) -> None:
    try:
        seconds = []
        with open_store(str(store_path), create=False) as store:
            for _ in range(repeat):
                began = time.perf_counter()
                assert target.floor is not None
                target.floor(store)
                seconds.append(time.perf_counter() - began)
                if seconds[0] > LONG_FLOOR_S:  # one run says enough, and keeps the benchmark short
                    break
        sending.send(statistics.median(seconds))
    except Exception as exc:  # noqa: BLE001 - the child reports any failure, the benchmark goes on
        sending.send(f"failed: {type(exc).__name__}")


class Server:
    """``stackmeter serve`` on a loopback port, as operators run it, started again on demand."""

    def __init__(self, store_path: Path, limits: Limits):
        self.store_path, self.limits = store_path, limits
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.watchdog: Watchdog | None = None
        self.starts = 0
        self.log = FOLDER / "serve.log"  # the server's own messages, errors with their traceback

    def start(self) -> None:
        command = [sys.executable, "-m", "stackmeter", "serve", "--store", str(self.store_path)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT
            )
        self.watchdog = Watchdog(self.process.pid, self.limits.memory_gib)
        self.starts += 1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"stackmeter serve stopped with status {self.process.returncode}: see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/api/v1/status", timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        sys.exit("stackmeter serve did not answer within 120 s")

    def why_down(self) -> str | None:
        """Why the server stopped (``None`` while it runs)."""
        if self.process is None or self.process.poll() is None:
            return None
        if self.watchdog is not None and self.watchdog.fired:
            return f"server over {self.limits.memory_gib:g} GiB"
        return f"server stopped ({self.process.returncode})"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.watchdog is not None:
            self.watchdog.stop()
        self.process = self.watchdog = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def time_http(
    server: Server, chosen: list[Target], repeat: int, bodies: Path | None
) -> tuple[dict[str, Timing], dict[str, str]]:
    """Ask every target ``repeat + 1`` times, round by round; return their timings, and why each
    target that failed did (it is not asked again; one that took too long, or took the server's
    memory past the cap, starts the server again)."""
    seconds: dict[str, list[float]] = {target.url: [] for target in chosen}
    sizes: dict[str, int] = {}
    failed: dict[str, str] = {}
    client = httpx.Client(base_url=server.base, timeout=server.limits.seconds)
    try:
        for round_ in range(repeat + 1):
            if round_ == 1 and server.starts > 1:
                # The server started again during the first round, its cache empty: fill it again
                # (untimed), so that the later rounds measure what they say.
                for target in (t for t in chosen if t.url not in failed):
                    client.get(target.url)
            for target in (t for t in chosen if t.url not in failed):
                began = time.perf_counter()
                try:
                    response = client.get(target.url)
                except httpx.TransportError as exc:
                    time.sleep(0.5)  # let a dying server finish dying
                    down = server.why_down()
                    timed_out = isinstance(exc, httpx.TimeoutException)
                    if down is None and not timed_out:
                        # A connection the server closed after an error: ask again on a new one.
                        client.close()
                        client = httpx.Client(base_url=server.base, timeout=server.limits.seconds)
                        began = time.perf_counter()
                        response = client.get(target.url)
                    else:
                        failed[target.url] = down or f"no answer within {server.limits.seconds:g} s"
                        say(f"  {target.name}: {failed[target.url]}; starting the server again")
                        client.close()
                        server.stop()
                        server.start()
                        client = httpx.Client(base_url=server.base, timeout=server.limits.seconds)
                        continue
                body = response.content
                seconds[target.url].append(time.perf_counter() - began)
                if response.status_code != 200:
                    failed[target.url] = f"HTTP {response.status_code}"
                    say(f"  {target.name}: {failed[target.url]} {body[:200]!r}")
                    continue
                sizes[target.url] = len(body)
                if round_ == 0:
                    say(f"  {target.name}: {_ms(seconds[target.url][0])} ms cold, {len(body):,} bytes")
                    if bodies is not None:
                        bodies.mkdir(parents=True, exist_ok=True)
                        (bodies / _slug(target)).write_bytes(body)
    finally:
        client.close()
    timings = {url: Timing.of(times, sizes[url]) for url, times in seconds.items() if url not in failed}
    return timings, failed


def _slug(target: Target) -> str:
    return f"{target.group}-" + "".join(c if c.isalnum() else "_" for c in target.name)


def check_answers(server: Server, cli: dict[str, Any]) -> list[str]:
    """The API answers what the CLI answers on the same store: the report, and the entities' first page."""
    problems = [f"`stackmeter {command} --json` not compared" for command in CHECKED if command not in cli]
    with httpx.Client(base_url=server.base, timeout=CLI_TIMEOUTS * server.limits.seconds) as client:
        if "overload" in cli and client.get("/api/v1/overload").json() != cli["overload"]:
            problems.append("/api/v1/overload differs from `stackmeter overload --json`")
        if "entities" in cli:
            page = client.get("/api/v1/entities").json()
            whole = cli["entities"]
            if page != whole[: len(page)] or len(page) != min(DEFAULT_PAGE_SIZE, len(whole)):
                problems.append("/api/v1/entities page 1 differs from `stackmeter entities --json`")
    return problems


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f}" if seconds >= 0.1 else f"{seconds * 1e3:,.1f}"


# -- the report ------------------------------------------------------------------------------


def table(
    chosen: list[Target],
    http: dict[str, Timing],
    failed: dict[str, str],
    floors: dict[str, float | str],
    cli: dict[str, Timing],
    cli_failed: dict[str, str],
) -> list[str]:
    """The results as Markdown table rows, slow ones (over ``SLOW_MS``) in bold."""
    lines = [
        "| what | URL or command | cold ms | median ms | max ms | bytes | in-process ms |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(name: str, where: str, timing: Timing | None, why: str, floor: float | str | None) -> str:
        floor_text = "" if floor is None else floor if isinstance(floor, str) else _marked(floor)
        if timing is None:
            return f"| {name} | `{where}` | **{why}** | | | | {floor_text} |"
        cells = [_marked(timing.cold_s), _marked(timing.median_s), _ms(timing.max_s), f"{timing.bytes:,}"]
        return f"| {name} | `{where}` | {' | '.join(cells)} | {floor_text} |"

    for target in chosen:
        name = f"{target.group} {target.name}"
        timing = http.get(target.url)
        lines.append(row(name, target.url, timing, failed.get(target.url, ""), floors.get(target.url)))
    for command in (f"stackmeter {name} --json" for name in CHECKED):
        if command in cli or command in cli_failed:
            timing = cli.get(command)
            lines.append(row(f"cli {command.split()[1]}", command, timing, cli_failed.get(command, ""), None))
    return lines


def _marked(seconds: float) -> str:
    text = _ms(seconds)
    return f"**{text}**" if seconds * 1e3 > SLOW_MS else text


def markdown(rows: list[str], manifest: dict[str, Any], run: dict[str, Any], args: argparse.Namespace) -> str:
    """This benchmark's section of BENCHMARKS.md."""
    wanted = manifest["wanted"]
    lines = [
        f"{SECTION.format(entities=wanted['entities'])} ({datetime.date.today().isoformat()})",
        "",
        f"Machine: {run['machine']}. Code: {run['code']}. "
        "`python benchmarks/dashboard.py --write BENCHMARKS.md`: "
        f"{run['spent_s'] / 60:.1f} min on a store built before (building it took "
        f"{manifest['build_s'] / 60:.1f} min: {manifest['generate_s']:.0f} s generating the files, "
        f"{manifest['ingest_s']:.0f} s ingesting them, {manifest['notifications_s']:.0f} s the "
        "notifications).",
        "",
        "**Data.** The scaled Bitbrains set (`benchmarks/scaled_bitbrains.py`, as in the rollups section): "
        f"{wanted['entities']:,} entities replaying the 100 real Bitbrains Rnd VMs × 3 months, "
        f"{manifest['days']} days from {wanted['start']} at 5 minutes, 4 resources "
        f"(disk 20 MiB/s, network 100 Mbit/s per VM): {manifest['samples']:,} samples, a store file of "
        f"{manifest['store_bytes'] / 2**30:,.1f} GiB with the default rollup levels (5m, 1h, 1d). "
        "Beside them "
        f"{wanted['operations']:,} cloud operations over the same days from the real StackTach sequences "
        f"(`benchmarks/notification_stream.py`): {manifest['events']:,} notifications, "
        f"{manifest['dead_letters']} dead letters.",
        "",
        f"**Method.** `stackmeter serve` on loopback, one keep-alive client asking each URL "
        f"{args.repeat + 1} times, round by round. *Cold* is the first answer: nothing of it in the "
        "server's report cache (which keeps the overload report, heat map pages, quantiles and entities "
        f"until the next batch lands); *median* and *max* are of the {args.repeat} answers after it, from "
        "that cache where the route uses it. Bytes of the body, default paging (1,000 items a page). "
        "*In-process*: the operation behind the route called on the store without HTTP or cache "
        f"(median of {args.floor_repeat} in a fresh process; one run when it takes over {LONG_FLOOR_S:g} s): "
        "the floor an uncached request cannot beat, as in the HTTP load section. Load average before "
        f"the HTTP requests: {run['load_http']}. The commands run as subprocesses, "
        f"{args.cli_repeat + 1} times each, wall time with Python's start. In bold: over {SLOW_MS:.0f} ms. "
        f"An answer is given up after {args.timeout:g} s "
        f"(a command after {CLI_TIMEOUTS * args.timeout:g} s), "
        f"and a process is stopped once it holds {args.memory_gib:g} GiB.",
        "",
        *rows,
        "",
    ]
    lines += [
        "`/api/v1/heatmap` asks what the 1h heat map page asked before it, so even its first answer "
        "comes from the cache; the in-process column gives its cost uncached.",
        "",
    ]
    if run["problems"]:
        lines += [f"Answers checked against the CLI: **{'; '.join(run['problems'])}**.", ""]
    else:
        lines += [
            "Checked in the same run: `/api/v1/overload` equals `stackmeter overload --json`, and "
            "`/api/v1/entities` is the first page of `stackmeter entities --json`.",
            "",
        ]
    if run["untimed"]:
        lines += [
            f"Routes this benchmark does not ask yet: {', '.join(f'`{p}`' for p in run['untimed'])}.",
            "",
        ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of ``path`` (from its heading to the next ``## ``), or append it.

    The section is the one of the same heading (the store's entity count), whatever its date."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find("\n" + section.split(" (", 1)[0] + " (")
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    end = text.find("\n## ", start + 1)
    rest = "" if end < 0 else "\n" + text[end + 1 :]
    path.write_text(text[: start + 1] + section + rest)


# -- the run ---------------------------------------------------------------------------------


def code_version() -> str:
    """Which code was measured: the repository's commit, and whether ``src/`` has changes beside it."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    imported = Path(stackmeter.__file__).resolve().parents[1]
    if imported != ROOT / "src":
        return f"stackmeter imported from outside this repository (whose HEAD is {commit})"
    dirty = _git("status", "--porcelain", "--", "src")
    return f"commit {commit}" + (", with uncommitted changes under src/" if dirty else "")


def _git(*arguments: str) -> str:
    done = subprocess.run(["git", *arguments], capture_output=True, text=True, cwd=ROOT, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SOURCE, help="Bitbrains Rnd folder of month folders")
    parser.add_argument("--entities", type=int, default=10_000, help="entities of the store [10,000]")
    parser.add_argument(
        "--operations", type=int, default=10_000, help="cloud operations in the store [10,000]"
    )
    parser.add_argument("--malformed", type=int, default=200, help="malformed bus messages [200]")
    parser.add_argument("--jobs", type=int, default=None, help="processes generating files [one per core]")
    parser.add_argument("--repeat", type=int, default=5, help="requests of each URL after the first [5]")
    parser.add_argument("--floor-repeat", type=int, default=3, help="in-process runs of each operation [3]")
    parser.add_argument("--cli-repeat", type=int, default=2, help="runs of each command after the first [2]")
    parser.add_argument("--timeout", type=float, default=60, help="seconds before an answer is given up [60]")
    parser.add_argument(
        "--memory-gib", type=float, default=12, help="resident memory a process may reach, GiB [12]"
    )
    parser.add_argument("--only", help="time only the targets whose name contains this text")
    parser.add_argument(
        "--skip", action="append", default=[], help="leave out targets whose name contains this"
    )
    parser.add_argument("--no-cli", action="store_true", help="leave out the command line")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the store and stop")
    parser.add_argument("--bodies", type=Path, help="keep each answer in a file of this folder")
    parser.add_argument(
        "--write", type=Path, help="write (or replace) the results as a section of this Markdown file"
    )
    args = parser.parse_args()
    run: dict[str, Any] = {"machine": machine(), "code": code_version()}
    store_path, manifest = ensure_store(args.entities, args.operations, args.malformed, args.data, args.jobs)
    if args.build_only:
        return
    began = time.perf_counter()
    limits = Limits(args.timeout, args.memory_gib)
    everything = targets("vm-00001", Settings())
    run["untimed"] = untimed(everything)
    chosen = [
        t
        for t in everything
        if (args.only is None or args.only in t.name) and not any(text in t.name for text in args.skip)
    ]
    cli: dict[str, Timing] = {}
    cli_failed: dict[str, str] = {}
    answers: dict[str, Any] = {}
    if not args.no_cli:
        say("the command line")
        cli, answers, cli_failed = time_cli(store_path, args.cli_repeat, limits)
    say("the operations in-process")
    floors = time_floors(store_path, chosen, args.floor_repeat, limits)
    run["load_http"] = load_average()
    with Server(store_path, limits) as server:
        say(f"serving on {server.base}")
        http, failed = time_http(server, chosen, args.repeat, args.bodies)
        run["problems"] = ["not checked (--no-cli)"] if args.no_cli else check_answers(server, answers)
    run["spent_s"] = time.perf_counter() - began
    section = markdown(table(chosen, http, failed, floors, cli, cli_failed), manifest, run, args)
    print(section)
    if args.write:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
