"""The ``/api/v1`` routes: each parses its parameters, calls one operation and formats the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from stackmeter import operations
from stackmeter.analysis.operation_stats import GROUPINGS
from stackmeter.analysis.overload import check_resource
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S
from stackmeter.analysis.windows import check_timescale, parse_timescales
from stackmeter.api.paging import MAX_PAGE, MAX_PAGE_SIZE, Page, page_of, paged_responses, paging_headers
from stackmeter.api.reader import BEARER, Reader, open_reader
from stackmeter.errors import ConfigError
from stackmeter.export import (
    DURATION_COLUMNS,
    FLEET_COLUMNS,
    MEASURED_SCHEMA,
    OPERATION_TIMINGS_SCHEMA,
    QUANTILE_COLUMNS,
    dead_letter_rows,
    duration_rows,
    fleet_jsonable,
    fleet_rows,
    frame_records,
    jsonable,
    measured_replay_csv,
    measured_replay_jsonable,
    operation_timings_jsonable,
    overload_csv,
    overload_jsonable,
    quantile_rows,
    rows_csv,
    series_rows,
)
from stackmeter.models import (
    DEFAULT_SEMANTICS,
    MAX_DURATION_S,
    MAX_THRESHOLD,
    MAX_TOP,
    RESOURCES,
    SEMANTICS_PROFILES,
    TIMESCALE_CHOICES,
    EntityOverload,
    HeatMap,
)
from stackmeter.operations.notifications import parse_duration_edges
from stackmeter.operations.rollups import quantile_page
from stackmeter.settings import Settings, help_for, parse_thresholds
from stackmeter.units import parse_utc_time


class ErrorBody(BaseModel):
    """What every API error answers, whatever its status."""

    error: str = Field(
        description="Stable code: ValidationError or ConfigError (422), Unauthenticated (401), "
        "UnknownEntity or NotFound (404), MethodNotAllowed (405), StoreError or "
        "a kind of it such as StoreNotFound (503), InternalError or another stackmeter error (500).",
        examples=["ValidationError"],
    )
    detail: str = Field(
        description="What is wrong, for a person.",
        examples=["share: Input should be greater than 0, got '0'"],
    )
    where: str | None = Field(
        description="The query or path parameter at fault, when one is.", examples=["share"]
    )


ERROR_RESPONSES: dict[int | str, dict] = {
    401: {"model": ErrorBody, "description": "No token, or one the server does not know."},
    404: {"model": ErrorBody, "description": "No such entity, or another project's."},
    422: {"model": ErrorBody, "description": "A parameter is invalid; `where` names it."},
    500: {"model": ErrorBody, "description": "An unexpected failure; the server logs it."},
    503: {"model": ErrorBody, "description": "The store refused or failed."},
}

# The bearer scheme is declared on every route so Swagger UI sends the token it is given; the
# check itself is open_reader's, which also takes the dashboard's cookie.
router = APIRouter(prefix="/api/v1", tags=["api"], responses=ERROR_RESPONSES, dependencies=[Security(BEARER)])
Format = Literal["json", "csv"] | None
FORMAT = Query(None, description="json or csv; without it, CSV when the Accept header asks for text/csv.")
SHARE = Query(
    None,
    gt=0,
    le=1,
    allow_inf_nan=False,
    description=help_for(
        "share", "Share s of a window's samples ≥ θ that makes it overloaded, above 0 and at most 1"
    )
    + ".",
)
THRESHOLDS = Query(
    None,
    description=f"Utilization θ per resource, each above 0 and at most {MAX_THRESHOLD:g}, e.g. "
    "cpu=0.9,memory=0.95 (others keep their default).",
)


def _resources(text: str) -> tuple[str, ...]:
    names = tuple(check_resource(name.strip()) for name in text.split(",") if name.strip())
    if not names:
        raise ConfigError(f"no resource given; valid: {', '.join(RESOURCES)}", "resource")
    return names


def _thresholds(text: str | None, settings: Settings) -> dict[str, float]:
    if text is not None and not text.strip():
        raise ConfigError("no threshold given; e.g. cpu=0.9", "threshold")
    return parse_thresholds(text or "", settings.thresholds)


def _wants_csv(request: Request, format: Format) -> bool:
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _answer(
    request: Request,
    format: Format,
    csv: Callable[[], str],
    body: Callable[[], Any],
    headers: dict[str, str] | None = None,
) -> Response:
    """The route's answer as CSV (``format=csv`` or ``Accept: text/csv``) or JSON, whichever is asked."""
    if _wants_csv(request, format):
        return PlainTextResponse(csv(), media_type="text/csv", headers=headers)
    return JSONResponse(body(), headers=headers)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


@router.get("/overload")
def overload(
    request: Request,
    timescale: str | None = Query(
        None, description=help_for("timescales", "Comma-separated timescales") + "."
    ),
    resource: str = Query(",".join(RESOURCES), description="Comma-separated resources."),
    threshold: str | None = THRESHOLDS,
    share: float | None = SHARE,
    top: int | None = Query(
        None,
        ge=0,
        le=MAX_TOP,
        description=help_for("top", f"How many worst entities to list, 0 to {MAX_TOP}") + ".",
    ),
    from_raw: bool = Query(False, description="Read raw samples, not the rollup levels."),
    format: Format = FORMAT,
    reader: Reader = Depends(open_reader),
) -> Response:
    """How many entities are overloaded, per timescale and resource, and which: `stackmeter overload`.

    `served_by` says which rollup level (or raw samples) served each timescale."""
    settings = _settings(request)
    report = reader.overload_report(
        timescales=settings.timescales if timescale is None else parse_timescales(timescale),
        resources=_resources(resource),
        thresholds=_thresholds(threshold, settings),
        share=settings.share if share is None else share,
        top=settings.top if top is None else top,
        from_raw=from_raw,
    )
    return _answer(request, format, lambda: overload_csv(report), lambda: overload_jsonable(report))


@router.get("/fleet", responses=paged_responses("the `windows` rows"))
def fleet(
    request: Request,
    timescale: str = Query("1d", description=f"Window length: {TIMESCALE_CHOICES}."),
    resource: str = Query(",".join(RESOURCES), description="Comma-separated resources."),
    threshold: str | None = THRESHOLDS,
    share: float | None = SHARE,
    from_raw: bool = Query(False, description="Read raw samples, not the rollup levels."),
    last: int = Query(
        0,
        ge=0,
        le=MAX_PAGE_SIZE * MAX_PAGE,
        description="Only the latest this many windows of each resource; 0 for all.",
    ),
    format: Format = FORMAT,
    page: Page = Depends(page_of),
    reader: Reader = Depends(open_reader),
) -> Response:
    """The fleet window by window, resource by resource: entities that reported, samples against
    those their sampling step gives, whether the window is complete, and how many entities were
    overloaded: `stackmeter fleet`. Paged over `windows`.

    A window is complete once it has ended and holds at least `complete_min_coverage` of its
    expected samples; `/overload` takes `latest_window` and `trend_per_window` from complete
    windows only."""
    settings = _settings(request)
    report = reader.overload_report(
        timescales=(check_timescale(timescale),),
        resources=_resources(resource),
        thresholds=_thresholds(threshold, settings),
        share=settings.share if share is None else share,
        top=0,
        from_raw=from_raw,
        fleet=True,
    )
    rows = fleet_rows(report, last)
    headers = paging_headers(request, page, len(rows))
    rows = list(page.of(rows))
    return _answer(
        request,
        format,
        lambda: rows_csv(rows, FLEET_COLUMNS),
        lambda: fleet_jsonable(report, rows),
        headers,
    )


@router.get("/quantile", responses=paged_responses("the windows"))
def quantile(
    request: Request,
    entity: str | None = Query(None, description="One entity [default: every entity the token may see]."),
    resource: str = Query("cpu", description=f"One of {', '.join(RESOURCES)}."),
    q: float = Query(0.95, ge=0, le=1, allow_inf_nan=False, description="The quantile, from 0 to 1."),
    timescale: str = Query("1d", description=f"Window length: {TIMESCALE_CHOICES}."),
    from_raw: bool = Query(False, description="Exact, from raw samples, not the rollup levels."),
    format: Format = FORMAT,
    page: Page = Depends(page_of),
    reader: Reader = Depends(open_reader),
) -> Response:
    """Quantile of utilization per entity and window, within one 1 % bin from rollups:
    `stackmeter quantile`. Paged over `windows`, ordered by entity and window: a page reads only
    the entities whose windows it shows, so any page of any store answers at the cost of its own
    rows (`X-Total-Count` is counted without reading a histogram)."""
    answer = quantile_page(
        reader.store,
        resource=check_resource(resource),
        q=q,
        timescale=check_timescale(timescale),
        entity=entity,
        from_raw=from_raw,
        page=page.number,
        page_size=page.size,
    )
    headers = paging_headers(request, page, answer.total)
    report = answer.report
    return _answer(
        request,
        format,
        lambda: rows_csv(quantile_rows(report), QUANTILE_COLUMNS),
        lambda: jsonable(report),
        headers,
    )


@router.get("/entities", responses=paged_responses("the entities"))
def entities(
    request: Request,
    format: Format = FORMAT,
    page: Page = Depends(page_of),
    reader: Reader = Depends(open_reader),
) -> Response:
    """The entities the token may see, with resources, sample counts and time span: `stackmeter entities`.

    Paged: the body is the page's list, the total and links are in the headers."""
    everyone = reader.entities()
    headers = paging_headers(request, page, len(everyone))
    rows = page.of(everyone)
    columns = ("entity", "kind", "project", "resources", "samples", "first_ts", "last_ts")
    return _answer(request, format, lambda: rows_csv(rows, columns), lambda: jsonable(rows), headers)


@router.get("/series/{entity}", responses=paged_responses("the samples"))
def series(
    request: Request,
    entity: str,
    resource: str = Query("cpu", description=f"One of {', '.join(RESOURCES)}."),
    start: str | None = Query(
        None,
        alias="from",
        description="First time (UTC, inclusive): ISO 8601 or Unix seconds, e.g. 2013-08-01.",
    ),
    end: str | None = Query(None, alias="to", description="Last time (UTC, exclusive)."),
    format: Format = FORMAT,
    page: Page = Depends(page_of),
    reader: Reader = Depends(open_reader),
) -> Response:
    """One entity's samples of one resource, in time order: `stackmeter series`. Paged over `samples`."""
    samples = operations.read_series(
        reader.store,
        entity,
        check_resource(resource),
        parse_utc_time(start, "from"),
        parse_utc_time(end, "to"),
    )
    headers = paging_headers(request, page, len(samples))
    rows = page.of(series_rows(samples))
    return _answer(
        request,
        format,
        lambda: rows_csv(rows, ("ts", "used", "capacity", "utilization")),
        lambda: jsonable({"entity": entity, "resource": resource, "samples": rows}),
        headers,
    )


@router.get(
    "/replay",
    responses={
        200: {
            "description": "The policies replayed; with `measured=true`, the run's measured figures too "
            "(alone without a policy, else as `measured` beside `policies`).",
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            MEASURED_SCHEMA,
                            {
                                "type": "object",
                                "properties": {
                                    "fleet": {"type": "string"},
                                    "semantics": {"type": "string"},
                                    "memory_vms": {
                                        "type": "integer",
                                        "description": "VMs whose memory in use was replayed (0: none, "
                                        "and each policy's `memory_overload` is null).",
                                    },
                                    "policies": {
                                        "type": "array",
                                        "description": "One row per policy: `energy_kwh`, `migrations`, "
                                        "`slatah`, `pdm`, `slav`, `esv`, `host_shutdowns`, `vms_removed`, "
                                        "`memory_overload` (share of active host time with the VMs' memory "
                                        "in use above the host's RAM), `host_wakes` and, with `steps=true`, "
                                        "`steps`.",
                                        "items": {"type": "object"},
                                    },
                                    "measured": MEASURED_SCHEMA,
                                },
                            },
                        ]
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
def replay(
    request: Request,
    policy: list[str] | None = Query(
        None,
        description="A policy to replay; repeat it to compare several: npa, dvfs, or DETECTOR-SELECTION-PARAMETER[-capC] with a detector thr, iqr, mad, lr or lrr, a VM selection mmt, mu, rs, mc (CloudSim's) or fit (stackmeter's) and optionally an evacuation cap 0 < C ≤ 1 and -mem, memory-aware (both stackmeter's), e.g. lr-mmt-1.2, lr-fit-1.1-cap0.75 or lr-fit-1.1-cap0.75-mem. Needed unless `measured=true`.",
    ),
    fleet: str = Query(operations.DEFAULT_FLEET, description="The name of a fleet shipped with stackmeter."),
    semantics: str = Query(
        DEFAULT_SEMANTICS, description=f"Whose rules the replay follows: {', '.join(SEMANTICS_PROFILES)}."
    ),
    start: str | None = Query(
        None,
        alias="from",
        description="First UTC time replayed [default: the first sample; with `measured=true`, the run's window start].",
    ),
    end: str | None = Query(
        None,
        alias="to",
        description="Replay windows starting before this UTC time [default: all; with `measured=true`, the run's window end].",
    ),
    steps: bool = Query(
        False,
        description="Also each policy's timeline: hosts active, hosts overloaded, energy and VMs per step.",
    ),
    measured: bool = Query(
        False,
        description="Also (or only, without a policy) what the consolidation run in the store measured over "
        "its window: `aitf`, `aotf`, `migrations`, `energy_kwh` (`stackmeter replay --measured`).",
    ),
    run: str | None = Query(None, description="The run to measure, when the store holds several."),
    format: Format = FORMAT,
    reader: Reader = Depends(open_reader),
) -> Response:
    """Consolidation policies replayed over the VMs' history, side by side, and with `measured=true`
    what a real consolidated cloud measured beside them: `stackmeter replay`.

    A project token replays its project's VMs only, and sees no consolidation run (a run's records
    are the fleet's hosts). Only fleets shipped with stackmeter can be named here (a fleet file is
    the CLI's `--fleet`)."""
    if run is not None and not measured:
        raise ConfigError("run names the run to measure: give measured=true with it", "run")
    if not policy and not measured:
        raise ConfigError("give a policy to replay, or measured=true", "policy")
    first, last = parse_utc_time(start, "from"), parse_utc_time(end, "to")
    result = operations.measured_run(reader.store, run) if measured else None
    report = None
    if policy:
        if fleet not in operations.shipped_fleets():
            raise ConfigError(
                f"no fleet {fleet!r}: use one of {', '.join(operations.shipped_fleets())}", "fleet"
            )
        if result is not None:
            first = result.window_start if first is None else first
            last = result.window_end if last is None else last
        report = operations.replay_store(reader.store, policy, fleet, semantics, first, last)
    return _answer(
        request,
        format,
        lambda: measured_replay_csv(result, report),
        lambda: measured_replay_jsonable(result, report, steps=steps),
    )


@router.get("/status")
def status(reader: Reader = Depends(open_reader)) -> Response:
    """Size and freshness of the store: entities and samples the token may see, batches, last write.

    The store's location is shown to admin tokens only.
    """
    body = jsonable(operations.store_status(reader.store))
    if reader.access.role != "admin":
        body["location"] = None
    return JSONResponse(body)


@router.get("/heatmap", responses=paged_responses("the entities, worst first"))
def heat_map(
    request: Request,
    timescale: str = Query("1h", description="One timescale."),
    resource: str = Query("cpu", description=f"One of {', '.join(RESOURCES)}."),
    threshold: float | None = Query(
        None,
        gt=0,
        le=MAX_THRESHOLD,
        allow_inf_nan=False,
        description=f"Utilization θ, above 0 and at most {MAX_THRESHOLD:g} [default: the resource's].",
    ),
    share: float | None = SHARE,
    page: int = Query(
        1, ge=1, le=operations.HEAT_MAP_MAX_PAGE, description="1-based page of entities, worst first."
    ),
    page_size: int = Query(50, ge=1, le=operations.HEAT_MAP_MAX_ROWS, description="Entities per page."),
    columns: int = Query(168, ge=1, le=operations.HEAT_MAP_MAX_COLUMNS, description="Windows per page."),
    end: str | None = Query(
        None, description="Show the windows up to the one holding this time [default: the latest]."
    ),
    format: Format = FORMAT,
    reader: Reader = Depends(open_reader),
) -> Response:
    """Entities × windows of one resource: mean utilization and the overload rule per cell, worst first.

    As CSV, one row per cell that has samples (`entity`, `window`, `mean_utilization`,
    `overloaded`), entities worst first and windows in time order; a gap (`null` in JSON) has no row."""
    settings = _settings(request)
    resource = check_resource(resource)
    result = reader.heat_map(
        timescale=check_timescale(timescale),
        resource=resource,
        threshold=settings.thresholds.get(resource) if threshold is None else threshold,
        share=settings.share if share is None else share,
        page=page,
        page_size=page_size,
        columns=columns,
        end=parse_utc_time(end, "end"),
    )
    headers = paging_headers(request, Page(page, page_size), result.entities)
    fields = ("entity", "window", "mean_utilization", "overloaded")
    return _answer(
        request, format, lambda: rows_csv(_heat_map_cells(result), fields), lambda: jsonable(result), headers
    )


def _heat_map_cells(result: HeatMap) -> list[dict]:
    """Return the cells of a heat map page that have samples, with the numbers of its JSON."""
    windows = jsonable(result.columns)
    return [
        {"entity": row.entity, "window": window, "mean_utilization": mean, "overloaded": str(hot).lower()}
        for row in result.rows
        for window, mean, hot in zip(windows, jsonable(row.utilization), row.overloaded, strict=True)
        if mean is not None
    ]


@router.get("/entities/{entity}/overload", responses=paged_responses("the windows, in time order"))
def entity_overload(
    request: Request,
    entity: str,
    timescale: str = Query("1h", description="One timescale."),
    threshold: str | None = THRESHOLDS,
    share: float | None = SHARE,
    page: Page = Depends(page_of),
    reader: Reader = Depends(open_reader),
) -> Response:
    """One entity's mean and max utilization per window of each resource, and which windows were
    overloaded; `unjudged` holds the used values of resources without a capacity.

    Paged over windows in time order: a page holds, for every resource, its windows among the
    page's window starts (`X-Total-Count` counts the starts any resource has); `windows` and
    `windows_overloaded` count all of them."""
    settings = _settings(request)
    result = operations.entity_overload(
        reader.store,
        entity,
        check_timescale(timescale),
        _thresholds(threshold, settings),
        settings.share if share is None else share,
    )
    windows = [item.window for item in result.resources] + [item.window for item in result.unjudged]
    starts = np.unique(np.concatenate(windows)) if windows else np.empty(0, "datetime64[ns]")
    shown = starts[page.rows]
    headers = paging_headers(request, page, len(starts))
    return JSONResponse(jsonable(_windows_among(result, shown)), headers=headers)


def _windows_among(result: EntityOverload, starts: np.ndarray) -> EntityOverload:
    """``result`` with each resource's windows cut to those starting at one of ``starts``."""

    def cut(item: Any, fields: tuple[str, ...]) -> Any:
        keep = np.isin(item.window, starts)
        return item._replace(**{name: getattr(item, name)[keep] for name in ("window", *fields)})

    return result._replace(
        resources=tuple(
            cut(item, ("mean_utilization", "max_utilization", "overloaded")) for item in result.resources
        ),
        unjudged=tuple(cut(item, ("mean_used", "max_used")) for item in result.unjudged),
    )


@router.get(
    "/operations",
    responses={
        200: {
            **paged_responses("the `stats` rows (with `histogram=true` and CSV: the histogram rows)")[200],
            "content": {
                "application/json": {"schema": OPERATION_TIMINGS_SCHEMA},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
def operation_timings(
    request: Request,
    timescale: str = Query("1h", description=f"Window length: {TIMESCALE_CHOICES}."),
    operation: str | None = Query(None, description="Only this operation, e.g. create [default: all]."),
    by: str | None = Query(None, description=f"Also group by {', '.join(GROUPINGS)}."),
    timeout: float = Query(
        DEFAULT_TIMEOUT_S,
        gt=0,
        le=MAX_DURATION_S,
        allow_inf_nan=False,
        description="Seconds after which an operation with no end has timed out (above 0).",
    ),
    bins: str | None = Query(
        None,
        description="Upper edges of the duration bins, comma-separated and increasing, in seconds or with "
        "a unit (ms, s, m, h, d, w), e.g. 1,10s,1m,5m,1h [default: 100ms,200ms,500ms,1s,2s,5s,10s,20s,"
        "1m,2m,5m,10m,20m,1h,2h,5h,10h,1d]. The first bin starts at 0 s, the last has no upper edge.",
    ),
    histogram: bool = Query(
        False,
        description="With CSV: one row per operation and bin (operation, lower_s, upper_s, success, "
        "error), paged, instead of the `stats` rows. JSON always holds the histogram, under `durations`.",
    ),
    format: Format = FORMAT,
    page: Page = Depends(page_of),
    reader: Reader = Depends(open_reader),
) -> Response:
    """Cloud operations per window from the notification bus: counts, failures, duration percentiles
    and the fleet's CPU utilization beside them, and how each operation's durations spread over
    log-spaced bins (`durations`): `stackmeter operations`. Paged over `stats` (over the histogram
    rows with `histogram=true` and CSV); the most frequent `failures` and `durations` come whole
    on every page."""
    timings = operations.operation_timings(
        reader.store,
        check_timescale(timescale),
        operation,
        by,
        timeout,
        duration_edges_s=parse_duration_edges(bins),
    )
    if histogram and _wants_csv(request, format):
        rows = duration_rows(timings)
        csv = rows_csv(page.of(rows), DURATION_COLUMNS)
        return PlainTextResponse(csv, media_type="text/csv", headers=paging_headers(request, page, len(rows)))
    headers = paging_headers(request, page, len(timings.stats))
    timings = timings._replace(stats=timings.stats.iloc[page.rows])
    return _answer(
        request,
        format,
        lambda: rows_csv(frame_records(timings.stats)),
        lambda: operation_timings_jsonable(timings),
        headers,
    )


@router.get("/deadletters", responses=paged_responses("the dead letters, latest first"))
def dead_letters(
    request: Request,
    format: Format = FORMAT,
    page: Page = Depends(page_of),
    reader: Reader = Depends(open_reader),
) -> Response:
    """Messages of the bus that could not be read as notifications, latest first, with where they
    came from and why: `stackmeter deadletters`. Paged over `latest`; a project token sees none."""
    # The store reads the latest n, so a page reads the pages before it too: a few MB at most.
    count, letters = operations.dead_letters(reader.store, page.number * page.size)
    headers = paging_headers(request, page, count)
    rows = dead_letter_rows(page.of(letters))
    return _answer(
        request,
        format,
        lambda: rows_csv(rows),
        lambda: jsonable({"dead_letters": count, "latest": rows}),
        headers,
    )
