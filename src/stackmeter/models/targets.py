"""Scraped exporter targets and their states."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# States of a scraped target.
UP, DOWN, PENDING = "up", "down", "pending"
# When a target is due if it has never failed: at once.
DUE_AT_ONCE = np.datetime64(0, "ns")


class TargetStatus(NamedTuple):
    """How scraping one exporter target goes: ``state`` is up, down or pending.

    Times are UTC ``datetime64[ns]``, ``None`` when never; ``samples`` counts what it gave so far.
    """

    target: str
    exporter: str
    state: str = PENDING
    last_attempt: np.datetime64 | None = None
    last_success: np.datetime64 | None = None
    last_error: str | None = None
    failures: int = 0
    next_attempt: np.datetime64 = DUE_AT_ONCE
    samples: int = 0

    def lag_s(self, now: np.datetime64) -> float | None:
        """Seconds since the last successful scrape, ``None`` when there was none."""
        if self.last_success is None:
            return None
        return float((now - self.last_success) / np.timedelta64(1, "s"))
