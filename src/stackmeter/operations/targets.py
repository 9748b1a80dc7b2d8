"""What live collection is told to read: scrape targets, the devices that count, PromQL overrides."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from stackmeter.errors import ConfigError
from stackmeter.sources.node_exporter import DEFAULT_INTERFACE_EXCLUDE, HostRules
from stackmeter.sources.prometheus import ResourceQuery, load_queries
from stackmeter.sources.scrape import Target, parse_targets

__all__ = [
    "DEFAULT_INTERFACE_EXCLUDE",
    "HostRules",
    "Target",
    "host_rules",
    "load_prometheus_queries",
    "load_targets",
]


def load_targets(
    urls: Iterable[str] = (), libvirt_urls: Iterable[str] = (), targets_file: Path | None = None
) -> list[Target]:
    """Return the targets to scrape: node_exporter ``urls``, the lines of ``targets_file``
    (``URL [node_exporter|libvirt]``), then libvirt exporter ``libvirt_urls`` not already named."""
    targets = parse_targets(urls, targets_file)
    known = {target.url for target in targets}
    return targets + [Target(url, "libvirt") for url in libvirt_urls if url not in known]


def host_rules(interface_exclude: str, where: str = "interface_exclude") -> HostRules:
    """Return the rules of which host devices count, given the regex of interfaces that are not
    physical links; raise :class:`ConfigError` naming ``where`` when it is not a regex."""
    try:
        re.compile(interface_exclude)
    except re.error as exc:
        raise ConfigError(
            f"{where}: {interface_exclude!r} is not a regular expression: {exc}", where
        ) from exc
    return HostRules(interface_exclude=interface_exclude)


def load_prometheus_queries(path: Path | None) -> dict[str, ResourceQuery] | None:
    """Return the PromQL per resource of ``ingest prometheus``, the built-in ones overridden by the
    TOML file at ``path``; ``None`` (the built-in ones) without a file."""
    return load_queries(path) if path is not None else None
