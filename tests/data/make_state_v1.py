"""Writes tests/data/state-v1.db and state-v1.json with the code of the commit checked out
(run once, at a73c54c, before the house was rebuilt): ``python tests/data/make_state_v1.py``.
The file holds messages over OpenMarket and MM7, delivered and pending reports, callbacks
with failed attempts (a DLR URL nobody listens on) and pending jobs; the JSON is what that
code read back from it. tests/test_public_surface.py loads the file with today's code."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

from conftest import om_body  # noqa: E402
from test_persistence import started  # noqa: E402
from test_persistence_faults import mm7_submit  # noqa: E402

CONFIG = {"seed": 1, "clock": "virtual",
          "accounts": [{"username": "acme", "password": "s3cret",
                        "mt_configs": {"config1": {"dlr_url": "http://127.0.0.1:9/dlr",
                                                   "region": "US"}}}]}


def summary(be) -> dict:
    dump = be.store.dump()
    return {"messages": sorted((m["id"], m["status"], len(m["parts"]),
                                [r["status"] for r in m["reports"]]) for m in dump["messages"]),
            "callbacks": sorted((c["id"], c["state"], len(c["attempts"]))
                                for c in dump["callbacks"]),
            "pending_jobs": be.scheduler.pending_count()}


def main() -> None:
    work = Path(tempfile.mkdtemp())
    path = work / "state.db"
    fake = started({**CONFIG, "persistence": {"path": str(path)}})
    for n in range(3):
        assert fake.send(om_body({"type": "MT", "source": "88600", "mtConfig": "config1",
                                  "destination": f"1555123000{n}"})).status_code == 202
    assert mm7_submit(fake).status_code == 200
    fake.backend.advance(2)  # reports fire; the DLR URL refuses: callbacks retrying
    assert fake.send(om_body()).status_code == 202  # its report still pending
    fake.server.stop()
    again = started({**CONFIG, "persistence": {"path": str(path)}})
    expected = summary(again.backend)
    again.server.stop()
    shutil.copy(path, HERE / "state-v1.db")
    (HERE / "state-v1.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(json.dumps(expected))


if __name__ == "__main__":
    main()
