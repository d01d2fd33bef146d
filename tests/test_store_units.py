"""Every change of kept state is one explicit unit of change that memory and the journal both
see (fakemms.store.change). The store's methods are enumerated: each ``mutation`` is run on a
durable store and what memory shows after it is compared with what a store restarted on the
same file shows; a new mutation without a case here fails; a public method that changes
messages or callbacks without being a ``mutation`` (or a deliberate ``transient``) fails."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PNG_1PX

from fakemms.models import Attempt, Callback, Message, Part, Report, StoredJob, Success
from fakemms.persistence import Loaded, SqliteJournal
from fakemms.store import Store

MID, OTHER = "100000000000001", "100000000000002"


def message(mid: str = MID) -> Message:
    return Message(id=mid, direction="mt", interface="openmarket", account="acme",
                   source="88600", destinations=["15551230000"], created_at=1_700_000_000.0,
                   mt_config="config1", parts=[Part("text/plain", b"hi", "t.txt"),
                                               Part("image/png", b"", "p.png")])


def callback(cid: str, mid: str = MID) -> Callback:
    return Callback(id=cid, kind="report", message_id=mid, account="acme",
                    url="http://127.0.0.1:9/dlr", method="POST", headers={}, body=b"{}",
                    protocol="http", created_at=1_700_000_001.0, success=Success())


def kept(store: Store, loaded: Loaded | None = None) -> dict[str, Any]:
    """What a journal keeps of a store: messages and callbacks as the API shows them."""
    dump = store.dump()
    out = {"messages": dump["messages"], "callbacks": dump["callbacks"]}
    if loaded is not None:
        out["jobs"] = [(j.seq, j.kind, j.key) for j in loaded.jobs]
        out["meta"] = loaded.meta
    return out


def restarted(path: Path) -> tuple[Store, Loaded]:
    journal = SqliteJournal(path)
    loaded = journal.load()
    store = Store(journal=journal)
    store.restore(loaded)
    return store, loaded


def restored_with_room_for_one(store: Store) -> Store:
    """A start on the file with ``max_messages`` lowered: the older message's rows go."""
    assert store.journal is not None
    fresh = Store(max_messages=1, journal=store.journal)
    fresh.restore(store.journal.load())
    return fresh


# Each case: (store) -> None, or the store to compare when the case makes another, run after
# the base state (two messages, the first with a callback).
CASES: dict[str, Callable[[Store], Any]] = {
    "reset": lambda s: s.reset(),
    "restore": restored_with_room_for_one,
    "set_meta": lambda s: s.set_meta("clock", {"mode": "virtual", "now": 5.0}),
    "keep_job": lambda s: s.keep_job(StoredJob(7, 9.0, "report", MID, "acme", {"x": 1})),
    "drop_jobs": lambda s: (s.keep_job(StoredJob(8, 9.0, "report", MID, "acme", {})),
                            s.keep_job(StoredJob(9, 9.0, "mo", "scn", "acme", {})),
                            s.drop_jobs(seqs=[8])),
    "add_message": lambda s: s.add_message(message("100000000000003")),
    "withdraw_message": lambda s: s.withdraw_message(OTHER),
    "update_message": lambda s: s.update_message(MID, status="Deferred",
                                                 parts=[Part("text/plain", b"new", "n.txt")]),
    "set_status_if": lambda s: s.set_status_if(MID, "Cancelled", when=("accepted",)),
    "add_warnings": lambda s: s.add_warnings(MID, ["a warning"]),
    "replace_content": lambda s: s.replace_content(MID, [Part("text/plain", b"new", "n.txt")],
                                                   ["replaced"]),
    "bump_extra": lambda s: s.bump_extra(MID, "replaced"),
    "record_message_fetch": lambda s: s.record_message_fetch(MID, {"url": "http://x/"}),
    "fill_part": lambda s: s.fill_part(MID, 1, PNG_1PX, "image/png"),
    "add_report": lambda s: s.add_report(MID, Report("Retrieved", 1_700_000_002.0),
                                         [callback("cb-000002")]),
    "add_callback": lambda s: s.add_callback(callback("cb-000003", OTHER)),
    "record_attempt": lambda s: s.record_attempt(
        s.get_callback("cb-000001"), Attempt(1, 1_700_000_003.0, "rejected", 500),
        "retrying", 1_700_000_018.0),
    "end_callback": lambda s: s.end_callback(s.get_callback("cb-000001"), "failed"),
    "set_callback_state": lambda s: s.set_callback_state(s.get_callback("cb-000001"),
                                                         "retrying", 1_700_000_030.0),
    "cancel_callbacks": lambda s: s.cancel_callbacks(MID),
    "remove_account": lambda s: s.remove_account("acme"),
}


def marked(kind: bool) -> set[str]:
    return {name for name, fn in inspect.getmembers(Store, inspect.isfunction)
            if getattr(fn, "kept", None) is kind}


def test_every_mutation_has_a_case() -> None:
    assert marked(True) == set(CASES), "a mutation of the store needs its case here"


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_mutation_survives_a_restart(tmp_path: Path, name: str) -> None:
    path = tmp_path / "state.db"
    store = Store(journal=SqliteJournal(path))
    from fakemms.models import Account

    store.set_accounts([Account(username="acme", password="x")])
    store.add_message(message())
    store.add_message(message(OTHER))
    store.add_callback(callback("cb-000001"))
    before = kept(store)
    other = CASES[name](store)
    after = kept(other if isinstance(other, Store) else store)
    if name not in ("set_meta", "keep_job", "drop_jobs"):
        assert after != before, f"the case for {name} changes nothing"
    store.close()
    again, loaded = restarted(path)
    try:
        assert kept(again) == after, f"{name}: memory and the file disagree after a restart"
        if name == "set_meta":
            assert loaded.meta == {"clock": {"mode": "virtual", "now": 5.0}}
        if name == "keep_job":
            assert [(j.seq, j.payload) for j in loaded.jobs] == [(7, {"x": 1})]
        if name == "drop_jobs":
            assert [j.seq for j in loaded.jobs] == [9]
    finally:
        again.close()


STATE_OBJECTS = ("message", "callback", "part", "report", "self._messages", "self._callbacks")
MUTATING_CALLS = ("append", "extend", "pop", "popitem", "clear", "remove", "update",
                  "setdefault")


def _changes_state(fn: ast.FunctionDef) -> bool:
    """Whether a method assigns to, deletes from or mutates a message, callback, part or
    report, or the store's collections of them (read from its source)."""
    for node in ast.walk(fn):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in MUTATING_CALLS:
            targets = [node.func.value]
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, ast.Attribute | ast.Subscript) and \
                        ast.unparse(t.value).startswith(STATE_OBJECTS):
                    return True
    return False


def test_no_public_method_changes_kept_state_outside_a_unit() -> None:
    parts = [c for c in inspect.getmro(Store) if c.__module__.startswith("fakemms.store")]
    assert len(parts) >= 3  # Store and the parts it is made of
    unmarked = []
    methods = [fn for part in parts
               for fn in ast.parse(textwrap.dedent(inspect.getsource(part))).body[0].body
               if isinstance(fn, ast.FunctionDef)]
    for fn in methods:
        if fn.name.startswith("_"):
            continue
        decorators = {ast.unparse(d) for d in fn.decorator_list}
        if decorators & {"mutation", "transient"}:
            continue
        if _changes_state(fn):
            unmarked.append(fn.name)
    assert not unmarked, f"change kept state outside a unit of change: {unmarked}"


def test_the_transient_methods_are_the_documented_ones() -> None:
    """docs/service.md, "Not kept": in-flight marks, accounts at run time, fetch records."""
    assert marked(False) == {"start_attempt", "set_accounts", "put_account", "record_fetch"}
