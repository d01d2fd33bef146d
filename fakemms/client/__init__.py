"""``fakemms.Client``: the control API (``/_fakemms``) in Python.

Every operation of the OpenAPI document (``GET /_fakemms/api/openapi.json``) is a method named
after its ``operationId``; results are plain dataclasses (``fakemms.client.models``). On top:

- ``wait_for_message``, ``wait_for_callback``, ``wait_for_report``: block until something
  matching the filters exists. Event-driven: the client opens the server's event stream first
  (the server subscribes it before answering), then looks at the current state, then re-looks
  only when a relevant event arrives, so nothing that happens in between is missed and no time
  is spent sleeping. On timeout, ``WaitTimeout`` (an ``AssertionError``) lists what did arrive.
- ``assert_callback_acked`` (the application answered a callback with success, fast enough)
  and ``assert_no_messages``.

A client may carry an account namespace (``account=``, as the pytest plugin's ``fakemms``
fixture does on a shared server): list, wait and assert methods then look only at that
account's messages and callbacks unless given ``account=`` (``None`` means every account).
"""

from fakemms.client.api import DEFAULT_URL, Client, default_url
from fakemms.client.clock import seconds
from fakemms.client.errors import FakeMmsClientError, FakeMmsNotReachable, WaitTimeout
from fakemms.client.events import EventStream
from fakemms.client.models import (
    Account,
    Attempt,
    Callback,
    ClockState,
    Event,
    Message,
    MessageSummary,
    Part,
    Report,
)
from fakemms.client.scenarios import scenario_dict

__all__ = [
    "DEFAULT_URL", "Account", "Attempt", "Callback", "Client", "ClockState", "Event",
    "EventStream", "FakeMmsClientError", "FakeMmsNotReachable", "Message", "MessageSummary",
    "Part", "Report", "WaitTimeout", "default_url", "scenario_dict", "seconds",
]
