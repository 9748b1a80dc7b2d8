"""The dashboard: server-rendered pages over ``operations``, with a little vendored JavaScript."""

from stackmeter.web.pages import STATIC_DIR, build_pages, render_error

__all__ = ["STATIC_DIR", "build_pages", "render_error"]
