"""The app as a whole: every API route in OpenAPI with the bearer scheme, /docs served from the package's
own files, and both behind the token rule of every route."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.api.auth import TOKEN_COOKIE
from stackmeter.api.routes import router
from stackmeter.settings import Settings
from stackmeter.web import STATIC_DIR
from tests.conftest import ADMIN, ALPHA, READ, TOKENS


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
        "/static/swagger-overrides.css",
        "/static/vendor/favicon-32x32.png",
        "/static/vendor/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui.css",
    ]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200
        assert served.content == (STATIC_DIR / asset.removeprefix("/static/")).read_bytes()
    assert "url: '/openapi.json'" in page.text
    assert '<html lang="en">' in page.text
    assert "://" not in page.text  # no other site named anywhere on the page


def test_redoc_is_not_served(client):
    # ReDoc would load its script from a CDN; /docs covers the same schema offline.
    assert client.get("/redoc").status_code == 404


@pytest.fixture(scope="module")
def guarded(fleet_path):
    """An app with tokens over the fleet: the token rule applies."""
    with TestClient(create_app(Settings(store=fleet_path), tokens=TOKENS)) as test_client:
        yield test_client


def test_openapi_declares_the_bearer_scheme_on_every_api_route(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token of the server's tokens file, sent as `Authorization: Bearer TOKEN`.",
        }
    }
    for path, item in schema["paths"].items():
        assert path.startswith("/api/v1/")
        assert item["get"]["security"] == [{"bearer": []}], path


def test_openapi_and_docs_need_a_token_like_every_route(guarded):
    for headers in ({}, {"Authorization": "Bearer not-a-token-0123456789"}):
        refused = guarded.get("/openapi.json", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {
            "error": "Unauthenticated",
            "detail": "no token given" if not headers else "unknown token",
            "where": None,
        }
        page = guarded.get("/docs", headers=headers)
        assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
        assert 'name="next" value="/docs"' in page.text and "SwaggerUIBundle" not in page.text
    by_header = guarded.get("/openapi.json", headers={"Authorization": f"Bearer {READ}"})
    guarded.cookies.set(TOKEN_COOKIE, ALPHA)
    try:
        by_cookie = guarded.get("/openapi.json")
        docs = guarded.get("/docs")
    finally:
        guarded.cookies.clear()
    assert by_header.status_code == by_cookie.status_code == 200
    assert by_header.json() == by_cookie.json()
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text


def test_the_schema_carries_no_store_data(client, guarded):
    """The schema of an app over the fleet is that of one over an empty store, for any token."""
    empty = client.get("/openapi.json").json()
    for token in (ADMIN, ALPHA):
        assert guarded.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}).json() == empty
