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
    """Write every Bitbrains fixture file into ``store``, each VM declared with its project."""
    bitbrains = TRACE_FORMATS["bitbrains"]
    for path in bitbrains.find_files(FIXTURES / "bitbrains"):
        parsed = bitbrains.load_file(
            path,
            disk_capacity_bytes_s=DISK_CAPACITY_BYTES_S,
            network_capacity_bytes_s=NETWORK_CAPACITY_BYTES_S,
        )
        entity = path.name.split(".")[0]
        parsed = parsed._replace(entities=(Entity(entity, "vm", projects[entity]),))
        store.write_parsed([parsed], source="bitbrains")
