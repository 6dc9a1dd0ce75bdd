"""Plain Hypothesis workers sharing one example database.

A worker runs its machines in batches, each batch a Hypothesis run with the
shared database, until its time is up or one of them fails. Hypothesis saves
the shrunk failing example in the database; a worker that starts a batch of
the same machine later (on this machine or any other using the same Redis)
replays it first, in its reuse phase, before generating anything new. With
``replay_only`` a worker only replays: it finds what the database holds, and
nothing else.
"""

from __future__ import annotations

import importlib
import json
import time
import unittest
from dataclasses import asdict, dataclass

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine

from walcheck.fuzz.database import KeyedDatabase, shared_database

# The FIXED machines: no finding is expected, so any finding is a bug.
DEFAULT_TARGETS = (
    "walcheck.sidebyside.machines:StatefulSmallRegionFixed",
    "walcheck.sidebyside.machines:StatefulMemvidSizesFixed",
    "walcheck.sidebyside.crash_machines:StatefulCrashFixed",
)
BATCH = 50


@dataclass(frozen=True)
class WorkerReport:
    worker: int
    batches: int
    seconds: float
    machine: str | None = None
    message: str | None = None
    trace: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str) -> WorkerReport:
        document = json.loads(line)
        document["trace"] = tuple(document["trace"])
        return cls(**document)


def load_target(spec: str) -> type[RuleBasedStateMachine]:
    """``module:Class``: a state machine class."""
    module_name, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"a target is module:Class, not {spec!r}")
    target = getattr(importlib.import_module(module_name), name)
    if not (isinstance(target, type) and issubclass(target, RuleBasedStateMachine)):
        raise ValueError(f"{spec} is not a state machine class")
    return target


def worker_settings(
    database_name: str, *, redis_url: str | None, directory: str | None, **kwargs: object
) -> settings:
    replay_only = bool(kwargs.pop("replay_only", False))
    return settings(
        database=KeyedDatabase(shared_database(redis_url, directory), database_name),
        derandomize=False,
        deadline=None,
        report_multiple_bugs=False,
        phases=[Phase.reuse] if replay_only else [Phase.reuse, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **kwargs,  # type: ignore[arg-type]
    )


def run_worker(
    worker: int,
    targets: tuple[str, ...],
    *,
    seconds: float,
    steps: int = 40,
    redis_url: str | None = None,
    directory: str | None = None,
    replay_only: bool = False,
) -> WorkerReport:
    from walcheck.sidebyside.hunts import hunt

    machines = [(spec, load_target(spec)) for spec in targets]
    started = time.monotonic()
    batches = 0
    while True:
        for spec, machine in machines:
            run_settings = worker_settings(
                spec,
                redis_url=redis_url,
                directory=directory,
                replay_only=replay_only,
                max_examples=BATCH,
                stateful_step_count=steps,
            )
            try:
                finding = hunt(machine, run_settings)  # type: ignore[arg-type]
            except unittest.SkipTest:
                finding = None  # replaying only, and the database holds nothing for this machine
            batches += 1
            if finding is not None:
                return WorkerReport(
                    worker, batches, time.monotonic() - started, spec, finding.message, finding.trace
                )
        if replay_only or time.monotonic() - started >= seconds:
            return WorkerReport(worker, batches, time.monotonic() - started)
