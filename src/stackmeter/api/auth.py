"""Tokens: who may read what. Roles ``admin`` and ``read``, each optionally bound to one project."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
from pathlib import Path
from typing import NamedTuple

from stackmeter.errors import ConfigError
from stackmeter.settings import Settings

ROLES = ("admin", "read")
MIN_TOKEN_CHARS = 16
TOKEN_COOKIE = "stackmeter_token"


class Access(NamedTuple):
    """What a request may see: its role, and the one project it is bound to (``None``: every project)."""

    role: str
    project: str | None = None


# Without tokens the server listens on loopback only, and whoever reaches it sees everything.
LOOPBACK_ACCESS = Access("admin", None)


@dataclasses.dataclass(frozen=True)
class Token:
    """A token as the server keeps it: a SHA-256 digest, never the token itself.

    ``Token.of("a-long-random-secret", "read", "alpha")``
    """

    digest: bytes = dataclasses.field(repr=False)
    role: str
    project: str | None = None

    @classmethod
    def of(cls, secret: str, role: str, project: str | None = None) -> Token:
        return cls(_digest(secret), role, project)


class Unauthenticated(Exception):
    """A request came without a token, or with one the server does not know."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_tokens(text: str, origin: str) -> tuple[Token, ...]:
    """Return the tokens of ``text``: one ``TOKEN ROLE [PROJECT]`` a line; blank lines and ``#``
    comments are skipped. Errors name ``origin`` and the line, never the token."""
    tokens = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{origin}:{number}"
        if len(fields) not in (2, 3):
            raise ConfigError(f"{where}: a token line reads TOKEN ROLE [PROJECT], found {len(fields)} fields")
        secret, role, project = fields[0], fields[1], (fields[2] if len(fields) == 3 else None)
        if role not in ROLES:
            raise ConfigError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
        if len(secret) < MIN_TOKEN_CHARS:
            raise ConfigError(f"{where}: the token is shorter than {MIN_TOKEN_CHARS} characters")
        tokens.append(Token.of(secret, role, project))
    digests = [token.digest for token in tokens]
    if len(set(digests)) != len(digests):
        raise ConfigError(f"{origin}: the same token is listed twice")
    return tuple(tokens)


def load_tokens(settings: Settings) -> tuple[Token, ...]:
    """Return the tokens of ``settings.tokens_file`` and of ``settings.tokens`` (lines or ``;``-separated)."""
    tokens: list[Token] = []
    if settings.tokens_file:
        path = Path(settings.tokens_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read tokens file {path}: {exc.strerror}") from exc
        tokens.extend(parse_tokens(text, str(path)))
    if settings.tokens:
        tokens.extend(parse_tokens(settings.tokens.replace(";", "\n"), "STACKMETER_TOKENS"))
    return tuple(tokens)


def authenticate(tokens: tuple[Token, ...], secret: str | None) -> Access:
    """Return the access ``secret`` grants; raise :class:`Unauthenticated` when it grants none."""
    if not tokens:
        return LOOPBACK_ACCESS
    if not secret:
        raise Unauthenticated("no token given")
    digest = _digest(secret)
    # Compare with every token in constant time, so timing tells nothing about near misses.
    found = [token for token in tokens if hmac.compare_digest(token.digest, digest)]
    if not found:
        raise Unauthenticated("unknown token")
    return Access(found[0].role, found[0].project)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: tuple[Token, ...]) -> None:
    """Raise :class:`ConfigError` when ``host`` is not loopback and no token is configured."""
    if not tokens and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without tokens: anyone who can reach it would read every "
            "project's data. Configure tokens (STACKMETER_TOKENS_FILE, one 'TOKEN ROLE [PROJECT]' a "
            "line) or listen on 127.0.0.1."
        )
