"""The app as a whole: every API route in OpenAPI, and /docs served from the package's own files."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.api.routes import router
from stackmeter.settings import Settings
from stackmeter.web import STATIC_DIR


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(store=":memory:"), tokens=())) as test_client:
        yield test_client


def test_every_api_route_is_in_openapi(client):
    routes = {route.path for route in router.routes}
    assert routes and routes == set(client.get("/openapi.json").json()["paths"])


def test_docs_load_swagger_ui_from_the_package_only(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == [
        "/static/vendor/favicon-32x32.png",
        "/static/vendor/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui.css",
    ]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200
        assert served.content == (STATIC_DIR / asset.removeprefix("/static/")).read_bytes()
    assert "url: '/openapi.json'" in page.text
    assert "://" not in page.text  # no other site named anywhere on the page


def test_redoc_is_not_served(client):
    # ReDoc would load its script from a CDN; /docs covers the same schema offline.
    assert client.get("/redoc").status_code == 404
