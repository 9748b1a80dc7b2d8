"""Paging of the API's list routes: ``page`` and ``page_size`` in, ``X-Total-Count`` and ``Link`` out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from fastapi import Query, Request

T = TypeVar("T")

MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 10_000
# Large enough that a small store's answers are whole on page 1, as they were before paging.
DEFAULT_PAGE_SIZE = 1_000


class Page(NamedTuple):
    """One page of a list: ``number`` (1-based) of ``size`` items.

    ``Page(2, 100).of(rows)`` is ``rows[100:200]``.
    """

    number: int
    size: int

    @property
    def rows(self) -> slice:
        """The positions of this page's items in the whole list."""
        start = (self.number - 1) * self.size
        return slice(start, start + self.size)

    def of(self, items: Sequence[T]) -> Sequence[T]:
        """Return the items of this page (none past the end)."""
        return items[self.rows]

    def last(self, total: int) -> int:
        """Return the number of the last page of ``total`` items (1 when there are none)."""
        return max(1, -(-total // self.size))


def page_of(
    page: int = Query(1, ge=1, le=MAX_PAGE, description=f"1-based page, 1 to {MAX_PAGE:,}."),
    page_size: int = Query(
        DEFAULT_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Items per page, 1 to {MAX_PAGE_SIZE:,}.",
    ),
) -> Page:
    """FastAPI dependency: the page a list route is asked for."""
    return Page(page, page_size)


def paging_headers(request: Request, page: Page, total: int) -> dict[str, str]:
    """Return ``X-Total-Count`` and a ``Link`` header (rel first, prev, next, last) for ``page``.

    Each link is the request's own URL with ``page`` replaced; ``prev`` from beyond the last page
    is the last page, so a client that went too far can step back onto data.
    """
    last = page.last(total)
    links = {"first": 1}
    if page.number > 1:
        links["prev"] = min(page.number - 1, last)
    if page.number < last:
        links["next"] = page.number + 1
    links["last"] = last
    link = ", ".join(f'<{request.url.include_query_params(page=n)}>; rel="{rel}"' for rel, n in links.items())
    return {"X-Total-Count": str(total), "Link": link}


PAGING_HEADERS: dict[str, Any] = {
    "X-Total-Count": {
        "description": "How many items the list holds on all pages together.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Link": {
        "description": 'Links to other pages, GitHub\'s convention: `<URL>; rel="first"`, `rel="prev"` '
        '(absent on page 1), `rel="next"` (absent on the last page) and `rel="last"`, comma-separated.',
        "schema": {"type": "string"},
    },
}


def paged_responses(what: str) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses`` of a paged route: its 200 with the paging headers."""
    return {200: {"description": f"One page of {what}.", "headers": PAGING_HEADERS}}
