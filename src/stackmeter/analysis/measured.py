"""What a consolidated cloud measured over its run: idle and overload time fractions, migrations, energy.

The definitions are those of the OpenStack Neat experiments (Beloglazov & Buyya, CCPE 27(5),
2015), whose published per-run figures these functions reproduce from the raw records:

- each host holds each logged state from its record to the next one, in the order the database
  wrote them, starting the window active and not overloaded; records count from the window's
  start to its end, both included;
- AITF = Σ time asleep / Σ window over the hosts; AOTF = Σ time overloaded / (Σ window − Σ time
  asleep); migrations = the migrations in the window;
- energy is the experiments' model, not a measurement: per host-hour 450 W while overloaded, the
  power at 80 % load (414 W, linear from 270 W idle) while active, 10.4 W asleep, with AOTF taken
  as a share of the whole window as the published figures take it. With every host on at the
  same total load, the model draws 270 W + 80 % × (1 − AITF) × 180 W per host-hour.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stackmeter.models.consolidation import ConsolidationRun, HostFlags, MeasuredRun

POWER_LOADED_W = 450.0
POWER_IDLE_W = 270.0
POWER_SLEEP_W = 10.4
LOAD_AT_THRESHOLD = 0.8
POWER_AT_THRESHOLD_W = POWER_IDLE_W + LOAD_AT_THRESHOLD * (POWER_LOADED_W - POWER_IDLE_W)


def measure_run(run: ConsolidationRun) -> MeasuredRun:
    """Return the run's AITF, AOTF, migrations and modelled energy over its window."""
    hosts = [host.host for host in run.hosts]
    start, end = run.window_start, run.window_end
    window_us = _us(end) - _us(start)
    host_time_us = len(hosts) * window_us
    asleep_us = flag_time_us(run.host_states, hosts, start, end, initial=True, counted=False)
    overloaded_us = flag_time_us(run.overloads, hosts, start, end, initial=False, counted=True)
    aitf = asleep_us / host_time_us if host_time_us > 0 else float("nan")
    active_us = host_time_us - asleep_us
    aotf = overloaded_us / active_us if active_us != 0 else None
    in_window = (run.migrations.ts >= start) & (run.migrations.ts <= end)
    host_hours = host_time_us / 3.6e9
    energy, all_on = model_energy_kwh(aitf, aotf, host_hours)
    return MeasuredRun(
        run=run.run,
        framework=run.framework,
        window_start=start,
        window_end=end,
        hosts=len(hosts),
        aitf=aitf,
        aotf=aotf,
        migrations=int(in_window.sum()),
        energy_kwh=energy,
        energy_all_on_kwh=all_on,
        energy_saved=None if energy is None or all_on <= 0 else 1.0 - energy / all_on,
    )


def flag_time_us(
    flags: HostFlags,
    hosts: Sequence[str],
    start: np.datetime64,
    end: np.datetime64,
    initial: bool,
    counted: bool,
) -> int:
    """Return the microseconds, summed over ``hosts``, that the flag was ``counted`` from ``start``
    to ``end``: each host starts with ``initial`` and holds each record's flag until its next
    record (records in ``seq`` order, those with ``start <= ts <= end`` only)."""
    start_us, end_us = _us(start), _us(end)
    ts_us = flags.ts.astype("datetime64[us]").astype(np.int64)
    keep = (ts_us >= start_us) & (ts_us <= end_us) & np.isin(flags.host, np.asarray(hosts, dtype=object))
    host, seq, ts_us, flag = flags.host[keep], flags.seq[keep], ts_us[keep], flags.flag[keep]
    order = np.lexsort((seq, host.astype(str)))
    host, ts_us, flag = host[order], ts_us[order], flag[order]
    first = np.ones(host.size, dtype=bool)
    first[1:] = host[1:] != host[:-1]
    last = np.ones(host.size, dtype=bool)
    last[:-1] = first[1:]
    # The interval before each record runs from the previous record of its host (or the start)
    # and holds the previous flag (or the initial one); after a host's last record, to the end.
    before_us = np.where(first, start_us, np.roll(ts_us, 1))
    before_flag = np.where(first, initial, np.roll(flag, 1))
    total = int(((ts_us - before_us) * (before_flag == counted)).sum())
    total += int(((end_us - ts_us[last]) * (flag[last] == counted)).sum())
    quiet = len(set(hosts) - set(host.tolist()))  # hosts with no record hold the initial flag throughout
    return total + (quiet * (end_us - start_us) if initial == counted else 0)


def model_energy_kwh(aitf: float, aotf: float | None, host_hours: float) -> tuple[float | None, float]:
    """Return the experiments' modelled energy (kWh) of ``host_hours`` at these fractions, and
    the energy with every host on at the same total load (``None`` for the first without an AOTF)."""
    active = 1.0 - aitf
    all_on_w = POWER_IDLE_W + LOAD_AT_THRESHOLD * active * (POWER_LOADED_W - POWER_IDLE_W)
    if aotf is None:
        return None, host_hours * all_on_w / 1000.0
    consolidated_w = POWER_LOADED_W * aotf + POWER_AT_THRESHOLD_W * (active - aotf) + POWER_SLEEP_W * aitf
    return host_hours * consolidated_w / 1000.0, host_hours * all_on_w / 1000.0


def _us(moment: np.datetime64) -> int:
    return int(np.asarray(moment, dtype="datetime64[us]").astype(np.int64))
