"""stackmeter: how a private cloud really uses its capacity."""

from stackmeter.errors import StackmeterError
from stackmeter.models import OverloadReport, Samples
from stackmeter.operations import (
    collect,
    ingest,
    ingest_prometheus,
    list_entities,
    list_sources,
    overload_report,
    read_series,
)
from stackmeter.settings import Settings, load_settings
from stackmeter.store import Store, open_store

__version__ = "0.1.0"

__all__ = [
    "OverloadReport",
    "Samples",
    "Settings",
    "StackmeterError",
    "Store",
    "collect",
    "ingest",
    "ingest_prometheus",
    "list_entities",
    "list_sources",
    "load_settings",
    "open_store",
    "overload_report",
    "read_series",
]
