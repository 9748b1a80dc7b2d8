"""The timescales of every report: tumbling UTC windows, one record each; everything else is derived."""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple


class Timescale(NamedTuple):
    """A tumbling UTC window, e.g. ``Timescale("1w", 604_800, offset_s=3 * 86_400, ...)``.

    A window of fixed length starts at a multiple of ``length_s`` seconds since the epoch, less
    ``offset_s`` (weeks start on Monday: 1970-01-01 was a Thursday). A calendar window
    (``length_s`` None) is ``months`` calendar months, counted from January 1970.
    """

    name: str
    length_s: int | None
    # Nominal length in seconds: display, step sizes, heat map spans (months vary).
    nominal_s: int
    offset_s: int = 0
    months: int = 0
    # Windows the dashboard's heat map shows on one page.
    heat_map_columns: int = 100
    # Raw window counts of this timescale are sums of the counts of this finer timescale, or read
    # from the samples themselves ("samples"); exact because its windows nest in this one's.
    counted_from: str = "samples"


TIMESCALE_TABLE: tuple[Timescale, ...] = (
    Timescale("5m", 300, 300, heat_map_columns=288),
    Timescale("1h", 3_600, 3_600, heat_map_columns=168),
    Timescale("1d", 86_400, 86_400, heat_map_columns=92, counted_from="1h"),
    Timescale("1w", 604_800, 604_800, offset_s=3 * 86_400, heat_map_columns=104, counted_from="1d"),
    Timescale("1mo", None, 2_629_746, months=1, heat_map_columns=120, counted_from="1d"),
)

# Everything below is derived from the table.
TIMESCALE_BY_NAME: MappingProxyType[str, Timescale] = MappingProxyType({t.name: t for t in TIMESCALE_TABLE})
TIMESCALES: tuple[str, ...] = tuple(t.name for t in TIMESCALE_TABLE)
# The default of every ``timescales`` option and setting: all of them, finest first.
DEFAULT_TIMESCALES = ",".join(TIMESCALES)
# The timescales in help text: "5m, 1h, 1d, 1w or 1mo".
TIMESCALE_CHOICES = ", ".join(TIMESCALES[:-1]) + " or " + TIMESCALES[-1]


def nests_in(inner: Timescale, outer: Timescale) -> bool:
    """Whether every window of ``outer`` is a union of whole windows of ``inner``."""
    if inner.length_s is None:
        return outer.length_s is None and outer.months % inner.months == 0
    if outer.length_s is None:
        # Calendar windows start at midnight UTC.
        return 86_400 % inner.length_s == 0 and inner.offset_s % inner.length_s == 0
    return outer.length_s % inner.length_s == 0 and (outer.offset_s - inner.offset_s) % inner.length_s == 0


# The timescales whose windows each timescale's windows nest in: a day lies in one week and one
# month, but a week may straddle two months. A rollup level serves the timescales it nests in.
NESTS_IN: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {inner.name: tuple(o.name for o in TIMESCALE_TABLE if nests_in(inner, o)) for inner in TIMESCALE_TABLE}
)
TIMESCALE_SECONDS: MappingProxyType[str, int] = MappingProxyType(
    {t.name: t.nominal_s for t in TIMESCALE_TABLE}
)


def serving_level(timescale: str, levels: tuple[str, ...]) -> str | None:
    """Return the coarsest of ``levels`` whose windows nest in ``timescale``'s, or ``None``."""
    fitting = [level for level in levels if timescale in NESTS_IN[level]]
    return max(fitting, key=TIMESCALES.index) if fitting else None
