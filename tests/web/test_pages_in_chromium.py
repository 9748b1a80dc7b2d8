"""The dashboard in real headless Chromium: what the pages show equals `stackmeter overload --json`.

The store holds the real Bitbrains excerpts. The CLI runs as a subprocess on the store file before
the server opens it (DuckDB lets one process hold a file); the server then runs in this process,
so the heat map and entity pages can be compared with the operations they call.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.models import DEFAULT_SHARE, DEFAULT_THRESHOLDS, Parsed, make_samples
from stackmeter.settings import Settings
from stackmeter.sources import TRACE_FORMATS
from stackmeter.store import open_store
from stackmeter.web.pages import HEAT_MAP_COLUMNS, HEAT_MAP_ROWS
from tests.conftest import ADMIN
from tests.fleet import FIXTURES, PROJECTS, write_fleet
from tests.web.browser import WatchedPage, chromium, query_of, served

pytestmark = pytest.mark.integration
UNJUDGED = "51"

# The parameter sets the pages are visited with, as CLI arguments.
CLI_QUERIES = {
    "default": [],
    "1d": ["--timescale", "1d"],
    "1d memory": ["--timescale", "1d", "--resource", "memory"],
    # Every overloaded entity, ranked: what the heat map and entity pages must agree with.
    "ranked": ["--timescale", "1d,1w", "--top", "100000"],
}


def run_overload_cli(store_path: str) -> dict[str, dict]:
    """``stackmeter overload --json`` for each of :data:`CLI_QUERIES`, one after the other (each
    run holds the store file while it reads)."""
    reports = {}
    for name, args in CLI_QUERIES.items():
        run = subprocess.run(
            [sys.executable, "-c", "from stackmeter.cli import app; app()", "overload", "--store", store_path,
             "--json", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        reports[name] = json.loads(run.stdout)
    for timescale in FLEET_CHARTS:
        run = subprocess.run(
            [sys.executable, "-c", "from stackmeter.cli import app; app()", "fleet", "--store", store_path,
             "--json", "--timescale", timescale],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        reports[f"fleet {timescale}"] = json.loads(run.stdout)
    return reports


# The fleet charts the overview is checked with: its default (days) and one asked for.
FLEET_CHARTS = ("1d", "1w")


def write_store(path: str) -> None:
    """The Bitbrains excerpts: VM 51 without disk and network capacities, so that those resources
    have an entity that cannot be judged (the share of the fleet counts the others only)."""
    with open_store(path) as store:
        write_fleet(store, {entity: project for entity, project in PROJECTS.items() if entity != UNJUDGED})
        bitbrains = TRACE_FORMATS["bitbrains"]
        files = [p for p in bitbrains.find_files(FIXTURES / "bitbrains") if p.name.startswith(f"{UNJUDGED}.")]
        store.write_parsed([bitbrains.load_file(p) for p in files], source="bitbrains")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """(store path, the CLI's reports on it), computed before any server opens the file."""
    path = str(tmp_path_factory.mktemp("dashboard") / "fleet.duckdb")
    write_store(path)
    return path, run_overload_cli(path)


@pytest.fixture(scope="module")
def store(fleet):
    with open_store(fleet[0]) as opened:
        yield opened


@pytest.fixture(scope="module")
def reports(fleet) -> dict[str, dict]:
    return fleet[1]


@pytest.fixture(scope="module")
def base_url(fleet, store):
    app = create_app(Settings(store=fleet[0]), store=store, tokens=(Token.of(ADMIN, "admin"),))
    with served(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def signed_in(browser, base_url):
    """A browser context that signed in once through the login form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = WatchedPage(context)
    watched.page.goto(f"{base_url}/login?next=/")
    watched.page.fill("#token", ADMIN)
    watched.page.click("#sign-in")
    watched.page.wait_for_url(f"{base_url}/")
    watched.assert_clean()
    watched.close()
    yield context
    context.close()


@pytest.fixture
def watched(signed_in):
    opened = WatchedPage(signed_in)
    yield opened
    opened.close()


# --- reading the pages ------------------------------------------------------------------------

READ_OVERVIEW = """() => [...document.querySelectorAll("#overview tbody tr[data-timescale]")].map((tr) => ({
  timescale: tr.dataset.timescale,
  resource: tr.dataset.resource,
  fields: Object.fromEntries([...tr.querySelectorAll("td[data-field]")].map((td) => [td.dataset.field,
    { value: td.dataset.value ?? null, window: td.dataset.window ?? null, text: td.innerText.trim() }])),
  worst: [...tr.querySelectorAll("td.worst [data-entity]")].map((span) => (
    { entity: span.dataset.entity, share: Number(span.dataset.share), text: span.innerText.trim() })),
}))"""

READ_MULTI = """() => [...document.querySelectorAll("#multi tbody tr[data-timescale]")].map((tr) => ({
  timescale: tr.dataset.timescale,
  entities: Number(tr.querySelector("[data-field=entities]").dataset.value),
  entity_windows: Number(tr.querySelector("[data-field=entity_windows]").dataset.value),
}))"""

READ_HEAT_MAP = """() => ({
  entities: Number(document.getElementById("entity-range").dataset.entities),
  rows: [...document.querySelectorAll("#heatmap tbody tr[data-entity]")].map((tr) => ({
    entity: tr.dataset.entity,
    windows_overloaded: Number(tr.querySelector("[data-field=windows_overloaded]").textContent),
    windows: Number(tr.querySelector("[data-field=windows]").textContent),
  })),
  cells: JSON.parse(document.getElementById("heatmap-data").textContent),
  drawn: Number(document.body.dataset.heatmapDrawn),
})"""

READ_ENTITY = """() => ({
  summary: [...document.querySelectorAll("#entity-summary tbody tr[data-resource]")].map((tr) => ({
    resource: tr.dataset.resource,
    windows: Number(tr.querySelector("[data-field=windows]").dataset.value),
    windows_overloaded: Number(tr.querySelector("[data-field=windows_overloaded]").dataset.value),
  })),
  plots: window.stackmeterPlots.map((p) => ({ resource: p.resource, data: p.plot.data })),
})"""


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


READ_MATRIX = """() => [...document.querySelectorAll("#matrix td.cell")].map((td) => {
  const count = td.querySelector("[data-field=overloaded_latest]");
  const ever = td.querySelector("[data-field=overloaded_ever]");
  const spark = td.querySelector("svg.spark polyline");
  return {
    timescale: td.dataset.timescale, resource: td.dataset.resource, severity: td.dataset.severity,
    latest: count ? count.dataset.value : null, latest_text: count ? count.innerText.trim() : null,
    window: count ? count.dataset.window : null, ever: ever ? Number(ever.dataset.value) : null,
    ever_text: ever ? ever.innerText.trim() : null, text: td.innerText.trim(),
    spark: spark ? spark.getAttribute("points").split(" ").length : 0,
  };
})"""


def expected_severity(cell: dict) -> str:
    """The matrix's colour of a cell, from the CLI's numbers: the share of the judged fleet
    overloaded in the latest complete window (none, under 5 %, 5 to 20 %, 20 % and over)."""
    judged = cell["entities"] - cell["without_capacity"]
    if not judged:
        return "unjudged"
    if cell["overloaded_latest"] is None:
        return "unknown"
    share = cell["overloaded_latest"] / judged
    return "none" if share == 0 else "high" if share >= 0.2 else "medium" if share >= 0.05 else "low"


def assert_matrix_equals(page, report: dict) -> None:
    """The matrix: a cell per timescale × resource, its counts and colour those of the CLI's report."""
    shown = page.evaluate(READ_MATRIX)
    assert [(cell["timescale"], cell["resource"]) for cell in shown] == [
        (cell["timescale"], cell["resource"]) for cell in report["cells"]
    ]
    for mine, cell in zip(shown, report["cells"], strict=True):
        where = (cell["timescale"], cell["resource"])
        assert mine["severity"] == expected_severity(cell), where
        judged = cell["entities"] - cell["without_capacity"]
        if not judged:
            assert "no capacity: cannot judge" in mine["text"], where
            continue
        latest = cell["overloaded_latest"]
        assert mine["latest"] == ("" if latest is None else str(latest)), where
        assert mine["latest_text"] == ("–" if latest is None else str(latest)), where
        assert mine["window"] == (cell["latest_window"] or ""), where
        assert mine["ever"] == cell["overloaded_ever"], where
        assert (
            mine["ever_text"]
            == f"ever {cell['overloaded_ever']} ({percent(cell['overloaded_ever'] / judged)})"
        )
        assert f"of {judged}" in mine["text"], where
        assert mine["spark"] == min(cell["windows"], 120), where


def assert_fleet_chart_equals(page, fleet: dict) -> None:
    """The fleet chart plots the overloaded count per window of `stackmeter fleet --json`, and shades
    the windows some resource does not count complete."""
    data = json.loads(page.inner_text("#fleet-data"))
    assert data["timescale"] == fleet["timescale"]
    assert int(page.evaluate("() => document.body.dataset.fleetDrawn")) == len(data["window"])
    for series in data["series"]:
        rows = [row for row in fleet["windows"] if row["resource"] == series["resource"]]
        starts = [int(np.datetime64(row["window"].removesuffix("Z"), "s").astype(np.int64)) for row in rows]
        plotted = dict(zip(data["window"], series["overloaded"], strict=True))
        assert [plotted[start] for start in starts] == [row["overloaded"] for row in rows], series["resource"]
    complete = {}
    for row in fleet["windows"]:
        start = int(np.datetime64(row["window"].removesuffix("Z"), "s").astype(np.int64))
        complete[start] = complete.get(start, True) and row["complete"]  # shaded if any resource is partial
    assert dict(zip(data["window"], data["complete"], strict=True)) == complete


def assert_overview_equals(page, report: dict) -> None:
    """Every number of the overview's matrix and tables equals the CLI's report."""
    assert_matrix_equals(page, report)
    page.evaluate("() => { document.getElementById('numbers').open = true; }")
    rows = page.evaluate(READ_OVERVIEW)
    cells = {(cell["timescale"], cell["resource"]): cell for cell in report["cells"]}
    assert [(row["timescale"], row["resource"]) for row in rows] == list(cells)
    for row in rows:
        cell, shown = cells[row["timescale"], row["resource"]], row["fields"]
        for field in ("entities", "windows", "overloaded_ever", "overloaded_max"):
            assert int(shown[field]["value"]) == cell[field], (row["timescale"], row["resource"], field)
            assert shown[field]["text"].split()[0] == str(cell[field])
        assert float(shown["overloaded_mean"]["value"]) == pytest.approx(cell["overloaded_mean"], rel=1e-12)
        assert shown["overloaded_mean"]["text"] == f"{cell['overloaded_mean']:.2f}"
        judged = cell["entities"] - cell["without_capacity"]
        if judged:
            assert float(shown["share_of_fleet"]["value"]) == pytest.approx(cell["overloaded_ever"] / judged)
            assert shown["share_of_fleet"]["text"] == percent(cell["overloaded_ever"] / judged)
        else:
            assert shown["share_of_fleet"]["text"] == "-"
        assert shown["overloaded_max"]["window"] == (cell["worst_window"] if cell["overloaded_max"] else "")
        latest = shown["overloaded_latest"]
        assert latest["value"] == (
            "" if cell["overloaded_latest"] is None else str(cell["overloaded_latest"])
        )
        assert latest["window"] == (cell["latest_window"] or "")
        if cell["latest_window"]:
            minute = cell["latest_window"][:16].replace("T", " ") + "Z"
            assert latest["text"] == f"{cell['overloaded_latest']} ({minute})"
        trend = shown["trend_per_window"]
        if cell["trend_per_window"] is None:
            assert trend["text"] == "-"
        else:
            assert float(trend["value"]) == pytest.approx(cell["trend_per_window"], rel=1e-9, abs=1e-15)
            assert trend["text"] == f"{cell['trend_per_window']:+.3g}"
        expected_worst = cell["worst"][:3]
        assert [worst["entity"] for worst in row["worst"]] == [worst["entity"] for worst in expected_worst]
        for worst, expected in zip(row["worst"], expected_worst, strict=True):
            assert worst["share"] == pytest.approx(expected["share"])
            assert worst["text"] == f"{expected['entity']} {percent(expected['share'])}"
    multi = page.evaluate(READ_MULTI)
    assert multi == [
        {key: row[key] for key in ("timescale", "entities", "entity_windows")}
        for row in report["multi_resource"]
    ]


def cell_of(report: dict, timescale: str, resource: str) -> dict:
    (cell,) = [c for c in report["cells"] if (c["timescale"], c["resource"]) == (timescale, resource)]
    return cell


def select_and_wait(page, selector: str, value: str) -> dict[str, str]:
    """Choose ``value`` in a control that applies at once; return the new URL's query."""
    with page.expect_navigation():
        page.select_option(selector, value)
    return query_of(page.url)


# --- the tests ----------------------------------------------------------------------------------


def test_overview_shows_the_cli_report_and_its_controls_make_shareable_links(
    watched, signed_in, base_url, reports
):
    page = watched.page
    page.goto(f"{base_url}/")
    assert_overview_equals(page, reports["default"])
    assert_fleet_chart_equals(page, reports["fleet 1d"])
    watched.screenshot("overview")
    with page.expect_navigation():
        page.click("#matrix tr[data-timescale='1w'] th a")
    assert query_of(page.url)["chart"] == "1w"
    assert_fleet_chart_equals(page, reports["fleet 1w"])
    assert_overview_equals(page, reports["default"])
    page.goto(f"{base_url}/")

    assert select_and_wait(page, "#timescale", "1d")["timescale"] == "1d"
    assert_overview_equals(page, reports["1d"])
    query = select_and_wait(page, "#resource", "memory")
    assert (query["timescale"], query["resource"]) == ("1d", "memory")
    assert_overview_equals(page, reports["1d memory"])
    watched.screenshot("overview-1d-memory")

    # The URL is the view: opened elsewhere, it shows the same numbers.
    shared = WatchedPage(signed_in)
    shared.page.goto(page.url)
    assert_overview_equals(shared.page, reports["1d memory"])
    shared.assert_clean()
    shared.close()
    watched.assert_clean()


def assert_heat_map_ranks_as_the_report(page, store, report: dict, timescale: str, resource: str) -> None:
    shown = page.evaluate(READ_HEAT_MAP)
    cell = cell_of(report, timescale, resource)
    assert shown["entities"] == cell["entities"] - cell["without_capacity"]
    # Worst first, as the report ranks its worst; entities never overloaded follow by name.
    overloaded = [row for row in shown["rows"] if row["windows_overloaded"]]
    assert overloaded == [
        {key: worst[key] for key in ("entity", "windows_overloaded", "windows")} for worst in cell["worst"]
    ]
    rest = [row["entity"] for row in shown["rows"][len(overloaded) :]]
    assert rest == sorted(rest)
    assert shown["drawn"] == len(shown["rows"])
    # The coloured cells are the operation's numbers for the same page.
    heat = operations.heat_map(
        store.reader(),
        timescale,
        resource,
        DEFAULT_THRESHOLDS[resource],
        DEFAULT_SHARE,
        page_size=HEAT_MAP_ROWS,
        columns=HEAT_MAP_COLUMNS[timescale],
    )
    assert shown["cells"]["columns"] == [np.datetime_as_string(c, unit="s") + "Z" for c in heat.columns]
    assert [row["entity"] for row in shown["cells"]["rows"]] == [row.entity for row in heat.rows]
    for drawn, row in zip(shown["cells"]["rows"], heat.rows, strict=True):
        assert drawn["o"] == [int(mark) for mark in row.overloaded]
        assert [u is None for u in drawn["u"]] == [u is None for u in row.utilization]
        assert [u for u in drawn["u"] if u is not None] == pytest.approx(
            [u for u in row.utilization if u is not None], rel=1e-9
        )


def assert_entity_page_equals(page, store, report: dict, entity: str, timescale: str) -> None:
    """The summary and the plotted series equal the operation, and agree with the CLI's ranking."""
    page.wait_for_selector("body[data-charts-drawn]")
    shown = page.evaluate(READ_ENTITY)
    result = operations.entity_overload(store.reader(), entity, timescale, DEFAULT_THRESHOLDS, DEFAULT_SHARE)
    assert [row["resource"] for row in shown["summary"]] == [item.resource for item in result.resources]
    assert [plot["resource"] for plot in shown["plots"]] == [item.resource for item in result.resources]
    for row, plot, item in zip(shown["summary"], shown["plots"], result.resources, strict=True):
        assert (row["windows"], row["windows_overloaded"]) == (item.windows, item.windows_overloaded)
        ranked = {worst["entity"]: worst for worst in cell_of(report, timescale, item.resource)["worst"]}
        if entity in ranked:
            assert (row["windows"], row["windows_overloaded"]) == (
                ranked[entity]["windows"],
                ranked[entity]["windows_overloaded"],
            )
        else:
            assert row["windows_overloaded"] == 0
        x, mean, high, theta, over = plot["data"]
        points = [i for i, value in enumerate(mean) if value is not None]  # the rest are gaps
        seconds = item.window.astype("datetime64[s]").astype(np.int64).tolist()
        assert [x[i] for i in points] == seconds
        assert [mean[i] for i in points] == pytest.approx(item.mean_utilization.tolist(), abs=5e-5)
        assert [high[i] for i in points] == pytest.approx(item.max_utilization.tolist(), abs=5e-5)
        assert [over[i] is not None for i in points] == item.overloaded.tolist()
        assert set(theta) == {item.threshold}


def test_heat_map_and_entity_page_from_the_overview_links(watched, base_url, store, reports):
    page = watched.page
    page.goto(f"{base_url}/?timescale=1d")
    with page.expect_navigation():
        page.click("#matrix td.cell[data-timescale='1d'][data-resource='cpu'] a.latest")
    assert page.url.startswith(f"{base_url}/heatmap?")
    assert (query_of(page.url)["timescale"], query_of(page.url)["resource"]) == ("1d", "cpu")
    assert_heat_map_ranks_as_the_report(page, store, reports["ranked"], "1d", "cpu")
    watched.screenshot("heatmap-1d-cpu")

    query = select_and_wait(page, "#resource", "memory")
    assert (query["timescale"], query["resource"]) == ("1d", "memory")
    assert_heat_map_ranks_as_the_report(page, store, reports["ranked"], "1d", "memory")
    watched.screenshot("heatmap-1d-memory")

    worst = page.get_attribute("#heatmap tbody tr[data-entity]", "data-entity")
    with page.expect_navigation():
        page.click(f"#heatmap tr[data-entity='{worst}'] a")
    assert page.url.startswith(f"{base_url}/entity/{worst}?")
    assert query_of(page.url)["timescale"] == "1d" and "resource" not in query_of(page.url)
    assert_entity_page_equals(page, store, reports["ranked"], worst, "1d")
    watched.screenshot(f"entity-{worst}-1d")

    assert select_and_wait(page, "#timescale", "1w")["timescale"] == "1w"
    assert_entity_page_equals(page, store, reports["ranked"], worst, "1w")
    watched.assert_clean()


def test_entity_page_from_the_worst_entities_of_the_overview(watched, base_url, store, reports):
    page = watched.page
    page.goto(f"{base_url}/?timescale=1d&resource=cpu")
    shown = page.eval_on_selector_all(
        "#worst-table tbody tr[data-entity]",
        "(rows) => rows.map((r) => [r.dataset.entity, Number(r.dataset.share)])",
    )
    expected = cell_of(reports["ranked"], "1d", "cpu")["worst"][:5]
    assert [entity for entity, _ in shown] == [worst["entity"] for worst in expected]
    assert [share for _, share in shown] == pytest.approx([worst["share"] for worst in expected])
    link = page.locator("#worst-table tbody tr[data-entity]").first
    entity = link.get_attribute("data-entity")
    with page.expect_navigation():
        link.locator("a").click()
    assert re.fullmatch(rf"{re.escape(base_url)}/entity/{entity}\?.*", page.url)
    assert_entity_page_equals(page, store, reports["ranked"], entity, "1d")
    watched.screenshot(f"entity-{entity}-from-overview")
    watched.assert_clean()


def test_api_docs_render_offline(watched, base_url):
    page = watched.page
    page.goto(f"{base_url}/docs")
    page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/overload']")
    openapi = page.evaluate("() => fetch('/openapi.json').then((response) => response.json())")
    shown = page.eval_on_selector_all(
        ".opblock-summary-path[data-path]", "(paths) => paths.map((p) => p.dataset.path)"
    )
    assert set(shown) == set(openapi["paths"])
    assert "/api/v1/overload" in page.inner_text("#swagger-ui")
    watched.screenshot("api-docs")
    watched.assert_clean()


# --- a fleet of 10,000 ------------------------------------------------------------------------

FLEET_SIZE = 10_000
MAX_ROWS = 200  # no page puts more table rows in the DOM than a heat map page at its largest
MAX_ELEMENTS = 5_000


def write_large_fleet(path: str) -> None:
    """10,000 synthetic VMs with 12 cpu and 12 memory samples each, 15 minutes apart, in one batch."""
    samples_each = 12
    names = np.array([f"vm-{i:05d}" for i in range(FLEET_SIZE)], dtype=object)
    start = np.datetime64("2024-03-04T00:00:00", "ns")
    ts = np.tile(start + np.arange(1, samples_each + 1) * np.timedelta64(15, "m"), 2 * FLEET_SIZE)
    entity = np.tile(np.repeat(names, samples_each), 2)
    resource = np.repeat(np.array(["cpu", "memory"], dtype=object), FLEET_SIZE * samples_each)
    used = np.random.default_rng(7).beta(2, 4, size=ts.size)
    with open_store(path) as store:
        store.write_parsed([Parsed("synthetic", make_samples(ts, entity, resource, used, 1.0))], "synthetic")


def test_a_fleet_of_ten_thousand_never_puts_ten_thousand_rows_on_a_page(browser, tmp_path):
    path = str(tmp_path / "large.duckdb")
    write_large_fleet(path)
    with open_store(path) as store, served(create_app(Settings(store=path), store=store, tokens=())) as url:
        worst = operations.overload_report(store, "1h", ("cpu",), top=1).cells[0].worst[0].entity
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        watched = WatchedPage(context)
        page = watched.page
        pages = {
            "overview": "/",
            "overview-5m-cpu": "/?timescale=5m&resource=cpu",
            "heatmap-1h-cpu": "/heatmap?timescale=1h&resource=cpu",
            "heatmap-5m-memory-largest-page": f"/heatmap?timescale=5m&resource=memory&rows={MAX_ROWS}",
            "entity": f"/entity/{worst}?timescale=1h",
        }
        for name, path_and_query in pages.items():
            page.goto(url + path_and_query)
            rows = page.evaluate("() => document.querySelectorAll('tr').length")
            elements = page.evaluate("() => document.getElementsByTagName('*').length")
            assert rows <= MAX_ROWS + 1, (name, rows)  # + the header row
            assert elements <= MAX_ELEMENTS, (name, elements)
            if name.startswith("overview"):
                # The whole fleet is counted, in a row per timescale and resource.
                counted = page.eval_on_selector_all(
                    "#overview td[data-field=entities]",
                    "(cells) => cells.map((c) => Number(c.dataset.value))",
                )
                assert counted and set(counted) <= {FLEET_SIZE, 0}
            if name.startswith("heatmap"):
                # One page of the fleet, worst first, and a way to the next page.
                assert int(page.get_attribute("#entity-range", "data-entities")) == FLEET_SIZE
                assert page.locator("#heatmap tbody tr[data-entity]").count() in (HEAT_MAP_ROWS, MAX_ROWS)
                assert page.locator("#next-page").count() == 1
            watched.screenshot(f"large-fleet-{name}")
        assert page.locator("#entity-summary tbody tr[data-resource]").count() == 2
        watched.assert_clean()
        context.close()
