"""Every page of the dashboard checked by axe-core in real headless Chromium: no serious or critical
violation, no sideways scroll at 1280 px, and a screenshot of each at 1280 and 1920 px.

axe-core is the version pinned in ``tests/web/axe/package-lock.json`` (``scripts/install-test-deps.sh``
installs it), injected into each page once it is drawn. The store holds the Bitbrains excerpts (VM 51
without disk and network capacities) and a notification capture. Four browser contexts see it: an
admin, a read token of project ``gamma`` (no entities, no operations: the empty states), someone not
signed in (the login form), and an admin of an empty store (its empty states).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.models import DEFAULT_SHARE, DEFAULT_THRESHOLDS
from stackmeter.settings import Settings
from stackmeter.store import open_store
from stackmeter.web.pages import HEAT_MAP_COLUMNS, HEAT_MAP_ROWS
from tests.bus_store import write_capture
from tests.conftest import ADMIN
from tests.web.browser import SERIOUS, WatchedPage, axe_violations, describe_violations, served
from tests.web.test_entity_in_chromium import GAMMA, sign_in
from tests.web.test_pages_in_chromium import UNJUDGED, browser, write_store

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # a fixture, used by name

WIDTHS = (1280, 1920)
NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
SWAGGER_UI = "#swagger-ui"
# Swagger UI 5.35.0's own markup (vendored, not ours to edit) fails this rule at serious impact: a
# button nested in a button (each operation's summary). Its colour contrast is fixed by
# static/swagger-overrides.css. It is checked on its own below so that a new kind still fails.
SWAGGER_UI_KNOWN = {"nested-interactive"}


@dataclass(frozen=True)
class Page:
    """A page as a user reaches it: who (``who``, a context below), where, and when it is drawn."""

    who: str
    path: str
    ready: str | None = None
    status: int = 200
    refused_token: str | None = None  # typed into the login form, which refuses it
    exclude: tuple[str, ...] = ()


PAGES = {
    "overview": Page("admin", "/"),
    "overview-1d-memory": Page("admin", "/?timescale=1d&resource=memory"),
    "heatmap-1h-cpu": Page("admin", "/heatmap?timescale=1h&resource=cpu", "body[data-heatmap-drawn]"),
    "heatmap-1d-memory": Page("admin", "/heatmap?timescale=1d&resource=memory", "body[data-heatmap-drawn]"),
    "heatmap-1w-disk": Page("admin", "/heatmap?timescale=1w&resource=disk", "body[data-heatmap-drawn]"),
    "entity-196-1d": Page("admin", "/entity/196?timescale=1d", "body[data-charts-drawn]"),
    f"entity-{UNJUDGED}-1d-unjudged": Page(
        "admin", f"/entity/{UNJUDGED}?timescale=1d", "body[data-charts-drawn]"
    ),
    "operations-1h-all": Page("admin", "/operations?timescale=1h", "body[data-charts-drawn='2']"),
    "operations-1h-create": Page(
        "admin", "/operations?timescale=1h&operation=create", "body[data-charts-drawn='2']"
    ),
    "operations-1d-by-host": Page("admin", "/operations?timescale=1d&by=host"),
    "replay": Page("admin", "/replay", "body[data-replay-drawn]"),
    "replay-empty-project": Page("gamma", "/replay"),
    "error-404-unknown-entity": Page("admin", "/entity/no-such-entity", status=404),
    "error-422-bad-parameter": Page("admin", "/heatmap?timescale=fortnight", status=422),
    "login": Page("anonymous", "/login"),
    "login-signed-out": Page("anonymous", "/login?out"),
    "login-refused": Page("anonymous", "/login", status=401, refused_token="not-a-token-0123456789"),
    "overview-empty-project": Page("gamma", "/"),
    "operations-empty-project": Page("gamma", "/operations"),
    "overview-empty-store": Page("empty", "/"),
    "operations-empty-store": Page("empty", "/operations"),
    # Swagger UI's own markup is checked apart (test_swagger_ui_has_no_serious_violations_but_its_known_ones).
    "api-docs": Page(
        "admin", "/docs", ".opblock-summary-path[data-path='/api/v1/overload']", exclude=(SWAGGER_UI,)
    ),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The Bitbrains excerpts and a capture of 120 operations, in one store file."""
    path = str(tmp_path_factory.mktemp("a11y") / "fleet.duckdb")
    write_store(path)
    capture = write_capture(tmp_path_factory.mktemp("bus"), 120, seed=12, malformed=0)
    with open_store(path) as opened:
        operations.ingest_notifications(opened, capture)
        yield opened


@pytest.fixture(scope="module")
def base_url(store):
    tokens = (Token.of(ADMIN, "admin"), Token.of(GAMMA, "read", "gamma"))
    with served(create_app(Settings(store=store.path), store=store, tokens=tokens)) as url:
        yield url


@pytest.fixture(scope="module")
def empty_url(tmp_path_factory):
    """An empty store, served without tokens (loopback only): what a fresh install shows an admin."""
    path = str(tmp_path_factory.mktemp("a11y-empty") / "empty.duckdb")
    with open_store(path) as opened, served(create_app(Settings(store=path), store=opened, tokens=())) as url:
        yield url


@pytest.fixture(scope="module")
def contexts(browser, base_url, empty_url):
    """A browser context per ``Page.who``, with the base URL it reaches."""
    made = {
        "admin": (sign_in(browser, base_url, ADMIN), base_url),
        "gamma": (sign_in(browser, base_url, GAMMA), base_url),
        "anonymous": (browser.new_context(viewport={"width": WIDTHS[0], "height": 900}), base_url),
        "empty": (browser.new_context(viewport={"width": WIDTHS[0], "height": 900}), empty_url),
    }
    yield made
    for context, _ in made.values():
        context.close()


def visit(contexts, spec: Page, width: int) -> tuple[WatchedPage, str]:
    """Open ``spec`` at ``width`` px and wait until it is drawn; return the page and its URL."""
    context, base = contexts[spec.who]
    watched = WatchedPage(context)
    page = watched.page
    page.set_viewport_size({"width": width, "height": 900})
    response = page.goto(base + spec.path)
    if spec.refused_token:
        page.fill("#token", spec.refused_token)
        with page.expect_navigation() as navigation:
            page.click("#sign-in")
        response = navigation.value
    assert response is not None and response.status == spec.status, (spec.path, response and response.status)
    if spec.ready:
        page.wait_for_selector(spec.ready)
    return watched, page.url


def assert_clean_but_status(watched: WatchedPage, url: str, status: int) -> None:
    """:meth:`WatchedPage.assert_clean`, the page's own error status (and Chromium's line about it) aside."""
    if status >= 400:
        expected = (f"{status} {url}", f"status of {status}")
        watched.errors[:] = [e for e in watched.errors if not any(part in e for part in expected)]
    watched.assert_clean()


def with_screenshots(contexts, name: str, check: Callable[[WatchedPage], None]) -> None:
    """Screenshots of page ``name`` at each of :data:`WIDTHS`, then ``check`` on it at 1280 px."""
    spec = PAGES[name]
    for width in reversed(WIDTHS):
        watched, url = visit(contexts, spec, width)
        watched.screenshot(f"a11y-{name}-{width}")
        if width == WIDTHS[0]:
            try:
                check(watched)
                assert_clean_but_status(watched, url, spec.status)
            finally:
                watched.close()
        else:
            watched.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_or_critical_axe_violations(contexts, name):
    def check(watched: WatchedPage) -> None:
        found = axe_violations(watched.page, SERIOUS, exclude=PAGES[name].exclude)
        assert not found, f"axe-core on {PAGES[name].path}:\n{describe_violations(found)}"

    with_screenshots(contexts, name, check)


@pytest.mark.parametrize("name", list(PAGES))
def test_no_horizontal_scroll_at_1280_px(contexts, name):
    watched, url = visit(contexts, PAGES[name], WIDTHS[0])
    widths = watched.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert watched.page.evaluate(NO_HORIZONTAL_SCROLL), (
        f"{PAGES[name].path}: scroll width {widths[0]} > {widths[1]}"
    )
    assert_clean_but_status(watched, url, PAGES[name].status)
    watched.close()


def test_swagger_ui_has_no_serious_violations_but_its_known_ones(contexts):
    """Swagger UI's markup is vendored: its violations are listed, so that a new kind fails here."""
    watched, url = visit(contexts, PAGES["api-docs"], WIDTHS[0])
    violations = axe_violations(watched.page, SERIOUS, include=SWAGGER_UI)
    new = [violation for violation in violations if violation["id"] not in SWAGGER_UI_KNOWN]
    assert not new, f"new serious violations in Swagger UI: {describe_violations(new)}"
    assert_clean_but_status(watched, url, 200)
    watched.close()


def test_a_keyboard_user_reads_the_heat_maps_windows(contexts, store):
    """Tab reaches a row's strip, the arrows move through its windows, and each window's numbers, those
    of the heat map operation, are the strip's aria-valuetext (what a screen reader says) and its tip."""
    watched, url = visit(contexts, PAGES["heatmap-1d-memory"], WIDTHS[0])
    page = watched.page
    heat = operations.heat_map(
        store.reader(), "1d", "memory", DEFAULT_THRESHOLDS["memory"], DEFAULT_SHARE,
        page_size=HEAT_MAP_ROWS, columns=HEAT_MAP_COLUMNS["1d"],
    )  # fmt: skip
    row = heat.rows[0]
    page.focus(f"#heatmap tr[data-entity='{row.entity}'] a")
    page.keyboard.press("Tab")
    strip = page.locator('canvas[data-row="0"]')
    assert page.evaluate("() => document.activeElement.dataset.row") == "0"
    assert int(strip.get_attribute("aria-valuenow")) == len(heat.columns) - 1  # the latest window first
    page.keyboard.press("Home")
    for column in range(min(3, len(heat.columns))):
        assert int(strip.get_attribute("aria-valuenow")) == column
        text = strip.get_attribute("aria-valuetext")
        start = heat.columns[column].astype("datetime64[s]").item().strftime("%Y-%m-%d 00:00Z")
        assert text.startswith(f"{row.entity}; {start}"), text
        if row.utilization[column] is None:
            assert "no samples in this window" in text
        else:
            samples = row.samples[column]
            assert f"mean {100 * row.utilization[column]:.1f}% · {samples} samples" in text
            assert f"overloaded: {'yes' if row.overloaded[column] else 'no'}" in text
        tip = page.locator("#tip")
        assert tip.is_visible() and tip.get_attribute("data-column") == str(column)
        assert tip.inner_text().replace("\n", "; ") == text
        page.keyboard.press("ArrowRight")
    page.keyboard.press("End")
    assert int(strip.get_attribute("aria-valuenow")) == len(heat.columns) - 1
    watched.screenshot("a11y-heatmap-1d-memory-keyboard")
    page.keyboard.press("Tab")  # on to the next row's link: the tip goes
    assert page.locator("#tip").is_hidden()
    assert_clean_but_status(watched, url, 200)
    watched.close()


def test_the_first_tab_offers_to_skip_to_the_content(contexts):
    watched, url = visit(contexts, PAGES["entity-196-1d"], WIDTHS[0])
    page = watched.page
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    box = skip.bounding_box()
    assert (
        box is not None and box["y"] >= 0 and skip.inner_text() == "Skip to content"
    )  # on screen when focused
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the next stop is the page's first control, past the header's links
    assert page.evaluate("() => document.activeElement.id") == "timescale"
    assert_clean_but_status(watched, url, 200)
    watched.close()
