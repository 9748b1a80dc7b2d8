"""Reports over the store: overload, entities, series, heat map, one entity's windows, status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from stackmeter.analysis.heatmap import (
    apply_overload_rule,
    build_heat_map_rows,
    choose_columns,
    rank_entities,
    summarize_used,
)
from stackmeter.analysis.overload import (
    check_resource,
    check_share,
    check_threshold,
    detect_overloaded,
    fleet_windows,
    summarize_multi_resource,
    summarize_overload,
)
from stackmeter.analysis.windows import check_timescale, parse_timescales
from stackmeter.errors import ConfigError, UnknownEntity
from stackmeter.models import (
    DEFAULT_SHARE,
    DEFAULT_THRESHOLDS,
    DEFAULT_TIMESCALES,
    DEFAULT_TOP,
    MAX_TOP,
    RAW,
    RESOURCES,
    EntityOverload,
    EntitySummary,
    HeatMap,
    HeatMapRow,
    OverloadReport,
    ResourceOverload,
    ResourceUsage,
    Samples,
    StoreStatus,
    WindowQuery,
)
from stackmeter.operations.rollups import read_counts, read_utilization
from stackmeter.store import Store

# A heat map page shows at most this many entities and this many windows.
HEAT_MAP_MAX_ROWS = 200
HEAT_MAP_MAX_COLUMNS = 400
HEAT_MAP_MAX_PAGE = 1_000_000


class ReportChoices(NamedTuple):
    """What an overload report is asked for, checked: timescales and resources in canonical
    order, and the threshold of each resource."""

    timescales: tuple[str, ...]
    resources: tuple[str, ...]
    thresholds: dict[str, float]


def check_report_choices(
    timescales: str | Iterable[str],
    resources: Iterable[str],
    thresholds: Mapping[str, float] | None,
    share: float,
    top: int,
) -> ReportChoices:
    """Return the timescales, resources and thresholds an overload report is asked for, checked
    (before any store is opened); raise :class:`ConfigError` naming the choice at fault."""
    scales = parse_timescales(timescales if isinstance(timescales, str) else ",".join(timescales))
    resources = tuple(check_resource(resource) for resource in resources)
    if not resources:
        raise ConfigError(f"no resource given; valid: {', '.join(RESOURCES)}", "resource")
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    for resource in resources:
        check_threshold(resource, thresholds[resource])
    check_share(share)
    if not 0 <= top <= MAX_TOP:
        raise ConfigError(f"top must be between 0 and {MAX_TOP:,}, got {top}", "top")
    return ReportChoices(scales, resources, {resource: thresholds[resource] for resource in resources})


def overload_report(
    store: Store,
    timescales: str | Iterable[str] = DEFAULT_TIMESCALES,
    resources: Iterable[str] = RESOURCES,
    thresholds: Mapping[str, float] | None = None,
    share: float = DEFAULT_SHARE,
    top: int = DEFAULT_TOP,
    from_raw: bool = False,
    fleet: bool = False,
) -> OverloadReport:
    """Return the overload report of ``store`` for every timescale × resource asked.

    Each timescale is served by the coarsest rollup level whose windows nest in its own (weeks
    and months by days), which gives the same numbers as raw samples when every threshold is on
    a histogram bin edge (a whole percent up to 2); otherwise, with ``from_raw``, or when no
    level fits, by raw samples. The report's ``served_by`` maps each timescale to ``rollup
    <level>`` or ``raw``, and ``served_note`` says why raw samples served, if they did.

    :param thresholds: utilization θ per resource; missing resources take the defaults
    :param share: a window is overloaded when at least this share of its samples is ≥ θ, in (0, 1]
    :param top: how many worst entities to list per cell
    :param from_raw: read raw samples even where a rollup level could serve
    :param fleet: also return, per timescale × resource, the fleet window by window
        (:class:`FleetWindows`: entities, samples, whether complete, how many overloaded)
    """
    scales, resources, asked = check_report_choices(timescales, resources, thresholds, share, top)
    served = read_counts(store, scales, asked, from_raw)
    counts = served.counts
    cells, multi, windows = [], [], []
    for timescale in scales:
        overloaded = []
        for resource in resources:
            coverage = served.coverage.get(resource)
            windows.append(fleet_windows(counts[timescale, resource], coverage, share))
            cells.append(summarize_overload(counts[timescale, resource], coverage, share, top, windows[-1]))
            overloaded.append(detect_overloaded(counts[timescale, resource], share))
        names = counts[timescale, resources[0]].entity_names if resources else np.empty(0, object)
        multi.append(summarize_multi_resource(timescale, overloaded, names, top))
    return OverloadReport(
        asked, share, scales, resources, tuple(cells), tuple(multi), served.served_by, served.note,
        tuple(windows) if fleet else (),
    )  # fmt: skip


def list_entities(store: Store) -> list[EntitySummary]:
    """Return every entity of ``store`` with its resources and time span."""
    return store.read_entities()


def read_series(
    store: Store,
    entity: str,
    resource: str = "cpu",
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
) -> Samples:
    """Return one entity's samples of ``resource`` with ``start <= ts < end``.

    Raises :class:`UnknownEntity` when the store does not know ``entity``.
    """
    check_resource(resource)
    if not store.has_entity(entity):
        raise UnknownEntity(f"no entity {entity!r} in the store")
    return store.read_series(entity, resource, start, end)


def store_status(store: Store) -> StoreStatus:
    """Return the size and freshness of ``store``: entities, samples, batches, last write."""
    return store.read_status()


def heat_map(
    store: Store,
    timescale: str = "1h",
    resource: str = "cpu",
    threshold: float | None = None,
    share: float = DEFAULT_SHARE,
    page: int = 1,
    page_size: int = 50,
    columns: int = 168,
    end: np.datetime64 | None = None,
    from_raw: bool = False,
) -> HeatMap:
    """Return one page of the heat map of ``resource`` at ``timescale``: entities worst first.

    Entities are ranked as the overload report ranks its worst (share of their windows
    overloaded); each row shows the mean utilization of up to ``columns`` windows ending at the
    window holding ``end`` (the latest window when omitted).

    :param page: 1-based page of ``page_size`` entities (at most ``HEAT_MAP_MAX_ROWS``)
    :param columns: windows per page, 1 to ``HEAT_MAP_MAX_COLUMNS``
    :param from_raw: read raw samples even where a rollup level could serve (see :func:`overload_report`)
    """
    check_timescale(timescale)
    check_resource(resource)
    threshold = DEFAULT_THRESHOLDS[resource] if threshold is None else threshold
    check_threshold(resource, threshold)
    check_share(share)
    if not 1 <= page <= HEAT_MAP_MAX_PAGE:
        raise ConfigError(f"page must be from 1 to {HEAT_MAP_MAX_PAGE:,}, got {page}", "page")
    if not 1 <= page_size <= HEAT_MAP_MAX_ROWS:
        raise ConfigError(f"page_size must be from 1 to {HEAT_MAP_MAX_ROWS}, got {page_size}", "page_size")
    if not 1 <= columns <= HEAT_MAP_MAX_COLUMNS:
        raise ConfigError(f"columns must be from 1 to {HEAT_MAP_MAX_COLUMNS}, got {columns}", "columns")
    served = read_counts(store, (timescale,), {resource: threshold}, from_raw, fleet=False)
    counts = served.counts[timescale, resource]
    codes, overloaded, windows = rank_entities(counts, share)
    chosen = slice((page - 1) * page_size, page * page_size)
    names = [str(name) for name in counts.entity_names[codes[chosen]]]
    starts = np.empty(0, dtype="datetime64[ns]")
    rows: tuple[HeatMapRow, ...] = ()
    if counts.first_window is not None and counts.last_window is not None:
        starts = choose_columns(counts.first_window, counts.last_window, timescale, columns, end)
        query = WindowQuery(timescale, resource, threshold, tuple(names), starts[0], starts[-1])
        utilization, _ = read_utilization(store, query, from_raw)
        rows = build_heat_map_rows(names, overloaded[chosen], windows[chosen], starts, utilization, share)
    return HeatMap(
        timescale=timescale,
        resource=resource,
        threshold=threshold,
        share=share,
        entities=int(codes.size),
        page=page,
        page_size=page_size,
        first_window=counts.first_window,
        last_window=counts.last_window,
        columns=tuple(starts),
        rows=rows,
        served_by=served.served_by[timescale],
    )


def entity_overload(
    store: Store,
    entity: str,
    timescale: str = "1h",
    thresholds: Mapping[str, float] | None = None,
    share: float = DEFAULT_SHARE,
    resources: Iterable[str] = RESOURCES,
    from_raw: bool = False,
) -> EntityOverload:
    """Return ``entity``'s mean and max utilization per window of each resource it has, and
    which windows were overloaded, from the rollup level that serves ``timescale`` (see
    :func:`overload_report`) or raw samples; ``served_by`` says which, per resource. A resource
    with samples but no capacity is in ``unjudged``, with its used values per window (raw samples).

    Raises :class:`UnknownEntity` when the store does not know ``entity``.
    """
    check_timescale(timescale)
    resources = tuple(check_resource(resource) for resource in resources)
    if not resources:
        raise ConfigError(f"no resource given; valid: {', '.join(RESOURCES)}", "resource")
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    for resource in resources:
        check_threshold(resource, thresholds[resource])
    check_share(share)
    if not store.has_entity(entity):
        raise UnknownEntity(f"no entity {entity!r} in the store")
    per_resource: list[ResourceOverload] = []
    unjudged: list[ResourceUsage] = []
    served_by: dict[str, str] = {}
    for resource in resources:
        query = WindowQuery(timescale, resource, thresholds[resource], (entity,))
        utilization, source = read_utilization(store, query, from_raw)
        if utilization.window.size:
            per_resource.append(apply_overload_rule(utilization, share))
            served_by[resource] = source
            continue
        # No sample with a capacity: show what was used, from raw samples (rollups keep utilization only).
        samples = store.read_series(entity, resource)
        if samples.ts.size:
            unjudged.append(summarize_used(samples, timescale))
            served_by[resource] = RAW
    return EntityOverload(entity, timescale, share, tuple(per_resource), served_by, tuple(unjudged))
