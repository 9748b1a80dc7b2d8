"""Pair ``.start`` / ``.end`` / ``.error`` notifications into timed operations (pure).

An *operation* is one attempt at an instance action (create, delete, resize_prep, …): a
``.start`` and the first ``.end`` or ``.error`` after it, for the same request id, instance and
action. Events are ordered by their own timestamps, so the order in which they arrived does not
matter; events with the same ``message_id`` count once.

- A ``.start`` closed by an ``.end`` is a ``success``, by an ``.error`` an ``error`` (with the
  fault). A rescheduled create therefore gives one failed attempt per host that failed it.
- A ``.start`` with no close is ``timed_out`` once ``as_of`` is more than ``timeout_s`` after it,
  else ``running``.
- An ``.end`` or ``.error`` with no open ``.start`` is kept as an operation without a start
  (``started`` false, no duration).
- Event types that are not instance actions (``compute.instance.update``, ``…exists``,
  aggregates, unknown names) stay in the store but are not paired.
- Legacy exception notifications (priority ERROR, named after the compute method, such as
  ``terminate_instance``) close the matching action as an error.

Creates also get a ``scheduling_s`` phase: from the latest scheduler start of the same request
(``scheduler.run_instance.start`` or ``scheduler.select_destinations.start``) to the compute
``.start``; ``duration_s`` is from the compute ``.start`` to its close.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from stackmeter.models import ERROR, RUNNING, SUCCESS, TIMED_OUT, Event

DEFAULT_TIMEOUT_S = 1800.0

START, END, FAIL = "start", "end", "error"

# Instance actions that are paired; legacy dotted names are normalised to these.
ACTIONS = frozenset(
    {
        "create", "delete", "soft_delete", "force_delete", "restore", "shutdown",
        "power_on", "power_off", "reboot", "rebuild", "evacuate",
        "resize", "resize_prep", "resize_finish", "resize_confirm", "resize_revert",
        "live_migration", "live_migration_pre", "live_migration_post", "live_migration_post_dest",
        "live_migration_rollback", "live_migration_rollback_dest", "live_migration_abort",
        "live_migration_force_complete",
        "snapshot", "backup", "shelve", "shelve_offload", "unshelve",
        "suspend", "resume", "pause", "unpause", "rescue", "unrescue",
        "volume_attach", "volume_detach", "volume_swap", "interface_attach", "interface_detach",
        "trigger_crash_dump",
    }
)  # fmt: skip

_ACTION_ALIASES = {
    "finish_resize": "resize_finish",
    "live_migration__post": "live_migration_post",
}

# Conductor failures that end an action before compute started it.
_TASK_ERRORS = {
    "compute_task.build_instances.error": "create",
    "compute_task.rebuild_server.error": "rebuild",
}

# Legacy exception notifications, named after the method that raised.
_EXCEPTION_EVENTS = {
    "build_and_run_instance": "create",
    "run_instance": "create",
    "scheduler.run_instance": "create",
    "terminate_instance": "delete",
    "soft_delete_instance": "soft_delete",
    "start_instance": "power_on",
    "stop_instance": "power_off",
    "reboot_instance": "reboot",
    "rebuild_instance": "rebuild",
    "prep_resize": "resize_prep",
    "resize_instance": "resize",
    "finish_resize": "resize_finish",
    "confirm_resize": "resize_confirm",
    "revert_resize": "resize_revert",
    "live_migration": "live_migration",
    "pre_live_migration": "live_migration_pre",
    "snapshot_instance": "snapshot",
    "backup_instance": "backup",
    "shelve_instance": "shelve",
    "shelve_offload_instance": "shelve_offload",
    "unshelve_instance": "unshelve",
    "suspend_instance": "suspend",
    "resume_instance": "resume",
    "pause_instance": "pause",
    "unpause_instance": "unpause",
    "rescue_instance": "rescue",
    "unrescue_instance": "unrescue",
}

_SCHEDULER_STARTS = ("scheduler.run_instance.start", "scheduler.select_destinations.start")

EVENT_COLUMNS = list(Event._fields)
# What pairing keeps of an event (the rest only classifies it, or is not used).
_PAIRED_COLUMNS = ["ts", "instance", "request_id", "host", "flavor", "project", "fault"]
OPERATION_COLUMNS = [
    "operation", "instance", "request_id", "started", "start", "end", "duration_s", "outcome",
    "fault", "host", "flavor", "project", "scheduling_s",
]  # fmt: skip


def classify(event_type: str, failed: bool = False) -> tuple[str, str] | None:
    """Return ``(action, phase)`` of an event type, phase one of ``start``, ``end``, ``error``;
    ``None`` for an event that is not part of a paired action.

    :param failed: the event is an exception notification (it has a fault); only then are
        method names such as ``terminate_instance`` read as errors
    """
    if event_type in _TASK_ERRORS:
        return _TASK_ERRORS[event_type], FAIL
    if failed and event_type in _EXCEPTION_EVENTS:
        return _EXCEPTION_EVENTS[event_type], FAIL
    for prefix in ("compute.instance.", "instance."):
        if event_type.startswith(prefix):
            rest = event_type[len(prefix) :]
            break
    else:
        return None
    action, _, phase = rest.rpartition(".")
    if phase not in (START, END, FAIL) or not action:
        return None
    action = action.replace(".", "_")
    action = _ACTION_ALIASES.get(action, action)
    return (action, phase) if action in ACTIONS else None


def paired_event_types(kinds: Iterable[tuple[str, bool]], operation: str | None = None) -> frozenset[str]:
    """Return the event types :func:`pair_operations` reads (of ``operation``'s action only, when
    given), among ``kinds``: (event type, carries a fault) pairs. The others (updates, ``exists``,
    unknown names) it leaves aside, so they need not be read; scheduler starts are kept for the
    scheduling phase of creates.
    """
    wanted = set()
    for event_type, failed in kinds:
        kind = classify(event_type, failed)
        if kind is not None and operation in (None, kind[0]):
            wanted.add(event_type)
        elif event_type in _SCHEDULER_STARTS and operation in (None, "create"):
            wanted.add(event_type)
    return frozenset(wanted)


def events_frame(events: Iterable[Event]) -> pd.DataFrame:
    """Return events as a frame with the columns of :class:`~stackmeter.models.Event`; ``ts`` is
    ``datetime64[ns, UTC]``."""
    frame = pd.DataFrame.from_records(list(events), columns=EVENT_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def pair_operations(
    events: pd.DataFrame, as_of: np.datetime64, timeout_s: float = DEFAULT_TIMEOUT_S
) -> pd.DataFrame:
    """Return one row per operation (columns :data:`OPERATION_COLUMNS`), ordered by start.

    :param events: a frame with the columns of :class:`~stackmeter.models.Event`
    :param as_of: the time the question is asked at (UTC); an operation still open more than
        ``timeout_s`` before it has timed out
    :param timeout_s: seconds after which an operation with no end has timed out
    """
    events = events.drop_duplicates("message_id")
    kinds = _classify_column(events)
    keep = (kinds["operation"].notna() & events["instance"].notna()).to_numpy()
    if not keep.any():
        return pd.DataFrame({column: pd.Series(dtype=object) for column in OPERATION_COLUMNS})
    paired = events.loc[keep, _PAIRED_COLUMNS].assign(
        operation=kinds["operation"][keep], phase=kinds["phase"][keep]
    )
    paired["request_id"] = paired["request_id"].fillna("")
    # One number per (request, instance, action), numbered in the order of those keys: sorting and
    # grouping by it orders as by the keys themselves, without comparing strings again and again.
    paired["key"] = paired.groupby(["request_id", "instance", "operation"], sort=True).ngroup()
    paired["rank"] = (paired["phase"] != START).astype(np.int8)
    paired = paired.sort_values(["key", "ts", "rank"], kind="stable")
    is_start = (paired["phase"] == START).to_numpy()
    paired["attempt"] = pd.Series(is_start, index=paired.index).groupby(paired["key"]).cumsum()

    starts = paired[is_start]
    closes = paired[~is_start]
    first_close = (closes.groupby(["key", "attempt"]).cumcount() == 0) & (closes["attempt"] > 0)
    matched = closes.loc[first_close, ["key", "attempt", "ts", "phase", "fault", "host", "flavor", "project"]]
    unmatched = closes[~first_close]

    operations = starts.merge(matched, on=["key", "attempt"], how="left", suffixes=("", "_close"))
    operations = _with_outcome(operations, _utc_timestamp(as_of), timeout_s)
    orphans = _orphans(unmatched)
    result = pd.concat([operations, orphans], ignore_index=True) if len(orphans) else operations
    result = _with_scheduling(result, events)
    result["request_id"] = result["request_id"].replace("", None)
    order = result["start"].fillna(result["end"])
    return (
        result.assign(_order=order)
        .sort_values("_order", kind="stable")[OPERATION_COLUMNS]
        .reset_index(drop=True)
    )


def _classify_column(events: pd.DataFrame) -> pd.DataFrame:
    """Classify each distinct (event_type, failed) once and map the result onto all rows."""
    failed = events["fault"].notna()
    pairs = pd.MultiIndex.from_arrays([events["event_type"], failed]).unique()
    table = {pair: classify(pair[0], bool(pair[1])) for pair in pairs}
    found = [table[pair] for pair in zip(events["event_type"], failed, strict=True)]
    return pd.DataFrame(
        {
            "operation": [kind[0] if kind else None for kind in found],
            "phase": [kind[1] if kind else None for kind in found],
        },
        index=events.index,
    )


def _utc_timestamp(as_of: np.datetime64) -> pd.Timestamp:
    """``as_of`` as an aware pandas time, to compare with the frame's ``datetime64[ns, UTC]``."""
    moment = pd.Timestamp(as_of)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def _with_outcome(operations: pd.DataFrame, as_of: pd.Timestamp, timeout_s: float) -> pd.DataFrame:
    closed = operations["phase_close"].notna()
    outcome = np.where(operations["phase_close"] == END, SUCCESS, ERROR).astype(object)
    open_s = (as_of - operations["ts"]).dt.total_seconds()
    outcome[~closed.to_numpy()] = np.where(open_s[~closed] > timeout_s, TIMED_OUT, RUNNING)
    return pd.DataFrame(
        {
            "operation": operations["operation"],
            "instance": operations["instance"],
            "request_id": operations["request_id"],
            "started": True,
            "start": operations["ts"],
            "end": operations["ts_close"],
            "duration_s": (operations["ts_close"] - operations["ts"]).dt.total_seconds(),
            "outcome": outcome,
            "fault": operations["fault_close"].where(operations["phase_close"] == FAIL, None),
            "host": operations["host"].fillna(operations["host_close"]),
            "flavor": operations["flavor"].fillna(operations["flavor_close"]),
            "project": operations["project"].fillna(operations["project_close"]),
        }
    )


def _orphans(closes: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "operation": closes["operation"],
            "instance": closes["instance"],
            "request_id": closes["request_id"],
            "started": False,
            "start": pd.Series(pd.NaT, index=closes.index, dtype="datetime64[ns, UTC]"),
            "end": closes["ts"],
            "duration_s": np.nan,
            "outcome": np.where(closes["phase"] == END, SUCCESS, ERROR),
            "fault": closes["fault"].where(closes["phase"] == FAIL, None),
            "host": closes["host"],
            "flavor": closes["flavor"],
            "project": closes["project"],
        }
    )


def _with_scheduling(operations: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Add ``scheduling_s`` to started creates whose request has a scheduler start before them."""
    operations = operations.assign(scheduling_s=np.nan)
    scheduler = events[events["event_type"].isin(_SCHEDULER_STARTS) & events["request_id"].notna()]
    creates = operations[(operations["operation"] == "create") & operations["started"]]
    if scheduler.empty or creates.empty:
        return operations
    left = creates[["request_id", "start"]].reset_index().sort_values("start")
    right = scheduler[["request_id", "ts"]].sort_values("ts")
    right = right.assign(ts=right["ts"].astype(left["start"].dtype))
    joined = pd.merge_asof(left, right, left_on="start", right_on="ts", by="request_id")
    seconds = (joined["start"] - joined["ts"]).dt.total_seconds()
    operations.loc[joined["index"].to_numpy(), "scheduling_s"] = seconds.to_numpy()
    return operations
