"""The notification bus a listener consumes, its defaults, and the choices of the operation timings."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stackmeter.analysis.operation_stats import GROUPINGS
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S as OPERATION_TIMEOUT_S
from stackmeter.sources.amqp import (
    DEFAULT_EXCHANGE,
    DEFAULT_PRIORITIES,
    DEFAULT_TOPICS,
    PREFETCH_BATCHES,
    BusConsumer,
)

__all__ = [
    "DEFAULT_EXCHANGE",
    "DEFAULT_PRIORITIES",
    "DEFAULT_TOPICS",
    "GROUPINGS",
    "OPERATION_TIMEOUT_S",
    "BusConsumer",
    "connect_bus",
]


def connect_bus(
    url: str,
    exchange: str = DEFAULT_EXCHANGE,
    topics: Sequence[str] = DEFAULT_TOPICS,
    priorities: Sequence[str] = DEFAULT_PRIORITIES,
    durable: bool = False,
    batch_messages: int = 1_000,
    on_status: Callable[[str], None] = lambda line: None,
    stop: Callable[[], bool] = lambda: False,
    give_up_after_s: float | None = None,
) -> BusConsumer:
    """Return a consumer of the queues ``<topic>.<priority>`` bound to ``exchange`` on the RabbitMQ
    at ``url`` (it connects on first fetch), fetching a few batches of ``batch_messages`` ahead.

    :param on_status: called with a line of text when the connection is lost or restored
    :param stop: checked while reconnecting; when true the consumer stops waiting for the broker
    :param give_up_after_s: stop retrying a broker that stays unreachable this long; ``None``: never
    """
    return BusConsumer(
        url,
        exchange,
        topics,
        priorities,
        durable=durable,
        prefetch=max(batch_messages, 1) * PREFETCH_BATCHES,
        on_status=on_status,
        stop=stop,
        give_up_after_s=give_up_after_s,
    )
