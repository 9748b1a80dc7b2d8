import pytest

from stackmeter.errors import ConfigError, SourceUnavailable
from stackmeter.sources.amqp import Backoff, BusConsumer
from tests.rabbitmq_server import free_port


def test_queues_are_named_as_openstack_names_them():
    consumer = BusConsumer(
        "amqp://guest:guest@127.0.0.1:1//", topics=["notifications"], priorities=["info", "error"]
    )
    assert [(q.name, q.routing_key, q.exchange.name) for q in consumer.queues] == [
        ("notifications.info", "notifications.info", "nova"),
        ("notifications.error", "notifications.error", "nova"),
    ]


def test_unreachable_bus_is_retried_with_backoff_without_showing_the_password():
    waits, lines = [], []
    url = f"amqp://stackmeter:s3cret@127.0.0.1:{free_port()}//"
    consumer = BusConsumer(url, backoff=Backoff(0.5, 2.0), on_status=lines.append, sleep=waits.append)
    with pytest.raises(SourceUnavailable) as raised:
        consumer.connect(attempts=4)
    assert sum(waits) == 0.5 + 1.0 + 2.0 and max(waits) <= 0.25  # short steps, to notice a stop
    assert [line.rsplit("retrying in ", 1)[1] for line in lines] == ["0.5 s", "1.0 s", "2.0 s"]
    assert all("s3cret" not in text for text in [*lines, str(raised.value)])


@pytest.mark.parametrize("options", [{"topics": []}, {"priorities": []}, {"prefetch": 0}])
def test_bad_options(options):
    with pytest.raises(ConfigError):
        BusConsumer("amqp://127.0.0.1//", **options)


def test_a_stop_while_reconnecting_gives_up_quietly():
    waits = []
    consumer = BusConsumer(
        f"amqp://127.0.0.1:{free_port()}//", sleep=waits.append, stop=lambda: len(waits) >= 3
    )
    assert consumer.connect() is False
    assert consumer.fetch(10, 0.1).deliveries == []
