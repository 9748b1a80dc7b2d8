"""The product's verbs: ingest traces and notifications, collect, report, compact. CLI and API wrap these.

One module per feature; everything public is re-exported here, so callers write
``operations.overload_report(...)``.
"""

from stackmeter.operations.collection import (
    CollectSummary,
    check_time_range,
    collect,
    ingest_prometheus,
    list_sources,
)
from stackmeter.operations.notifications import (
    ListenProgress,
    dead_letters,
    ingest_notifications,
    listen,
    operation_timings,
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
    compact,
    parse_back_window,
    parse_retention,
    parse_rollup_levels,
    utilization_quantiles,
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
    "HEAT_MAP_MAX_COLUMNS",
    "HEAT_MAP_MAX_PAGE",
    "HEAT_MAP_MAX_ROWS",
    "REJECTION_EXAMPLES",
    "CollectSummary",
    "IngestSummary",
    "ListenProgress",
    "Progress",
    "bundled_sample",
    "check_input_paths",
    "check_report_choices",
    "check_time_range",
    "collect",
    "compact",
    "dead_letters",
    "entity_overload",
    "find_trace_files",
    "heat_map",
    "ingest",
    "ingest_notifications",
    "ingest_prometheus",
    "list_entities",
    "list_sources",
    "listen",
    "operation_timings",
    "overload_report",
    "parse_back_window",
    "parse_retention",
    "parse_rollup_levels",
    "read_series",
    "store_status",
    "utilization_quantiles",
]
