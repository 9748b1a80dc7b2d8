"""Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir, VictoriaMetrics) -> utilization samples.

Only the plain ``/api/v1/query_range`` call is used: GET with ``query``, ``start``, ``end`` (Unix
seconds) and ``step`` (seconds), which all four servers accept. Ranges are cut into chunks aligned
to the step, so that no series exceeds the 11,000 points Prometheus allows and Mimir can cache them.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np

from stackmeter import models
from stackmeter.errors import ConfigError, ParseError, SourceError, SourceUnavailable
from stackmeter.sources.node_exporter import DEFAULT_DISK_EXCLUDE, DEFAULT_INTERFACE_EXCLUDE
from stackmeter.sources.tables import implausible_of

MAX_POINTS_PER_SERIES = 11_000
# The most points per series one ingest asks for (100 million: 47 years at a 15 s step).
MAX_POINTS_PER_RANGE = 100_000_000
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 0.5
SERVER_WARNING = "server warning, data may be partial"
UNAVAILABLE = "unavailable"
NO_SERIES = "no series"


class ResourceQuery(NamedTuple):
    """PromQL for one resource: ``used`` and ``capacity`` (PromQL, or a constant such as ``1``).

    ``$window`` in either is replaced by the rate window, e.g. ``rate(x[$window])`` -> ``rate(x[300s])``.
    Series of ``capacity`` are matched to series of ``used`` with the same labels, else with the
    same entity label. When an entity has several ``used`` series at a time (one per network
    interface, say), the largest wins, with its own capacity.
    """

    used: str
    capacity: str | float


_CPU_BUSY = 'sum by (instance) (rate(node_cpu_seconds_total{mode!~"idle|iowait"}[$window]))'
_DISK_IO_TIME = f'node_disk_io_time_seconds_total{{device!~"{DEFAULT_DISK_EXCLUDE}"}}'
_NET_RX = f'rate(node_network_receive_bytes_total{{device!~"{DEFAULT_INTERFACE_EXCLUDE}"}}[$window])'
_NET_TX = f'rate(node_network_transmit_bytes_total{{device!~"{DEFAULT_INTERFACE_EXCLUDE}"}}[$window])'

# The mapping of DESIGN.md for node_exporter data, written in PromQL.
NODE_EXPORTER_QUERIES: dict[str, ResourceQuery] = {
    "cpu": ResourceQuery(_CPU_BUSY, 'count by (instance) (node_cpu_seconds_total{mode="idle"})'),
    "memory": ResourceQuery(
        "node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes"
    ),
    "disk": ResourceQuery(
        f"max by (instance) (rate({_DISK_IO_TIME}[$window]))",
        1.0,
    ),
    "network": ResourceQuery(
        # max(receive, transmit) per interface: receive where it is larger, else transmit
        f"max by (instance, device) (({_NET_RX} > {_NET_TX}) or {_NET_TX})",
        f'max by (instance, device) (node_network_speed_bytes{{device!~"{DEFAULT_INTERFACE_EXCLUDE}"}} > 0)',
    ),
}
# instance -> host name, so that hosts are named as direct scrapes name them.
NODE_NAMES_QUERY = "max by (instance, nodename) (node_uname_info)"


class Series(NamedTuple):
    """One series of a range query: labels, timestamps (ns, UTC) and values."""

    labels: dict[str, str]
    ts_ns: np.ndarray
    values: np.ndarray


class RangeResult(NamedTuple):
    """The series of one range query, the server's warnings, and the points refused.

    A point is refused when its time is not a number or lies outside the domain, or when its
    value is not a number (``NaN`` and infinities are numbers here: they are refused later, as
    samples); ``rejections`` name the series and the point, without a field.
    """

    series: list[Series]
    warnings: tuple[str, ...] = ()
    rejections: tuple[models.Rejection, ...] = ()


def plan_chunks(
    start_s: float, end_s: float, step_s: float, max_points: int = MAX_POINTS_PER_SERIES
) -> list[tuple[float, float]]:
    """Return ``(start_s, end_s)`` chunks covering the range, aligned to multiples of the step.

    Each chunk has at most ``max_points`` evaluation points and the next starts one step after it.
    """
    if not 0 < step_s < math.inf:
        raise ConfigError(f"step must be positive, got {step_s} s", "step")
    if end_s < start_s:
        raise ConfigError(f"end ({end_s}) is before start ({start_s})", "end")
    first = math.ceil(start_s / step_s) * step_s
    last = math.floor(end_s / step_s) * step_s
    points = (last - first) / step_s + 1
    if points > MAX_POINTS_PER_RANGE:
        raise ConfigError(
            f"a step of {step_s:g} s from {start_s:g} to {end_s:g} s is {points:.3g} points per series, "
            f"more than {MAX_POINTS_PER_RANGE:.0e}: widen the step or shorten the range",
            "step",
        )
    chunks: list[tuple[float, float]] = []
    while first <= last:
        chunk_end = min(first + (max_points - 1) * step_s, last)
        chunks.append((first, chunk_end))
        first = chunk_end + step_s
    return chunks


def fetch_query_range(
    client: httpx.Client,
    url: str,
    query: str,
    start_s: float,
    end_s: float,
    step_s: float,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
) -> RangeResult:
    """Return the matrix of one ``query_range`` call to the server at ``url`` (its API root).

    Connection failures, timeouts, 429 and 5xx answers are retried ``retries`` times with doubling
    backoff, then raise :class:`SourceUnavailable`. An error answer, or one that is not the API's
    JSON, raises :class:`SourceError` or :class:`ParseError` naming the server and the problem.
    """
    endpoint = url.rstrip("/") + "/api/v1/query_range"
    params = {"query": query, "start": _seconds(start_s), "end": _seconds(end_s), "step": _seconds(step_s)}
    for attempt in range(retries + 1):
        try:
            return _query_once(client, endpoint, params)
        except SourceUnavailable:
            if attempt == retries:
                raise
            sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")


def _query_once(client: httpx.Client, endpoint: str, params: dict[str, str]) -> RangeResult:
    try:
        response = client.get(endpoint, params=params)
    except httpx.TimeoutException as exc:
        raise SourceUnavailable(f"{endpoint}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise SourceUnavailable(f"{endpoint}: cannot connect ({exc})") from exc
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if response.status_code == 429 or response.status_code >= 500:
            raise SourceUnavailable(f"{endpoint}: HTTP {response.status_code}: {_excerpt(response)}") from exc
        content_type = response.headers.get("content-type", "no content type")
        raise ParseError(
            f"HTTP {response.status_code}, not the API's JSON ({content_type}): {_excerpt(response)}",
            path=endpoint,
        ) from exc
    if not isinstance(body, dict) or body.get("status") != "success":
        error_type = body.get("errorType", "?") if isinstance(body, dict) else "?"
        error = body.get("error", _excerpt(response)) if isinstance(body, dict) else _excerpt(response)
        message = f"{endpoint}: HTTP {response.status_code}, {error_type}: {error} (query: {params['query']})"
        if response.status_code == 429 or response.status_code >= 500:
            raise SourceUnavailable(message)
        raise SourceError(message)
    data = body.get("data")
    if (
        not isinstance(data, dict)
        or data.get("resultType") != "matrix"
        or not isinstance(data.get("result"), list)
    ):
        raise ParseError("answer is not a matrix (is this a range query endpoint?)", path=endpoint)
    series: list[Series] = []
    rejections: list[models.Rejection] = []
    try:
        for item in data["result"]:
            series.append(_parse_series(item, endpoint, rejections))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"malformed series in the answer: {exc}", path=endpoint) from exc
    warnings = tuple(str(warning) for warning in body.get("warnings") or ())
    return RangeResult(series, warnings, tuple(rejections))


def _parse_series(item: Mapping, origin: str, rejections: list[models.Rejection]) -> Series:
    """Return one series of a matrix, its unusable points left out and added to ``rejections``.

    :raises KeyError, TypeError, ValueError: when the series is not ``{"metric": {…}, "values":
        [[time, "value"], …]}``
    """
    labels = dict(item["metric"])
    if not all(isinstance(name, str) and isinstance(value, str) for name, value in labels.items()):
        raise TypeError(f"labels of a series are not all text: {str(labels)[:80]}")
    points = item["values"]
    if not isinstance(points, list):
        raise TypeError(f"values of a series is a {type(points).__name__}, not a list")
    try:
        pairs = np.array(points, dtype=np.float64)
        if pairs.shape != (len(points), 2):
            raise ValueError("not pairs")
        bad_value = np.zeros(len(points), dtype=bool)
    except (TypeError, ValueError, OverflowError):
        pairs, bad_value = _parse_points(points)
    ts_s, values = pairs[:, 0], pairs[:, 1]
    for i in np.flatnonzero(np.isnan(values)):
        # numpy reads null as NaN: only the text "NaN" is the number NaN
        bad_value[i] |= not isinstance(points[i][1], str)
    bad_ts = np.isnan(ts_s)
    outside = ~bad_ts & ~models.in_time_domain_s(ts_s)
    where = _describe_labels(labels)
    for i in np.flatnonzero(bad_ts | outside | bad_value):
        time_text, value_text = (repr(part)[:40] for part in points[i])
        if bad_ts[i]:
            reason, detail = models.BAD_TIMESTAMP, f"time {time_text}"
        elif outside[i]:
            reason, detail = models.OUT_OF_TIME_DOMAIN, models.describe_out_of_domain_s(ts_s[i])
        else:
            reason, detail = models.NOT_A_NUMBER, f"value {value_text}"
        rejections.append(models.Rejection(origin, None, None, reason, f"{where} point {i + 1}: {detail}"))
    keep = ~(bad_ts | outside | bad_value)
    # times are checked against the domain before they become nanoseconds, so nothing wraps
    ts_ns = np.round(ts_s[keep] * 1e9).astype(np.int64)
    return Series(labels, ts_ns, values[keep])


def _parse_points(points: list) -> tuple[np.ndarray, np.ndarray]:
    """Read ``[time, value]`` points one by one: ``NaN`` where a part is not a number, infinite
    where it is beyond any float, and the mask of values that are not numbers. A point that is not
    a pair raises ``ValueError``."""
    pairs = np.full((len(points), 2), np.nan)
    bad_value = np.zeros(len(points), dtype=bool)
    for i, point in enumerate(points):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ValueError(f"point {i + 1} is not [time, value]: {str(point)[:60]}")
        for j, part in enumerate(point):
            try:
                pairs[i, j] = float(part)
            except OverflowError:  # an integer beyond any float: a huge number all the same
                pairs[i, j] = np.inf if part > 0 else -np.inf
            except (TypeError, ValueError):
                bad_value[i] |= j == 1
    return pairs, bad_value


def _describe_labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{name}="{value}"' for name, value in sorted(labels.items())) + "}"


def _seconds(value_s: float) -> str:
    return f"{value_s:.3f}".rstrip("0").rstrip(".")


def _excerpt(response: httpx.Response) -> str:
    return " ".join(response.text[:160].split()) or "(empty body)"


def fetch_utilization(
    client: httpx.Client,
    url: str,
    start_s: float,
    end_s: float,
    step_s: float,
    queries: Mapping[str, ResourceQuery] = NODE_EXPORTER_QUERIES,
    entity_label: str = "instance",
    names_query: str | None = NODE_NAMES_QUERY,
    rate_window_s: float | None = None,
    max_points: int = MAX_POINTS_PER_SERIES,
    retries: int = DEFAULT_RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> models.Parsed:
    """Return host samples of each resource in ``queries`` from ``start_s`` to ``end_s`` every ``step_s``.

    A chunk that stays unavailable after retries is reported as a rejection and the others are kept;
    server warnings (partial answers) are reported the same way. When the very first request fails
    after its retries, :class:`SourceUnavailable` is raised.

    :param rate_window_s: window of ``rate()`` (``$window``); the step by default, so each sample
        covers the interval that ends at its timestamp
    """
    unknown = set(queries) - set(models.RESOURCES)
    if unknown:
        raise ConfigError(f"unknown resources {sorted(unknown)}; valid: {', '.join(models.RESOURCES)}")
    window = f"{_seconds(rate_window_s or step_s)}s"
    chunks = plan_chunks(start_s, end_s, step_s, max_points)
    rejections: list[models.Rejection] = []
    fetched = 0

    def fetch_all(query: str, field: str) -> list[Series]:
        nonlocal fetched
        found: list[Series] = []
        for chunk_start, chunk_end in chunks:
            try:
                result = fetch_query_range(
                    client, url, query, chunk_start, chunk_end, step_s, retries, sleep=sleep
                )
            except SourceUnavailable as exc:
                if fetched == 0:
                    raise  # the server has not answered once: fail fast rather than retry every query
                detail = f"{_seconds(chunk_start)}..{_seconds(chunk_end)}: {exc}"
                rejections.append(models.Rejection(url, None, field, UNAVAILABLE, detail))
                continue
            fetched += 1
            found.extend(result.series)
            rejections.extend(rejection._replace(path=url, field=field) for rejection in result.rejections)
            rejections.extend(models.Rejection(url, None, field, SERVER_WARNING, w) for w in result.warnings)
        return found

    names: dict[str, str] = {}
    if names_query:
        for series in fetch_all(names_query, "host names"):
            if series.labels.get("nodename") and series.labels.get(entity_label):
                names[series.labels[entity_label]] = series.labels["nodename"]
    parts: list[models.Samples] = []
    entities: dict[str, models.Entity] = {}
    for resource, query in queries.items():
        used = fetch_all(query.used.replace("$window", window), resource)
        if not used and "$window" in query.used:
            hint = f"rate() over {window} needs two scrapes in each window: widen the rate window if the data is there"
            rejections.append(models.Rejection(url, None, resource, NO_SERIES, hint))
        capacity: list[Series] | float
        if isinstance(query.capacity, str):
            capacity = fetch_all(query.capacity.replace("$window", window), f"{resource} capacity")
        else:
            capacity = float(query.capacity)
        samples, refused = _combine(resource, used, capacity, entity_label, names, step_s, url)
        rejections.extend(refused)
        parts.append(samples)
        entities.update((entity, models.Entity(entity, kind="host")) for entity in samples.entity)
    return models.Parsed(url, models.concat_samples(parts), tuple(entities.values()), tuple(rejections))


def _combine(
    resource: str,
    used: list[Series],
    capacity: list[Series] | float,
    entity_label: str,
    names: Mapping[str, str],
    step_s: float,
    url: str,
) -> tuple[models.Samples, list[models.Rejection]]:
    """Samples of one resource: capacity joined to each used series, then the largest per entity and time."""
    by_labels = {} if not isinstance(capacity, list) else {_key(s.labels): s for s in capacity}
    by_entity: dict[str, list[Series]] = {}
    for series in by_labels.values():
        by_entity.setdefault(series.labels.get(entity_label, ""), []).append(series)
    columns: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    rejections: list[models.Rejection] = []
    for series in used:
        instance = series.labels.get(entity_label)
        if instance is None:
            rejections.append(models.Rejection(url, None, resource, "no entity label", entity_label))
            continue
        if isinstance(capacity, float):
            capacities = np.full(series.ts_ns.size, capacity)
        else:
            match = by_labels.get(_key(series.labels))
            if match is None and len(by_entity.get(instance, ())) == 1:
                match = by_entity[instance][0]
            capacities = _as_of(match, series.ts_ns, step_s)
        entity = np.full(series.ts_ns.size, names.get(instance, instance), dtype=object)
        columns.append((series.ts_ns, entity, series.values, capacities))
    if not columns:
        return models.no_samples(), rejections
    ts_ns, entity, values, capacities = (np.concatenate(parts) for parts in zip(*columns, strict=True))
    bad = ~np.isfinite(values) | (values < 0) | (capacities <= 0)
    implausible = np.zeros(bad.size, dtype=bool)
    implausible[~bad] = implausible_of(resource, values[~bad], capacities[~bad])
    # every refused sample is recorded, so that the ingest's counts are whole
    for index in np.flatnonzero(bad | implausible):
        reason = models.NOT_FINITE if not np.isfinite(values[index]) else models.NEGATIVE_VALUE
        if capacities[index] <= 0:
            reason = models.BAD_CAPACITY
        when = np.datetime_as_string(np.datetime64(int(ts_ns[index]), "ns"), unit="s")
        detail = f"{entity[index]} at {when}Z"
        if implausible[index]:
            reason = models.IMPLAUSIBLE
            detail += ": " + models.describe_implausible(resource, values[index], capacities[index])
        rejections.append(models.Rejection(url, None, resource, reason, detail))
    keep = ~bad & ~implausible
    ts_ns, entity, values, capacities = ts_ns[keep], entity[keep], values[keep], capacities[keep]
    # The busiest series per (entity, time): sort by entity, time, then used descending; keep the first.
    order = np.lexsort((-values, ts_ns, entity.astype(str)))
    ts_ns, entity, values, capacities = ts_ns[order], entity[order], values[order], capacities[order]
    first = np.ones(ts_ns.size, dtype=bool)
    first[1:] = (ts_ns[1:] != ts_ns[:-1]) | (entity[1:] != entity[:-1])
    samples = models.make_samples(
        ts_ns[first].astype("datetime64[ns]"), entity[first], resource, values[first], capacities[first]
    )
    return samples, rejections


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, value in labels.items() if name != "__name__"))


def _as_of(capacity: Series | None, ts_ns: np.ndarray, step_s: float) -> np.ndarray:
    """Capacity at each time: its latest value at or before it, no older than one step; NaN otherwise."""
    if capacity is None or capacity.ts_ns.size == 0:
        return np.full(ts_ns.size, np.nan)
    index = np.searchsorted(capacity.ts_ns, ts_ns, side="right") - 1
    found = (index >= 0) & (ts_ns - capacity.ts_ns[np.maximum(index, 0)] <= step_s * 1e9)
    return np.where(found, capacity.values[np.maximum(index, 0)], np.nan)


def load_queries(path: Path) -> dict[str, ResourceQuery]:
    """Return the built-in queries overridden by a TOML file's ``[queries.RESOURCE]`` tables.

    ``used`` is PromQL; ``capacity`` is PromQL or a number. A resource set to ``false`` is not queried::

        [queries.network]
        used = 'max by (instance) (rate(node_network_receive_bytes_total{device="bond0"}[$window]))'
        capacity = 2.5e9
    """
    try:
        config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read queries file {path}: {exc}") from exc
    queries = dict(NODE_EXPORTER_QUERIES)
    for resource, table in (config.get("queries") or {}).items():
        if resource not in models.RESOURCES:
            raise ConfigError(f"{path}: unknown resource {resource!r}; valid: {', '.join(models.RESOURCES)}")
        if table is False:
            queries.pop(resource, None)
            continue
        base = NODE_EXPORTER_QUERIES[resource]
        used, capacity = table.get("used", base.used), table.get("capacity", base.capacity)
        if not isinstance(used, str) or not isinstance(capacity, str | int | float):
            raise ConfigError(
                f"{path}: [queries.{resource}] needs used = 'PromQL', capacity = 'PromQL' or a number"
            )
        queries[resource] = ResourceQuery(used, capacity if isinstance(capacity, str) else float(capacity))
    return queries
