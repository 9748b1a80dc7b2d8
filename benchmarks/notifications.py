"""Sustained consumption of nova notifications from a real RabbitMQ into the DuckDB store.

Starts a private RabbitMQ (Debian ``rabbitmq-server``), fills the notification queues with a
stream materialised from the production StackTach sequences (legacy and versioned messages,
mostly in the oslo 2.0 envelope, ~1 % malformed), then drains them:

- ``stackmeter``: ``operations.listen`` — parse, write each batch in one transaction, then ack;
  once holding the store open (``--hold-store``), once opening the file for each batch (the
  default of ``stackmeter listen``, which lets other commands read the store meanwhile);
- ``kombu ack only``: the same queues consumed and acknowledged with no parsing or storing,
  the ceiling the broker and client allow on this machine.

Rates are messages per second from the first delivery to the last acknowledgement.

Run from the repository root: ``python benchmarks/notifications.py [--operations 4000] [--batch 1000]``.
The sequences come from ``../shared/data/stacktach_sequences`` (or ``$STACKMETER_DATA``) when it
is there, else from the excerpt in ``tests/fixtures``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kombu import Connection, Consumer, Exchange, Producer, Queue

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.rabbitmq_server import RabbitServer  # noqa: E402

from benchmarks.notification_stream import SEQUENCES, build_stream, load_sequences  # noqa: E402
from stackmeter import operations  # noqa: E402
from stackmeter.sources.amqp import DEFAULT_PRIORITIES, DEFAULT_TOPICS, PREFETCH_BATCHES, BusConsumer  # noqa: E402
from stackmeter.store import open_store  # noqa: E402

QUEUES = [f"{topic}.{priority}" for topic in DEFAULT_TOPICS for priority in DEFAULT_PRIORITIES]
EXCHANGE = Exchange("nova", type="topic", durable=True)
DATA = Path(os.environ.get("STACKMETER_DATA", ROOT.parent / "shared" / "data"))


def fill(url: str, messages: list[tuple[str, str]]) -> float:
    started = time.perf_counter()
    with Connection(url) as connection:
        producer = Producer(connection.channel(), exchange=EXCHANGE)
        for name in QUEUES:
            Queue(name, EXCHANGE, routing_key=name, durable=True)(producer.channel).declare()
        for key, body in messages:
            producer.publish(
                body,
                routing_key=key,
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
            )
    return time.perf_counter() - started


def drain_with_stackmeter(
    url: str, store_path: str, batch: int, shared: bool
) -> tuple[int, float, tuple[int, int]]:
    """Drain with ``operations.listen``: holding the store open, or (``shared``) opening the file
    for each batch as ``stackmeter listen`` does by default."""
    marks: list[float] = []
    with open_store(store_path):
        pass  # create and migrate outside the timing
    with open_store(store_path) as store:
        consumer = BusConsumer(url, durable=True, prefetch=batch * PREFETCH_BATCHES)
        target = (lambda: open_store(store_path)) if shared else store
        if shared:
            store.close()
        first = time.perf_counter()
        summary = operations.listen(
            target,
            consumer,
            batch,
            max_wait_s=0.5,
            idle_exit_s=2.0,
            progress=lambda s: marks.append(time.perf_counter()),
        )
    with open_store(store_path) as store:
        held = store.count_notifications()
    return summary.messages, (marks[-1] - first) if marks else 0.0, held


def drain_ack_only(url: str, batch: int) -> tuple[int, float]:
    received: list = []
    with Connection(url) as connection:
        channel = connection.channel()
        channel.basic_qos(0, batch, False)
        queues = [Queue(name, EXCHANGE, routing_key=name, durable=True) for name in QUEUES]
        consumer = Consumer(channel, queues=queues, on_message=received.append, no_ack=False)
        consumer.consume()
        first = last = last_delivery = time.perf_counter()
        acked = 0
        while True:
            try:
                connection.drain_events(timeout=0.2)
                last_delivery = time.perf_counter()
            except TimeoutError:
                pass
            pending = len(received) - acked
            quiet = time.perf_counter() - last_delivery
            if pending >= batch or (pending and quiet > 0.2):
                received[-1].ack(multiple=True)
                acked, last = len(received), time.perf_counter()
            elif not pending and quiet > 2.0:
                break
    return acked, last - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=4000, help="operations in the stream")
    parser.add_argument("--batch", type=int, default=1000, help="messages per transaction and ack")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # stop the broker on the way out

    folder = DATA / "stacktach_sequences"
    folder = folder if folder.is_dir() else SEQUENCES
    sequences = load_sequences(folder)
    stream = build_stream(args.operations, seed=7, malformed=args.operations // 10, sequences=sequences)
    print(f"sequences: {len(sequences)} from {folder}")
    sizes = [len(body) for _, body in stream.messages]
    print(f"stream: {len(stream.messages):,} messages, {sum(sizes) / 2**20:.0f} MiB, "
          f"mean {sum(sizes) / len(sizes):,.0f} B; {len(stream.planted):,} operations")  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="stackmeter-bench-"))
    server = RabbitServer(folder / "node")
    try:
        server.start()
        published = fill(server.url, stream.messages)
        print(f"published in {published:.1f} s ({len(stream.messages) / published:,.0f}/s, persistent)")
        rates = {}
        for shared, name in ((False, "held"), (True, "shared")):
            if shared:
                fill(server.url, stream.messages)
            path = str(folder / f"bench-{name}.duckdb")
            count, seconds, held = drain_with_stackmeter(server.url, path, args.batch, shared)
            rates[name] = count / seconds
            print(f"stackmeter listen, store {name}: {count:,} messages in {seconds:.2f} s = {rates[name]:,.0f}/s "
                  f"(stored {held[0]:,} events, {held[1]:,} dead letters)")  # fmt: skip
        ours = rates["held"]
        fill(server.url, stream.messages)
        count, seconds = drain_ack_only(server.url, args.batch)
        ceiling = count / seconds
        print(f"kombu ack only:    {count:,} messages in {seconds:.2f} s = {ceiling:,.0f}/s")
        print(f"ratio shared / ack-only: {rates['shared'] / ceiling:.2f}")
        print(f"ratio held / ack-only: {ours / ceiling:.2f}")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
