"""The heat map and the operations charts in real headless Chromium: a time axis of the windows shown,
"no samples" apart from 0 %, the window's numbers on hover, ISO UTC 24 h times, and no horizontal scroll.

The store holds the Bitbrains excerpts (whose heat maps have gaps) and a notification capture.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from stackmeter import operations
from stackmeter.analysis.windows import window_end
from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.models import DEFAULT_SHARE, DEFAULT_THRESHOLDS
from stackmeter.settings import Settings
from stackmeter.store import open_store
from stackmeter.web.pages import HEAT_MAP_COLUMNS, HEAT_MAP_ROWS
from tests.bus_store import write_capture
from tests.conftest import ADMIN
from tests.fleet import write_fleet
from tests.web.browser import WatchedPage, chromium, served

pytestmark = pytest.mark.integration
WIDTHS = (1280, 1920)
# ISO UTC, 24 h: "2013-08-01 14:00Z"; a day ("2013-08-01") or a month ("2013-08") on coarse axes.
MINUTE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}Z")
TWELVE_HOUR = re.compile(r"\d\s*(am|pm)\b", re.IGNORECASE)
LABEL_FORMATS = {"5m": "%Y-%m-%d %H:%MZ", "1h": "%Y-%m-%d %H:%MZ", "1d": "%Y-%m-%d", "1w": "%Y-%m-%d"}


@pytest.fixture(scope="module")
def heat_store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("heatmap") / "fleet.duckdb")
    capture = write_capture(tmp_path_factory.mktemp("bus"), 120, seed=12, malformed=0)
    with open_store(path) as store:
        write_fleet(store)
        operations.ingest_notifications(store, capture)
        yield path, store


@pytest.fixture(scope="module")
def heat_url(heat_store):
    path, store = heat_store
    with served(create_app(Settings(store=path), store=store, tokens=(Token.of(ADMIN, "admin"),))) as url:
        yield url


@pytest.fixture(scope="module")
def heat_browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module", params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def context(request, heat_browser, heat_url):
    """A browser context of one window width, signed in through the login form."""
    made = heat_browser.new_context(viewport={"width": request.param, "height": 900})
    made.width = request.param
    page = made.new_page()
    page.goto(f"{heat_url}/login?next=/")
    page.fill("#token", ADMIN)
    page.click("#sign-in")
    page.wait_for_url(f"{heat_url}/")
    page.close()
    yield made
    made.close()


@pytest.fixture
def watched(context):
    opened = WatchedPage(context)
    yield opened
    opened.assert_clean()
    opened.close()


READ_AXIS = """(id) => {
  const canvas = document.querySelector("canvas[data-row]").getBoundingClientRect();
  return [...document.querySelectorAll(`#${id} .tick`)].map((tick) => {
    const box = tick.getBoundingClientRect();
    return { column: Number(tick.dataset.column), window: tick.dataset.window, text: tick.textContent,
             left: box.left - canvas.left, right: box.right - canvas.left, width: canvas.width };
  });
}"""

NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def iso(value: np.datetime64) -> str:
    return np.datetime_as_string(np.datetime64(value, "s"), unit="s") + "Z"


def label(value: np.datetime64, timescale: str) -> str:
    return value.astype("datetime64[s]").item().strftime(LABEL_FORMATS[timescale])


def heat_map_of(store, timescale: str) -> operations.HeatMap:
    return operations.heat_map(
        store.reader(), timescale, "cpu", DEFAULT_THRESHOLDS["cpu"], DEFAULT_SHARE,
        page_size=HEAT_MAP_ROWS, columns=HEAT_MAP_COLUMNS[timescale],
    )  # fmt: skip


def rgb(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@pytest.mark.parametrize("timescale", ["5m", "1h", "1d", "1w"])
def test_the_axis_labels_the_windows_shown_in_utc_24_hours(watched, context, heat_url, heat_store, timescale):
    page = watched.page
    page.goto(f"{heat_url}/heatmap?timescale={timescale}&resource=cpu")
    page.wait_for_selector("body[data-heatmap-drawn]")
    heat = heat_map_of(heat_store[1], timescale)
    columns = [iso(c) for c in heat.columns]
    assert (
        page.evaluate("() => JSON.parse(document.getElementById('heatmap-data').textContent).columns")
        == columns
    )
    ticks = page.evaluate(READ_AXIS, "axis-top")
    assert len(ticks) >= 2, ticks
    cell_px = ticks[0]["width"] / len(columns)
    for tick in ticks:
        # Each label is the window under it, written ISO UTC 24 h, at the left edge of its column.
        assert tick["window"] == columns[tick["column"]]
        assert tick["text"] == label(heat.columns[tick["column"]], timescale)
        assert not TWELVE_HOUR.search(tick["text"])
        assert tick["left"] == pytest.approx(tick["column"] * cell_px, abs=1.5)
        assert tick["right"] <= tick["width"] + 1  # inside the strip
    # Thinned to fit: in time order, none overlapping the next.
    assert [t["column"] for t in ticks] == sorted({t["column"] for t in ticks})
    assert all(a["right"] <= b["left"] for a, b in zip(ticks, ticks[1:], strict=False))
    assert page.locator("#window-range").inner_text().startswith(f"{len(columns)} windows")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    if timescale in ("1h", "1d"):
        watched.screenshot(f"heatmap-{timescale}-cpu-{context.width}")


def test_no_samples_is_not_the_colour_of_zero_percent_and_the_legend_says_so(watched, heat_url, heat_store):
    page = watched.page
    page.goto(f"{heat_url}/heatmap?timescale=1d&resource=cpu")
    page.wait_for_selector("body[data-heatmap-drawn]")
    zero = rgb(page.evaluate("() => stackmeterHeatmap.colour(0)"))
    full = rgb(page.evaluate("() => stackmeterHeatmap.colour(1)"))
    gap = rgb(page.evaluate("() => stackmeterHeatmap.colour(null)"))
    assert (
        np.linalg.norm(np.subtract(gap, zero)) > 150
    )  # not a near-twin, as #e9ecef and rgb(247,251,255) were
    assert np.linalg.norm(np.subtract(gap, full)) > 100
    assert "no samples" in page.inner_text("#heat-legend")
    assert "viridis" in page.inner_text("#heat-legend")
    # A drawn gap cell: its pixels are the hatched grey, not the scale's 0 %.
    heat = heat_map_of(heat_store[1], "1d")
    row, column = next(
        (r, i) for r, row in enumerate(heat.rows) for i, u in enumerate(row.utilization) if u is None
    )
    pixel = page.evaluate(
        """([row, column, n]) => {
          const canvas = document.querySelector(`canvas[data-row="${row}"]`);
          const x = Math.floor((column + 0.5) * canvas.width / n);
          return [...canvas.getContext("2d").getImageData(x, 2, 1, 1).data].slice(0, 3);
        }""",
        [row, column, len(heat.columns)],
    )
    assert np.linalg.norm(np.subtract(pixel, zero)) > 150, pixel
    assert min(pixel) >= 150  # light: the grey or its hatch


def test_hover_shows_the_windows_numbers(watched, heat_url, heat_store):
    page = watched.page
    page.goto(f"{heat_url}/heatmap?timescale=1d&resource=cpu")
    page.wait_for_selector("body[data-heatmap-drawn]")
    heat = heat_map_of(heat_store[1], "1d")
    row = heat.rows[0]
    column = next(i for i, hot in enumerate(row.overloaded) if hot)
    canvas = page.locator('canvas[data-row="0"]')
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + (column + 0.5) * box["width"] / len(heat.columns), box["y"] + 5)
    tip = page.locator("#tip")
    assert tip.is_visible()
    text = tip.inner_text()
    start, end = heat.columns[column], window_end(np.array([heat.columns[column]]), "1d")[0]
    samples, hot = row.samples[column], row.at_or_above[column]
    assert text.splitlines()[0] == row.entity
    assert f"{label(start, '1d')} 00:00Z – {label(end, '1d')} 00:00Z (UTC)" in text
    assert f"mean {100 * row.utilization[column]:.1f}% · {samples} samples" in text
    assert f"≥ θ 80.0%: {hot} of {samples} ({100 * hot / samples:.1f}%)" in text
    assert "overloaded: yes" in text
    gap = next(i for i, u in enumerate(row.utilization) if u is None) if None in row.utilization else None
    if gap is not None:
        page.mouse.move(box["x"] + (gap + 0.5) * box["width"] / len(heat.columns), box["y"] + 5)
        assert "no samples in this window" in tip.inner_text()


def test_paging_links_say_what_they_page(watched, heat_url):
    page = watched.page
    page.goto(f"{heat_url}/heatmap?timescale=1h&resource=cpu&rows=3")
    assert page.inner_text("#next-page") == "next 1 entity →"
    assert page.inner_text("#earlier") == "← earlier windows"
    assert page.locator("#later").count() == 0  # the latest windows are shown
    with page.expect_navigation():
        page.click("#next-page")
    assert page.inner_text("#previous-page") == "← previous 3 entities"
    assert page.inner_text("#entity-range") == "entities 4–4 of 4"
    with page.expect_navigation():
        page.click("#earlier")
    assert page.inner_text("#later") == "later windows →"


READ_LEGENDS = """() => stackmeterPlots.map(({ id, plot }) => {
  plot.setCursor({ left: plot.over.clientWidth / 2, top: 10 });
  return { id, legend: [...plot.root.querySelectorAll(".u-legend tr")].map((tr) => (
    { label: tr.querySelector(".u-label").textContent.trim(), value: tr.querySelector(".u-value").textContent.trim() })) };
})"""


@pytest.mark.parametrize("query", ["", "operation=create"], ids=["all", "create"])
def test_operations_page_leads_with_charts_in_utc_24_hours_and_percent(watched, context, heat_url, query):
    page = watched.page
    page.goto(f"{heat_url}/operations?timescale=1h&{query}")
    page.wait_for_selector("body[data-charts-drawn='2']")
    # The charts come before the table.
    order = page.evaluate(
        "() => [...document.querySelectorAll('#charts, #operations')].map((element) => element.id)"
    )
    assert order == ["charts", "operations"]
    legends = {item["id"]: item["legend"] for item in page.evaluate(READ_LEGENDS)}
    for rows in legends.values():
        # The x value: the window start, ISO UTC 24 h.
        assert rows[0]["label"] == "window (UTC)" and MINUTE_TEXT.fullmatch(rows[0]["value"]), rows
        assert not any(TWELVE_HOUR.search(row["value"]) for row in rows)
    failure = {row["label"]: row["value"] for row in legends["failure-chart"][1:]}
    assert set(failure) == {"failure rate", "fleet cpu"}
    assert all(re.fullmatch(r"\d+\.\d%|-", value) for value in failure.values()), failure
    durations = legends["operation-chart"][1:]
    assert all(re.search(r"\d (ms|s|min|h|d)$|^-$", row["value"]) for row in durations), durations
    if query:
        assert [row["label"] for row in durations] == ["p50", "p95", "p99"]
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    watched.screenshot(f"operations-1h-{query.replace('=', '-') or 'all'}-{context.width}")


def test_the_heat_map_fits_the_window_with_a_full_page_of_rows(watched, context, heat_url):
    page = watched.page
    page.goto(f"{heat_url}/heatmap?timescale=5m&resource=memory")
    page.wait_for_selector("body[data-heatmap-drawn]")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    assert page.locator("#axis-top .tick").count() >= 2
