"""What a dashboard page is asked for: its query string parsed and checked, and links that keep it."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import Request

from stackmeter.analysis.overload import check_share, check_threshold
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S
from stackmeter.errors import ConfigError
from stackmeter.models import MAX_DURATION_S, RESOURCES, TIMESCALES
from stackmeter.settings import Settings, parse_thresholds

T = TypeVar("T")


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
                self.thresholds[name] = named(key, check_threshold, name, parse_float(query[key], key))
        self.share = settings.share
        if query.get("share"):
            self.share = check_share(parse_float(query["share"], "share"))
        self.query = {key: value for key, value in query.items() if value}

    def link(self, path: str | None = None, **changes: object) -> str:
        """Return a URL to ``path`` (this page by default) with these choices and ``changes``
        (a change to ``None`` drops that choice)."""
        query = dict(self.query)
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = str(value)
        return (path or self.path) + ("?" + urlencode(query) if query else "")


def named(where: str, check: Callable[..., T], *args: object) -> T:
    """Return ``check(*args)``; the :class:`ConfigError` it raises names the parameter ``where``."""
    try:
        return check(*args)
    except ConfigError as exc:
        raise ConfigError(str(exc), where) from exc


def parse_float(text: str, name: str) -> float:
    """Return the finite number ``text`` (NaN, ±inf and ``1e999`` are refused, naming ``name``)."""
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a number", name) from exc
    if not math.isfinite(value):
        raise ConfigError(f"{name}: {text!r} is not a finite number", name)
    return value


def parse_int(text: str | None, name: str, default: int, low: int, high: int) -> int:
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


def parse_timeout_s(text: str | None) -> float:
    """Return the seconds after which an operation with no end has timed out (the default when empty)."""
    if not text:
        return DEFAULT_TIMEOUT_S
    timeout_s = parse_float(text, "timeout")
    if not 0 < timeout_s <= MAX_DURATION_S:
        raise ConfigError(
            f"timeout must be above 0 and at most {MAX_DURATION_S:g} seconds, got {text}", "timeout"
        )
    return timeout_s
