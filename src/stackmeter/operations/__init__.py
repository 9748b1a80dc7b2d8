"""The product's verbs: ingest traces and notifications, collect, report, compact. CLI and API wrap these.

One module per feature; everything public is re-exported here, so callers write
``operations.overload_report(...)``.
"""

from stackmeter.operations.bus import (
    DEFAULT_EXCHANGE,
    DEFAULT_PRIORITIES,
    DEFAULT_TOPICS,
    GROUPINGS,
    OPERATION_TIMEOUT_S,
    connect_bus,
)
from stackmeter.operations.collection import (
    CollectSummary,
    check_time_range,
    collect,
    ingest_prometheus,
    list_sources,
)
from stackmeter.operations.neat import NeatIngestSummary, ingest_neat
from stackmeter.operations.notifications import (
    ListenProgress,
    dead_letters,
    ingest_notifications,
    listen,
    operation_timings,
)
from stackmeter.operations.replay import (
    DEFAULT_FLEET,
    fleet_of,
    measured_run,
    read_demand,
    replay_store,
    shipped_fleets,
)
from stackmeter.operations.reports import (
    HEAT_MAP_MAX_COLUMNS,
    HEAT_MAP_MAX_PAGE,
    HEAT_MAP_MAX_ROWS,
    check_report_choices,
    entity_overload,
    heat_map,
    list_entities,
    overload_report,
    read_series,
    store_status,
)
from stackmeter.operations.rollups import (
    MAX_QUANTILE_WINDOWS,
    QuantilePage,
    check_quantile_size,
    compact,
    quantile_page,
    quantile_pages,
    utilization_quantiles,
)
from stackmeter.operations.targets import (
    DEFAULT_INTERFACE_EXCLUDE,
    host_rules,
    load_prometheus_queries,
    load_targets,
)
from stackmeter.operations.traces import (
    BATCH_SAMPLES,
    REJECTION_EXAMPLES,
    IngestSummary,
    Progress,
    bundled_sample,
    check_input_paths,
    find_trace_files,
    ingest,
)

__all__ = [
    "BATCH_SAMPLES",
    "CollectSummary",
    "DEFAULT_EXCHANGE",
    "DEFAULT_FLEET",
    "DEFAULT_INTERFACE_EXCLUDE",
    "DEFAULT_PRIORITIES",
    "DEFAULT_TOPICS",
    "GROUPINGS",
    "HEAT_MAP_MAX_COLUMNS",
    "HEAT_MAP_MAX_PAGE",
    "HEAT_MAP_MAX_ROWS",
    "IngestSummary",
    "ListenProgress",
    "MAX_QUANTILE_WINDOWS",
    "NeatIngestSummary",
    "OPERATION_TIMEOUT_S",
    "Progress",
    "QuantilePage",
    "REJECTION_EXAMPLES",
    "bundled_sample",
    "check_input_paths",
    "check_quantile_size",
    "check_report_choices",
    "check_time_range",
    "collect",
    "compact",
    "connect_bus",
    "dead_letters",
    "entity_overload",
    "find_trace_files",
    "fleet_of",
    "heat_map",
    "host_rules",
    "ingest",
    "ingest_neat",
    "ingest_notifications",
    "ingest_prometheus",
    "list_entities",
    "list_sources",
    "listen",
    "load_prometheus_queries",
    "load_targets",
    "measured_run",
    "operation_timings",
    "overload_report",
    "quantile_page",
    "quantile_pages",
    "read_demand",
    "read_series",
    "replay_store",
    "shipped_fleets",
    "store_status",
    "utilization_quantiles",
]
