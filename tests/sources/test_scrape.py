"""Scraping many targets: one failing never affects another; failures are statuses, gaps and rejections."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from stackmeter.errors import ConfigError
from stackmeter.models import DOWN, PENDING, UP, TargetStatus
from stackmeter.sources.exposition import CounterState
from stackmeter.sources.scrape import (
    SCRAPE_FAILED,
    Fetched,
    Target,
    fetch_expositions,
    parse_fetched,
    parse_targets,
    scrape_round,
    update_status,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
NODE = (FIXTURES / "node_exporter" / "e2e-output.txt").read_text(encoding="utf-8")
LIBVIRT = (FIXTURES / "libvirt" / "tinkoff_README_metrics_example.prom").read_text(encoding="utf-8")
EVERY_S = 15
NS = 1_000_000_000


class Clock:
    def __init__(self, start_ns: int = 1_772_445_600 * NS):
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * NS)


def bump_disk(text: str, seconds: float) -> str:
    """node_exporter text with sda's io time advanced by ``seconds``."""
    old = 'node_disk_io_time_seconds_total{device="sda"} 9653.880000000001'
    return text.replace(
        old, f'node_disk_io_time_seconds_total{{device="sda"}} {9653.880000000001 + seconds!r}'
    )


class Fleet:
    """Fake exporters by host name; ``answers[host]`` is a response, an exception, or a callable."""

    def __init__(self, answers: dict):
        self.answers = answers
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.host)
        answer = self.answers[request.url.host]
        answer = answer() if callable(answer) and not isinstance(answer, httpx.Response) else answer
        if isinstance(answer, Exception):
            raise answer
        return answer


TARGETS = [
    Target("http://good:9100/metrics"),
    Target("http://broken:9100/metrics"),
    Target("http://refused:9100/metrics"),
    Target("http://slow:9100/metrics"),
    Target("http://html:9100/metrics"),
    Target("http://vms:9177/metrics", "libvirt"),
]


def fleet_answers(disk_s: float) -> dict:
    return {
        "good": httpx.Response(200, text=bump_disk(NODE, disk_s)),
        "broken": httpx.Response(500, text="collector panicked"),
        "refused": httpx.ConnectError("[Errno 111] Connection refused"),
        "slow": httpx.ReadTimeout("read timed out"),
        "html": httpx.Response(200, text="<html>\n<body>\n" + "<p>maintenance</p>\n" * 60 + "</html>\n"),
        "vms": httpx.Response(200, text=LIBVIRT),
    }


def test_one_round_keeps_good_targets_and_reports_each_failure():
    clock = Clock()
    transport = httpx.MockTransport(Fleet(fleet_answers(0.0)))
    parts, statuses, states = scrape_round(TARGETS, {}, {}, EVERY_S, transport=transport, clock_ns=clock)
    assert {url for url, s in statuses.items() if s.state == UP} == {
        "http://good:9100/metrics",
        "http://vms:9177/metrics",
    }
    errors = {url: s.last_error for url, s in statuses.items() if s.state == DOWN}
    assert errors == {
        "http://broken:9100/metrics": "HTTP 500: collector panicked",
        "http://refused:9100/metrics": "cannot connect ([Errno 111] Connection refused)",
        "http://slow:9100/metrics": "timed out after 10 s (ReadTimeout)",
        "http://html:9100/metrics": "http://html:9100/metrics: not a Prometheus exposition: over 50 bad lines",
    }
    failed = {
        p.origin: p.rejections[0] for p in parts if p.rejections and p.rejections[0].reason == SCRAPE_FAILED
    }
    assert set(failed) == set(errors)
    assert set(states) == {"http://good:9100/metrics", "http://vms:9177/metrics"}


def test_rates_flow_for_good_targets_while_others_back_off():
    clock = Clock()
    fleet = Fleet(fleet_answers(0.0))
    transport = httpx.MockTransport(fleet)
    _, statuses, states = scrape_round(TARGETS, {}, {}, EVERY_S, transport=transport, clock_ns=clock)
    clock.advance(EVERY_S)
    fleet.answers = fleet_answers(6.0)  # sda busy 6 s out of 15
    fleet.requests.clear()
    parts, statuses, states = scrape_round(
        TARGETS, statuses, states, EVERY_S, transport=transport, clock_ns=clock
    )
    good = next(p for p in parts if p.origin == "http://good:9100/metrics")
    disk = dict(zip(good.samples.resource, good.samples.used, strict=True))["disk"]
    assert disk == pytest.approx(6.0 / EVERY_S)
    # failures back off: 15 s after the first failure they are due again, and fail a second time
    assert statuses["http://broken:9100/metrics"].failures == 2
    clock.advance(EVERY_S)  # second failure: next try after 30 s, so this round skips them
    fleet.requests.clear()
    scrape_round(TARGETS, statuses, states, EVERY_S, transport=transport, clock_ns=clock)
    assert sorted(fleet.requests) == ["good", "vms"]


def test_a_target_back_from_failure_starts_afresh():
    clock = Clock()
    answers = {"good": httpx.Response(200, text=NODE)}
    fleet = Fleet(answers)
    transport = httpx.MockTransport(fleet)
    target = [Target("http://good:9100/metrics")]
    _, statuses, states = scrape_round(target, {}, {}, EVERY_S, transport=transport, clock_ns=clock)
    clock.advance(EVERY_S)
    answers["good"] = httpx.Response(503, text="busy")
    _, statuses, states = scrape_round(target, statuses, states, EVERY_S, transport=transport, clock_ns=clock)
    assert states == {} and statuses[target[0].url].state == DOWN
    clock.advance(EVERY_S)
    answers["good"] = httpx.Response(200, text=bump_disk(NODE, 30.0))
    parts, statuses, _ = scrape_round(target, statuses, states, EVERY_S, transport=transport, clock_ns=clock)
    # no rate over the failed interval: the gap stays a gap
    assert "disk" not in set(parts[0].samples.resource)
    status = statuses[target[0].url]
    assert status.state == UP and status.last_error == "HTTP 503: busy"
    assert status.lag_s(np.datetime64(clock() + 5 * NS, "ns")) == 5.0


def test_backoff_doubles_up_to_a_ceiling():
    status = TargetStatus("http://x:9100/metrics", "node_exporter")
    assert status.state == PENDING and status.lag_s(np.datetime64(0, "ns")) is None
    fetched = Fetched(Target("http://x:9100/metrics"), np.datetime64(0, "ns"), None, "", "cannot connect")
    waits = []
    for _ in range(8):
        status = update_status(status, fetched, 10)
        waits.append((status.next_attempt - fetched.scraped) / np.timedelta64(1, "s"))
    assert waits == [10, 20, 40, 80, 160, 300, 300, 300]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_real_sockets_refused_and_silent():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections, never answers
    try:
        refused_url = f"http://127.0.0.1:{free_port()}/metrics"
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/metrics"
        fetched = fetch_expositions([Target(refused_url), Target(silent_url)], timeout_s=0.3)
    finally:
        silent.close()
    errors = {f.target.url: f.error for f in fetched}
    assert errors[refused_url].startswith("cannot connect")
    assert errors[silent_url].startswith("timed out")


def test_an_exporter_that_trickles_its_answer_times_out_as_a_whole():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    done = threading.Event()

    def trickle():
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n")
            while not done.wait(0.05):  # a byte every 50 ms: never a read timeout, never an answer
                connection.sendall(b"#")

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/metrics"
    try:
        [fetched] = fetch_expositions([Target(url)], timeout_s=0.4)
    finally:
        done.set()
        server.join(timeout=5)
        listener.close()
    assert fetched.error.startswith("timed out after 0.4 s")


def test_targets_from_flags_and_file(tmp_path):
    targets_file = tmp_path / "targets.txt"
    targets_file.write_text(
        "# hypervisors\nhttp://compute-1:9100/metrics\nhttp://compute-1:9177/metrics libvirt  # VMs\n\n"
    )
    targets = parse_targets(["http://compute-2:9100/metrics", "http://compute-1:9100/metrics"], targets_file)
    assert targets == [
        Target("http://compute-2:9100/metrics"),
        Target("http://compute-1:9100/metrics"),
        Target("http://compute-1:9177/metrics", "libvirt"),
    ]


def test_credentials_in_target_urls_are_refused():
    with pytest.raises(ConfigError, match="credentials in a URL would be stored and shown"):
        parse_targets(["http://scraper:s3cret@compute-1:9100/metrics"])
    assert parse_targets(["http://compute-1:9100/metrics?a=b@c"])  # an @ after the host is not a password


@pytest.mark.parametrize("line", ["compute-1:9100", "http://c:9100/metrics snmp", "http://c a b"])
def test_bad_target_lines_are_config_errors(tmp_path, line):
    targets_file = tmp_path / "targets.txt"
    targets_file.write_text(f"http://ok:9100/metrics\n{line}\n")
    with pytest.raises(ConfigError, match=r"targets.txt:2: expected 'URL \[node_exporter\|libvirt\]'"):
        parse_targets([], targets_file)


def test_no_targets_is_a_config_error():
    with pytest.raises(ConfigError, match="no targets"):
        parse_targets([])


def test_openmetrics_answers_are_parsed_as_openmetrics():
    body = (LIBVIRT + "# EOF\n").encode()
    fetched = Fetched(
        Target("http://vms:9177/metrics", "libvirt"),
        np.datetime64(0, "ns"),
        body,
        "application/openmetrics-text",
        None,
    )
    parsed, state = parse_fetched(fetched, CounterState())
    assert "memory" in set(parsed.samples.resource) and state.values
    cut = Fetched(
        fetched.target, fetched.scraped, LIBVIRT.encode(), "application/openmetrics-text; version=1.0.0", None
    )
    parsed, _ = parse_fetched(cut, CounterState())
    assert [r.reason for r in parsed.rejections if r.reason == "exposition truncated"] == [
        "exposition truncated"
    ]


def test_bad_bytes_in_an_answer_cost_only_their_line():
    body = (
        NODE.encode() + b'node_memory_MemAvailable_bytes{x="\xff"} 1\nnode_memory_MemAvailable_bytes 1.5e9\n'
    )
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    parts, statuses, _ = scrape_round([Target("http://h:9100/metrics")], {}, {}, EVERY_S, transport=transport)
    assert statuses["http://h:9100/metrics"].state == UP
    [rejection] = [r for r in parts[0].rejections if r.reason == "invalid UTF-8"]
    assert rejection.line == NODE.count("\n") + 1
    assert dict(zip(parts[0].samples.resource, parts[0].samples.used, strict=True))["memory"] > 0


def test_an_answer_cut_short_is_a_failed_scrape():
    def cut_short(request):
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    fetched = fetch_expositions([Target("http://h:9100/metrics")], transport=httpx.MockTransport(cut_short))
    assert fetched[0].error.startswith("RemoteProtocolError (peer closed connection")
