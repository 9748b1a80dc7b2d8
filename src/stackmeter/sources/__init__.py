"""Sources turn the outside world into canonical records; ``TRACE_FORMATS`` names the trace readers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from stackmeter.models import Parsed
from stackmeter.sources.bitbrains import find_bitbrains_files, load_bitbrains_file
from stackmeter.sources.traces import (
    find_azure_files,
    find_planetlab_files,
    load_azure_file,
    load_planetlab_file,
)


class TraceFormat(NamedTuple):
    """A workload trace format: how to find its files under a path and load one."""

    find_files: Callable[[Path], list[Path]]
    load_file: Callable[..., Parsed]


TRACE_FORMATS = {
    "planetlab": TraceFormat(find_planetlab_files, load_planetlab_file),
    "bitbrains": TraceFormat(find_bitbrains_files, load_bitbrains_file),
    "azure": TraceFormat(find_azure_files, load_azure_file),
}
