"""The ``/api/v1`` routes: each parses its parameters, calls one operation and formats the result."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from stackmeter import operations
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S
from stackmeter.api.reader import Reader, open_reader
from stackmeter.formatting import (
    frame_records,
    jsonable,
    operation_timings_jsonable,
    overload_csv,
    quantile_rows,
    rows_csv,
    series_rows,
)
from stackmeter.models import RESOURCES
from stackmeter.settings import Settings, parse_thresholds
from stackmeter.units import parse_utc_time

router = APIRouter(prefix="/api/v1", tags=["api"])
Format = Literal["json", "csv"] | None
FORMAT = Query(None, description="json or csv; without it, CSV when the Accept header asks for text/csv.")


def _wants_csv(request: Request, format: Format) -> bool:
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv(text: str) -> Response:
    return PlainTextResponse(text, media_type="text/csv")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


@router.get("/overload")
def overload(
    request: Request,
    timescale: str | None = Query(None, description="Comma-separated timescales [default: 5m,1h,1d,1w,1mo]."),
    resource: str = Query(",".join(RESOURCES), description="Comma-separated resources."),
    threshold: str | None = Query(
        None, description="Utilization θ per resource, e.g. cpu=0.9,memory=0.95 (others keep their default)."
    ),
    share: float | None = Query(
        None, description="Share s of a window's samples ≥ θ that makes it overloaded [default: 0.05]."
    ),
    top: int | None = Query(None, description="How many worst entities to list [default: 10]."),
    from_raw: bool = Query(False, description="Read raw samples, not the rollup levels."),
    format: Format = FORMAT,
    reader: Reader = Depends(open_reader),
):
    """How many entities are overloaded, per timescale and resource, and which: `stackmeter overload`.

    `served_by` says which rollup level (or raw samples) served each timescale."""
    settings = _settings(request)
    report = reader.overload_report(
        timescales=timescale or settings.timescales,
        resources=tuple(name.strip() for name in resource.split(",") if name.strip()),
        thresholds=parse_thresholds(threshold or "", settings.thresholds),
        share=settings.share if share is None else share,
        top=settings.top if top is None else top,
        from_raw=from_raw,
    )
    if _wants_csv(request, format):
        return _csv(overload_csv(report))
    return JSONResponse(jsonable(report))


@router.get("/quantile")
def quantile(
    request: Request,
    entity: str | None = Query(None, description="One entity [default: every entity the token may see]."),
    resource: str = Query("cpu", description=f"One of {', '.join(RESOURCES)}."),
    q: float = Query(0.95, description="The quantile, from 0 to 1."),
    timescale: str = Query("1d", description="Window length: 5m, 1h, 1d, 1w or 1mo."),
    from_raw: bool = Query(False, description="Exact, from raw samples, not the rollup levels."),
    format: Format = FORMAT,
    reader: Reader = Depends(open_reader),
):
    """Quantile of utilization per entity and window, within one 1 % bin from rollups:
    `stackmeter quantile`."""
    report = operations.utilization_quantiles(reader.store, resource, q, timescale, entity, from_raw)
    if _wants_csv(request, format):
        return _csv(rows_csv(quantile_rows(report)))
    return JSONResponse(jsonable(report))


@router.get("/entities")
def entities(request: Request, format: Format = FORMAT, reader: Reader = Depends(open_reader)):
    """The entities the token may see, with resources, sample counts and time span: `stackmeter entities`."""
    rows = operations.list_entities(reader.store)
    if _wants_csv(request, format):
        return _csv(
            rows_csv(rows, ("entity", "kind", "project", "resources", "samples", "first_ts", "last_ts"))
        )
    return JSONResponse(jsonable(rows))


@router.get("/series/{entity}")
def series(
    request: Request,
    entity: str,
    resource: str = Query("cpu", description=f"One of {', '.join(RESOURCES)}."),
    start: str | None = Query(
        None, alias="from", description="First time (UTC, inclusive), e.g. 2013-08-01."
    ),
    end: str | None = Query(None, alias="to", description="Last time (UTC, exclusive)."),
    format: Format = FORMAT,
    reader: Reader = Depends(open_reader),
):
    """One entity's samples of one resource: `stackmeter series`."""
    samples = operations.read_series(
        reader.store, entity, resource, parse_utc_time(start, "from"), parse_utc_time(end, "to")
    )
    rows = series_rows(samples)
    if _wants_csv(request, format):
        return _csv(rows_csv(rows, ("ts", "used", "capacity", "utilization")))
    return JSONResponse(jsonable({"entity": entity, "resource": resource, "samples": rows}))


@router.get("/status")
def status(reader: Reader = Depends(open_reader)):
    """Size and freshness of the store: entities and samples the token may see, batches, last write.

    The store's location is shown to admin tokens only.
    """
    result = operations.store_status(reader.store)
    if reader.access.role != "admin":
        result = result._replace(location=None)
    return JSONResponse(jsonable(result))


@router.get("/heatmap")
def heat_map(
    request: Request,
    timescale: str = Query("1h", description="One timescale."),
    resource: str = Query("cpu", description=f"One of {', '.join(RESOURCES)}."),
    threshold: float | None = Query(None, description="Utilization θ [default: the resource's]."),
    share: float | None = Query(None, description="Share s [default: 0.05]."),
    page: int = Query(1, description="1-based page of entities, worst first."),
    page_size: int = Query(50, description=f"Entities per page, at most {operations.HEAT_MAP_MAX_ROWS}."),
    columns: int = Query(168, description=f"Windows per page, at most {operations.HEAT_MAP_MAX_COLUMNS}."),
    end: str | None = Query(
        None, description="Show the windows up to the one holding this time [default: the latest]."
    ),
    reader: Reader = Depends(open_reader),
):
    """Entities × windows of one resource: mean utilization and the overload rule per cell, worst first."""
    settings = _settings(request)
    result = reader.heat_map(
        timescale=timescale,
        resource=resource,
        threshold=settings.thresholds.get(resource) if threshold is None else threshold,
        share=settings.share if share is None else share,
        page=page,
        page_size=page_size,
        columns=columns,
        end=parse_utc_time(end, "end"),
    )
    return JSONResponse(jsonable(result))


@router.get("/entities/{entity}/overload")
def entity_overload(
    request: Request,
    entity: str,
    timescale: str = Query("1h", description="One timescale."),
    threshold: str | None = Query(None, description="Utilization θ per resource, e.g. cpu=0.9."),
    share: float | None = Query(None, description="Share s [default: 0.05]."),
    reader: Reader = Depends(open_reader),
):
    """One entity's mean and max utilization per window of each resource, and which windows were overloaded."""
    settings = _settings(request)
    result = operations.entity_overload(
        reader.store,
        entity,
        timescale,
        parse_thresholds(threshold or "", settings.thresholds),
        settings.share if share is None else share,
    )
    return JSONResponse(jsonable(result))


@router.get("/operations")
def operation_timings(
    request: Request,
    timescale: str = Query("1h", description="Window length: 5m, 1h, 1d, 1w or 1mo."),
    operation: str | None = Query(None, description="Only this operation, e.g. create [default: all]."),
    by: str | None = Query(None, description="Also group by host, flavor or project."),
    timeout: float = Query(
        DEFAULT_TIMEOUT_S, description="Seconds after which an operation with no end has timed out."
    ),
    format: Format = FORMAT,
    reader: Reader = Depends(open_reader),
):
    """Cloud operations per window from the notification bus: counts, failures, duration percentiles
    and the fleet's CPU utilization beside them: `stackmeter operations`."""
    timings = operations.operation_timings(reader.store, timescale, operation, by, timeout)
    if _wants_csv(request, format):
        return _csv(rows_csv(frame_records(timings.stats)))
    return JSONResponse(operation_timings_jsonable(timings))
