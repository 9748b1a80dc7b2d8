"""Every API error is one body, {error, detail, where}: bad parameters, unknown routes, failures."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.api.paging import MAX_PAGE, MAX_PAGE_SIZE
from stackmeter.errors import StoreError
from stackmeter.models import MAX_DURATION_S, MAX_THRESHOLD
from stackmeter.operations import HEAT_MAP_MAX_PAGE
from stackmeter.settings import MAX_TOP, Settings
from tests.conftest import ADMIN, TOKENS

# What no number parameter accepts: not finite, far out of range, not a number at all.
NOT_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e308", "1e999", "-1", "99999999999999999999999",
               "", " ", "lots", "0x10", "1,5", "%ff", "%00", "1" * 5000]  # fmt: skip
NOT_TIMES = ["", " ", "yesterday", "nan", "inf", "1e308", "1e999", "-1", "99999999999999999999999",
             "2013-13-01", "2013-02-30", "9999-01-01", "2200-01-01", "1969-12-31T23:59:59Z", "%00"]  # fmt: skip
NOT_THRESHOLDS = ["", " ", "cpu", "cpu=", "cpu=nan", "cpu=inf", "cpu=1e308", "cpu=1e999", "cpu=-1", "cpu=0",
                  "cpu=100.5", "cpu=99999999999999999999999", "cpu=lots", "gpu=0.5", "cpu=0.5,disk=nan"]  # fmt: skip
NOT_TIMESCALES = ["", " ", "2m", "1h,2m", ",", "nan", "%00"]
NOT_A_TIMESCALE = [*NOT_TIMESCALES, "1h,1d"]
NOT_RESOURCES = ["", " ", "gpu", "cpu,gpu", ",", "%00"]
NOT_A_RESOURCE = [*NOT_RESOURCES, "cpu,memory"]
NOT_FORMATS = ["", "xml", "CSV", "%00"]
NOT_BOOLEANS = ["", "maybe", "2", "%00"]
NOT_PAGES = [*NOT_NUMBERS, "0", "1.5", str(MAX_PAGE + 1)]
NOT_PAGE_SIZES = [*NOT_NUMBERS, "0", "1.5", str(MAX_PAGE_SIZE + 1)]
PAGING = {"page": NOT_PAGES, "page_size": NOT_PAGE_SIZES}

# Every query parameter of every route, with values it must refuse with a 422 naming it.
BAD_PARAMETERS = {
    "/api/v1/overload": {
        "timescale": NOT_TIMESCALES,
        "resource": NOT_RESOURCES,
        "threshold": NOT_THRESHOLDS,
        "share": [*NOT_NUMBERS, "0", "1.0000001"],
        "top": [*NOT_NUMBERS, str(MAX_TOP + 1), "1.5", "1e3"],
        "from_raw": NOT_BOOLEANS,
        "format": NOT_FORMATS,
    },
    "/api/v1/fleet": {
        "timescale": NOT_A_TIMESCALE,
        "resource": NOT_RESOURCES,
        "threshold": NOT_THRESHOLDS,
        "share": [*NOT_NUMBERS, "0", "1.0000001"],
        "from_raw": NOT_BOOLEANS,
        "format": NOT_FORMATS,
        "last": [*NOT_NUMBERS, "-1", "1.5"],
        **PAGING,
    },
    "/api/v1/quantile": {
        "resource": NOT_A_RESOURCE,
        "q": [*NOT_NUMBERS, "1.01", "-0.01"],
        "timescale": NOT_A_TIMESCALE,
        "from_raw": NOT_BOOLEANS,
        "format": NOT_FORMATS,
        **PAGING,
    },
    "/api/v1/entities": {"format": NOT_FORMATS, **PAGING},
    "/api/v1/series/{entity}": {
        "resource": NOT_A_RESOURCE,
        "from": NOT_TIMES,
        "to": NOT_TIMES,
        "format": NOT_FORMATS,
        **PAGING,
    },
    "/api/v1/status": {},
    "/api/v1/replay": {
        "policy": ["", " ", "bogus-mmt-1", "npa-mmt", "%00"],
        "fleet": ["", "no-such-fleet", "../../etc/passwd", "/etc/hostname", "%00"],
        "semantics": ["", "mine", "%00"],
        "from": NOT_TIMES,
        "to": NOT_TIMES,
        "steps": NOT_BOOLEANS,
        "measured": NOT_BOOLEANS,
        "run": ["", "no-such-run", "%00"],
        "format": NOT_FORMATS,
    },
    "/api/v1/heatmap": {
        "timescale": NOT_A_TIMESCALE,
        "resource": NOT_A_RESOURCE,
        "threshold": [*NOT_NUMBERS, "0", str(MAX_THRESHOLD * 1.01)],
        "share": [*NOT_NUMBERS, "0", "1.0000001"],
        "page": [*NOT_NUMBERS, "0", str(HEAT_MAP_MAX_PAGE + 1)],
        "page_size": [*NOT_NUMBERS, "0", str(operations.HEAT_MAP_MAX_ROWS + 1)],
        "columns": [*NOT_NUMBERS, "0", str(operations.HEAT_MAP_MAX_COLUMNS + 1)],
        "end": NOT_TIMES,
        "format": NOT_FORMATS,
    },
    "/api/v1/entities/{entity}/overload": {
        "timescale": NOT_A_TIMESCALE,
        "threshold": NOT_THRESHOLDS,
        "share": [*NOT_NUMBERS, "0", "1.0000001"],
        **PAGING,
    },
    "/api/v1/operations": {
        "timescale": NOT_A_TIMESCALE,
        "operation": ["", "explode", "%00"],
        "by": ["", "colour", "%00"],
        "timeout": [*NOT_NUMBERS, "0", "-0", str(MAX_DURATION_S * 1.01)],
        "bins": ["", " ", "lots", "5,2", "0", "-1", "nan", "inf", "1e999", "%00", "1,,2"],
        "histogram": NOT_BOOLEANS,
        "format": NOT_FORMATS,
        **PAGING,
    },
    "/api/v1/deadletters": {"format": NOT_FORMATS, **PAGING},
}
# Query parameters naming an entity: one the token cannot see is a 404 (as below), not a 422.
ENTITY_PARAMETERS = {"/api/v1/quantile": {"entity"}}
# What a route needs besides the parameter under test.
REQUIRED = {"/api/v1/replay": "policy=dvfs&"}
CASES = [
    pytest.param(route, name, value, id=f"{route}?{name}={value[:30]}")
    for route, parameters in BAD_PARAMETERS.items()
    for name, values in parameters.items()
    for value in values
]
ERROR_STATUSES = ("401", "404", "422", "500", "503")


def bearer(token: str = ADMIN) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client(fleet_path):
    with TestClient(create_app(Settings(store=fleet_path), tokens=TOKENS)) as test_client:
        yield test_client


def assert_error_body(response, status: int, error: str | tuple[str, ...], where: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "detail", "where"}
    assert body["error"] in ((error,) if isinstance(error, str) else error)
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["where"] == where
    return body


def test_the_table_covers_every_query_parameter_of_every_route(client):
    paths = client.get("/openapi.json", headers=bearer()).json()["paths"]
    assert set(paths) == set(BAD_PARAMETERS)
    for route, methods in paths.items():
        query = {item["name"] for item in methods["get"].get("parameters", []) if item["in"] == "query"}
        assert query == set(BAD_PARAMETERS[route]) | ENTITY_PARAMETERS.get(route, set()), route


@pytest.mark.parametrize("route, name, value", CASES)
def test_a_bad_parameter_is_a_422_naming_it(client, route, name, value):
    url = route.replace("{entity}", "196") + f"?{REQUIRED.get(route, '')}{name}={value}"
    body = assert_error_body(client.get(url, headers=bearer()), 422, ("ValidationError", "ConfigError"), name)
    assert name in body["detail"]


@pytest.mark.parametrize(
    "headers",
    [{"Accept": "text/csv"}, {"Accept": "application/json"}],
)
def test_errors_are_json_whatever_the_client_accepts(client, headers):
    response = client.get("/api/v1/overload?share=nan", headers={**bearer(), **headers})
    assert_error_body(response, 422, "ValidationError", "share")


@pytest.mark.parametrize("entity", ["no-such-vm", "%00", "%ff", "196%2F..", "x" * 5000])
def test_an_unknown_entity_is_a_404_in_the_same_body(client, entity):
    for url in (f"/api/v1/series/{entity}", f"/api/v1/entities/{entity}/overload",
                f"/api/v1/quantile?entity={entity}"):  # fmt: skip
        assert_error_body(client.get(url, headers=bearer()), 404, ("UnknownEntity", "NotFound"), None)


def test_unknown_routes_and_methods_give_the_same_body(client):
    for url in ("/api/v1/nope", "/api/v2/overload", "/api/v1/series/", "/api/"):
        body = assert_error_body(client.get(url, headers=bearer()), 404, "NotFound", None)
        assert "/docs" in body["detail"]
    response = client.post("/api/v1/overload", headers=bearer())
    assert_error_body(response, 405, "MethodNotAllowed", None)
    assert response.headers["allow"] == "GET"


def test_pages_keep_an_html_error_page(client):
    for response in (client.get("/nope", headers=bearer()), client.post("/heatmap", headers=bearer())):
        assert response.status_code in (404, 405)
        assert response.headers["content-type"].startswith("text/html")
        assert 'id="error"' in response.text


def test_no_token_is_a_401_in_the_same_body(client):
    for headers in ({}, bearer("not-a-token-0123456789")):
        response = client.get("/api/v1/overload", headers=headers)
        assert_error_body(response, 401, "Unauthenticated", None)
        assert response.headers["www-authenticate"] == "Bearer"


class FailingStore:
    """A store that fails as soon as a request reads it: with ``error``."""

    def __init__(self, error: Exception):
        self.error = error

    def reader(self, project):
        raise self.error


def test_a_store_failure_is_a_503_and_anything_unexpected_a_logged_500(caplog):
    settings = Settings(store=":memory:")
    with TestClient(create_app(settings, FailingStore(StoreError("store closed")), ())) as client:
        body = assert_error_body(client.get("/api/v1/status"), 503, "StoreError", None)
        assert body["detail"] == "store closed"
    broken = create_app(settings, FailingStore(RuntimeError("secret internals")), ())
    with TestClient(broken, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        body = assert_error_body(client.get("/api/v1/status"), 500, "InternalError", None)
        page = client.get("/")
    assert "secret internals" not in body["detail"]
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "secret internals" not in page.text
    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert logged and logged[0].args == ("secret internals",)


def test_openapi_lists_the_error_body_on_every_route(client):
    schema = client.get("/openapi.json", headers=bearer()).json()
    error_body = schema["components"]["schemas"]["ErrorBody"]
    assert set(error_body["properties"]) == set(error_body["required"]) == {"error", "detail", "where"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, methods in schema["paths"].items():
        responses = methods["get"]["responses"]
        for status in ERROR_STATUSES:
            content = responses[status]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)


@pytest.mark.parametrize(
    "route, name, bounds",
    [
        ("/api/v1/overload", "share", {"exclusiveMinimum": 0, "maximum": 1}),
        ("/api/v1/overload", "top", {"minimum": 0, "maximum": MAX_TOP}),
        ("/api/v1/quantile", "q", {"minimum": 0, "maximum": 1}),
        ("/api/v1/heatmap", "threshold", {"exclusiveMinimum": 0, "maximum": MAX_THRESHOLD}),
        ("/api/v1/heatmap", "page", {"minimum": 1, "maximum": HEAT_MAP_MAX_PAGE}),
        ("/api/v1/heatmap", "page_size", {"minimum": 1, "maximum": operations.HEAT_MAP_MAX_ROWS}),
        ("/api/v1/heatmap", "columns", {"minimum": 1, "maximum": operations.HEAT_MAP_MAX_COLUMNS}),
        ("/api/v1/operations", "timeout", {"exclusiveMinimum": 0, "maximum": MAX_DURATION_S}),
        *[
            (route, name, {"minimum": 1, "maximum": maximum})
            for route, parameters in BAD_PARAMETERS.items()
            if "page" in parameters and route != "/api/v1/heatmap"
            for name, maximum in (("page", MAX_PAGE), ("page_size", MAX_PAGE_SIZE))
        ],
    ],
)
def test_openapi_states_the_bounds(client, route, name, bounds):
    parameters = client.get("/openapi.json", headers=bearer()).json()["paths"][route]["get"]["parameters"]
    (schema,) = [item["schema"] for item in parameters if item["name"] == name]
    number = next(option for option in schema.get("anyOf", [schema]) if option["type"] != "null")
    assert {key: number[key] for key in bounds} == bounds
