"""fakemms: a high-fidelity fake of a commercial MMS provider for integration tests."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "create_app"]


def __getattr__(name: str):
    # Lazy so that `import fakemms` stays cheap (the CLI and the pytest plugin import it early).
    if name == "create_app":
        from fakemms.app import create_app

        return create_app
    if name == "Client":
        from fakemms.client import Client

        return Client
    raise AttributeError(name)
