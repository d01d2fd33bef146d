"""The web UI for testing by hand: server-rendered pages kept live by the event stream.

Pages read the state through ``fakemms.ui.data``: the same snapshots the control API serves,
taken from the store in the server (no HTTP round trip to itself). Every action the pages
offer calls the public control API from the browser (``static/ui.js``), as Mailpit's UI does.
Part bytes have a UI route of their own: shown inline under a Content-Security-Policy that
keeps hostile content inert, where the control API's part download is an attachment.
"""

from fakemms.ui import login, views  # noqa: F401  (routes)
from fakemms.ui.views import bp

__all__ = ["bp"]
