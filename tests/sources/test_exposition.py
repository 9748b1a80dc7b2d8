"""Exposition parsing: both formats, and bad input reported with its line, the rest kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from stackmeter import models
from stackmeter.errors import ParseError
from stackmeter.sources.exposition import (
    INVALID_LINE,
    INVALID_UTF8,
    TRUNCATED,
    CounterState,
    parse_exposition,
    rate_counters,
    series_of,
    to_ns,
)

TEXT = """\
# HELP node_disk_io_time_seconds_total Total seconds spent doing I/Os.
# TYPE node_disk_io_time_seconds_total counter
node_disk_io_time_seconds_total{device="sda"} 100.5
node_disk_io_time_seconds_total{device="vda"} 41614.592
# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 3.831959552e+09
# HELP node_network_speed_bytes Network device property: speed_bytes
# TYPE node_network_speed_bytes gauge
node_network_speed_bytes{device="eth0"} 1.25e+08
node_network_speed_bytes{device="eth1"} 1.25e+09
"""

OPENMETRICS = """\
# TYPE node_disk_io_time_seconds counter
# UNIT node_disk_io_time_seconds seconds
node_disk_io_time_seconds_total{device="sda"} 100.5
node_disk_io_time_seconds_total{device="vda"} 41614.592
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 3.831959552e+09
# EOF
"""

ALL = {
    "node_disk_io_time_seconds_total": [({"device": "sda"}, 100.5), ({"device": "vda"}, 41614.592)],
    "node_memory_MemTotal_bytes": [({}, 3.831959552e09)],
    "node_network_speed_bytes": [({"device": "eth0"}, 1.25e08), ({"device": "eth1"}, 1.25e09)],
}


def test_text_format_keeps_only_the_names_asked_for():
    exposition = parse_exposition(TEXT, "t", names=["node_memory_MemTotal_bytes"])
    assert exposition.values == {"node_memory_MemTotal_bytes": ALL["node_memory_MemTotal_bytes"]}
    assert exposition.rejections == ()
    assert parse_exposition(TEXT, "t").values == ALL


def test_openmetrics_is_recognised_by_its_eof():
    exposition = parse_exposition(OPENMETRICS, "t")
    expected = {name: ALL[name] for name in ("node_disk_io_time_seconds_total", "node_memory_MemTotal_bytes")}
    assert exposition.values == expected
    assert exposition.rejections == ()


def test_openmetrics_without_eof_loses_its_last_family():
    exposition = parse_exposition(OPENMETRICS.replace("# EOF\n", ""), "t", openmetrics=True)
    assert exposition.values == {"node_disk_io_time_seconds_total": ALL["node_disk_io_time_seconds_total"]}
    assert [rejection.reason for rejection in exposition.rejections] == [TRUNCATED]


@pytest.mark.parametrize(
    "cut, kept",
    [
        # cut inside the last line: the last family may be incomplete, so it goes
        (TEXT[:-10], ["node_disk_io_time_seconds_total", "node_memory_MemTotal_bytes"]),
        # cut inside a label of the first family: nothing before it is complete
        (TEXT[: TEXT.index('{device="vda"') + 5], []),
    ],
)
def test_truncated_text_keeps_the_complete_families(cut, kept):
    exposition = parse_exposition(cut, "http://h:9100/metrics")
    assert exposition.values == {name: ALL[name] for name in kept}
    assert exposition.rejections[0].reason == TRUNCATED
    assert exposition.rejections[0].line == cut.count("\n") + 1
    assert exposition.rejections[0].path == "http://h:9100/metrics"


def test_invalid_line_is_reported_with_its_number_and_the_rest_kept():
    lines = TEXT.splitlines(keepends=True)
    lines.insert(3, 'node_disk_io_time_seconds_total{device="sdb} 7\n')
    lines.insert(8, "this is not exposition\n")
    exposition = parse_exposition("".join(lines), "target-a")
    assert exposition.values == ALL
    assert [(r.line, r.reason) for r in exposition.rejections] == [(4, INVALID_LINE), (9, INVALID_LINE)]
    assert all(r.path == "target-a" for r in exposition.rejections)


def test_invalid_utf8_drops_only_its_line():
    body = TEXT.encode().replace(b'device="eth0"', b'device="eth\xff0"')
    exposition = parse_exposition(body, "target-b")
    assert exposition.values["node_network_speed_bytes"] == ALL["node_network_speed_bytes"][1:]
    assert exposition.values["node_memory_MemTotal_bytes"] == ALL["node_memory_MemTotal_bytes"]
    [rejection] = exposition.rejections
    assert (rejection.line, rejection.reason) == (10, INVALID_UTF8)
    assert str(rejection).startswith("target-b:10: invalid UTF-8")


def test_not_an_exposition_at_all_is_refused_whole():
    html = "<html>\n" + "<p>Service Unavailable</p>\n" * 80 + "</html>\n"
    with pytest.raises(ParseError, match="target-c: not a Prometheus exposition"):
        parse_exposition(html, "target-c")


def test_nan_and_inf_values_parse_and_are_left_to_the_mappings():
    text = "a_total NaN\nb +Inf\nc -Inf\n"
    values = parse_exposition(text, "t").values
    assert str(values["a_total"][0][1]) == "nan"
    assert values["b"][0][1] == float("inf") and values["c"][0][1] == float("-inf")


def test_rates_first_scrape_reset_and_gap():
    a, b = series_of("x_total", {"k": "a"}), series_of("x_total", {"k": "b"})
    t0 = to_ns(datetime(2026, 1, 1, tzinfo=UTC))
    t1 = to_ns(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=10))
    rates, state = rate_counters({a: 5.0, b: 100.0}, t0, CounterState())
    assert rates == {}
    rates, state = rate_counters({a: 25.0, b: 3.0}, t1, state)
    assert rates == {a: 2.0}  # b went down: a reset, no rate
    rates, state = rate_counters({b: 13.0}, t1 + 5 * 10**9, state)
    assert rates == {b: 2.0}
    rates, _ = rate_counters({a: 30.0, b: 14.0}, t1 + 10 * 10**9, state)
    assert rates == {b: 0.2}  # a was missing from the previous scrape: a gap, not a rate over two intervals


def test_scrape_time_must_be_aware():
    with pytest.raises(ValueError, match="timezone"):
        to_ns(datetime(2026, 1, 1))
    assert to_ns(datetime(1970, 1, 1, 0, 0, 1, 500, tzinfo=UTC)) == 1_000_500_000


def test_rejection_names_target_and_line():
    rejection = models.Rejection("http://h:9100/metrics", 7, None, INVALID_LINE, "bad")
    assert str(rejection) == "http://h:9100/metrics:7: invalid exposition line (bad)"


def test_a_cut_after_the_families_asked_for_loses_none_of_them():
    names = ["node_disk_io_time_seconds_total", "node_memory_MemTotal_bytes"]
    cut = TEXT[: TEXT.index('node_network_speed_bytes{device="eth1"}') + 20]
    exposition = parse_exposition(cut, "t", names)
    assert exposition.values == {name: ALL[name] for name in names}
    assert [r.reason for r in exposition.rejections] == [TRUNCATED]
    # a cut inside a family asked for still loses that family
    exposition = parse_exposition(cut, "t", ["node_network_speed_bytes", *names])
    assert "node_network_speed_bytes" not in exposition.values


def test_lines_of_families_not_asked_for_are_not_parsed():
    text = TEXT + "some_other_metric{broken 1\n"
    exposition = parse_exposition(text, "t", ["node_memory_MemTotal_bytes"])
    assert exposition.values == {"node_memory_MemTotal_bytes": ALL["node_memory_MemTotal_bytes"]}
    assert exposition.rejections == ()
    assert parse_exposition(text, "t").rejections[0].reason == INVALID_LINE  # all families: found


@pytest.mark.parametrize(
    "where, bad",
    [
        (2, "# TYPE node_disk_io_time_seconds_total bogus"),  # found only when the next family begins
        (6, "# TYPE node_memory_MemTotal_bytes histogrammish"),
        (9, "# TYPE node_network_speed_bytes bogus"),  # the last family: found at the end
    ],
)
def test_a_bad_type_line_is_the_one_left_out(where, bad):
    lines = TEXT.splitlines()
    lines[where - 1] = bad
    exposition = parse_exposition("\n".join(lines) + "\n", "t")
    assert [(r.line, r.reason) for r in exposition.rejections] == [(where, INVALID_LINE)]
    assert exposition.values == ALL


@pytest.mark.parametrize(
    "moment, ns",
    [
        (np.datetime64("0001-01-01", "s"), -62_135_596_800 * 10**9),  # in datetime64[ns] it would wrap
        (np.datetime64("9999-12-31", "D"), 253_402_214_400 * 10**9),
        (
            np.datetime64("2262", "Y"),
            (datetime(2262, 1, 1) - datetime(1970, 1, 1)) // timedelta(seconds=1) * 10**9,
        ),
        (np.datetime64("2026-03-02T10:00:00.123456789", "ns"), 1_772_445_600_123_456_789),
        (np.datetime64(3, "ms"), 3_000_000),
    ],
)
def test_scrape_times_of_any_unit_are_exact(moment, ns):
    assert to_ns(moment) == ns
