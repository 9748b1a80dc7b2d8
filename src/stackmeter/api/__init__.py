"""The HTTP API and the dashboard, served by one FastAPI app."""

from stackmeter.api.app import create_app

__all__ = ["create_app"]
