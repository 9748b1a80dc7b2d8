"""Questions asked of the store, one record each."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class WindowQuery(NamedTuple):
    """Per-(entity, window) utilization of some entities, e.g. ``WindowQuery("1h", "cpu", 0.8, ("41",))``.

    Windows of ``timescale`` starting in ``[first_window, last_window]`` (both inclusive; open
    when ``None``); samples at or above ``threshold`` are counted.
    """

    timescale: str
    resource: str
    threshold: float
    entities: tuple[str, ...]
    first_window: np.datetime64 | None = None
    last_window: np.datetime64 | None = None
