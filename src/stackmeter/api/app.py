"""``create_app``: the FastAPI app serving the API and the dashboard over one store."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from stackmeter.api.auth import TOKEN_COOKIE, Token, Unauthenticated, authenticate, load_tokens
from stackmeter.api.reader import ReportCache, access_of, reader_of
from stackmeter.api.routes import ErrorBody, router
from stackmeter.errors import ConfigError, StackmeterError, StoreError, UnknownEntity
from stackmeter.settings import Settings
from stackmeter.store import Store, open_store
from stackmeter.web import STATIC_DIR, DashboardState, load_templates, page_router, render_error

log = logging.getLogger("stackmeter.api")


def create_app(
    settings: Settings, store: Store | None = None, tokens: tuple[Token, ...] | None = None
) -> FastAPI:
    """Return the app serving ``/api/v1``, the dashboard and OpenAPI at ``/docs``.

    :param store: the store to serve; opened from ``settings.store`` (and closed at shutdown) when omitted
    :param tokens: the tokens accepted; loaded from ``settings`` when omitted. With none, every
        request may read everything, so the server must listen on loopback only
        (see :func:`stackmeter.api.auth.check_bind`).
    """
    tokens = load_tokens(settings) if tokens is None else tokens
    owned = store is None
    served = open_store(settings.store, create=False) if store is None else store

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            served.close()

    app = FastAPI(
        title="stackmeter",
        version=version("stackmeter"),
        summary="How a private cloud really uses its capacity: overload per timescale and resource.",
        lifespan=lifespan,
        docs_url=None,  # served from vendored files below, so /docs works offline
        redoc_url=None,
        openapi_url=None,  # served below, behind the token rule of every route
    )
    app.state.settings = settings
    app.state.store = served
    app.state.tokens = tokens
    app.state.cache = ReportCache(settings.report_cache)
    app.state.reader_lock = threading.Lock()
    app.state.dashboard = DashboardState(reader_of, _is_known_token, TOKEN_COOKIE, load_templates())
    app.include_router(router)
    app.include_router(page_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_route(OPENAPI_URL, _openapi, include_in_schema=False)
    app.add_route("/docs", _swagger_ui, include_in_schema=False)
    for error, status in ERROR_STATUS.items():
        app.add_exception_handler(error, _handler(status))
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    # Anything else is a bug: answered with the same body (and logged), never a bare traceback page.
    app.add_exception_handler(Exception, _unexpected)
    return app


# One status per error class; the most specific class that matches wins.
ERROR_STATUS: dict[type[Exception], int] = {
    Unauthenticated: 401,
    UnknownEntity: 404,
    ConfigError: 422,
    StoreError: 503,
    StackmeterError: 500,
}


OPENAPI_URL = "/openapi.json"

# Values quoted in an error are cut to this many characters: the detail says what, not all of it.
QUOTED_CHARS = 40


def _error(
    request: Request,
    status: int,
    code: str,
    detail: str,
    where: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Return the error as :class:`ErrorBody` JSON under ``/api/``, else as the dashboard's error page."""
    if not (request.url.path.startswith("/api/") or request.url.path == OPENAPI_URL):
        page = render_error(request, status, detail, where)
        page.headers.update(headers or {})
        return page
    body = ErrorBody(error=code, detail=detail, where=where)
    return JSONResponse(body.model_dump(), status, headers=headers)


def _handler(status: int) -> Callable[[Request, Exception], Response]:
    def handle(request: Request, exc: Exception) -> Response:
        if status == 401:
            # Say why, never with what: the token itself is not logged.
            log.warning("401 %s %s from %s: %s", request.method, request.url.path, _client(request), exc)
        elif status >= 500:
            log.error("%s %s %s: %s", status, request.method, request.url.path, exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return _error(request, status, type(exc).__name__, str(exc), getattr(exc, "where", None), headers)

    return handle


def _invalid_request(request: Request, exc: Exception) -> Response:
    """422 ``ValidationError``: a parameter FastAPI could not read as its type and bounds."""
    assert isinstance(exc, RequestValidationError)  # the only class this handles
    problems, where = [], None
    for error in exc.errors():
        location = error.get("loc", ())
        name = str(location[-1]) if len(location) > 1 else "request"
        if where is None and len(location) > 1 and location[0] in ("query", "path"):
            where = name
        got = f", got {str(error['input'])[:QUOTED_CHARS]!r}" if isinstance(error.get("input"), str) else ""
        problems.append(f"{name}: {error['msg']}{got}")
    return _error(request, 422, "ValidationError", "; ".join(problems), where)


def _http_error(request: Request, exc: Exception) -> Response:
    """An HTTP error raised by routing or static files: 404 ``NotFound``, 405 ``MethodNotAllowed``, …"""
    assert isinstance(exc, HTTPException)  # the only class this handles
    code = HTTPStatus(exc.status_code).phrase.title().replace(" ", "").replace("-", "")
    if exc.status_code == 404 and request.url.path.startswith("/api/"):
        detail = f"no route {request.url.path}; the routes are listed at /docs"
    else:
        detail = str(exc.detail)
    return _error(request, exc.status_code, code, detail, headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> Response:
    """500 ``InternalError``: the details go to the log, not to the client."""
    log.error("500 %s %s", request.method, request.url.path, exc_info=exc)
    return _error(request, 500, "InternalError", "internal error; the server log has the details")


async def _openapi(request: Request) -> JSONResponse:
    """The OpenAPI schema, to a request with a token as every route asks (FastAPI's own route, gated)."""
    access_of(request)  # raises Unauthenticated: a 401 like any route's
    schema = request.app.openapi()
    root = request.scope.get("root_path", "").rstrip("/")
    if root and root not in {server.get("url") for server in schema.get("servers", [])}:
        schema = {**schema, "servers": [{"url": root}, *schema.get("servers", [])]}
    return JSONResponse(schema)


async def _swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, its script and style from ``/static/vendor``: nothing from a CDN.

    Without a token it is the login form (401), which comes back here once signed in."""
    access_of(request)
    root = request.scope.get("root_path", "").rstrip("/")
    page = get_swagger_ui_html(
        openapi_url=root + OPENAPI_URL,
        title="stackmeter API",
        swagger_js_url=f"{root}/static/vendor/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/vendor/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/vendor/favicon-32x32.png",
        oauth2_redirect_url=None,
        # No badge from the online validator: the page asks nothing of another site.
        swagger_ui_parameters={"validatorUrl": None},
    )
    # The page's language, and darker shades of Swagger's colours for contrast (axe-core checks both).
    html = bytes(page.body).decode().replace("<html>", '<html lang="en">', 1)
    overrides = f'<link type="text/css" rel="stylesheet" href="{root}/static/swagger-overrides.css">'
    html = html.replace("</head>", overrides + "\n</head>", 1)
    return HTMLResponse(html, status_code=page.status_code)


def _is_known_token(request: Request, secret: str) -> bool:
    try:
        authenticate(request.app.state.tokens, secret)
    except Unauthenticated:
        return False
    return True


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"
