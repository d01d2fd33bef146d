"""The loaded scenarios, in match order, and the jobs of their MO scripts: loading one arms
its scripts from now; unloading or replacing it cancels the MOs still scheduled."""

from __future__ import annotations

import functools
import logging
import threading

from fakemms import errors
from fakemms.scenario import Scenario
from fakemms.scenario.loader import MoScript
from fakemms.services.core import Core
from fakemms.services.mo import MoService

log = logging.getLogger(__name__)


class ScenarioService:
    def __init__(self, core: Core, mo: MoService) -> None:
        self.core = core
        self.mo = mo
        self._lock = threading.RLock()
        self.armed: set[str] = set()  # scenarios whose MO scripts were armed (persistence)

    def loaded(self) -> list[Scenario]:
        """The loaded scenarios, in match order (a copy)."""
        with self._lock:
            return list(self.core.engine.scenarios)

    def replace(self, scenarios: list[Scenario]) -> None:
        """Replace every loaded scenario (their MOs still scheduled with them)."""
        core = self.core
        with self._lock:
            core.scheduler.cancel_keys([scenario_key(s.name) for s in core.engine.scenarios],
                                       dropped=False)
            core.engine.scenarios = list(scenarios)
            self.armed = set()
            self.arm(scenarios)

    def put(self, scenario: Scenario) -> bool:
        """Load a scenario after the others; one already loaded under its name is replaced
        in place (keeping its match order), and the MOs its scripts scheduled with it. True
        when it replaced one."""
        core = self.core
        with self._lock:
            core.scheduler.cancel_keys([scenario_key(scenario.name)], dropped=False)
            loaded = list(core.engine.scenarios)  # a new list: decide() may be iterating
            names = [s.name for s in loaded]
            if scenario.name in names:
                loaded[names.index(scenario.name)] = scenario
            else:
                loaded.append(scenario)
            core.engine.scenarios = loaded
            self.arm([scenario])
            return scenario.name in names

    def remove(self, name: str) -> bool:
        """Unload a scenario by name, with the MOs its scripts still had scheduled. False
        when none has that name."""
        core = self.core
        with self._lock:
            kept = [s for s in core.engine.scenarios if s.name != name]
            if len(kept) == len(core.engine.scenarios):
                return False
            core.engine.scenarios = kept
            core.scheduler.cancel_keys([scenario_key(name)], dropped=False)
            self.note_armed(self.armed - {name})
            return True

    def rearm_all(self) -> None:
        """After a reset: every loaded scenario's scripts from now."""
        with self._lock:
            self.armed = set()
            self.arm(self.core.engine.scenarios)

    def arm(self, scenarios: list[Scenario]) -> None:
        """Schedule the MO scripts of ``scenarios`` from now."""
        core = self.core
        start = core.clock.now()
        for scenario in scenarios:
            for index, script in enumerate(scenario.mo):
                for n in range(script.count):
                    due = start + script.at + n * (script.every or 0)
                    core.scheduler.at(due, functools.partial(self.run, script, scenario),
                                      f"mo {script.name} #{n + 1}", account=script.account,
                                      key=scenario_key(scenario.name),
                                      record=("mo", {"scenario": scenario.name, "script": index,
                                                     "name": script.name, "n": n}))
        self.note_armed(self.armed | {s.name for s in scenarios})

    def note_armed(self, names: set[str]) -> None:
        # a restart re-arms the MO scripts only of scenarios not armed before (persistence)
        self.armed = names
        if self.core.store.durable:
            self.core.store.set_meta("armed_scenarios", sorted(names))

    def run(self, script: MoScript, scenario: Scenario) -> None:
        """One MO of a script, when due."""
        try:
            self.mo.inject(account=script.account, source=script.source,
                           destination=script.to or "88600", subject=script.subject,
                           parts=self.mo.generated_parts(script.parts) if script.parts
                           else None, decision=f"{scenario.name}/{script.name}",
                           format=script.format)
        except errors.FakeMmsError as exc:  # e.g. its account was deleted since: not a crash
            log.warning("scenario %s: MO script %s sent nothing: %s", scenario.name,
                        script.name, exc)

    def unknown_mo_accounts(self, scenario: Scenario) -> list[str]:
        """Problems of a scenario whose MO scripts name accounts the fake does not have."""
        return unknown_mo_accounts(scenario, {a.username for a in self.core.store.accounts()})


def scenario_key(name: str) -> str:
    """The scheduler key of a scenario's MO-script jobs (unloading it cancels them)."""
    return f"scenario:{name}"


def unknown_mo_accounts(scenario: Scenario, usernames: set[str]) -> list[str]:
    """An MO script naming no account can never send its MOs: a problem per such script."""
    return [f"mo[{i}].account: no account {script.account!r}"
            for i, script in enumerate(scenario.mo) if script.account not in usernames]
