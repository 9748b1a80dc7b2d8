"""The entity page at its edges, the pages' empty states per role and signing out, in real headless Chromium.

The store is the dashboard test's (the Bitbrains excerpts, VM 51 without disk and network
capacities) plus ``solo``, a VM with three samples in one 5-minute window. Tokens: an admin, and a
read token of project ``gamma``, which has no entities.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.models import Entity, Parsed, make_samples
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.conftest import ADMIN
from tests.web.browser import WatchedPage, served
from tests.web.test_pages_in_chromium import UNJUDGED, browser, write_store

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # a fixture, used by name

GAMMA = "gamma-0123456789abcdef"
SOLO = "solo"
SOLO_WINDOW = np.datetime64("2024-03-04T10:05:00", "s")
WIDTHS = (1280, 1920)
# A time as the charts write it: ISO UTC, 24 h.
ISO_MINUTE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\dZ")
TWELVE_HOUR = re.compile(r"\d\s*(am|pm)\b", re.IGNORECASE)

READ_AXES = """() => [...window.stackmeterPlots, ...window.stackmeterUsedPlots].map((p) => ({
  resource: p.resource, min: p.plot.scales.x.min, max: p.plot.scales.x.max,
  ticks: p.plot.axes[0]._values, data: p.plot.data,
}))"""

HOVER = """(i) => {
  const plot = window.stackmeterPlots[0].plot;
  plot.setCursor({ left: plot.valToPos(plot.data[0][i], "x"), top: 10 });
  return [...plot.root.querySelectorAll(".u-legend .u-series")].map((row) => ({
    label: row.querySelector(".u-label").textContent, value: row.querySelector(".u-value").textContent }));
}"""


def write_solo(path: str) -> None:
    """VM ``solo``: three cpu samples (80 %, 95 %, 90 % of one core) in the 5-minute window of 10:05 UTC."""
    ts = SOLO_WINDOW + np.array([60, 120, 180], dtype="timedelta64[s]")
    samples = make_samples(ts, SOLO, "cpu", [0.8, 0.95, 0.9], 1.0)
    with open_store(path) as store:
        store.write_parsed([Parsed("solo", samples, entities=(Entity(SOLO, "vm", None),))], "synthetic")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("entity") / "fleet.duckdb")
    write_store(path)
    write_solo(path)
    with open_store(path) as opened:
        yield opened


@pytest.fixture(scope="module")
def base_url(store):
    tokens = (Token.of(ADMIN, "admin"), Token.of(GAMMA, "read", "gamma"))
    with served(create_app(Settings(store=store.path), store=store, tokens=tokens)) as url:
        yield url


def sign_in(browser, base_url: str, token: str):
    """A browser context that signed in through the login form with ``token``."""
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    watched = WatchedPage(context)
    watched.page.goto(f"{base_url}/login?next=/")
    watched.page.fill("#token", token)
    watched.page.click("#sign-in")
    watched.page.wait_for_url(f"{base_url}/")
    watched.assert_clean()
    watched.close()
    return context


@pytest.fixture(scope="module")
def admin(browser, base_url):
    context = sign_in(browser, base_url, ADMIN)
    yield context
    context.close()


@pytest.fixture
def watched(admin):
    opened = WatchedPage(admin)
    yield opened
    opened.close()


def screenshots(watched: WatchedPage, name: str, ready: str | None = None) -> None:
    """Full-page screenshots at each of :data:`WIDTHS`, the page reloaded so that charts take the width."""
    for width in WIDTHS:
        watched.page.set_viewport_size({"width": width, "height": 900})
        watched.page.reload()
        if ready:
            watched.page.wait_for_selector(ready)
        watched.screenshot(f"{name}-{width}")
    watched.page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def seconds(times):
    """Times (one or an array) as whole seconds since 1970 UTC."""
    return np.asarray(times, dtype="datetime64[s]").astype(np.int64).tolist()


def test_a_one_window_entity_page_spans_that_window(watched, base_url, store):
    page = watched.page
    for timescale, length_s in (("5m", 300), ("1h", 3600)):
        page.goto(f"{base_url}/entity/{SOLO}?timescale={timescale}")
        page.wait_for_selector("body[data-charts-drawn]")
        (chart,) = page.evaluate(READ_AXES)
        start = seconds(operations.entity_overload(store, SOLO, timescale).resources[0].window)
        assert len(start) == 1
        # The axis runs from the window's start to its end, not over years of padding.
        assert (chart["min"], chart["max"]) == (start[0], start[0] + length_s), timescale
        assert chart["data"][0][0] == start[0] and chart["data"][1][0] == pytest.approx(0.8833, abs=1e-4)
        assert chart["ticks"] and all(
            re.fullmatch(r"\d\d:\d\dZ(\n\d{4}-\d\d-\d\d)?", t) for t in chart["ticks"]
        )
        # The hover legend: the window start in ISO UTC 24 h, utilization and θ as %.
        legend = {row["label"]: row["value"] for row in page.evaluate(HOVER, 0)}
        assert ISO_MINUTE.fullmatch(legend["window (UTC)"]), legend
        assert (legend["mean"], legend["max"], legend["θ"], legend["overloaded"]) == (
            "88.3%",
            "95.0%",
            "80.0%",
            "yes",
        )
        assert not TWELVE_HOUR.search(page.inner_text("body"))
    screenshots(watched, f"entity-{SOLO}-1h", "body[data-charts-drawn]")
    watched.assert_clean()


def test_an_entity_of_many_windows_spans_them_all(watched, base_url, store):
    page = watched.page
    page.goto(f"{base_url}/entity/196?timescale=1d")
    page.wait_for_selector("body[data-charts-drawn]")
    result = operations.entity_overload(store, "196", "1d")
    windows = np.concatenate([item.window for item in result.resources])
    span = (seconds(windows.min()), seconds(windows.max()) + 86_400)
    charts = page.evaluate(READ_AXES)
    assert [chart["resource"] for chart in charts] == [item.resource for item in result.resources]
    for chart in charts:
        # Every chart spans the page's windows, first start to last end, so that they line up.
        assert (chart["min"], chart["max"]) == span
        assert len(chart["ticks"]) > 3 and all(re.fullmatch(r"\d{4}-\d\d-\d\d", t) for t in chart["ticks"])
    watched.assert_clean()


def test_a_resource_without_capacity_is_shown_with_its_used_values(watched, base_url, store):
    page = watched.page
    page.goto(f"{base_url}/entity/{UNJUDGED}?timescale=1d")
    page.wait_for_selector("body[data-charts-drawn]")
    result = operations.entity_overload(store, UNJUDGED, "1d")
    assert [item.resource for item in result.unjudged] == ["disk", "network"]
    judged = page.eval_on_selector_all(
        "#entity-summary tr[data-resource]", "(rows) => rows.map((r) => r.dataset.resource)"
    )
    assert judged == ["cpu", "memory"]
    for item in result.unjudged:
        row = page.locator(f"#entity-summary tr[data-unjudged='{item.resource}']")
        assert row.locator("[data-field=verdict]").inner_text() == "no capacity: cannot judge overload"
        assert int(row.locator("[data-field=windows]").get_attribute("data-value")) == item.windows
        assert float(row.locator("[data-field=max_used]").get_attribute("data-value")) == pytest.approx(
            item.max_used.max()
        )
        heading = page.locator(f"#charts .chart[data-resource='{item.resource}'] h2").inner_text()
        assert "no capacity, cannot judge overload" in heading and "bytes/s" in heading
    charts = {chart["resource"]: chart for chart in page.evaluate(READ_AXES)}
    assert list(charts) == ["cpu", "memory", "disk", "network"]
    assert len({(chart["min"], chart["max"]) for chart in charts.values()}) == 1  # one time axis for all
    for item in result.unjudged:
        x, mean, high = charts[item.resource]["data"]
        points = [i for i, value in enumerate(mean) if value is not None]
        assert [x[i] for i in points] == seconds(item.window)
        assert [mean[i] for i in points] == pytest.approx(item.mean_used.tolist(), rel=1e-9)
        assert [high[i] for i in points] == pytest.approx(item.max_used.tolist(), rel=1e-9)
    screenshots(watched, f"entity-{UNJUDGED}-1d", "body[data-charts-drawn]")
    watched.assert_clean()


def test_a_project_token_without_entities_is_told_so_and_advice_follows_the_role(browser, base_url, watched):
    gamma = sign_in(browser, base_url, GAMMA)
    mine = WatchedPage(gamma)
    page = mine.page
    page.goto(f"{base_url}/")
    empty = page.locator("#empty-state")
    assert "no entities in your project yet" in empty.inner_text().lower()
    assert empty.get_attribute("data-project") == "gamma"
    assert page.locator("#overview").count() == 0  # no rows of zeros
    assert "ask an admin" in empty.inner_text()
    screenshots(mine, "overview-empty-project")

    # Operations: a read token is not told to run `stackmeter listen`, which it cannot.
    page.goto(f"{base_url}/operations")
    advice = page.locator("#operations-empty").inner_text()
    assert "stackmeter listen" not in page.inner_text("body") and "ask one" in advice
    assert page.locator("#operations-empty").get_attribute("data-role") == "read"
    screenshots(mine, "operations-empty-read")
    mine.assert_clean()
    mine.close()
    gamma.close()

    # An admin of the same (empty) bus is.
    watched.page.goto(f"{base_url}/operations")
    assert "stackmeter listen" in watched.page.locator("#operations-empty").inner_text()
    watched.assert_clean()


def test_sign_out_drops_the_cookie(browser, base_url):
    context = sign_in(browser, base_url, GAMMA)
    watched = WatchedPage(context)
    page = watched.page
    page.goto(f"{base_url}/heatmap")
    assert page.locator("header #sign-out").inner_text() == "Sign out"
    with page.expect_navigation():
        page.click("#sign-out")
    assert page.url.startswith(f"{base_url}/login")
    assert page.locator("#signed-out").count() == 1 and page.locator("#sign-out").count() == 0
    assert context.cookies() == []
    watched.assert_clean()
    # Signed out, a page asks for the token again.
    response = page.goto(f"{base_url}/")
    assert response.status == 401 and page.locator("#token").count() == 1
    watched.close()
    context.close()
