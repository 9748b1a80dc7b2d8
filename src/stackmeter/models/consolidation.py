"""A consolidated cloud's own records: its hosts, their sleep and overload states, its live migrations."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# The framework whose records a run holds (the only one read so far).
OPENSTACK_NEAT = "openstack-neat"


class ConsolidationHost(NamedTuple):
    """A compute host of a run, as the framework's database describes it."""

    host: str
    cpu_mhz: float
    cpu_cores: int
    ram_mb: float


class HostFlags(NamedTuple):
    """Changes of a per-host flag (active/asleep, overloaded or not), one record each, columnar.

    ``seq`` is the record's id in the framework's database: the order it wrote them in, which is
    the order they are read in (times may tie, and do). ``ts`` is ``datetime64[ns]`` UTC; ``flag``
    is ``True`` for active (host states) or overloaded (overload flags).
    """

    seq: np.ndarray
    host: np.ndarray
    ts: np.ndarray
    flag: np.ndarray


class Migrations(NamedTuple):
    """Live migrations, one record each, columnar: ``seq`` the database id, ``ts`` UTC, the VM
    moved and the host it moved to."""

    seq: np.ndarray
    ts: np.ndarray
    vm: np.ndarray
    host: np.ndarray


class ConsolidationRun(NamedTuple):
    """One run of a consolidation framework on a real cloud: what it did and when.

    The metrics are taken over ``[window_start, window_end]`` (UTC, both ends included, as the
    framework's own scripts select records). ``utc_offset_s`` is how far the testbed's clock,
    in which its database wrote times, was ahead of UTC.
    """

    run: str
    framework: str
    window_start: np.datetime64
    window_end: np.datetime64
    utc_offset_s: int
    overload_detection: str | None
    hosts: tuple[ConsolidationHost, ...]
    host_states: HostFlags
    overloads: HostFlags
    migrations: Migrations


class MeasuredRun(NamedTuple):
    """What a consolidated cloud measured over its run window (``stackmeter replay --measured``).

    ``aitf`` is the share of host time asleep; ``aotf`` the share of the hosts' active time with
    the overload flag up (``None`` when no host was ever active); ``migrations`` counts the live
    migrations; ``energy_kwh`` follows the framework's published energy model, and
    ``energy_all_on_kwh`` what that model gives with every host on at the same total load.
    """

    run: str
    framework: str
    window_start: np.datetime64
    window_end: np.datetime64
    hosts: int
    aitf: float
    aotf: float | None
    migrations: int
    energy_kwh: float | None
    energy_all_on_kwh: float
    energy_saved: float | None


def no_flags() -> HostFlags:
    """Return an empty :class:`HostFlags`."""
    return HostFlags(
        np.empty(0, np.int64), np.empty(0, object), np.empty(0, "datetime64[ns]"), np.empty(0, bool)
    )


def no_migrations() -> Migrations:
    """Return an empty :class:`Migrations`."""
    return Migrations(
        np.empty(0, np.int64), np.empty(0, "datetime64[ns]"), np.empty(0, object), np.empty(0, object)
    )
