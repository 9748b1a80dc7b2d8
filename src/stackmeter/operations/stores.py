"""Opening a store for one write, so other processes can use the file between writes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from stackmeter.store import Store


@contextlib.contextmanager
def store_per_write(store: Store | Callable[[], Store]) -> Iterator[Store]:
    if not callable(store):
        yield store
        return
    opened = store()
    try:
        yield opened
    finally:
        opened.close()
