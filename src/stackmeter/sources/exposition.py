"""Prometheus text and OpenMetrics expositions -> series values, and counters -> rates between scrapes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_fd_to_metric_families as _openmetrics_families
from prometheus_client.parser import text_fd_to_metric_families as _text_families

from stackmeter import models
from stackmeter.errors import ParseError

# A series is a sample name and its sorted labels, as Prometheus identifies it.
Series = tuple[str, tuple[tuple[str, str], ...]]
# The valid samples of one name: their labels and value, by series.
SeriesValues = dict[Series, tuple[dict[str, str], float]]
# Per-second rates of counters, by series.
Rates = dict[Series, float]

# A prometheus_client parser: lines in, metric families out.
FamilyParser = Callable[[Iterable[str]], Iterable[Metric]]
# prometheus_client annotates the text parser's ``fd`` as TextIO, but it only iterates over the lines.
_text_parser: FamilyParser = _text_families  # type: ignore[assignment]

# Past this many bad lines a scrape is refused whole: it is not the format it claims to be.
MAX_BAD_LINES = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INVALID_UTF8 = "invalid UTF-8"
INVALID_LINE = "invalid exposition line"
TRUNCATED = "exposition truncated"
MISSING_METRIC = "metric missing"


class Exposition(NamedTuple):
    """The samples of one exposition, grouped by sample name, and what was refused.

    ``values[name]`` lists ``(labels, value)`` in exposition order. Only the names asked for are kept.
    """

    origin: str
    values: dict[str, list[tuple[dict[str, str], float]]]
    rejections: tuple[models.Rejection, ...] = ()


class CounterState(NamedTuple):
    """Counter values seen at the previous scrape of one target, to turn the next scrape into rates.

    ``scraped_at_ns`` is ``None`` before the first scrape. Only series present and valid at the
    previous scrape are kept, so a series missing from one scrape gets no rate at the next (a gap).
    """

    scraped_at_ns: int | None = None
    values: Mapping[Series, float] = MappingProxyType({})


class _Lines:
    """Iterates over text lines, skipping some, remembering the 1-based number of the last one given."""

    def __init__(self, lines: list[str], skipped: set[int]):
        self.lines = lines
        self.skipped = skipped
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for number, line in enumerate(self.lines, start=1):
            if number in self.skipped:
                continue
            self.line = number
            yield line


def decode_exposition(body: bytes, origin: str) -> tuple[str, list[models.Rejection]]:
    """Return the text of ``body`` and a rejection per line that is not valid UTF-8 (those lines dropped)."""
    try:
        return body.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    kept, rejections = [], []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        try:
            kept.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            kept.append("")
            rejections.append(models.Rejection(origin, number, None, INVALID_UTF8, str(exc)))
    return "\n".join(kept), rejections


def parse_exposition(
    text: str | bytes, origin: str, names: Iterable[str] | None = None, openmetrics: bool | None = None
) -> Exposition:
    """Return the samples of a Prometheus text or OpenMetrics exposition, through prometheus_client.

    A line the parser refuses is reported with its number and left out; the rest is parsed again
    without it. A truncated exposition (no final line feed, or OpenMetrics without ``# EOF``) loses
    its last metric family, which may be incomplete.

    Only the lines of the families of ``names`` reach the parser (a prefix test on each line keeps
    them), which spares parsing the thousands of samples a mapping does not use; lines of other
    families are then neither parsed nor checked.

    :param names: sample names to keep (e.g. ``node_cpu_seconds_total``); ``None`` keeps all
    :param openmetrics: the format; ``None`` guesses OpenMetrics when the text ends with ``# EOF``
    """
    rejections: list[models.Rejection] = []
    if isinstance(text, bytes):
        text, rejections = decode_exposition(text, origin)
    if openmetrics is None:
        openmetrics = text.rstrip().endswith("# EOF")
    # Only a line feed ends a line: label values may hold other line-breaking characters.
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    if not lines[-1]:
        lines.pop()
    truncated = bool(lines) and not lines[-1].endswith("\n")
    # The last complete line: when it belongs to a family we keep, a cut may have split that family.
    last_complete = (
        (lines[-2] if len(lines) > 1 else "") if truncated and not openmetrics else (lines or [""])[-1]
    )
    if truncated and not openmetrics:
        rejections.append(models.Rejection(origin, len(lines), None, TRUNCATED, "no line feed at the end"))
        lines[-1] = ""
    wanted = None if names is None else frozenset(names)
    if wanted is not None:
        lines, last_kept = _keep_families(lines, wanted, last_complete)
    else:
        last_kept = True
    parse_families: FamilyParser = _openmetrics_families if openmetrics else _text_parser
    skipped = {number for number, line in enumerate(lines, start=1) if openmetrics and line == ""}
    while True:
        feed = _Lines(lines, skipped)
        families: list[Metric] = []
        try:
            families.extend(parse_families(feed))
        except (ValueError, IndexError, KeyError) as exc:  # what prometheus_client raises on bad lines
            if openmetrics and "Missing # EOF" in str(exc):
                rejections.append(models.Rejection(origin, None, None, TRUNCATED, "no '# EOF' line"))
                truncated = True
            elif len(skipped) >= MAX_BAD_LINES:
                raise ParseError(
                    f"not a Prometheus exposition: over {MAX_BAD_LINES} bad lines", origin
                ) from exc
            else:
                line = _culprit(lines, skipped, feed.line, parse_families, openmetrics)
                detail = f"{exc}: {lines[line - 1].strip()[:120]}" if line else str(exc)
                rejections.append(models.Rejection(origin, line or None, None, INVALID_LINE, detail))
                skipped.add(line)
                continue
        break
    if truncated and families and last_kept:
        families.pop()
    values: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in families:
        for sample in family.samples:
            if wanted is None or sample.name in wanted:
                values.setdefault(sample.name, []).append((sample.labels, float(sample.value)))
    return Exposition(origin, values, tuple(rejections))


def _culprit(
    lines: list[str], skipped: set[int], line: int, parse_families: FamilyParser, openmetrics: bool
) -> int:
    """Return the number of the line a parser error is about.

    That is the line the parser stopped at, unless that line parses alone: then the error is about
    the family before it (prometheus_client checks a family, its type for one, only when the next
    begins), and that family's last metadata line is the one to leave out, not a good line after it.
    """
    if line == 0:
        return line
    alone = [lines[line - 1], "# EOF\n"] if openmetrics else [lines[line - 1]]
    try:
        list(parse_families(iter(alone)))
    except (ValueError, IndexError, KeyError):
        return line
    for number in range(line - 1, 0, -1):
        if number not in skipped and lines[number - 1].lstrip().startswith(("# TYPE", "# HELP", "# UNIT")):
            return number
    return line


def _keep_families(lines: list[str], wanted: frozenset[str], last_complete: str) -> tuple[list[str], bool]:
    """Blank every line but the samples and metadata of ``wanted``, so that the parser reads only those.

    Line numbers stay as they were. When no wanted sample is there at all, the lines are returned
    whole, so that a body that is not an exposition is still found out and its lines reported.
    Also says whether ``last_complete`` is a kept line.
    """
    prefixes = [f"{name}{end}" for name in wanted for end in ("{", " ", "\t")]
    metadata = [
        f"# {kind} {family} "
        for name in wanted
        for family in {name, name.removesuffix("_total")}
        for kind in ("TYPE", "HELP", "UNIT")
    ]
    samples, everything = tuple(prefixes), tuple(prefixes + metadata + ["# EOF"])
    kept = [line if line.startswith(everything) else "" for line in lines]
    if not any(line.startswith(samples) for line in kept):
        return lines, True
    return kept, last_complete.startswith(everything)


def series_of(name: str, labels: dict[str, str]) -> Series:
    """Return the identity of a series."""
    return name, tuple(sorted(labels.items()))


def describe_series(series: Series) -> str:
    """Return ``name{a="x",b="y"}`` for messages."""
    name, labels = series
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in labels) + "}"


def pick_valid(
    exposition: Exposition, name: str, rejections: list[models.Rejection], negative_ok: bool = False
) -> tuple[SeriesValues, int]:
    """Return the finite, non-negative samples of ``name`` by series, and how many duplicates were dropped.

    The first sample of a series wins; invalid values are added to ``rejections``.

    :param negative_ok: keep negative values (a metric that says "unknown" with -1)
    """
    valid: SeriesValues = {}
    seen: set[Series] = set()
    duplicates = 0
    for labels, value in exposition.values.get(name, ()):
        series = series_of(name, labels)
        if series in seen:
            duplicates += 1
            continue
        seen.add(series)
        if not math.isfinite(value):
            reason = models.NOT_FINITE
        elif value < 0 and not negative_ok:
            reason = models.NEGATIVE_VALUE
        else:
            valid[series] = (labels, value)
            continue
        rejections.append(
            models.Rejection(exposition.origin, None, describe_series(series), reason, str(value))
        )
    return valid, duplicates


def rate_counters(
    counters: dict[Series, float], scraped_at_ns: int, previous: CounterState
) -> tuple[dict[Series, float], CounterState]:
    """Return per-second rates of counters since the previous scrape, and the state for the next one.

    A series gets no rate on its first scrape, after a reset (its value went down), or when the
    previous scrape is not older than this one.
    """
    rates: dict[Series, float] = {}
    if previous.scraped_at_ns is not None and scraped_at_ns > previous.scraped_at_ns:
        elapsed_s = (scraped_at_ns - previous.scraped_at_ns) / 1e9
        before = previous.values
        for series, value in counters.items():
            old = before.get(series)
            if old is not None and value >= old:
                rates[series] = (value - old) / elapsed_s
    return rates, CounterState(scraped_at_ns, dict(counters))


def refuse_sample(resource: str, used: float, capacity: float) -> tuple[str, str] | None:
    """Return the reason and detail to refuse one sample computed from a scrape, or ``None``.

    ``capacity`` is known to be above zero, or ``NaN`` (unknown). A rate can be infinite, or
    beyond any real system, when a counter jumps or two scrapes come too close together.
    """
    if not math.isfinite(used):
        return models.NOT_FINITE, str(used)
    if used < 0:
        return models.NEGATIVE_VALUE, str(used)
    bound = models.MAX_VALUE.get(resource, math.inf)
    # scalar comparisons: a scrape gives a few samples, and numpy per sample costs more than the test
    if used > bound or capacity > bound or used > models.MAX_UTILIZATION * capacity:
        return models.IMPLAUSIBLE, models.describe_implausible(resource, used, capacity)
    return None


_NS_PER_UNIT = {"W": 7 * 86_400 * 10**9, "D": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9}
_NS_PER_UNIT.update({"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1})


def to_ns(scraped_at: datetime | np.datetime64 | int) -> int:
    """Return nanoseconds since the epoch of an aware ``datetime``, a ``datetime64`` (UTC) or an int.

    The result is an exact Python integer: a ``datetime64`` of any unit and year never wraps
    around, so that a time outside the domain can be refused rather than taken for another.

    :raises ValueError: for a naive ``datetime`` or a ``NaT``
    """
    if isinstance(scraped_at, datetime):
        if scraped_at.tzinfo is None:
            raise ValueError("scrape time must be timezone-aware (UTC)")
        return (scraped_at - _EPOCH) // timedelta(microseconds=1) * 1000
    if isinstance(scraped_at, np.datetime64):
        if np.isnat(scraped_at):
            raise ValueError("scrape time is NaT, not a time")
        stamp = scraped_at
        unit, count = np.datetime_data(stamp.dtype)
        if unit in ("Y", "M"):  # months and years vary in length: count the days
            stamp, unit, count = stamp.astype("datetime64[D]"), "D", 1
        elif unit not in _NS_PER_UNIT:  # finer than nanoseconds
            stamp, unit, count = stamp.astype("datetime64[ns]"), "ns", 1
        return int(stamp.astype(np.int64)) * count * _NS_PER_UNIT[unit]
    return int(scraped_at)


def refuse_scrape_time(exposition: Exposition, scraped_at_ns: int) -> models.Parsed | None:
    """Return what a scrape gives when its time lies outside the domain (no samples, one refusal),
    or ``None`` when the time is in the domain."""
    if models.TIME_MIN_NS <= scraped_at_ns < models.TIME_MAX_NS:
        return None
    detail = "scrape time " + models.describe_out_of_domain_s(scraped_at_ns / 10**9)
    refusal = models.Rejection(exposition.origin, None, None, models.OUT_OF_TIME_DOMAIN, detail)
    return models.Parsed(exposition.origin, models.no_samples(), rejections=(*exposition.rejections, refusal))


def instance_of(origin: str) -> str:
    """Return ``host:port`` of a target URL, as Prometheus names an instance; the origin otherwise."""
    if "://" not in origin:
        return origin
    rest = origin.split("://", 1)[1]
    return rest.split("/", 1)[0] or origin
