"""What every service shares: the clock, the seeded generator, the store, the scheduler, the
callback dispatcher, the scenario engine, the callback shapes, and the ids they hand out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fakemms import outbound
from fakemms.callbacks import Dispatcher
from fakemms.clock import Clock
from fakemms.remote_content import RemoteContent
from fakemms.rng import Rng
from fakemms.scenario import Engine
from fakemms.scheduler import Scheduler
from fakemms.store import Store

ID_WIDTH = 15  # openmarket-mms-send.txt "mtId": 123456789012345; moId likewise


@dataclass
class Core:
    config: Any  # fakemms.config.Config
    clock: Clock
    rng: Rng
    store: Store
    scheduler: Scheduler
    dispatcher: Dispatcher
    engine: Engine
    content: RemoteContent
    outbound: outbound.Settings
    decision_header: bool
    _callback_seq: Any = field(default_factory=lambda: itertools.count(1))

    def new_message_id(self) -> str:
        return self.store.unique_id(lambda: str(self.rng.digits(ID_WIDTH)))

    def new_request_id(self) -> str:
        return self.rng.request_id()

    def new_callback_id(self) -> str:
        return f"cb-{next(self._callback_seq):06d}"

    def callback_ids_after(self, last: int) -> None:
        """Callback ids go on after ``last`` (a restart on a persistence file)."""
        self._callback_seq = itertools.count(last + 1)
