"""Stores of bus notifications for the tests: a generated capture, ingested as `ingest notifications` would."""

from __future__ import annotations

from pathlib import Path

from benchmarks.notification_stream import build_stream

from stackmeter import operations
from stackmeter.store import open_store


def write_capture(folder: Path, operations_count: int, seed: int, malformed: int) -> Path:
    """Write ``operations_count`` generated operations (and ``malformed`` bad messages) as one JSON
    message a line, into ``capture.jsonl`` in ``folder``."""
    stream = build_stream(operations_count, seed=seed, malformed=malformed)
    capture = folder / "capture.jsonl"
    capture.write_text("\n".join(body for _, body in stream.messages) + "\n")
    return capture


def write_bus_store(folder: Path, operations_count: int, seed: int = 12, malformed: int = 5) -> str:
    """Return the path of ``bus.duckdb`` in ``folder``, holding a generated capture's notifications."""
    path = str(folder / "bus.duckdb")
    with open_store(path) as store:
        operations.ingest_notifications(store, write_capture(folder, operations_count, seed, malformed))
    return path
