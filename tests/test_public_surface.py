"""The public surface, frozen before the house was rebuilt (issue: the house in one step): the
names users import, the client's methods and models, the testing receiver, the fixtures, the
config keys and the CLI's commands and options. Nothing in tests/data/public-surface.json may
disappear or be renamed; additions are free (regenerate the file with
``python tests/test_public_surface.py > tests/data/public-surface.json`` once reviewed).

Also: a persistence file written by the code before the rebuild still loads after it."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import shutil
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SNAPSHOT = DATA / "public-surface.json"


def _public(obj: Any) -> list[str]:
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def _config_keys(value: Any, prefix: str = "") -> list[str]:
    if not isinstance(value, dict):
        return []
    out = []
    for key, sub in value.items():
        path = f"{prefix}{key}"
        out.append(path)
        if key != "accounts":
            out += _config_keys(sub, path + ".")
    return out


def _cli(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for action in parser._actions:  # argparse has no public walk of its subcommands
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sorted(o for a in sub._actions for o in a.option_strings)
    return out


def _fixtures() -> list[str]:
    import fakemms.pytest_plugin as plugin

    tree = ast.parse(inspect.getsource(plugin))
    return sorted(f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                  and not f.name.startswith("_")
                  and any("fixture" in ast.unparse(d) for d in f.decorator_list))


def surface() -> dict[str, Any]:
    import fakemms
    import fakemms.client as client
    import fakemms.testing as testing
    from fakemms.cli import build_parser
    from fakemms.config import DEFAULTS

    models = {name: sorted(f.name for f in dataclasses.fields(getattr(client, name)))
              for name in client.__all__
              if dataclasses.is_dataclass(getattr(client, name))}
    return {
        "fakemms": sorted(fakemms.__all__),
        "fakemms.client": sorted(client.__all__),
        "Client": _public(client.Client),
        "client models": models,
        "fakemms.testing": sorted(testing.__all__),
        "AppReceiver": _public(testing.AppReceiver),
        "fixtures": _fixtures(),
        "config keys": sorted(_config_keys(DEFAULTS)),
        "cli": _cli(build_parser()),
    }


def _missing(frozen: Any, now: Any, where: str = "") -> list[str]:
    if isinstance(frozen, dict):
        return [m for k, v in frozen.items()
                for m in (_missing(v, now[k], f"{where}{k}: ") if k in now else [f"{where}{k}"])]
    return [f"{where}{name}" for name in frozen if name not in now]


def test_nothing_public_disappeared() -> None:
    frozen = json.loads(SNAPSHOT.read_text())
    missing = _missing(frozen, surface())
    assert not missing, f"gone from the public surface: {missing}"


def test_the_names_users_import_work() -> None:
    from fakemms import Client, create_app
    from fakemms.testing import AppReceiver

    assert callable(create_app) and callable(Client) and callable(AppReceiver)


def test_a_state_file_written_before_the_rebuild_still_loads(tmp_path) -> None:
    """tests/data/state-v1.db: written by commit a73c54c (README in tests/data says how)."""
    from fakemms.app import create_app

    path = tmp_path / "state.db"
    shutil.copy(DATA / "state-v1.db", path)
    app = create_app({"seed": 1, "clock": "virtual", "persistence": {"path": str(path)},
                      "accounts": [{"username": "acme", "password": "s3cret",
                                    "mt_configs": {"config1": {
                                        "dlr_url": "http://127.0.0.1:9/dlr",
                                        "region": "US"}}}]})
    try:
        be = app.extensions["fakemms"]
        dump = be.store.dump()
        expected = json.loads((DATA / "state-v1.json").read_text())
        got = {"messages": sorted((m["id"], m["status"], len(m["parts"]),
                                   [r["status"] for r in m["reports"]])
                                  for m in dump["messages"]),
               "callbacks": sorted((c["id"], c["state"], len(c["attempts"]))
                                   for c in dump["callbacks"]),
               "pending_jobs": be.scheduler.pending_count()}
        assert json.loads(json.dumps(got)) == expected
    finally:
        app.close()


if __name__ == "__main__":
    json.dump(surface(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
