"""The dashboard's operations page: the numbers of /api/v1/operations, its charts and duration histograms
(drawn in Chromium, checked against the API and by axe-core), times and durations written with units."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient
from jinja2 import Environment

from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.export import format_duration
from stackmeter.settings import Settings
from stackmeter.store import open_store
from stackmeter.units import parse_duration_seconds
from stackmeter.web import STATIC_DIR
from stackmeter.web.pages import OPERATION_MAX_ROWS, OPERATION_ROWS
from tests.bus_store import write_bus_store
from tests.cli.test_serve import wait_until_up
from tests.conftest import ADMIN
from tests.rabbitmq_server import free_port, unavailable
from tests.web.browser import WatchedPage, axe_violations, chromium, describe_violations, served

HEADERS = {"Authorization": f"Bearer {ADMIN}"}
TEMPLATES = STATIC_DIR.parent / "templates"


@pytest.fixture(scope="module")
def bus_path(tmp_path_factory) -> str:
    return write_bus_store(tmp_path_factory.mktemp("page"), 150)


@pytest.fixture(scope="module")
def client(bus_path):
    with TestClient(create_app(Settings(store=bus_path), tokens=(Token.of(ADMIN, "admin"),))) as test_client:
        yield test_client


def cells(html: str, field: str) -> list[int]:
    return [int(value) for value in re.findall(rf'data-field="{field}" data-value="(\d+)"', html)]


@pytest.mark.parametrize(
    "query",
    ["timescale=1d", "timescale=1h&operation=create", "timescale=1d&by=flavor", "timescale=1h&by=host"],
)
def test_the_page_shows_the_api_numbers(client, query):
    page = client.get(f"/operations?{query}", headers=HEADERS)
    api = client.get(f"/api/v1/operations?{query}", headers=HEADERS).json()
    assert page.status_code == 200
    # The table's first page holds the first OPERATION_ROWS rows of the API's (169 at 1h by host).
    shown = api["stats"][:OPERATION_ROWS]
    for field in ("count", "success", "error", "timed_out", "without_start"):
        assert cells(page.text, field) == [row[field] for row in shown], field
    assert f"{api['operations']} operations from the notification bus" in page.text


def test_the_charts_lead_for_one_operation_and_for_all(client):
    for query in ("timescale=1h&operation=reboot", "timescale=1h"):
        page = client.get(f"/operations?{query}", headers=HEADERS).text
        assert 'id="operation-data"' in page and "/static/operations.js" in page
        assert page.index('id="charts"') < page.index('id="operations"')  # charts first, the table below
    # Grouped rows get no chart (a line per host would be unreadable); the page says how to see them.
    grouped = client.get("/operations?timescale=1d&by=flavor", headers=HEADERS).text
    assert 'id="operation-data"' not in grouped and "without grouping" in grouped


def table_rows(html: str) -> list[tuple[str, str]]:
    """(operation, window) of each row of the page's table, in order."""
    return re.findall(r'<tr data-operation="([^"]+)" data-window="([^"]+)">', html)


def error_of(response) -> tuple[str | None, str]:
    """The parameter an error page names (``data-where``) and its message."""
    found = re.search(r'<p class="error" id="error"(?: data-where="([^"]*)")?>(.*?)</p>', response.text, re.S)
    assert found, response.text
    return found.group(1), found.group(2)


@pytest.mark.parametrize(
    "query, size", [("timescale=1h&by=host", 25), ("timescale=1d", 4), ("timescale=5m", 1)]
)
def test_the_table_is_paged_and_its_pages_make_the_whole(client, query, size):
    response = client.get(f"/api/v1/operations?{query}&page_size={OPERATION_MAX_ROWS}", headers=HEADERS)
    whole = [(row["operation"], row["window"]) for row in response.json()["stats"]]
    assert int(response.headers["x-total-count"]) == len(whole) > 2 * size
    pages = -(-len(whole) // size)
    seen = []
    for number in range(1, pages + 1):
        html = client.get(f"/operations?{query}&page_size={size}&page={number}", headers=HEADERS).text
        rows = table_rows(html)
        assert len(rows) == (size if number < pages else len(whole) - (pages - 1) * size)
        first = (number - 1) * size + 1
        assert f"rows {first}–{first + len(rows) - 1} of {len(whole)}" in html
        assert (
            f"page {number} of {pages}, {size} {'row' if size == 1 else 'rows'} a page, at most {OPERATION_MAX_ROWS}"
            in html
        )
        # Each link says what it leads to and keeps the page's other choices.
        links = dict(re.findall(r'<a id="(first|previous|next|last)-page" href="([^"]+)">', html))
        expected = {
            "first": 1 if number > 2 else None,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if number < pages else None,
            "last": pages if number < pages - 1 else None,
        }
        assert links == {
            name: f"/operations?{query.replace('&', '&amp;')}&amp;page_size={size}&amp;page={target}"
            for name, target in expected.items() if target is not None
        }  # fmt: skip
        if number < pages:
            rest = min(size, len(whole) - number * size)
            assert f">next {rest} {'row' if rest == 1 else 'rows'} →</a>" in html
        seen += rows
    assert seen == whole


def test_the_table_shows_a_page_of_rows_unless_asked(client):
    html = client.get("/operations?timescale=5m", headers=HEADERS).text
    total = int(re.search(r'data-rows="(\d+)"', html).group(1))
    assert total > OPERATION_ROWS and len(table_rows(html)) == OPERATION_ROWS
    assert 'id="previous-page"' not in html and 'id="next-page"' in html
    # The form carries the page size, so the next choice keeps it (and starts again from page 1).
    assert f'name="page_size" id="page_size" value="{OPERATION_ROWS}"' in html
    assert f'max="{OPERATION_MAX_ROWS}"' in html
    # The charts and histograms are of every row, not of the page's.
    chart = json.loads(re.search(r'id="operation-data">(.*?)</script>', html, re.S).group(1))
    api = client.get(
        f"/api/v1/operations?timescale=5m&page_size={OPERATION_MAX_ROWS}", headers=HEADERS
    ).json()
    assert len(chart["window"]) == len({row["window"] for row in api["stats"]})


@pytest.mark.parametrize(
    "query, where, says",
    [("page=0", "page", "from 1"), ("page=-1", "page", "from 1"), ("page=1.5", "page", "whole number"),
     ("page=lots", "page", "whole number"), ("page=1000001", "page", "from 1"),
     ("timescale=1d&page_size=5&page=999", "page", "past the last page"), ("page_size=0", "page_size", "from 1 to 1000"),
     ("page_size=1001", "page_size", "from 1 to 1000"), ("page_size=lots", "page_size", "whole number")],
)  # fmt: skip
def test_bad_page_numbers_are_a_422_naming_them(client, query, where, says):
    response = client.get(f"/operations?{query}", headers=HEADERS)
    assert response.status_code == 422, response.text
    named, message = error_of(response)
    assert named == where and says in message and where in message


def test_the_page_after_the_last_is_refused_saying_which_is_last(client):
    total = int(client.get("/api/v1/operations?timescale=1d", headers=HEADERS).headers["x-total-count"])
    pages = -(-total // 4)
    assert (
        client.get(f"/operations?timescale=1d&page_size=4&page={pages}", headers=HEADERS).status_code == 200
    )
    response = client.get(f"/operations?timescale=1d&page_size=4&page={pages + 1}", headers=HEADERS)
    assert response.status_code == 422
    assert error_of(response) == (
        "page",
        f"page {pages + 1} is past the last page, {pages} ({total} rows, 4 a page)",
    )


def test_an_empty_page_size_or_page_takes_the_default(client):
    html = client.get("/operations?timescale=1h&by=host&page=&page_size=", headers=HEADERS).text
    assert len(table_rows(html)) == OPERATION_ROWS


def test_bad_choices_are_explained(client):
    page = client.get("/operations?by=colour", headers=HEADERS)
    assert page.status_code == 422 and "cannot group" in page.text


def test_the_page_needs_a_token(client):
    assert client.get("/operations").status_code == 401


@pytest.mark.integration
def test_the_chart_draws_in_chromium(tmp_path):
    browser_path = shutil.which("chromium")
    if browser_path is None:
        unavailable("chromium is not installed")
    from playwright.sync_api import sync_playwright

    bus_path = write_bus_store(tmp_path, 60)  # its own file: the module's app holds the other open
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{ADMIN} admin\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from stackmeter.cli import app; app()", "serve", "--store", bus_path,
               "--port", str(port), "--tokens-file", str(tokens)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(base + "/login", server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=browser_path,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/login?next=/operations")
            page.fill("#token", ADMIN)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/operations")
            page.select_option("#operation", "reboot")  # applies at once
            page.wait_for_selector("body[data-charts-drawn='2']")  # durations, and failure rate with CPU
            assert page.locator("#operation-chart canvas").count() == 1
            assert page.locator("#operations tbody tr").count() >= 1
            assert errors == []
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


# -- the duration histograms and the table's units -------------------------------------------------


def figures(html: str) -> list[tuple[str, str]]:
    """(operation, the caption's p50/p95 text) of each histogram figure, in page order."""
    return re.findall(r'<figure class="duration-chart" data-operation="([^"]+)" data-marks="([^"]*)">', html)


@pytest.mark.parametrize("query", ["timescale=1h", "timescale=1d&operation=delete", "timescale=1d&by=host"])
def test_a_histogram_per_operation_with_its_p50_and_p95(client, query):
    page = client.get(f"/operations?{query}", headers=HEADERS).text
    durations = client.get(f"/api/v1/operations?{query}", headers=HEADERS).json()["durations"]
    expected = [
        (row["operation"], "no successful one" if row["p50_s"] is None
         else f"p50 {format_duration(row['p50_s'])} · p95 {format_duration(row['p95_s'])}")
        for row in durations["operations"]
    ]  # fmt: skip
    assert figures(page) == expected and expected
    for row in durations["operations"]:
        assert f"{row['success']} ok · {row['error']} failed" in page
    # Right after the charts over time (when there are any) and before the table.
    assert page.index('id="durations"') < page.index('id="operations"')
    if 'id="charts"' in page:
        assert page.index('id="charts"') < page.index('id="durations"')
    assert 'id="duration-data"' in page and "/static/durations.js" in page


def test_the_table_writes_times_iso_utc_to_the_minute_and_durations_with_units(client):
    page = client.get(f"/operations?timescale=1h&page_size={OPERATION_MAX_ROWS}", headers=HEADERS).text
    stats = client.get("/api/v1/operations?timescale=1h", headers=HEADERS).json()["stats"]
    windows = re.findall(r'<tr data-operation="[^"]+" data-window="[^"]+">\s*<td>([^<]+)</td>', page)
    assert windows == [row["window"][:16].replace("T", " ") + "Z" for row in stats]
    for field in ("p50_s", "p95_s", "p99_s", "max_s", "mean_scheduling_s"):
        written = re.findall(rf'<td data-field="{field}" data-seconds="[^"]*">([^<]+)</td>', page)
        assert written == [format_duration(row[field]) for row in stats], field
    assert "+00:00" not in page and re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\dZ\.", page)


@pytest.mark.parametrize(
    "seconds, text",
    [(None, "-"), (float("nan"), "-"), (0.0, "0 ms"), (0.25, "250 ms"), (0.9996, "1.0 s"), (4.25, "4.3 s"),
     (9.96, "10 s"), (42.4, "42 s"), (59.6, "1 min"), (60.0, "1 min"), (119.6, "2 min"), (250.0, "4 min 10 s"),
     (3599.6, "1 h"), (7260.0, "2 h 1 min"), (86399.0, "1 d"), (90000.0, "1 d 1 h"), (-3.0, "-3.0 s")],
)  # fmt: skip
def test_durations_are_written_with_units(seconds, text):
    assert format_duration(seconds) == text


def test_the_page_writes_durations_as_format_duration_does(client):
    """The template's own writer (a Jinja macro) against the library's, over a wide spread of values."""
    source = (TEMPLATES / "operations.html").read_text()
    macro = source[
        source.index("{%- macro duration") : source.index("{%- endmacro -%}") + len("{%- endmacro -%}")
    ]
    template = Environment(autoescape=True).from_string(
        macro + "{% for v in values %}{{ duration(v) }}|{% endfor %}"
    )
    rng = random.Random(7)
    values = [10 ** rng.uniform(-4, 7) for _ in range(3000)]
    values += [
        unit * rng.randint(0, 60) + nudge for unit in (1, 60, 3600, 86400) for nudge in (-0.5, -0.05, 0, 0.5)
    ]
    assert template.render(values=values).split("|")[:-1] == [format_duration(v) for v in values]


def test_an_empty_store_draws_no_histogram(tmp_path):
    path = str(tmp_path / "empty.duckdb")
    with open_store(path):
        pass
    with TestClient(create_app(Settings(store=path), tokens=(Token.of(ADMIN, "admin"),))) as empty:
        page = empty.get("/operations", headers=HEADERS)
    assert page.status_code == 200 and 'id="durations"' not in page.text and "operations-empty" in page.text


# -- in Chromium ---------------------------------------------------------------------------------

READ_CHARTS = """() => [...document.querySelectorAll("#duration-charts figure")].map((figure) => {
  const svg = figure.querySelector("svg");
  const hits = [...svg.querySelectorAll("rect.hit")];
  const box = (el) => ({ x: Number(el.getAttribute("x")), width: Number(el.getAttribute("width")) });
  return {
    operation: figure.dataset.operation,
    label: svg.getAttribute("aria-label"), role: svg.getAttribute("role"),
    bins: hits.map((hit) => ({ bin: Number(hit.dataset.bin), success: Number(hit.dataset.success),
                               error: Number(hit.dataset.error), ...box(hit) })),
    okBars: svg.querySelectorAll("rect.bar.ok").length, errorBars: svg.querySelectorAll("rect.bar.error").length,
    ticks: [...svg.querySelectorAll("text.tick-x")].map((t) => ({ text: t.textContent, edge: Number(t.dataset.edgeS) })),
    marks: [...svg.querySelectorAll("line.mark")].map((line) => ({
      label: line.classList[1], seconds: Number(line.dataset.seconds), x: Number(line.getAttribute("x1")) })),
  };
})"""


@pytest.fixture(scope="module")
def served_page(tmp_path_factory):
    """A signed-in browser page on a served app, and the app's API answers for the page's queries."""
    path = write_bus_store(tmp_path_factory.mktemp("browser"), 150, seed=31)
    with open_store(path) as store:
        app = create_app(Settings(store=path), store=store, tokens=(Token.of(ADMIN, "admin"),))
        with served(app) as base, chromium() as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            watched = WatchedPage(context)
            watched.page.goto(f"{base}/login?next=/operations")
            watched.page.fill("#token", ADMIN)
            watched.page.click("#sign-in")
            watched.page.wait_for_url(f"{base}/operations")
            yield base, watched
            context.close()


def api_durations(watched: WatchedPage, base: str, query: str) -> dict:
    """The page's own session asks the API for the same query (the cookie is a token)."""
    response = watched.page.request.get(f"{base}/api/v1/operations?{query}")
    assert response.ok, response.text()
    return response.json()["durations"]


def seconds_of(text: str) -> float:
    """A duration as the page writes it ("200 ms", "2 min", "1 d"), back in seconds."""
    return parse_duration_seconds(text.replace(" ", "").replace("min", "m"))


@pytest.mark.integration
@pytest.mark.parametrize("query", ["timescale=1h", "timescale=1d&operation=create"])
def test_the_histograms_draw_the_apis_counts_in_chromium(served_page, query):
    base, watched = served_page
    page = watched.page
    page.goto(f"{base}/operations?{query}")
    page.wait_for_selector("body[data-durations-drawn]")
    durations = api_durations(watched, base, query)
    charts = page.evaluate(READ_CHARTS)
    assert [chart["operation"] for chart in charts] == [row["operation"] for row in durations["operations"]]
    # The span every chart shares: the first to the last bin any operation fills, found here from the API.
    totals = np.array([np.add(row["success_counts"], row["error_counts"]) for row in durations["operations"]])
    filled = np.flatnonzero(totals.sum(axis=0))
    span = range(filled[0], filled[-1] + 1)
    edges = [b["lower_s"] for b in durations["bins"]]
    for chart, row in zip(charts, durations["operations"], strict=True):
        assert [b["bin"] for b in chart["bins"]] == list(span)
        assert [b["success"] for b in chart["bins"]] == row["success_counts"][span.start : span.stop]
        assert [b["error"] for b in chart["bins"]] == row["error_counts"][span.start : span.stop]
        assert chart["okBars"] == sum(1 for i in span if row["success_counts"][i])
        assert chart["errorBars"] == sum(1 for i in span if row["error_counts"][i])
        assert chart["role"] == "img" and chart["label"].startswith(f"Durations of {row['operation']}: ")
        assert f"{row['success']} ok and {row['error']} failed" in chart["label"]
        # Every edge label is a duration with its unit, at the edge it names.
        assert len(chart["ticks"]) >= 3
        for tick in chart["ticks"]:
            assert tick["edge"] in edges and seconds_of(tick["text"]) == pytest.approx(tick["edge"])
        # p50 and p95 stand inside the bar of the bin that holds them.
        marks = {mark["label"]: mark for mark in chart["marks"]}
        for label in ("p50", "p95"):
            if row[f"{label}_s"] is None:
                assert label not in marks
                continue
            assert marks[label]["seconds"] == pytest.approx(row[f"{label}_s"])
            holder = next(
                b for b in chart["bins"] if b["bin"] == np.searchsorted(edges, row[f"{label}_s"], "right") - 1
            )
            assert holder["x"] - 0.01 <= marks[label]["x"] <= holder["x"] + holder["width"] + 0.01
    hover_a_bar(page, charts, durations)
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    watched.assert_clean()


def hover_a_bar(page, charts, durations) -> None:
    """Hovering the fullest bin of the first chart shows its range with units and its counts."""
    chart, row = charts[0], durations["operations"][0]
    fullest = max(chart["bins"], key=lambda b: b["success"] + b["error"])
    position = [b["bin"] for b in chart["bins"]].index(fullest["bin"])
    page.locator("#duration-charts figure").first.locator("rect.hit").nth(position).hover()
    tip = page.locator("#duration-tip")
    assert tip.is_visible()
    title, counts = tip.inner_text().split("\n")
    lower, upper = title.removeprefix(f"{row['operation']}: ").split(" – ")
    bins = durations["bins"][fullest["bin"]]
    assert seconds_of(lower) == pytest.approx(bins["lower_s"]) and seconds_of(upper) == pytest.approx(
        bins["upper_s"]
    )
    assert counts == f"{fullest['success']} ok, {fullest['error']} failed"


@pytest.mark.integration
def test_screenshots_of_the_operations_page(served_page):
    base, watched = served_page
    page = watched.page
    for query, name in (
        ("timescale=1h", "operations"),
        ("timescale=1d&operation=create", "operations-create"),
    ):
        for width in (1280, 1920):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{base}/operations?{query}")
            page.wait_for_selector("body[data-durations-drawn]")
            page.wait_for_selector("body[data-charts-drawn='2']")
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), width
            watched.screenshot(f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})
    watched.assert_clean()


@pytest.mark.integration
def test_one_window_charts_span_that_window(served_page):
    base, watched = served_page
    page = watched.page
    page.goto(f"{base}/operations?timescale=1d&operation=create")
    page.wait_for_selector("body[data-charts-drawn='2']")
    spans = page.evaluate(
        "() => window.stackmeterPlots.map((p) => [p.plot.scales.x.min, p.plot.scales.x.max])"
    )
    start = page.evaluate("() => JSON.parse(document.getElementById('operation-data').textContent).window")
    assert len(start) == 1 and spans == [[start[0], start[0] + 86400]] * 2


@pytest.mark.integration
def test_the_pager_leads_through_the_table_in_chromium(served_page):
    base, watched = served_page
    page = watched.page
    page.goto(f"{base}/operations?timescale=1h&by=host&page_size=40")
    total = int(page.locator("#row-range").get_attribute("data-rows"))
    pages = -(-total // 40)
    assert pages >= 3 and page.locator("#operations tbody tr").count() == 40
    page.click("#next-page")
    page.wait_for_url(re.compile(r"page=2$"))
    assert page.locator("#row-range").inner_text().startswith(f"rows 41–80 of {total}")
    assert page.locator("#operations tbody tr").count() == 40
    page.click("#last-page" if pages > 3 else "#next-page")
    page.wait_for_url(re.compile(rf"page={pages}$"))
    assert page.locator("#operations tbody tr").count() == total - (pages - 1) * 40
    assert page.locator("#next-page").count() == 0 and page.locator("#previous-page").count() == 1
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    # A new choice keeps the page size and starts again from the first page.
    page.select_option("#timescale", "1d")
    page.wait_for_url(re.compile(r"timescale=1d"))
    assert "page_size=40" in page.url and "page=" not in page.url.replace("page_size=", "")
    assert page.locator("#row-range").get_attribute("data-page") == "1"
    watched.assert_clean()
