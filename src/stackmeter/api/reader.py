"""What one request reads through: a store cursor scoped to its token's project, and cached reports."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import Request
from fastapi.security import HTTPBearer

from stackmeter import operations
from stackmeter.api.auth import TOKEN_COOKIE, Access, authenticate
from stackmeter.models import EntitySummary, HeatMap, OverloadReport
from stackmeter.store import Store

T = TypeVar("T")


class ReportCache:
    """The last ``size`` reports computed, keyed by what they depend on; 0 keeps none.

    Concurrent requests for the same key wait for one computation instead of each running it.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._lock = threading.Lock()
        self._done: OrderedDict[Hashable, Any] = OrderedDict()
        self._running: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Return the report of ``key``: cached, else ``compute()`` (kept for the next request)."""
        if self.size <= 0:
            return compute()
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            running = self._running.setdefault(key, threading.Lock())
        with running:
            with self._lock:
                if key in self._done:
                    return self._done[key]
            try:
                value = compute()
            finally:
                with self._lock:
                    self._running.pop(key, None)
            with self._lock:
                self._done[key] = value
                while len(self._done) > self.size:
                    self._done.popitem(last=False)
            return value


class Reader:
    """A request's view of the store: ``store`` sees only ``access.project`` when it is set."""

    def __init__(self, store: Store, access: Access, cache: ReportCache):
        self.store = store
        self.access = access
        self._cache = cache

    def _cached(self, name: str, params: dict[str, Hashable], compute: Callable[[], T]) -> T:
        key = (name, self.access.project, self.store.read_last_batch(), tuple(sorted(params.items())))
        return self._cache.get(key, compute)

    def overload_report(self, **params: Any) -> OverloadReport:
        """:func:`stackmeter.operations.overload_report` of ``store``, cached."""
        frozen = {**params, "thresholds": tuple(sorted(params["thresholds"].items()))}
        return self._cached("overload", frozen, lambda: operations.overload_report(self.store, **params))

    def heat_map(self, **params: Any) -> HeatMap:
        """:func:`stackmeter.operations.heat_map` of ``store``, cached."""
        return self._cached("heat_map", params, lambda: operations.heat_map(self.store, **params))

    def entities(self) -> list[EntitySummary]:
        """:func:`stackmeter.operations.list_entities` of ``store``, cached."""
        return self._cached("entities", {}, lambda: operations.list_entities(self.store))


# How OpenAPI (and so Swagger UI's Authorize button) is told to send a token; auto_error is off
# because token_of reads the header itself, and the dashboard's cookie besides.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="A token of the server's tokens file, sent as `Authorization: Bearer TOKEN`.",
    auto_error=False,
)


def token_of(request: Request) -> str | None:
    """Return the token a request carries: ``Authorization: Bearer …``, else the dashboard cookie."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.cookies.get(TOKEN_COOKIE)


def access_of(request: Request) -> Access:
    """Return what the request's token grants (raises ``Unauthenticated``)."""
    return authenticate(request.app.state.tokens, token_of(request))


@contextmanager
def reader_of(request: Request) -> Iterator[Reader]:
    """Return a :class:`Reader` for the request (raises ``Unauthenticated``), closed on leaving the context."""
    access = access_of(request)
    state = request.app.state
    shared: Store = state.store  # app.state is untyped: the annotation keeps calls to the protocol
    with state.reader_lock:
        store = shared.reader(access.project)
    try:
        yield Reader(store, access, state.cache)
    finally:
        store.close()


def open_reader(request: Request) -> Iterator[Reader]:
    """FastAPI dependency: a :class:`Reader` for the request, closed when the response is sent."""
    with reader_of(request) as reader:
        yield reader
