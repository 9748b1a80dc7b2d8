"""Consume the OpenStack notification bus (RabbitMQ) in batches that are acknowledged later.

OpenStack's notifier publishes to a topic exchange (``nova`` for nova) with routing keys
``<topic>.<priority>`` (``notifications.info``, ``versioned_notifications.error``, …) and
consumers read queues of the same names. :class:`BusConsumer` declares those queues, hands out
messages in batches, and acknowledges a batch only when told to — after the caller has stored
it — so a crash between receiving and storing loses nothing: the broker delivers the batch again.

When the broker goes away the pending batch is dropped (it will be delivered again) and the
consumer reconnects with exponential backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, Protocol

from kombu import Connection, Consumer, Exchange, Queue
from kombu.exceptions import OperationalError
from kombu.message import Message

from stackmeter.errors import ConfigError, SourceUnavailable

DEFAULT_EXCHANGE = "nova"
DEFAULT_TOPICS = ("notifications", "versioned_notifications")
DEFAULT_PRIORITIES = ("info", "warn", "error", "critical")
# The broker may send this many batches ahead, so it keeps streaming while a batch is stored.
PREFETCH_BATCHES = 3


class Delivery(NamedTuple):
    """One message as delivered: the queue it came from and its raw body."""

    queue: str
    body: bytes


class Batch(NamedTuple):
    """Messages received together; acknowledge them with :meth:`BusConsumer.ack`."""

    deliveries: list[Delivery]
    last_message: Message | None  # the one with the highest delivery tag
    epoch: int


class NotificationBus(Protocol):
    """What ``operations.listen`` needs of a bus (:class:`BusConsumer` for RabbitMQ)."""

    def connect(self) -> bool:
        """Connect (retrying as the bus sees fit); ``False`` if told to stop first."""

    def fetch(self, max_messages: int, max_wait_s: float) -> Batch:
        """Up to ``max_messages`` messages, waiting at most ``max_wait_s``."""

    def ack(self, batch: Batch) -> bool:
        """Acknowledge a stored batch; ``False`` if the bus will deliver it again."""

    def close(self) -> None:
        """Stop; unacknowledged messages go back to the bus."""


class Backoff(NamedTuple):
    """Delays between reconnection attempts: ``first_s`` doubling up to ``max_s``."""

    first_s: float = 0.5
    max_s: float = 30.0

    def delays(self) -> Iterator[float]:
        delay = self.first_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_s)


class BusConsumer:
    """Batches of notifications from RabbitMQ, acknowledged by the caller after storing them.

    :param url: AMQP URL, ``amqp://user:password@host:5672/vhost``
    :param exchange: the exchange the services publish to (``nova``)
    :param topics: notification topics (``notifications`` for legacy, ``versioned_notifications``)
    :param priorities: the priorities to consume; one queue ``<topic>.<priority>`` each
    :param durable: declare the exchange and queues durable (oslo.messaging's
        ``amqp_durable_queues``); must match how the services declare them
    :param prefetch: how many unacknowledged messages the broker may send ahead; a batch is at
        most this long, and a few batches' worth keeps the broker streaming while one is stored
    :param on_status: called with a line of text when the connection is lost or restored
    :param sleep: how to wait between reconnection attempts
    :param heartbeat_s: AMQP heartbeat interval; a broker silent for two of them is taken as lost
    :param give_up_after_s: stop retrying a broker that stays unreachable this long (in backoff
        time) and raise :class:`SourceUnavailable`; ``None`` retries for ever
    :param stop: checked while reconnecting; when it returns true the consumer gives up waiting
        for the broker and :meth:`fetch` returns an empty batch
    """

    def __init__(
        self,
        url: str,
        exchange: str = DEFAULT_EXCHANGE,
        topics: Sequence[str] = DEFAULT_TOPICS,
        priorities: Sequence[str] = DEFAULT_PRIORITIES,
        durable: bool = False,
        prefetch: int = 2000,
        backoff: Backoff = Backoff(),
        on_status: Callable[[str], None] = lambda line: None,
        sleep: Callable[[float], None] = time.sleep,
        stop: Callable[[], bool] = lambda: False,
        heartbeat_s: float = 60,
        give_up_after_s: float | None = None,
    ):
        if not topics or not priorities:
            raise ConfigError("at least one topic and one priority are needed to consume notifications")
        if prefetch < 1:
            raise ConfigError(f"prefetch must be at least 1, not {prefetch}")
        self._url = url
        self._exchange = Exchange(exchange, type="topic", durable=durable)
        names = [f"{topic}.{priority}" for topic in topics for priority in priorities]
        self.queues = [
            Queue(name, self._exchange, routing_key=name, durable=durable, auto_delete=False)
            for name in names
        ]
        self._prefetch = prefetch
        self._backoff = backoff
        self._on_status = on_status
        self._sleep = sleep
        self._stop = stop
        self._heartbeat_s = heartbeat_s
        self._give_up_after_s = give_up_after_s
        self._connection: Connection | None = None
        self._consumer: Consumer | None = None
        self._pending: list[Delivery] = []
        self._last: Message | None = None
        self._epoch = 0
        probe = Connection(url)
        self._error_types = (*probe.connection_errors, *probe.channel_errors, OperationalError, OSError)
        self._url_shown = probe.as_uri(include_password=False)

    def connect(self, attempts: int | None = None) -> bool:
        """Connect, declare the queues and start consuming, retrying with backoff.

        Returns ``False`` when ``stop`` became true before a connection was made.

        :param attempts: give up after this many failed attempts (``None``: as ``give_up_after_s`` says)
        :raises SourceUnavailable: when ``attempts`` or ``give_up_after_s`` ran out
        """
        self._drop_connection()
        failures = 0
        waited_s = 0.0
        for delay in self._backoff.delays():
            try:
                self._open()
                if failures:
                    self._on_status(f"connected to {self._safe_url()} after {failures} failed attempt(s)")
                return True
            except self._errors() as exc:
                self._drop_connection()
                failures += 1
                if attempts is not None and failures >= attempts:
                    raise SourceUnavailable(f"cannot reach {self._safe_url()}: {exc}") from exc
                if self._give_up_after_s is not None and waited_s >= self._give_up_after_s:
                    raise SourceUnavailable(
                        f"cannot reach {self._safe_url()} for {waited_s:g} s, giving up: {exc}"
                    ) from exc
                waited_s += delay
                self._on_status(f"cannot reach {self._safe_url()} ({exc}); retrying in {delay:.1f} s")
                if not self._wait(delay):
                    return False
        return False  # unreachable: the delays never end

    def _wait(self, delay: float) -> bool:
        """Sleep ``delay`` seconds in short steps; ``False`` as soon as ``stop`` is true."""
        left = delay
        while left > 0:
            if self._stop():
                return False
            step = min(left, 0.25)
            self._sleep(step)
            left -= step
        return not self._stop()

    def fetch(self, max_messages: int, max_wait_s: float) -> Batch:
        """Return up to ``max_messages`` messages, waiting at most ``max_wait_s`` for them.

        If the connection drops meanwhile, the messages received on it are dropped (the broker
        delivers them again) and the consumer reconnects before returning what it has.
        """
        if self._connection is None and not self.connect():
            return Batch([], None, self._epoch)
        assert self._connection is not None  # connect() returned True
        limit = min(max_messages, self._prefetch)
        deadline = time.monotonic() + max_wait_s
        try:
            self._connection.heartbeat_check()  # a broker gone silent counts as lost
        except self._errors() as exc:
            self._on_status(f"lost {self._safe_url()} ({exc}); reconnecting")
            self.connect()
        while self._connection is not None and len(self._pending) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self._connection.drain_events(timeout=min(left, 1.0))
            except TimeoutError:
                continue
            except self._errors() as exc:
                self._on_status(f"lost {self._safe_url()} ({exc}); reconnecting")
                self.connect()
                break
        batch = Batch(self._pending, self._last, self._epoch)
        self._pending, self._last = [], None
        return batch

    def ack(self, batch: Batch) -> bool:
        """Acknowledge every message of ``batch`` (one ``basic.ack`` with ``multiple``).

        Returns ``False`` when the connection the batch came on is gone: the broker has put those
        messages back and will deliver them again, so storing must be idempotent.
        """
        if batch.last_message is None:
            return True
        if batch.epoch != self._epoch:
            return False
        try:
            batch.last_message.ack(multiple=True)
            return True
        except self._errors() as exc:
            self._on_status(f"lost {self._safe_url()} while acknowledging ({exc}); reconnecting")
            self.connect()
            return False

    def close(self) -> None:
        """Stop consuming and close the connection; unacknowledged messages go back to the queue."""
        self._drop_connection()

    def _open(self) -> None:
        # Bounded reads and writes: a broker that accepts the connection but does not answer
        # (frozen, overloaded) must not hang the handshake forever.
        connection = Connection(
            self._url,
            connect_timeout=5,
            heartbeat=self._heartbeat_s,
            transport_options={"read_timeout": 5, "write_timeout": 5},
        )
        connection.ensure_connection(max_retries=0)
        channel = connection.channel()
        channel.basic_qos(prefetch_size=0, prefetch_count=self._prefetch, a_global=False)
        consumer = Consumer(channel, queues=self.queues, on_message=self._receive, no_ack=False)
        consumer.declare()
        consumer.consume()
        self._connection, self._consumer = connection, consumer
        self._epoch += 1

    def _receive(self, message: Message) -> None:
        queue = message.delivery_info.get("routing_key", "")
        raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        self._pending.append(Delivery(queue, raw))
        self._last = message

    def _drop_connection(self) -> None:
        self._pending, self._last = [], None
        connection, self._connection, self._consumer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
                pass

    def _errors(self) -> tuple[type[BaseException], ...]:
        return self._error_types

    def _safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return self._url_shown
