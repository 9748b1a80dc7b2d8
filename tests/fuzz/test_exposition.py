"""Expositions with garbage in them: only ParseError, untouched series as they were, samples plausible."""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stackmeter import models
from stackmeter.errors import ParseError, StackmeterError
from stackmeter.models.domain import TIME_MAX_NS, TIME_MIN_NS, implausible_samples
from stackmeter.sources import libvirt, node_exporter
from stackmeter.sources.exposition import CounterState, parse_exposition, series_of
from tests.fuzz import garbage

FIXTURES = Path(__file__).parents[1] / "fixtures"
LIBVIRT = {
    path.stem: path.read_text(encoding="utf-8") for path in sorted((FIXTURES / "libvirt").glob("*.prom"))
}


def insert_after_type(text: str, name: str, lines: list[str]) -> str:
    """The exposition with sample lines added to the family ``name``, right after its TYPE line."""
    start = text.index(f"# TYPE {name} ")
    end = text.index("\n", start) + 1
    return text[:end] + "".join(line + "\n" for line in lines) + text[end:]


def with_memory_and_network(text: str) -> str:
    """The upstream fixture plus what it lacks: MemAvailable and byte counters of a few interfaces."""
    text = insert_after_type(text, "node_memory_MemFree_bytes", ["node_memory_MemAvailable_bytes 1.2e+09"])
    for name, counts in (("receive", (7e9, 9e9, 1e9)), ("transmit", (3e9, 4e9, 1e9))):
        lines = [
            f'node_network_{name}_bytes_total{{device="{device}"}} {count!r}'
            for device, count in zip(("eth0", "bond0", "lo"), counts, strict=True)
        ]
        text = insert_after_type(text, f"node_network_{name}_bytes_total", lines)
    return text


def advance_libvirt(text: str) -> str:
    """The libvirt text 15 s later: every counter a little higher."""
    names = "|".join(re.escape(name) for name in libvirt.COUNTERS)
    return re.sub(
        rf"^((?:{names})\{{[^}}]*\}}) (\S+)$",
        lambda match: f"{match.group(1)} {float(match.group(2)) + 1.5e6!r}",
        text,
        flags=re.MULTILINE,
    )


NODE = with_memory_and_network((FIXTURES / "node_exporter" / "e2e-output.txt").read_text(encoding="utf-8"))
T0_NS = int(np.datetime64("2026-03-02T10:00:00", "ns").astype(np.int64))
T1_NS = T0_NS + 15 * 10**9
SUFFIXES = ("_total", "_created", "_count", "_sum", "_bucket", "_info")
METRIC_TYPES = (
    "counter",
    "gauge",
    "histogram",
    "summary",
    "untyped",
    "unknown",
    "info",
    "stateset",
    "bogus",
    "",
)


def family_excerpt(text: str, families: tuple[str, ...]) -> str:
    """The lines of ``text`` that belong to ``families`` (samples and metadata), in order."""
    keep = tuple(f"{name}{end}" for name in families for end in ("{", " "))
    keep += tuple(f"# {kind} {name} " for name in families for kind in ("HELP", "TYPE"))
    return "".join(line + "\n" for line in text.split("\n") if line.startswith(keep))


NODE_EXCERPT = family_excerpt(
    NODE,
    (*node_exporter.NAMES, "go_gc_duration_seconds", "node_arp_entries", "node_scrape_collector_success"),
)
TEXTS = {**LIBVIRT, "node_exporter": NODE_EXCERPT}


def advance_node(text: str) -> str:
    """The node_exporter text 15 s later: every counter a little higher."""
    names = "|".join(re.escape(name) for name in node_exporter.COUNTERS)
    return re.sub(
        rf"^((?:{names})(?:\{{[^}}]*\}})?) (\S+)$",
        lambda match: f"{match.group(1)} {float(match.group(2)) * 1.0001 + 1.5!r}",
        text,
        flags=re.MULTILINE,
    )


def series_values(exposition) -> dict:
    """``{series: [values]}`` of a parsed exposition (NaN made comparable)."""
    found: dict = {}
    for name, samples in exposition.values.items():
        for labels, value in samples:
            found.setdefault(series_of(name, labels), []).append("nan" if math.isnan(value) else value)
    return found


def stems(name: str) -> set[str]:
    return {name} | {name.removesuffix(suffix) for suffix in SUFFIXES if name.endswith(suffix)}


def mentions(garbage_text: str, name: str) -> bool:
    """Whether garbage could speak of the family of sample ``name``."""
    return any(len(stem) >= 3 and stem in garbage_text for stem in stems(name))


# -- garbage lines ---------------------------------------------------------------------------

metric_names = st.one_of(
    st.sampled_from(
        ("node_cpu_seconds_total", "libvirt_domain_info_cpu_time_seconds_total", "up", "x_total")
    ),
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True),
    garbage.short_text(),
)
label_sets = st.one_of(
    st.just(""),
    st.just("{}"),
    st.lists(st.tuples(metric_names, garbage.short_text()), max_size=3).map(
        lambda pairs: "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"
    ),
    st.sampled_from(('{a="', '{a="\\"}', "{a=b}", '{a="x",a="y"}', '{a="\\x"}', "{,}", "{")),
)


@st.composite
def exposition_lines(draw, existing: list[str]) -> str:
    """One garbage line: random, a sample of a new or an existing series, or metadata."""
    kind = draw(st.sampled_from(("random", "sample", "existing", "metadata", "eof")))
    if kind == "random":
        return draw(garbage.lines()).decode("utf-8", "surrogateescape")
    if kind == "eof":
        return draw(st.sampled_from(("# EOF", "#EOF", "# EOF extra", "#", "# ")))
    name = draw(st.sampled_from(existing)) if kind == "existing" else draw(metric_names)
    if kind == "metadata":
        what = draw(st.sampled_from(("TYPE", "HELP", "UNIT", "BOGUS")))
        return f"# {what} {name} {draw(st.sampled_from(METRIC_TYPES) | garbage.short_text())}"
    value = draw(garbage.values())
    stamp = draw(st.one_of(st.just(""), garbage.times(), st.sampled_from(garbage.EDGE_EPOCH_SECONDS)))
    return f"{name}{draw(label_sets)} {value}{' ' + stamp if stamp else ''}".replace("\n", " ")


@st.composite
def garbled_exposition(draw, text: str) -> tuple[bytes, str]:
    """``text`` with garbage lines inserted, or one sample's value replaced; and the garbage's text."""
    lines = text.split("\n")[:-1]
    existing = sorted(
        {line.split("{")[0].split(" ")[0] for line in lines if line and not line.startswith("#")}
    )
    inserted = []
    for _ in range(draw(st.integers(1, 3))):
        line = draw(exposition_lines(existing))
        encoding = draw(st.sampled_from(("utf-8", "utf-8", "latin-1", "utf-16")))  # not always what it says
        encoded = line.encode(encoding, "surrogateescape" if encoding == "utf-8" else "replace")
        encoded = encoded.replace(b"\n", b" ")
        inserted.append(encoded)
        lines.insert(draw(st.integers(0, len(lines))), encoded.decode("utf-8", "surrogateescape"))
    if draw(st.booleans()):  # one real sample's value replaced by an extreme number
        samples = [i for i, line in enumerate(lines) if line.startswith(tuple(existing))]
        i = draw(st.sampled_from(samples))
        value = draw(garbage.numbers())
        lines[i] = lines[i].rsplit(" ", 1)[0] + " " + value
        inserted.append(lines[i].encode("utf-8", "surrogateescape"))
    body = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    return body, b"\n".join(inserted).decode("utf-8", "replace")


# -- the parser ------------------------------------------------------------------------------


@functools.cache
def clean_values() -> dict:
    return {name: series_values(parse_exposition(text, name)) for name, text in TEXTS.items()}


@given(data=st.data(), which=st.sampled_from(sorted(TEXTS)))
def test_garbage_lines_leave_the_other_series_as_they_were(data, which):
    body, garbage_text = data.draw(garbled_exposition(TEXTS[which]), label="garbled")
    data.draw(st.just(garbage_text), label="garbage")
    try:
        exposition = parse_exposition(body, which)
    except ParseError:
        return
    got = series_values(exposition)
    for series, values in clean_values()[which].items():
        if not mentions(garbage_text, series[0]):
            assert got.get(series) == values, series


@given(data=st.data(), which=st.sampled_from(sorted(TEXTS)))
def test_a_cut_exposition_keeps_only_series_as_they_were(data, which):
    body = TEXTS[which].encode()
    cut = body[: data.draw(st.integers(0, len(body)), label="offset")]
    try:
        exposition = parse_exposition(cut, which)
    except ParseError:
        return
    got = series_values(exposition)
    for series, values in got.items():
        assert clean_values()[which].get(series) == values, series
    # every series of the whole lines is there, but for the last family, which the cut may have split
    whole = cut[: cut.rfind(b"\n") + 1].decode()
    samples = [line for line in whole.split("\n") if line and not line.startswith("#")]
    last = samples[-1].split("{")[0].split(" ")[0] if samples else ""
    for series, values in series_values(parse_exposition(whole, which)).items():
        if not mentions(last, series[0]):
            assert got.get(series) == values, series


# -- conversion into samples -----------------------------------------------------------------


def assert_plausible(parsed: models.Parsed, scraped_at_ns: int) -> None:
    samples = parsed.samples
    assert np.isfinite(samples.used).all() and (samples.used >= 0).all(), samples
    assert (np.isnan(samples.capacity) | (samples.capacity > 0)).all(), samples
    assert not implausible_samples(samples.resource, samples.used, samples.capacity).any(), samples
    assert (samples.ts.astype(np.int64) == scraped_at_ns).all()
    for text in [*samples.entity, *(str(rejection) for rejection in parsed.rejections)]:
        text.encode("utf-8")


def by_resource(parsed: models.Parsed, with_entity: bool) -> dict[str, list]:
    found: dict[str, list] = {}
    s = parsed.samples
    for entity, resource, used, capacity in zip(s.entity, s.resource, s.used, s.capacity, strict=True):
        found.setdefault(resource, []).append((entity if with_entity else "", used, repr(capacity)))
    return {resource: sorted(rows) for resource, rows in found.items()}


NODE_METRICS = {
    "cpu": (node_exporter.CPU,),
    "memory": (node_exporter.MEM_TOTAL, node_exporter.MEM_AVAILABLE),
    "disk": (node_exporter.DISK_IO_TIME,),
    "network": (node_exporter.NET_RECEIVE, node_exporter.NET_TRANSMIT, node_exporter.NET_SPEED),
}
LIBVIRT_METRICS = {
    "cpu": (libvirt.CPU_TIME, libvirt.VCPUS),
    "memory": (libvirt.MEM_AVAILABLE, libvirt.MEM_USABLE),
    "disk": (libvirt.DISK_READ, libvirt.DISK_WRITE),
    "network": (libvirt.NET_RECEIVE, libvirt.NET_TRANSMIT),
}
NODE_NOW = advance_node(NODE)
LIBVIRT_NOW = {name: advance_libvirt(text) for name, text in LIBVIRT.items()}


def convert(which: str, text: str | bytes, scraped_at_ns: int, previous):
    if which == "node_exporter":
        return node_exporter.parse_node_exporter(
            text, scraped_at_ns, previous, origin="http://hv1:9100/metrics"
        )
    return libvirt.parse_libvirt(text, scraped_at_ns, previous, origin="http://hv1:9177/metrics")


@functools.cache
def clean_scrapes() -> dict:
    """Per exporter text: the counter state of the first scrape, and the samples of the second."""
    found = {}
    for which, before, now in [
        ("node_exporter", NODE, NODE_NOW),
        *((n, LIBVIRT[n], LIBVIRT_NOW[n]) for n in LIBVIRT),
    ]:
        _, state = convert(which, before, T0_NS, CounterState())
        found[which] = (state, convert(which, now, T1_NS, state)[0])
    return found


@given(data=st.data(), which=st.sampled_from(["node_exporter", *sorted(LIBVIRT)]))
def test_garbage_in_a_scrape_gives_plausible_samples_and_spares_the_other_resources(data, which):
    now = NODE_NOW if which == "node_exporter" else LIBVIRT_NOW[which]
    body, garbage_text = data.draw(garbled_exposition(now), label="garbled")
    state, clean = clean_scrapes()[which]
    try:
        parsed, _ = convert(which, body, T1_NS, state)
    except ParseError:
        return
    assert_plausible(parsed, T1_NS)
    metrics = NODE_METRICS if which == "node_exporter" else LIBVIRT_METRICS
    naming = (
        (node_exporter.UNAME,) if which == "node_exporter" else (libvirt.OPENSTACK_INFO, libvirt.TINKOFF_META)
    )
    named_alike = not any(mentions(garbage_text, name) for name in naming)
    got, expected = by_resource(parsed, named_alike), by_resource(clean, named_alike)
    for resource, names in metrics.items():
        if not any(mentions(garbage_text, name) for name in names):
            assert got.get(resource) == expected.get(resource), resource


SCRAPE_TIMES = st.one_of(
    st.sampled_from(garbage.EDGE_EPOCH_NS),
    st.sampled_from(garbage.EDGE_DATETIME64),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(min_value=datetime(2199, 12, 31), timezones=st.just(UTC)),
    st.datetimes(max_value=datetime(1970, 1, 2), timezones=st.just(UTC)),
)


@given(scraped_at=SCRAPE_TIMES, which=st.sampled_from(["node_exporter", *sorted(LIBVIRT)]))
def test_scrape_times_outside_the_domain_give_no_samples(scraped_at, which):
    now = NODE_NOW if which == "node_exporter" else LIBVIRT_NOW[which]
    if isinstance(scraped_at, datetime):
        at_ns = (scraped_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
    elif isinstance(scraped_at, np.datetime64):
        at_ns = int(scraped_at.astype(np.int64)) * 10**9
    else:
        at_ns = scraped_at
    state = clean_scrapes()[which][0]
    try:
        parsed, _ = convert(which, now, scraped_at, state._replace(scraped_at_ns=at_ns - 15 * 10**9))
    except StackmeterError:
        return
    if TIME_MIN_NS <= at_ns < TIME_MAX_NS:
        assert_plausible(parsed, at_ns)
    else:
        assert parsed.samples.size == 0, parsed.samples
        if clean_scrapes()[which][1].samples.size:
            assert parsed.rejections
