"""Swagger UI at /docs in headless Chromium: Authorize takes a token and "Try it out" sends it as a bearer."""

from __future__ import annotations

import pytest

from stackmeter.api import create_app
from stackmeter.api.auth import TOKEN_COOKIE
from stackmeter.settings import Settings
from tests.conftest import ADMIN, READ, TOKENS
from tests.web.browser import WatchedPage, chromium, served

pytestmark = pytest.mark.integration


def test_authorize_button_sends_the_token_with_try_it_out(fleet_path):
    with chromium() as browser, served(create_app(Settings(store=fleet_path), tokens=TOKENS)) as base_url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        # Signed in as READ by cookie to reach /docs; the token typed into Authorize is ADMIN's.
        context.add_cookies([{"name": TOKEN_COOKIE, "value": READ, "url": base_url}])
        watched = WatchedPage(context)
        page = watched.page
        page.goto(f"{base_url}/docs")
        page.click("button.authorize")
        page.fill(".auth-container input[type='text'], .auth-container input[type='password']", ADMIN)
        page.click(".auth-btn-wrapper button.authorize")
        page.click(".auth-btn-wrapper button.btn-done")
        page.click(".opblock-summary-path[data-path='/api/v1/status']")
        page.click("#operations-api-status_api_v1_status_get .try-out__btn")
        with page.expect_request(lambda request: request.url.endswith("/api/v1/status")) as sent:
            page.click("#operations-api-status_api_v1_status_get .execute")
        assert sent.value.headers["authorization"] == f"Bearer {ADMIN}"
        page.wait_for_selector(
            "#operations-api-status_api_v1_status_get .live-responses-table .response-col_status"
        )
        watched.screenshot("api-docs-authorized-1280")
        page.set_viewport_size({"width": 1920, "height": 900})
        watched.screenshot("api-docs-authorized-1920")
        watched.assert_clean()
        watched.close()
        context.close()
