"""``stackmeter listen`` against a real RabbitMQ: crash the consumer, restart the broker, lose nothing.

Publishes more than 10,000 notifications materialised from production sequences (interleaved
operations, failures, operations that never end, duplicates, malformed messages), then checks
that every operation is counted exactly once with its planted duration and every malformed
message is in the dead-letter store.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from benchmarks.notification_stream import build_stream
from kombu import Connection, Exchange, Producer, Queue

from stackmeter.analysis.pairing import pair_operations
from stackmeter.sources.amqp import DEFAULT_PRIORITIES, DEFAULT_TOPICS, BusConsumer
from stackmeter.store import open_store
from tests.rabbitmq_server import start_rabbit

pytestmark = pytest.mark.integration

QUEUES = [f"{topic}.{priority}" for topic in DEFAULT_TOPICS for priority in DEFAULT_PRIORITIES]
EXCHANGE = Exchange("nova", type="topic", durable=True)


@pytest.fixture(scope="module")
def rabbit():
    server = start_rabbit()
    yield server
    server.remove()


def publish(url: str, messages: list[tuple[str, str]]) -> None:
    """Publish persistent messages as OpenStack's notifier does (queues declared first)."""
    queues = [Queue(name, EXCHANGE, routing_key=name, durable=True) for name in QUEUES]
    with Connection(url) as connection:
        producer = Producer(connection.channel(), exchange=EXCHANGE)
        for queue in queues:
            queue(producer.channel).declare()
        for routing_key, body in messages:
            producer.publish(
                body, routing_key=routing_key, delivery_mode=2,
                content_type="application/json", content_encoding="utf-8",
            )  # fmt: skip


def ready_messages(url: str) -> int:
    with Connection(url) as connection:
        channel = connection.channel()
        return sum(channel.queue_declare(name, passive=True).message_count for name in QUEUES)


class Listener:
    """``stackmeter listen`` in its own process, with its progress lines collected."""

    def __init__(self, url: str, store: str, *extra: str):
        command = [sys.executable, "-c", "from stackmeter.cli import app; app()", "listen", "--amqp", url,
                   "--durable", "--store", store, "--batch", "500", "--max-wait", "0.5", *extra]  # fmt: skip
        self.process = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip())

    def committed(self) -> int:
        counts = [
            int(m.group(1)) for line in self.lines if (m := re.match(r"committed (\d+) messages", line))
        ]
        return max(counts, default=0)

    def wait_for(self, predicate, what: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if self.process.poll() is not None:
                pytest.fail(
                    f"listener exited with {self.process.returncode} before {what}: {self.lines[-5:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"listener did not reach {what} in {timeout_s} s: {self.lines[-5:]}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self._reader.join(timeout=5)
        return code


def test_listen_survives_a_crash_and_a_broker_restart(rabbit, tmp_path):
    stream = build_stream(950, seed=2026, malformed=150)
    assert len(stream.messages) >= 10_000
    store = str(tmp_path / "bus.duckdb")
    messages = stream.messages
    first, second = int(len(messages) * 0.4), int(len(messages) * 0.7)

    publish(rabbit.url, messages[:first])
    crashed = Listener(rabbit.url, store)
    crashed.wait_for(lambda: crashed.committed() >= 1_500, "1,500 committed messages")
    assert crashed.stop(signal.SIGKILL) == -signal.SIGKILL  # mid-stream, with a batch in flight
    assert crashed.committed() < first

    publish(rabbit.url, messages[first:second])
    listener = Listener(rabbit.url, store)
    listener.wait_for(lambda: listener.committed() >= 2_000, "2,000 committed messages after the restart")
    # the listener opens the store file for each batch only, so a report can read it meanwhile
    report = subprocess.run(
        [sys.executable, "-c", "from stackmeter.cli import app; app()", "operations", "--store", store, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["operations"] > 0
    rabbit.stop()
    rabbit.start()
    publish(rabbit.url, messages[second:])
    listener.wait_for(
        lambda: any(line.startswith("connected to") for line in listener.lines), "a reconnection"
    )
    listener.wait_for(lambda: ready_messages(rabbit.url) == 0, "empty queues", timeout_s=120)
    time.sleep(1.5)  # the last batch: written, then acknowledged
    assert listener.stop() == 0
    assert any(line.startswith("lost ") for line in listener.lines)

    drain = Listener(rabbit.url, store, "--idle-exit", "2")
    assert drain.process.wait(timeout=60) == 0
    assert ready_messages(rabbit.url) == 0

    with open_store(store) as opened:
        assert opened.count_notifications() == (stream.valid, stream.malformed)
        events = opened.read_events()
        dead = opened.read_dead_letters()
    assert sorted(letter.body for letter in dead) == sorted(stream.malformed_bodies)
    assert collections.Counter(letter.origin for letter in dead) == {"notifications.info": stream.malformed}

    as_of = pd.Timestamp(stream.last_ts) + pd.Timedelta(hours=1)
    operations = pair_operations(events, as_of)

    def key(operation, instance, request, started, duration, outcome):
        duration = None if duration is None or pd.isna(duration) else round(duration, 6)
        return operation, instance, request, bool(started), duration, outcome

    found = collections.Counter(
        key(row.operation, row.instance, row.request_id, row.started, row.duration_s,
            "open" if row.outcome == "timed_out" else row.outcome)
        for row in operations.itertuples()
    )  # fmt: skip
    planted = collections.Counter(key(*operation) for operation in stream.planted)
    assert found == planted
    outcomes = collections.Counter(operation.outcome for operation in stream.planted)
    assert outcomes["success"] > 500 and outcomes["error"] > 50 and outcomes["open"] > 20


def test_a_broker_gone_silent_is_noticed_by_heartbeats(rabbit):
    lines: list[str] = []
    giving_up = [False]

    def status(line: str) -> None:
        lines.append(line)
        giving_up[0] = giving_up[0] or line.startswith("lost ")  # then stop knocking on a frozen broker

    consumer = BusConsumer(
        rabbit.url, durable=True, heartbeat_s=1, on_status=status, stop=lambda: giving_up[0]
    )
    assert consumer.connect()
    beam = int((rabbit.base / "rabbit.pid").read_text())
    os.kill(beam, signal.SIGSTOP)  # the broker stops answering, its socket stays open
    try:
        deadline = time.monotonic() + 30
        while not giving_up[0] and time.monotonic() < deadline:
            consumer.fetch(10, 0.5)
    finally:
        os.kill(beam, signal.SIGCONT)
    assert [line.split(" ")[0] for line in lines] == ["lost", "cannot"], lines
    assert "Too many heartbeats missed" in lines[0] and "timed out" in lines[1]  # no hanging handshake
    giving_up[0] = False
    publish(rabbit.url, [("notifications.info", '{"event_type": "x"}')])
    assert [d.body for d in consumer.fetch(10, 5).deliveries] == [b'{"event_type": "x"}']
    consumer.close()
