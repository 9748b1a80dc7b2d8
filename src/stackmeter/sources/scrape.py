"""Scraping exporters: many targets at once with a timeout, backoff for failing ones, status per target."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np

from stackmeter import models
from stackmeter.errors import ConfigError, ParseError
from stackmeter.models import DOWN, UP, TargetStatus
from stackmeter.models.targets import DUE_AT_ONCE
from stackmeter.sources.exposition import CounterState, instance_of
from stackmeter.sources.libvirt import parse_libvirt
from stackmeter.sources.node_exporter import HostRules, parse_node_exporter

DEFAULT_TIMEOUT_S = 10.0
# A failing target is tried again after every, 2×every, 4×every … up to this.
MAX_BACKOFF_S = 300.0
EXPORTERS = ("node_exporter", "libvirt")
SCRAPE_FAILED = "scrape failed"


class Target(NamedTuple):
    """An exporter to scrape: ``Target("http://compute-1:9100/metrics", "node_exporter")``."""

    url: str
    exporter: str = "node_exporter"


class Fetched(NamedTuple):
    """The answer of one scrape: the body and its content type, or the error, and when it happened.

    ``scraped`` (UTC ``datetime64[ns]``) is the middle of the request for an answer (the exporter
    reads its counters somewhere in between; the middle halves the error on a loaded machine), its
    start for a failure.
    """

    target: Target
    scraped: np.datetime64
    body: bytes | None
    content_type: str
    error: str | None


def parse_targets(urls: Iterable[str] = (), targets_file: Path | None = None) -> list[Target]:
    """Return targets from URLs and a file with one ``URL [exporter]`` per line (``#`` comments).

    The exporter is ``node_exporter`` unless given as ``libvirt``, or as ``URL libvirt`` in the file.
    """
    lines: list[tuple[int | None, str]] = [(None, url) for url in urls]
    if targets_file is not None:
        try:
            text = Path(targets_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read targets file {targets_file}: {exc}") from exc
        lines += list(enumerate(text.splitlines(), start=1))
    targets: dict[str, Target] = {}
    for number, line in lines:
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        url, exporter = words[0], (words[1] if len(words) > 1 else "node_exporter")
        where = f"{targets_file}:{number}: " if number else ""
        if exporter not in EXPORTERS or len(words) > 2 or "://" not in url:
            raise ConfigError(f"{where}expected 'URL [{'|'.join(EXPORTERS)}]', got {line.strip()!r}")
        check_no_credentials(url, where)
        targets.setdefault(url, Target(url, exporter))
    if not targets:
        raise ConfigError("no targets: give target URLs or a targets file", "targets")
    return list(targets.values())


def check_no_credentials(url: str, where: str = "") -> None:
    """Refuse a URL with a user or password in it: URLs are stored and shown in statuses and errors."""
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise ConfigError(f"{where}credentials in a URL would be stored and shown; remove them from the URL")


def fetch_expositions(
    targets: list[Target],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    transport: httpx.AsyncBaseTransport | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
) -> list[Fetched]:
    """Scrape all ``targets`` concurrently, each within ``timeout_s``; failures are returned, not raised."""
    return asyncio.run(_fetch_all(targets, timeout_s, transport, clock_ns))


async def _fetch_all(
    targets: list[Target],
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None,
    clock_ns: Callable[[], int],
) -> list[Fetched]:
    headers = {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"}
    # No connection limit: every target is asked at once, each within its own total timeout.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        timeout=timeout_s, transport=transport, headers=headers, limits=limits
    ) as client:
        fetches = (_fetch_one(client, target, timeout_s, clock_ns) for target in targets)
        return list(await asyncio.gather(*fetches))


async def _fetch_one(
    client: httpx.AsyncClient, target: Target, timeout_s: float, clock_ns: Callable[[], int]
) -> Fetched:
    started_ns = clock_ns()
    started = np.datetime64(started_ns, "ns")
    try:
        # httpx times each read; this bounds the whole answer (an exporter that trickles bytes)
        response = await asyncio.wait_for(client.get(target.url), timeout_s)
    except (httpx.TimeoutException, TimeoutError) as exc:
        return Fetched(target, started, None, "", f"timed out after {timeout_s:g} s ({type(exc).__name__})")
    except httpx.ConnectError as exc:
        return Fetched(target, started, None, "", f"cannot connect ({exc or type(exc).__name__})")
    except httpx.TransportError as exc:  # e.g. the answer was cut short
        return Fetched(target, started, None, "", f"{type(exc).__name__} ({exc})")
    if response.status_code != 200:
        excerpt = " ".join(response.text[:120].split())
        return Fetched(target, started, None, "", f"HTTP {response.status_code}: {excerpt}")
    scraped = np.datetime64((started_ns + clock_ns()) // 2, "ns")
    return Fetched(target, scraped, response.content, response.headers.get("content-type", ""), None)


def parse_fetched(
    fetched: Fetched, previous: CounterState, rules: HostRules = HostRules()
) -> tuple[models.Parsed, CounterState]:
    """Return the samples of a successful scrape and the target's next counter state.

    Raises :class:`ParseError` when the body is not an exposition at all.
    """
    if fetched.body is None:
        raise ValueError("parse_fetched needs a successful scrape")
    openmetrics = True if "openmetrics" in fetched.content_type else None
    origin = fetched.target.url
    if fetched.target.exporter == "libvirt":
        host = instance_of(origin).rsplit(":", 1)[0]
        return parse_libvirt(fetched.body, fetched.scraped, previous, origin, host, openmetrics)
    return parse_node_exporter(fetched.body, fetched.scraped, previous, origin, rules, openmetrics)


def update_status(status: TargetStatus, fetched: Fetched, every_s: float, samples: int = 0) -> TargetStatus:
    """Return the status after a scrape: up, or down with the error and when to try again."""
    if fetched.error is None:
        return status._replace(
            state=UP,
            last_attempt=fetched.scraped,
            last_success=fetched.scraped,
            failures=0,
            next_attempt=DUE_AT_ONCE,
            samples=status.samples + samples,
        )
    failures = status.failures + 1
    backoff_s = min(every_s * 2 ** (failures - 1), max(MAX_BACKOFF_S, every_s))
    return status._replace(
        state=DOWN,
        last_attempt=fetched.scraped,
        last_error=fetched.error,
        failures=failures,
        next_attempt=fetched.scraped + np.timedelta64(int(backoff_s * 1e9), "ns"),
    )


def scrape_round(
    targets: list[Target],
    statuses: dict[str, TargetStatus],
    states: dict[str, CounterState],
    every_s: float,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    rules: HostRules = HostRules(),
    transport: httpx.AsyncBaseTransport | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
) -> tuple[list[models.Parsed], dict[str, TargetStatus], dict[str, CounterState]]:
    """Scrape the targets that are due and return what they gave, with the new statuses and states.

    A target that fails, or whose body is not an exposition, is down: its counter state is dropped,
    so its next good scrape starts afresh and the missed interval stays a gap, and the failure is
    returned as a rejection naming the target. Other targets are unaffected.
    """
    # Due within half a round: a retry planned from a scrape that started a few ms into its round
    # must not slip a whole round.
    due_by = np.datetime64(clock_ns() + int(every_s * 1e9 / 2), "ns")
    due = [t for t in targets if statuses.get(t.url, _new_status(t)).next_attempt <= due_by]
    statuses = {t.url: statuses.get(t.url, _new_status(t)) for t in targets}
    states = dict(states)
    parts = []
    for fetched in fetch_expositions(due, timeout_s, transport, clock_ns):
        url = fetched.target.url
        if fetched.error is None:
            try:
                parsed, states[url] = parse_fetched(fetched, states.get(url, CounterState()), rules)
            except ParseError as exc:
                fetched = fetched._replace(error=str(exc))
            else:
                parts.append(parsed)
                statuses[url] = update_status(statuses[url], fetched, every_s, parsed.samples.size)
                continue
        states.pop(url, None)
        statuses[url] = update_status(statuses[url], fetched, every_s)
        rejection = models.Rejection(url, None, None, SCRAPE_FAILED, fetched.error or "")
        parts.append(models.Parsed(url, models.no_samples(), rejections=(rejection,)))
    return parts, statuses, states


def _new_status(target: Target) -> TargetStatus:
    return TargetStatus(target.url, target.exporter)
