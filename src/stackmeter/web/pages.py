"""Dashboard pages: overview, heat map, entity, operations, login. Each calls one operation and renders a template."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from stackmeter import operations
from stackmeter.analysis.operation_stats import GROUPINGS
from stackmeter.analysis.overload import check_share, check_threshold
from stackmeter.analysis.pairing import ACTIONS, DEFAULT_TIMEOUT_S
from stackmeter.errors import ConfigError
from stackmeter.formatting import format_time, jsonable, operation_timings_jsonable, served_by_text
from stackmeter.models import MAX_DURATION_S, RESOURCES, TIMESCALES
from stackmeter.settings import Settings, parse_thresholds
from stackmeter.units import parse_utc_time

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
HEAT_MAP_ROWS = 50
# The last heat map page one may ask for (of the pages and of the API): far past any fleet.
HEAT_MAP_COLUMNS = {"5m": 288, "1h": 168, "1d": 92, "1w": 104, "1mo": 120}
COOKIE_MAX_AGE_S = 12 * 3600


def _number(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


templates.env.filters.update(number=_number, percent=_percent, time=lambda value: format_time(value) or "-")


class Controls:
    """The choices a page was asked for, parsed from its query string, and links that keep them."""

    def __init__(self, request: Request, settings: Settings, timescale: str, resource: str):
        query = request.query_params
        self.path = request.url.path
        self.timescale = query.get("timescale") or timescale
        self.resource = query.get("resource") or resource
        if self.timescale not in (*TIMESCALES, "all"):
            raise ConfigError(
                f"timescale {self.timescale!r} is not one of {', '.join(TIMESCALES)}", "timescale"
            )
        if self.resource not in (*RESOURCES, "all"):
            raise ConfigError(f"resource {self.resource!r} is not one of {', '.join(RESOURCES)}", "resource")
        # θ as the API and the CLI take it (cpu=0.9,memory=0.95), then the form's field per resource
        self.thresholds = dict(settings.thresholds)
        if query.get("threshold"):
            self.thresholds = parse_thresholds(query["threshold"], settings.thresholds)
        for name in RESOURCES:
            key = f"threshold_{name}"
            if query.get(key):
                self.thresholds[name] = _named(key, check_threshold, name, _float(query[key], key))
        self.share = settings.share
        if query.get("share"):
            self.share = check_share(_float(query["share"], "share"))
        self.query = {key: value for key, value in query.items() if value}

    def link(self, path: str | None = None, **changes) -> str:
        """Return a URL to ``path`` (this page by default) with these choices and ``changes``
        (a change to ``None`` drops that choice)."""
        query = dict(self.query)
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = str(value)
        return (path or self.path) + ("?" + urlencode(query) if query else "")


def _named(where: str, check: Callable, *args):
    """Return ``check(*args)``; the :class:`ConfigError` it raises names the parameter ``where``."""
    try:
        return check(*args)
    except ConfigError as exc:
        raise ConfigError(str(exc), where) from exc


def _float(text: str, name: str) -> float:
    """Return the finite number ``text`` (NaN, ±inf and ``1e999`` are refused, naming ``name``)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a number", name) from exc
    if not math.isfinite(value):
        raise ConfigError(f"{name}: {text!r} is not a finite number", name)
    return value


def _int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """Return the whole number ``text`` from ``low`` to ``high`` (``default`` when empty)."""
    if not text:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a whole number", name) from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high}, got {text}", name)
    return value


def _timeout_s(text: str | None) -> float:
    if not text:
        return DEFAULT_TIMEOUT_S
    timeout_s = _float(text, "timeout")
    if not 0 < timeout_s <= MAX_DURATION_S:
        raise ConfigError(
            f"timeout must be above 0 and at most {MAX_DURATION_S:g} seconds, got {text}", "timeout"
        )
    return timeout_s


def _render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    context.setdefault("timescales", TIMESCALES)
    context.setdefault("resources", RESOURCES)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def render_error(request: Request, status: int, message: str, where: str | None = None) -> HTMLResponse:
    """Return an error page; for 401 it is the login form.

    :param where: the query parameter at fault, when known (named in the page's data)
    """
    if status == 401:
        return _render(request, "login.html", 401, message=message, next=request.url.path)
    return _render(request, "error.html", status, status=status, message=message, where=where)


def build_pages(
    open_reader: Callable, is_known_token: Callable[[Request, str], bool], cookie: str
) -> APIRouter:
    """Return the dashboard's routes.

    :param open_reader: FastAPI dependency giving the request's project-scoped reader (with
        ``store``, ``access``, ``overload_report(...)`` and ``heat_map(...)``)
    :param is_known_token: whether a token typed into the login form is valid
    :param cookie: name of the cookie that carries the token for the pages
    """
    pages = APIRouter(tags=["dashboard"], include_in_schema=False)

    @pages.get("/", response_class=HTMLResponse)
    def overview(request: Request, reader=Depends(open_reader)):
        settings = request.app.state.settings
        controls = Controls(request, settings, "all", "all")
        report = reader.overload_report(
            timescales=settings.timescales if controls.timescale == "all" else controls.timescale,
            resources=RESOURCES if controls.resource == "all" else (controls.resource,),
            thresholds=controls.thresholds,
            share=controls.share,
            top=settings.top,
        )
        return _render(
            request,
            "overview.html",
            report=report,
            served_by=served_by_text(report),
            controls=controls,
            access=reader.access,
        )

    @pages.get("/heatmap", response_class=HTMLResponse)
    def heat_map(request: Request, reader=Depends(open_reader)):
        controls = Controls(request, request.app.state.settings, "1h", "cpu")
        if "all" in (controls.timescale, controls.resource):
            raise ConfigError("the heat map shows one timescale and one resource: choose them")
        query = request.query_params
        result = reader.heat_map(
            timescale=controls.timescale,
            resource=controls.resource,
            threshold=controls.thresholds[controls.resource],
            share=controls.share,
            page=_int(query.get("page"), "page", 1, 1, operations.HEAT_MAP_MAX_PAGE),
            page_size=_int(query.get("rows"), "rows", HEAT_MAP_ROWS, 1, operations.HEAT_MAP_MAX_ROWS),
            columns=HEAT_MAP_COLUMNS[controls.timescale],
            end=parse_utc_time(query.get("end") or None, "end"),
        )
        cells = {
            "columns": jsonable(result.columns),
            "rows": [
                {
                    "entity": row.entity,
                    "u": jsonable(row.utilization),
                    "o": [int(hot) for hot in row.overloaded],
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
            cells=json.dumps(cells),
        )

    @pages.get("/entity/{entity}", response_class=HTMLResponse)
    def entity(request: Request, entity: str, reader=Depends(open_reader)):
        controls = Controls(request, request.app.state.settings, "1h", "all")
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
        return _render(
            request,
            "entity.html",
            result=result,
            controls=controls,
            access=reader.access,
            charts=json.dumps(charts),
        )

    @pages.get("/operations", response_class=HTMLResponse)
    def operation_timings(request: Request, reader=Depends(open_reader)):
        query = request.query_params
        timings = operations.operation_timings(
            reader.store,
            query.get("timescale") or "1h",
            query.get("operation") or None,
            query.get("by") or None,
            _timeout_s(query.get("timeout")),
        )
        result = operation_timings_jsonable(timings)
        chart = None
        if timings.operation and not timings.by and len(timings.stats):
            stats = timings.stats
            chart = {
                "window": (stats["window"].astype("int64") // 1_000_000_000).tolist(),
                "p50": jsonable(stats["p50_s"].tolist()),
                "p95": jsonable(stats["p95_s"].tolist()),
                "cpu": jsonable(stats["fleet_cpu_utilization"].tolist()),
            }
        return _render(
            request,
            "operations.html",
            timings=timings,
            rows=result["stats"],
            failures=result["failures"],
            actions=sorted(ACTIONS),
            groupings=GROUPINGS,
            chart=json.dumps(chart) if chart else None,
            access=reader.access,
        )

    @pages.get("/login", response_class=HTMLResponse)
    def login_form(request: Request):
        return _render(request, "login.html", message=None, next=request.query_params.get("next", "/"))

    @pages.post("/login")
    async def login(request: Request) -> Response:
        # A body that is not UTF-8 carries no known token: read it as such, never fail on it.
        body = (await request.body()).decode("utf-8", "replace")
        form = {key: values[0] for key, values in parse_qs(body).items()}
        target = form.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        if not is_known_token(request, form.get("token", "")):
            return _render(request, "login.html", 401, message="unknown token", next=target)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            cookie,
            form["token"],
            max_age=COOKIE_MAX_AGE_S,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @pages.get("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(cookie)
        return response

    return pages


def _rounded(utilization: float | None) -> float | None:
    """Utilization to a hundredth of a percent: enough for a colour or a pixel, and a smaller page."""
    return None if utilization is None or math.isnan(utilization) else round(utilization, 4)


def _shift(result, direction: int) -> str | None:
    """Return the ``end`` of the page of windows before (-1) or after (+1) this one; ``None`` at an edge."""
    columns = result.columns
    if not columns:
        return None
    if direction < 0:
        return None if columns[0] <= result.first_window else format_time(columns[0] - np.timedelta64(1, "s"))
    if columns[-1] >= result.last_window or len(columns) < 2:
        return None
    return format_time(columns[-1] + (columns[-1] - columns[0]) + (columns[-1] - columns[-2]))
