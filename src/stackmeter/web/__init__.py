"""The dashboard: server-rendered pages over ``operations``, with a little vendored JavaScript."""

from stackmeter.web.pages import (
    STATIC_DIR,
    DashboardState,
    PageReader,
    load_templates,
    page_router,
    render_error,
)

__all__ = ["STATIC_DIR", "DashboardState", "PageReader", "load_templates", "page_router", "render_error"]
