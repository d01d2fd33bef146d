"""What the parts of the store (``MessageRecords``, ``CallbackRecords``) share of ``Store``:
its lock, its collections, its event bus and journal, its bounds, and ``change()``."""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from fakemms.models import Callback, Message
from fakemms.store.change import Change
from fakemms.store.events import EventBus

if TYPE_CHECKING:
    from fakemms.persistence import SqliteJournal


class StorePart:
    _lock: threading.RLock
    _messages: OrderedDict[str, Message]
    _callbacks: OrderedDict[str, Callback]
    events: EventBus
    journal: SqliteJournal | None
    max_messages: int
    max_attempts: int
    evicted: int
    evicted_callbacks: int

    if TYPE_CHECKING:
        def change(self) -> AbstractContextManager[Change]: ...
