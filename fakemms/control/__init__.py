"""The control API (for tests, tools and the web UI): one module per resource, each view
declared with its OpenAPI operation (``openapi.operation``); the event stream."""

from fakemms.control import (  # noqa: F401  (each module registers its routes)
    accounts,
    auth,
    callbacks,
    clock,
    events,
    fetches,
    messages,
    mo,
    reports,
    scenarios,
    service,
)
from fakemms.control.blueprint import bp

__all__ = ["bp"]
