"""The control API (for tests and tools), its OpenAPI document and the event stream."""

from fakemms.control import admin, conversation, events, views  # noqa: F401  (routes)
from fakemms.control.blueprint import bp

__all__ = ["bp"]
