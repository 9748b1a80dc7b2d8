"""Tokens files, roles, projects, loopback-only without tokens; a token never shows in an error or repr."""

from __future__ import annotations

import pytest

from stackmeter.api.auth import (
    LOOPBACK_ACCESS,
    Access,
    Token,
    Unauthenticated,
    authenticate,
    check_bind,
    is_loopback,
    load_tokens,
    parse_tokens,
)
from stackmeter.errors import ConfigError
from stackmeter.settings import Settings, load_settings

SECRET = "s3cret-token-0123456789"
FILE = f"""# operators
{SECRET} admin
read-only-token-0123456789   read        # everything, read only
alpha-token-0123456789abc read alpha

"""


def test_tokens_file_lines_give_roles_and_projects(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(FILE)
    tokens = load_tokens(Settings(tokens_file=str(path)))
    assert [(token.role, token.project) for token in tokens] == [
        ("admin", None),
        ("read", None),
        ("read", "alpha"),
    ]
    assert authenticate(tokens, SECRET) == Access("admin", None)
    assert authenticate(tokens, "alpha-token-0123456789abc") == Access("read", "alpha")


def test_tokens_from_the_environment(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(FILE)
    settings = load_settings(
        environ={
            "STACKMETER_TOKENS_FILE": str(path),
            "STACKMETER_TOKENS": "inline-token-0123456789 read beta",
        }
    )
    tokens = load_tokens(settings)
    assert len(tokens) == 4
    assert authenticate(tokens, "inline-token-0123456789") == Access("read", "beta")
    assert "inline-token" not in repr(settings)


@pytest.mark.parametrize(
    "line, message",
    [
        (f"{SECRET}", "TOKEN ROLE [PROJECT], found 1 fields"),
        (f"{SECRET} read alpha extra", "found 4 fields"),
        (f"{SECRET} owner", "role 'owner' is not one of admin, read"),
        ("short read", "shorter than 16 characters"),
        (f"{SECRET} read\n{SECRET} admin", "the same token is listed twice"),
    ],
)
def test_bad_lines_are_reported_by_line_without_the_token(line, message):
    with pytest.raises(ConfigError) as error:
        parse_tokens("# header\n" + line, "tokens.txt")
    assert message in str(error.value)
    assert "tokens.txt:" in str(error.value)
    assert SECRET not in str(error.value) and "short" not in str(error.value).replace("shorter", "")


def test_a_missing_tokens_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read tokens file"):
        load_tokens(Settings(tokens_file=str(tmp_path / "absent")))


def test_tokens_are_kept_as_digests():
    token = Token.of(SECRET, "read")
    assert SECRET not in repr(token) and SECRET.encode() not in token.digest


def test_unknown_and_missing_tokens_are_refused():
    tokens = (Token.of(SECRET, "read"),)
    for secret in (None, "", "wrong-token-0123456789", SECRET[:-1]):
        with pytest.raises(Unauthenticated):
            authenticate(tokens, secret)


def test_without_tokens_everyone_reads_everything():
    assert authenticate((), None) == LOOPBACK_ACCESS == Access("admin", None)


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_no_tokens_means_loopback_only():
    check_bind("127.0.0.1", ())
    check_bind("0.0.0.0", (Token.of(SECRET, "read"),))
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without tokens"):
        check_bind("0.0.0.0", ())
