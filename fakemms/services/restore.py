"""A start from what a persistence file kept: the clock where it stood, messages and
callbacks, pending report and MO-script jobs re-armed at their due times (those already late
fire at once, in due order), unfinished callbacks due at their next attempt; scenarios new to
the file arm their MO scripts from now."""

from __future__ import annotations

import functools
import itertools
from typing import TYPE_CHECKING

from fakemms.models import StoredJob
from fakemms.scenario import ReportPlan, Scenario
from fakemms.scheduler import Job
from fakemms.services.core import Core
from fakemms.services.reports import ReportService
from fakemms.services.scenarios import ScenarioService

if TYPE_CHECKING:
    from fakemms.persistence import Loaded


def restore(core: Core, loaded: Loaded, scenarios: list[Scenario], *,
            reports: ReportService, scenario_service: ScenarioService) -> None:
    if "clock" in loaded.meta:
        core.clock.restore(loaded.meta["clock"])
    core.store.restore(loaded)
    numbers = [int(c.id[3:]) for c in loaded.callbacks if c.id[3:].isdigit()]
    core.callback_ids_after(max(numbers, default=0))
    armed = set(loaded.meta.get("armed_scenarios", []))
    core.engine.scenarios = list(scenarios)
    scenario_service.armed = armed & {s.name for s in scenarios}
    jobs, gone = [], []
    for stored in loaded.jobs:
        job = _rearm(core, stored, reports, scenario_service)
        if job is None:
            gone.append(stored.seq)
        else:
            jobs.append(job)
    seq = itertools.count(max((j.seq for j in jobs), default=0) + 1)
    for callback in loaded.callbacks:
        if callback.cancelled or callback.state in ("delivered", "failed", "cancelled") \
                or core.store.get_callback(callback.id) is not callback:
            continue
        callback.state = "retrying" if callback.attempt_count else "pending"
        jobs.append(Job(callback.next_attempt_at or callback.created_at, next(seq),
                        f"callback {callback.id}",
                        functools.partial(core.dispatcher.due, callback.id),
                        callback.message_id, callback.account))
    core.store.drop_jobs(seqs=gone)
    core.scheduler.restore(jobs)  # first: new jobs number after the kept ones
    scenario_service.arm([s for s in scenarios if s.name not in armed])


def _rearm(core: Core, stored: StoredJob, reports: ReportService,
           scenario_service: ScenarioService) -> Job | None:
    """A kept job as a live one; None when what it belongs to is gone."""
    p = stored.payload
    record = (stored.kind, p)
    if stored.kind == "report" and core.store.get_message(p["message_id"]) is not None:
        plan, mid = ReportPlan(**p["plan"]), p["message_id"]
        return Job(stored.due, stored.seq, f"report {plan.status} for {mid}",
                   functools.partial(reports._fire_due, mid, plan), stored.key, stored.account,
                   record=record)
    if stored.kind == "mo":
        scenario = next((s for s in core.engine.scenarios if s.name == p["scenario"]), None)
        scripts = scenario.mo if scenario is not None else []
        if scenario is not None and p["script"] < len(scripts) \
                and scripts[p["script"]].name == p["name"]:
            script = scripts[p["script"]]
            return Job(stored.due, stored.seq, f"mo {script.name} #{p['n'] + 1}",
                       lambda: scenario_service.run(script, scenario), stored.key,
                       stored.account, record=record)
    return None
