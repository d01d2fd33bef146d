"""The one store: every message, callback, fetch, counter and event; thread-safe, bounded,
resettable, dumpable; optionally durable. Split by kind of state:

- ``records``: ``Store``, messages and their callbacks, fetch records, accounts; what a
  journal keeps, changed only in units of change (``change``);
- ``quotas``: the accounts' daily, monthly and prepaid counts and TPS buckets;
- ``events``: the event bus (buffer and subscriptions) behind ``/_fakemms/api/events``.
"""

from fakemms.store.change import Change, mutation, transient
from fakemms.store.events import CLOSED, SUBSCRIBER_BACKLOG, EventBus
from fakemms.store.quotas import Quotas, take_token
from fakemms.store.records import MAX_ATTEMPTS, MAX_FETCHES, Store

__all__ = ["CLOSED", "MAX_ATTEMPTS", "MAX_FETCHES", "SUBSCRIBER_BACKLOG", "Change", "EventBus",
           "Quotas", "Store", "mutation", "take_token", "transient"]
