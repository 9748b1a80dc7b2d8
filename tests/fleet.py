"""A small real fleet for API and dashboard tests: the Bitbrains excerpts, with projects declared.

VMs 176 and 196 belong to project ``alpha``, 41 to ``beta``; 51 belongs to no project.
"""

from __future__ import annotations

from pathlib import Path

from stackmeter.models import Entity
from stackmeter.sources import TRACE_FORMATS
from stackmeter.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
PROJECTS = {"176": "alpha", "196": "alpha", "41": "beta", "51": None}
DISK_CAPACITY_BYTES_S = 2 * 2**20
NETWORK_CAPACITY_BYTES_S = 800e3 / 8


def write_fleet(store: Store, projects: dict[str, str | None] = PROJECTS) -> None:
    """Write the Bitbrains fixture files of the VMs in ``projects`` into ``store``, each VM
    declared with its project."""
    bitbrains = TRACE_FORMATS["bitbrains"]
    for path in bitbrains.find_files(FIXTURES / "bitbrains"):
        entity = path.name.split(".")[0]
        if entity not in projects:
            continue
        parsed = bitbrains.load_file(
            path,
            disk_capacity_bytes_s=DISK_CAPACITY_BYTES_S,
            network_capacity_bytes_s=NETWORK_CAPACITY_BYTES_S,
        )
        parsed = parsed._replace(entities=(Entity(entity, "vm", projects[entity]),))
        store.write_parsed([parsed], source="bitbrains")


def rounded(value, digits: int = 12):
    """Return JSON data with floats to ``digits`` significant digits: DuckDB sums in parallel, so a
    mean's last bits may differ between two runs of the same query."""
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value
