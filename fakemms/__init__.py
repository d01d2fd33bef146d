"""fakemms: a high-fidelity fake of a commercial MMS provider for integration tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakemms.version import __version__

__all__ = ["Client", "__version__", "create_app"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time both load on first use
    from fakemms.app import create_app
    from fakemms.client import Client


def __getattr__(name: str):
    # Lazy so that `import fakemms` stays cheap (the CLI and the pytest plugin import it early).
    if name == "create_app":
        from fakemms.app import create_app

        return create_app
    if name == "Client":
        from fakemms.client import Client

        return Client
    raise AttributeError(name)
