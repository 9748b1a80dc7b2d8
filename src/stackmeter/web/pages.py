"""Dashboard pages: overview, heat map, entity, operations, login. Each calls one operation and renders a template."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qs, urlencode

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from stackmeter import operations
from stackmeter.analysis.operation_stats import GROUPINGS
from stackmeter.analysis.pairing import ACTIONS
from stackmeter.analysis.windows import window_end
from stackmeter.errors import ConfigError, StoreError
from stackmeter.export import (
    format_iso,
    format_minute,
    format_time,
    jsonable,
    operation_timings_jsonable,
    replay_jsonable,
    replay_rows,
    served_by_text,
)
from stackmeter.models import (
    COMPLETE_MIN_COVERAGE,
    DEFAULT_SEMANTICS,
    RESOURCES,
    SEMANTICS_PROFILES,
    TIMESCALE_BY_NAME,
    TIMESCALE_TABLE,
    TIMESCALES,
    HeatMap,
    OverloadReport,
)
from stackmeter.settings import Settings
from stackmeter.store import Store
from stackmeter.units import parse_utc_time
from stackmeter.web.charts import operation_chart_data
from stackmeter.web.controls import Controls, parse_int, parse_timeout_s
from stackmeter.web.overview import fleet_chart
from stackmeter.web.overview import matrix as overview_matrix

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
HEAT_MAP_ROWS = 50
# What the replay page compares unless asked: the two that take no decision steps, so the page
# opens at once; a migrating policy steps through every 5 minutes (about 2 s a PlanetLab day).
REPLAY_DEFAULT_POLICIES = ("npa", "dvfs")
# The policies the page offers to compare (any other can be asked in the URL).
REPLAY_OFFERED_POLICIES = (
    "npa",
    "dvfs",
    "thr-mmt-0.8",
    "thr-mmt-1.0",
    "iqr-mmt-1.5",
    "mad-mmt-2.5",
    "lr-mmt-1.2",
    "lrr-mmt-1.2",
    "lr-fit-1.1-cap0.75",
    "lr-fit-1.1-cap0.75-mem",
)
# Windows on one heat map page, per timescale.
HEAT_MAP_COLUMNS: Mapping[str, int] = MappingProxyType({t.name: t.heat_map_columns for t in TIMESCALE_TABLE})
COOKIE_MAX_AGE_S = 12 * 3600


class PageReader(Protocol):
    """What a page reads through (:class:`stackmeter.api.reader.Reader` is one)."""

    @property
    def store(self) -> Store:
        """The store, seeing only the project of the request's token when it is bound to one."""

    @property
    def access(self) -> object:
        """What the request's token grants; the page header shows its ``role`` and ``project``."""

    def overload_report(self, **params: Any) -> OverloadReport:
        """:func:`stackmeter.operations.overload_report` of ``store``, cached."""

    def heat_map(self, **params: Any) -> HeatMap:
        """:func:`stackmeter.operations.heat_map` of ``store``, cached."""


class DashboardState(NamedTuple):
    """What the pages need from the app serving them, found at ``app.state.dashboard``.

    :param open_reader: the request's :class:`PageReader`, closed on leaving the context;
        raises ``Unauthenticated`` for a request without a known token
    :param is_known_token: whether a token typed into the login form is valid
    :param cookie: name of the cookie that carries the token for the pages
    :param templates: from :func:`load_templates`
    """

    open_reader: Callable[[Request], AbstractContextManager[PageReader]]
    is_known_token: Callable[[Request, str], bool]
    cookie: str
    templates: Jinja2Templates


def load_templates() -> Jinja2Templates:
    """Return the pages' templates, with the filters they use (``number``, ``percent``, ``time``, ``minute``)."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(number=_number, percent=_percent, time=_time, minute=_minute)
    templates.env.filters["used"] = _used
    return templates


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _time(value: np.datetime64 | None) -> str:
    return format_time(value) or "-"


def _minute(value: np.datetime64 | None) -> str:
    """A time as the charts write it, ISO UTC 24 h to the minute: ``2013-08-01 14:00Z``."""
    return format_minute(value) or "-"


def _used(value: float | None, unit: str) -> str:
    """A used value in its unit, bytes with binary prefixes (``1.5 MiB/s``), as the entity charts write it."""
    if value is None or not math.isfinite(value):
        return "-"
    if unit not in ("bytes", "bytes/s"):
        return f"{value:.3g} {unit}"
    scaled, prefix = abs(value), 0
    while scaled >= 1024 and prefix < len(_BINARY_PREFIXES) - 1:
        scaled, prefix = scaled / 1024, prefix + 1
    digits = 1 if scaled < 10 and prefix else 0
    text = f"{'-' if value < 0 else ''}{scaled:.{digits}f} {_BINARY_PREFIXES[prefix]}"
    return text + "/s" if unit == "bytes/s" else text


_BINARY_PREFIXES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def script_json(value: object) -> str:
    """Return ``value`` as JSON to put inside a ``<script type="application/json">``: ``<``, ``>``
    and ``&`` are escaped (as ``\\u003c`` …), so no text in it, an entity name say, can close the
    script element."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _dashboard(request: Request) -> DashboardState:
    return request.app.state.dashboard


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _open_reader(request: Request) -> Iterator[PageReader]:
    """FastAPI dependency: the request's reader, closed when the response is sent."""
    with _dashboard(request).open_reader(request) as reader:
        yield reader


def _render(request: Request, template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("timescales", TIMESCALES)
    context.setdefault("resources", RESOURCES)
    # The header's sign-out link: only a browser that signed in through /login has a cookie to drop.
    context.setdefault("signed_in", _dashboard(request).cookie in request.cookies)
    return _dashboard(request).templates.TemplateResponse(request, template, context, status_code=status_code)


def render_error(request: Request, status: int, message: str, where: str | None = None) -> HTMLResponse:
    """Return an error page; for 401 it is the login form.

    :param where: the query parameter at fault, when known (named in the page's data)
    """
    if status == 401:
        return _render(request, "login.html", 401, message=message, next=request.url.path)
    return _render(request, "error.html", status, status=status, message=message, where=where)


page_router = APIRouter(tags=["dashboard"], include_in_schema=False)


@page_router.get("/", response_class=HTMLResponse)
def overview(request: Request, reader: PageReader = Depends(_open_reader)) -> HTMLResponse:
    settings = _settings(request)
    controls = Controls(request, settings, "all", "all")
    report = reader.overload_report(
        timescales=settings.timescales if controls.timescale == "all" else controls.timescale,
        resources=RESOURCES if controls.resource == "all" else (controls.resource,),
        thresholds=controls.thresholds,
        share=controls.share,
        top=settings.top,
        fleet=True,
    )
    # A chart timescale no longer shown (the form keeps it when the timescale changes) falls back.
    chart = request.query_params.get("chart")
    if chart not in report.timescales:
        chart = _default_chart(report.timescales)
    return _render(
        request,
        "overview.html",
        report=report,
        matrix=overview_matrix(report),
        chart=chart,
        chart_data=script_json(fleet_chart(report, chart)),
        chart_cells=[cell for cell in report.cells if cell.timescale == chart],
        complete_min_coverage=COMPLETE_MIN_COVERAGE,
        served_by=served_by_text(report),
        controls=controls,
        access=reader.access,
        # Nothing the token may see: say so (and what to do) instead of rows of zeros.
        empty=not any(cell.entities for cell in report.cells),
    )


def _default_chart(timescales: tuple[str, ...]) -> str:
    """The fleet chart's timescale unless asked: days when shown, else the coarsest shown."""
    return "1d" if "1d" in timescales else timescales[-1]


@page_router.get("/heatmap", response_class=HTMLResponse)
def heat_map(request: Request, reader: PageReader = Depends(_open_reader)) -> HTMLResponse:
    controls = Controls(request, _settings(request), "1h", "cpu")
    if "all" in (controls.timescale, controls.resource):
        raise ConfigError("the heat map shows one timescale and one resource: choose them")
    query = request.query_params
    result = reader.heat_map(
        timescale=controls.timescale,
        resource=controls.resource,
        threshold=controls.thresholds[controls.resource],
        share=controls.share,
        page=parse_int(query.get("page"), "page", 1, 1, operations.HEAT_MAP_MAX_PAGE),
        page_size=parse_int(query.get("rows"), "rows", HEAT_MAP_ROWS, 1, operations.HEAT_MAP_MAX_ROWS),
        columns=HEAT_MAP_COLUMNS[controls.timescale],
        end=parse_utc_time(query.get("end") or None, "end"),
    )
    starts = np.array(result.columns, dtype="datetime64[ns]")
    cells = {
        "timescale": result.timescale,
        "threshold": result.threshold,
        "share": result.share,
        # The window's length, so the axis can label round times (midnights, Mondays, Januaries).
        "window_s": TIMESCALE_BY_NAME[result.timescale].nominal_s,
        "offset_s": TIMESCALE_BY_NAME[result.timescale].offset_s,
        "months": TIMESCALE_BY_NAME[result.timescale].months,
        "columns": jsonable(result.columns),
        # Where each window ends (calendar months vary), for the hover's "start–end".
        "ends": jsonable(tuple(window_end(starts, result.timescale))),
        "rows": [
            {
                "entity": row.entity,
                "u": jsonable(row.utilization),
                "o": [int(hot) for hot in row.overloaded],
                "n": list(row.samples),
                "h": list(row.at_or_above),
            }
            for row in result.rows
        ],
    }
    pages_count = max(1, math.ceil(result.entities / result.page_size))
    return _render(
        request,
        "heatmap.html",
        heat=result,
        controls=controls,
        access=reader.access,
        pages=pages_count,
        earlier=_shift(result, -1),
        later=_shift(result, 1),
        cells=script_json(cells),
    )


@page_router.get("/entity/{entity}", response_class=HTMLResponse)
def entity(request: Request, entity: str, reader: PageReader = Depends(_open_reader)) -> HTMLResponse:
    controls = Controls(request, _settings(request), "1h", "all")
    if controls.timescale == "all":
        raise ConfigError("the entity page shows one timescale: choose it")
    result = operations.entity_overload(
        reader.store, entity, controls.timescale, controls.thresholds, controls.share
    )
    charts = [
        {
            "resource": item.resource,
            "threshold": item.threshold,
            "window": [
                int(ts) // 1_000_000_000 for ts in item.window.astype("datetime64[ns]").astype("int64")
            ],
            "mean": [_rounded(u) for u in item.mean_utilization.tolist()],
            "max": [_rounded(u) for u in item.max_utilization.tolist()],
            "overloaded": jsonable(item.overloaded),
        }
        for item in result.resources
    ]
    used = [
        {
            "resource": item.resource,
            "unit": item.used_unit,
            "window": _seconds(item.window),
            "mean": jsonable(item.mean_used),
            "max": jsonable(item.max_used),
        }
        for item in result.unjudged
    ]
    windows = [item.window for item in result.resources] + [item.window for item in result.unjudged]
    span = _span_s(np.concatenate(windows) if windows else np.empty(0, "datetime64[ns]"), controls.timescale)
    return _render(
        request,
        "entity.html",
        result=result,
        controls=controls,
        access=reader.access,
        charts=script_json({"judged": charts, "unjudged": used, "span": span}),
    )


def _seconds(times: np.ndarray) -> list[int]:
    """Times as whole seconds since 1970 UTC (what the charts plot)."""
    return times.astype("datetime64[s]").astype(np.int64).tolist()


def _span_s(window: np.ndarray, timescale: str) -> list[int]:
    """The time the charts' x-axis spans, in seconds: from the first window's start to the last one's
    end, so that a single window fills the axis instead of sitting in years of padding, and every
    chart of a page lines up with the others."""
    if not window.size:
        return []
    return _seconds(np.array([window.min(), window_end(np.array([window.max()]), timescale)[0]]))


# Rows of the operations page's table per page unless asked (``page_size``), and the most it takes:
# the table holds one row per window and operation, 6,545 of them at 1h over a month of a busy bus.
OPERATION_ROWS = 100
OPERATION_MAX_ROWS = 1_000
OPERATION_MAX_PAGE = 1_000_000


@page_router.get("/operations", response_class=HTMLResponse)
def operation_timings(request: Request, reader: PageReader = Depends(_open_reader)) -> HTMLResponse:
    query = request.query_params
    page_size = parse_int(query.get("page_size"), "page_size", OPERATION_ROWS, 1, OPERATION_MAX_ROWS)
    page = parse_int(query.get("page"), "page", 1, 1, OPERATION_MAX_PAGE)
    timings = operations.operation_timings(
        reader.store,
        query.get("timescale") or "1h",
        query.get("operation") or None,
        query.get("by") or None,
        parse_timeout_s(query.get("timeout")),
    )
    stats = timings.stats
    pages = max(1, math.ceil(len(stats) / page_size))
    if page > pages:
        raise ConfigError(
            f"page {page} is past the last page, {pages} ({len(stats)} rows, {page_size} a page)", "page"
        )
    first = (page - 1) * page_size
    # The table shows one page of rows; the charts, durations and failures are of every row.
    result = operation_timings_jsonable(timings._replace(stats=stats.iloc[first : first + page_size]))
    # Grouped rows (per host, …) would need a line per group: the charts show ungrouped views.
    chart = None if timings.by else _chart_rounded(operation_chart_data(stats, timings.operation))
    return _render(
        request,
        "operations.html",
        timings=timings._replace(as_of=_as_of_text(timings.as_of)),
        rows=result["stats"],
        failures=result["failures"],
        actions=sorted(ACTIONS),
        groupings=GROUPINGS,
        chart=script_json(chart) if chart else None,
        access=reader.access,
        paging=_operation_paging(query, page, page_size, pages, len(stats)),
    )


def _chart_rounded(chart: dict | None) -> dict | None:
    """The operations charts' series to 6 significant digits: far finer than a pixel or the hover's
    "4.3 s" and "12.5%", and half the bytes of a double's 17 (a month of 5m windows is 8,640 per line)."""

    def rounded(values: list[float | None]) -> list[float | None]:
        return [None if v is None else float(f"{v:.6g}") for v in values]

    if chart is None:
        return None
    return {
        **chart,
        "durations": [{**line, "values": rounded(line["values"])} for line in chart["durations"]],
        "failure": rounded(chart["failure"]),
        "cpu": rounded(chart["cpu"]),
    }


def _operation_paging(query: Mapping[str, str], page: int, page_size: int, pages: int, total: int) -> dict:
    """What the operations page's pager shows: the rows of this page, and links to the pages
    around it that keep the page's other choices."""

    def link(number: int) -> str:
        kept = {key: value for key, value in query.items() if value and key != "page"}
        return "/operations?" + urlencode({**kept, "page": number})

    first = (page - 1) * page_size
    return {
        "page": page,
        "pages": pages,
        "page_size": page_size,
        "max_page_size": OPERATION_MAX_ROWS,
        "total": total,
        "first_row": first + 1 if total else 0,
        "last_row": min(first + page_size, total),
        # "first" and "last" only where they lead elsewhere than "previous" and "next"
        "first": link(1) if page > 2 else None,
        "previous": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < pages else None,
        "next_rows": min(page_size, total - page * page_size),
        "last": link(pages) if page < pages - 1 else None,
        "last_rows": total - (pages - 1) * page_size,
    }


def _as_of_text(as_of: np.datetime64 | None) -> Any:
    """The page's "as of" (``2026-03-02 10:00:00+00:00``), put in the record it shows."""
    return None if as_of is None else format_iso(as_of, sep=" ")


@page_router.get("/replay", response_class=HTMLResponse)
def replay(request: Request, reader: PageReader = Depends(_open_reader)) -> HTMLResponse:
    query = request.query_params
    policies = [text for text in query.getlist("policy") if text.strip()] or list(REPLAY_DEFAULT_POLICIES)
    semantics = query.get("semantics") or DEFAULT_SEMANTICS
    fleet = query.get("fleet") or operations.DEFAULT_FLEET
    if fleet not in operations.shipped_fleets():
        raise ConfigError(f"no fleet {fleet!r}: use one of {', '.join(operations.shipped_fleets())}", "fleet")
    start = parse_utc_time(query.get("from") or None, "from")
    end = parse_utc_time(query.get("to") or None, "to")
    # A consolidation run in the store (`stackmeter ingest neat`): what it measured on its real
    # hosts goes beside the replay, which then covers the run's window unless asked otherwise.
    runs = reader.store.read_consolidation_runs()
    run = query.get("run") or (runs[0] if runs else None)
    measured = operations.measured_run(reader.store, run) if runs or run else None
    if measured is not None:
        start = measured.window_start if start is None else start
        end = measured.window_end if end is None else end
    try:
        report = operations.replay_store(reader.store, policies, fleet, semantics, start, end)
    except StoreError as exc:
        if "nothing to replay" not in str(exc):
            raise
        report = None
    return _render(
        request,
        "replay.html",
        report=report,
        rows=replay_rows(report) if report else [],
        policies=policies,
        offered=tuple(dict.fromkeys((*REPLAY_OFFERED_POLICIES, *policies))),
        semantics=semantics,
        profiles=tuple(SEMANTICS_PROFILES),
        fleet=fleet,
        fleets=operations.shipped_fleets(),
        measured=measured,
        runs=runs,
        start=query.get("from") or "",
        end=query.get("to") or "",
        chart=script_json(replay_jsonable(report, steps=True)) if report else None,
        access=reader.access,
    )


@page_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    query = request.query_params
    return _render(
        request, "login.html", message=None, next=query.get("next", "/"), signed_out="out" in query
    )


@page_router.post("/login")
async def login(request: Request) -> Response:
    # A body that is not UTF-8 carries no known token: read it as such, never fail on it.
    body = (await request.body()).decode("utf-8", "replace")
    form = {key: values[0] for key, values in parse_qs(body).items()}
    target = form.get("next", "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    dashboard = _dashboard(request)
    if not dashboard.is_known_token(request, form.get("token", "")):
        return _render(request, "login.html", 401, message="unknown token", next=target)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        dashboard.cookie,
        form["token"],
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@page_router.get("/logout")
def logout(request: Request) -> Response:
    """Drop the pages' cookie and go back to the login form, which says so."""
    response = RedirectResponse("/login?out", status_code=303)
    response.delete_cookie(_dashboard(request).cookie)
    return response


def _rounded(utilization: float | None) -> float | None:
    """Utilization to a hundredth of a percent: enough for a colour or a pixel, and a smaller page."""
    return None if utilization is None or math.isnan(utilization) else round(utilization, 4)


def _shift(result: HeatMap, direction: int) -> str | None:
    """Return the ``end`` of the page of windows before (-1) or after (+1) this one; ``None`` at an edge."""
    columns, first, last = result.columns, result.first_window, result.last_window
    if not columns or first is None or last is None:
        return None
    if direction < 0:
        return None if columns[0] <= first else format_time(columns[0] - np.timedelta64(1, "s"))
    if columns[-1] >= last or len(columns) < 2:
        return None
    return format_time(columns[-1] + (columns[-1] - columns[0]) + (columns[-1] - columns[-2]))
