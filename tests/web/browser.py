"""Headless Chromium (the system's, via Playwright), an app on loopback and axe-core, for page tests."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import uvicorn

from tests.rabbitmq_server import unavailable

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}
# axe-core as pinned by tests/web/axe/package-lock.json (scripts/install-test-deps.sh runs `npm ci` there).
AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
# Each violation as the assertion message shows it: the rule, its impact, what it asks for, and where.
RUN_AXE = """async ([context, impacts]) => {
  const results = await axe.run(context, { resultTypes: ["violations"] });
  return results.violations.filter((v) => impacts.includes(v.impact)).map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((node) => node.target.flat().join(" >>> ")),
  }));
}"""


@contextmanager
def chromium() -> Iterator:
    """Yield a Playwright browser on the system's Chromium; skip (fail under CI=true) without one."""
    path = shutil.which("chromium")
    if path is None:
        unavailable("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served(app, start_s: float = 30) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"server not up on port {port} after {start_s} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def on_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOOPBACK_HOSTS


def query_of(url: str) -> dict[str, str]:
    """The query parameters of ``url``, one value each."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def axe_violations(
    page, impacts: tuple[str, ...] = SERIOUS, include: str | None = None, exclude: tuple[str, ...] = ()
) -> list[dict]:
    """The axe-core violations of the page as it stands, at ``impacts``: each ``{id, impact, help, targets}``,
    ``targets`` the CSS selectors of the offending nodes. ``include`` limits axe to one subtree (the whole
    document without it) and ``exclude`` leaves subtrees out: third-party markup the project cannot fix,
    checked on its own. Skips (fails under CI=true) when axe-core is not installed."""
    if not AXE_JS.is_file():
        where = AXE_JS.relative_to(ARTIFACTS.parent)
        unavailable(f"axe-core is not installed ({where}): run scripts/install-test-deps.sh")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    context = {
        "include": [[include]] if include else [["html"]],
        "exclude": [[selector] for selector in exclude],
    }
    return page.evaluate(RUN_AXE, [context, list(impacts)])


def describe_violations(violations: list[dict]) -> str:
    """One line per violation, for an assertion message: ``color-contrast (serious) …: selector, …``."""
    return "\n".join(f"{v['id']} ({v['impact']}) {v['help']}: {', '.join(v['targets'])}" for v in violations)


class WatchedPage:
    """A page that records every request it makes, every response that failed and every error its
    console shows."""

    def __init__(self, context):
        self.page = context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: self._console(message))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", lambda response: self._response(response))

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _response(self, response) -> None:
        if response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    def assert_clean(self) -> None:
        """No console error, no failed response, and every request went to loopback."""
        assert not self.errors, f"console errors: {self.errors}"
        assert self.requests, "the page made no request at all"
        outside = [url for url in self.requests if not on_loopback(url)]
        assert not outside, f"requests that left loopback: {outside}"

    def close(self) -> None:
        self.page.close()
