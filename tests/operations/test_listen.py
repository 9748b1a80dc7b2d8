"""``operations.listen`` with a bus given as data: acknowledgement strictly after the write."""

import json

import pytest

from stackmeter import operations
from stackmeter.errors import ConfigError, StoreError
from stackmeter.models import NOT_JSON
from stackmeter.sources.amqp import Batch, Delivery


def message(n, event_type="instance.reboot.start"):
    body = {"event_type": event_type, "timestamp": f"2026-03-02 10:00:{n:02d}", "message_id": f"m{n}",
            "payload": {"nova_object.data": {"uuid": "vm-1", "request_id": "req-1"}}}  # fmt: skip
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(body)}).encode()


class ScriptedBus:
    """A bus that hands out the given batches, then nothing; it records what the store held
    whenever a batch was acknowledged."""

    def __init__(self, batches, store):
        self.batches = [
            Batch([Delivery("notifications.info", body) for body in bodies], object(), 1)
            for bodies in batches
        ]
        self.store = store
        self.acked_when_stored: list[tuple[int, int]] = []
        self.closed = False

    def connect(self):
        return True

    def fetch(self, max_messages, max_wait_s):
        return self.batches.pop(0) if self.batches else Batch([], None, 1)

    def ack(self, batch):
        self.acked_when_stored.append(self.store.count_notifications())
        return True

    def close(self):
        self.closed = True


def test_each_batch_is_acknowledged_after_it_is_stored(store):
    bus = ScriptedBus(
        [[message(1), message(2), b"{oops"], [message(2), message(3, "instance.reboot.end")]], store
    )
    progress = []
    summary = operations.listen(store, bus, stop=lambda: not bus.batches, progress=progress.append)
    assert bus.acked_when_stored == [(2, 1), (3, 1)]
    assert (summary.messages, summary.events_added, summary.duplicates, summary.dead_letters) == (5, 3, 1, 1)
    assert summary.dead_by_reason == {NOT_JSON: 1}
    assert [p.messages for p in progress] == [3, 5]
    assert bus.closed


def test_idle_exit_returns_when_the_bus_stays_empty(store):
    bus = ScriptedBus([[message(1)]], store)
    summary = operations.listen(store, bus, idle_exit_s=0.0)
    assert summary.events_added == 1 and bus.closed


def test_a_failed_write_is_never_acknowledged(store):
    bus = ScriptedBus([[message(1)]], store)
    store.close()
    with pytest.raises(StoreError, match="not written"):
        operations.listen(store, bus, stop=lambda: False)
    assert bus.acked_when_stored == [] and bus.closed


@pytest.mark.parametrize(("batch", "wait"), [(0, 1.0), (10, 0.0)])
def test_an_empty_batch_or_no_wait_is_refused(store, batch, wait):
    with pytest.raises(ConfigError):
        operations.listen(store, ScriptedBus([], store), batch, wait)
