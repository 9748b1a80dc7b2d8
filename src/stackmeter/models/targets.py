"""Scraped exporter targets and their states."""

from __future__ import annotations

from typing import NamedTuple

# States of a scraped target.
UP, DOWN, PENDING = "up", "down", "pending"


class TargetStatus(NamedTuple):
    """How scraping one exporter target goes: ``state`` is up, down or pending.

    Times are ns since the epoch (UTC), ``None`` when never; ``samples`` counts what it gave so far.
    """

    target: str
    exporter: str
    state: str = PENDING
    last_attempt_ns: int | None = None
    last_success_ns: int | None = None
    last_error: str | None = None
    failures: int = 0
    next_attempt_ns: int = 0
    samples: int = 0

    def lag_s(self, now_ns: int) -> float | None:
        """Seconds since the last successful scrape, ``None`` when there was none."""
        return None if self.last_success_ns is None else (now_ns - self.last_success_ns) / 1e9
