"""The web UI for testing by hand: server-rendered pages kept live by the event stream.

Pages read through ``fakemms.ui.data``; every action the pages offer calls the public control
API from the browser (``static/ui.js``), as Mailpit's UI does.
"""

from fakemms.ui import login, views  # noqa: F401  (routes)
from fakemms.ui.views import bp

__all__ = ["bp"]
