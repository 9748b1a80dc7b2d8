"""stackmeter: how a private cloud really uses its capacity."""

from stackmeter.errors import StackmeterError
from stackmeter.models import (
    DeadLetter,
    Event,
    NotificationsSummary,
    OperationTimings,
    OverloadReport,
    Samples,
)
from stackmeter.operations import (
    collect,
    compact,
    dead_letters,
    ingest,
    ingest_notifications,
    ingest_prometheus,
    list_entities,
    list_sources,
    listen,
    operation_timings,
    overload_report,
    read_series,
    utilization_quantiles,
)
from stackmeter.settings import Settings, load_settings
from stackmeter.store import Store, open_store

__version__ = "0.1.0"

__all__ = [
    "DeadLetter",
    "Event",
    "NotificationsSummary",
    "OperationTimings",
    "OverloadReport",
    "Samples",
    "Settings",
    "StackmeterError",
    "Store",
    "collect",
    "compact",
    "dead_letters",
    "ingest",
    "ingest_notifications",
    "ingest_prometheus",
    "list_entities",
    "list_sources",
    "listen",
    "load_settings",
    "open_store",
    "operation_timings",
    "overload_report",
    "read_series",
    "utilization_quantiles",
]
