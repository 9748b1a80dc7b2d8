"""What the pages say to each role when there is nothing to show, and signing out (without a browser)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.conftest import ADMIN, ALPHA, READ, TOKENS

GAMMA = "gamma-0123456789abcdef"  # a read token of a project without entities
LISTEN = "stackmeter listen"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(fleet_path):
    tokens = (*TOKENS, Token.of(GAMMA, "read", "gamma"))
    with TestClient(create_app(Settings(store=fleet_path), tokens=tokens)) as test_client:
        yield test_client


@pytest.fixture
def empty_client(tmp_path):
    path = str(tmp_path / "empty.duckdb")
    open_store(path).close()
    with TestClient(create_app(Settings(store=path), tokens=TOKENS)) as test_client:
        yield test_client


def test_a_project_without_entities_is_told_so_not_shown_zeros(client):
    page = client.get("/", headers=bearer(GAMMA)).text
    assert "No entities in your project yet" in page and 'data-project="gamma"' in page
    assert 'id="overview"' not in page and "ask an admin" in page
    # A project with entities sees its table.
    assert 'id="overview"' in client.get("/", headers=bearer(ALPHA)).text


@pytest.mark.parametrize(
    ("token", "expected"),
    [(ADMIN, "stackmeter ingest"), (READ, "ask an admin"), (GAMMA, "No entities in your project yet")],
)
def test_an_empty_store_says_what_the_role_can_do(empty_client, client, token, expected):
    page = (client if token == GAMMA else empty_client).get("/", headers=bearer(token)).text
    assert 'id="empty-state"' in page and expected in page
    assert ("stackmeter ingest" in page) == (token == ADMIN)


@pytest.mark.parametrize(("token", "told_to_listen"), [(ADMIN, True), (READ, False), (GAMMA, False)])
def test_only_an_admin_is_told_to_listen_to_the_bus(empty_client, client, token, told_to_listen):
    page = (client if token == GAMMA else empty_client).get("/operations", headers=bearer(token)).text
    assert 'id="operations-empty"' in page
    assert (LISTEN in page) == told_to_listen
    assert ("ask one" in page) == (not told_to_listen)


def test_signing_out_drops_the_cookie_and_says_so(client):
    login = client.post(
        "/login",
        content=f"token={GAMMA}&next=/heatmap".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert login.status_code == 303
    signed_in = client.get("/heatmap").text
    assert 'id="sign-out" href="/logout"' in signed_in
    # A bearer token without the cookie has nothing to sign out of.
    client.cookies.clear()
    assert 'id="sign-out"' not in client.get("/heatmap", headers=bearer(ADMIN)).text

    client.cookies.update(login.cookies)
    out = client.get("/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login?out"
    assert "Max-Age=0" in out.headers["set-cookie"] or "expires=" in out.headers["set-cookie"].lower()
    client.cookies.clear()
    client.cookies.update(out.cookies)
    page = client.get("/login?out")
    assert 'id="signed-out"' in page.text and 'id="sign-out"' not in page.text
    assert client.get("/heatmap").status_code == 401
