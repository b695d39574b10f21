"""Durable runs inside the workspace: a checkpoint after every cycle, resume and fork.

`Checkpointer` saves what `gwa.cycle.snapshot.capture` takes (plus the models' replay
positions) at the end of each cycle and traces a ``checkpoint`` event; `plan_resume` checks a
stored run against the scenario at hand and says how the run starts again; `restore_run`
puts a checkpoint back into a freshly built context. The stores themselves are in `gwa.runs`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gwa.cycle import CycleContext, CycleState, Decision
from gwa.cycle.snapshot import capture, restore
from gwa.errors import ConfigError, RunLocked, RunsError
from gwa.events import CheckpointSaved, RunResume
from gwa.runs import Checkpoint, CheckpointStore, RunInfo, encode
from gwa.runs.store import Redact
from gwa.scenario import Scenario, memo
from gwa.trace import REDACTED, Redactor, TraceWriter
from gwa.types import RunId, Stateful

ModelsState = Callable[[], dict[str, Any]]


def scenario_hash(scenario: Scenario) -> str:
    """The scenario's settings hash (what ``run.start`` records as ``config_hash``)."""
    # Only what the scenario sets counts: a GWA that adds a field (with a default) to the
    # scenario model does not change the hash of existing scenarios.
    settings = scenario.model_dump_json(exclude_defaults=True).encode()
    return hashlib.sha256(settings).hexdigest()[:16]


def _lines(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        return [line for k, v in data.items() for line in _lines(v, f"{prefix}{k}.")]
    return [f"{prefix.rstrip('.')} = {json.dumps(data, ensure_ascii=False)}"]


def scenario_diff(stored: Mapping[str, Any], current: Scenario) -> str:
    """What changed between a stored scenario and ``current``, one ``key = value`` a line."""
    now = current.model_dump(mode="json")
    diff = difflib.unified_diff(
        _lines(dict(stored)), _lines(now), "checkpoint", "scenario", n=0, lineterm=""
    )
    return "\n".join(line for line in diff if not line.startswith("@@"))


def apply_overrides(scenario: Scenario, sets: Mapping[str, str]) -> Scenario:
    """``scenario`` with dotted keys set (``workspace.temperature=0.9``,
    ``agents.gen-1.temperature=1.2``, ``selection.policy=score``); values are YAML scalars."""
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    for key, raw in sets.items():
        _set(data, key, yaml.safe_load(raw) if raw.strip() else raw)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"--set {'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(
            f"the fork's overrides do not make a valid scenario: {problems}"
        ) from None


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = _item(node, part, key)
        else:
            node = node.setdefault(part, [] if part == "agents" else {})
        if not isinstance(node, dict | list):
            raise ConfigError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        raise ConfigError(f"--set {key}: name a field of one item (e.g. agents.NAME.temperature)")
    node[last] = value


def _item(items: list[Any], part: str, key: str) -> Any:
    for item in items:
        if isinstance(item, dict) and item.get("name") == part:
            return item
    if part.isdigit() and int(part) < len(items):
        return items[int(part)]
    names = ", ".join(str(i.get("name")) for i in items if isinstance(i, dict))
    raise ConfigError(f"--set {key}: no item {part!r} (there are: {names})")


@dataclass(slots=True)
class RunPlan:
    """How a run starts: afresh, resumed from its last checkpoint, or forked from one."""

    run: RunId
    goal: str
    checkpoint: Checkpoint | None = None
    fork: bool = False
    overrides: dict[str, str] = field(default_factory=dict)
    decision: Decision | None = None
    """A person's answer to the question the run paused on."""
    inputs: tuple[tuple[str, str], ...] = ()
    """(text, origin) perceived in the first cycle (earlier turns of a conversation)."""
    facts: dict[str, Any] = field(default_factory=dict)
    """What the stored run was started with (`RunInfo.facts`)."""
    traced: int | None = None
    """The cycle of the last checkpoint the trace shows (a crash between saving one and
    tracing it leaves the trace one behind the store)."""
    again: bool = False
    """It continues a stored run (same id, same trace); from its start if it was lost
    before its first checkpoint."""

    @property
    def resumed(self) -> bool:
        """It continues a stored run (same id, same trace)."""
        return self.again


def plan_resume(
    store: CheckpointStore,
    run: str,
    scenario: Scenario,
    owner: str,
    decision: Decision | None = None,
) -> RunPlan:
    """Check that ``run`` can go on with ``scenario`` and claim it; raise `RunLocked`,
    `RunsError` or `ConfigError` naming the fix otherwise."""
    info = store.info(run)
    if info.status == "running" and info.owner != owner:
        raise RunLocked(
            f"{store.where}: run {info.run} is being run by process {info.owner}; wait for it "
            f"to end, or stop it (`gwa runs show {info.run}` shows its state)"
        )
    _check_decision(store, info, decision)
    if info.status == "answered":
        raise RunsError(
            f"{store.where}: run {info.run} already answered; to go on from one of its cycles, "
            f"fork it: gwa run --fork {info.run}@{info.cycles}"
        )
    if scenario_hash(scenario) not in (
        info.facts.get("scenario_hash"),
        info.facts.get("stored_hash"),
    ):
        raise ConfigError(
            f"run {info.run} was checkpointed with another scenario; resume it with the same "
            "scenario (or none: the stored one is used), or fork it to change settings "
            f"(gwa run --fork {info.run}@{info.cycles} --set KEY=VALUE). Changed:\n"
            + scenario_diff(info.facts.get("scenario", {}), scenario)
        )
    # Lost before its first checkpoint, a run starts again from the beginning.
    checkpoint = store.get(info.run) if info.checkpoints else None
    store.claim(info.run, owner)
    return RunPlan(
        RunId(info.run), info.goal, checkpoint, decision=decision, again=True, facts=info.facts
    )


def _check_decision(store: CheckpointStore, info: RunInfo, decision: Decision | None) -> None:
    """A paused run needs a decision to go on; a decision needs a paused run."""
    if info.status == "paused" and decision is None:
        question = (info.pending or {}).get("question", "")
        raise RunsError(
            f"{store.where}: run {info.run} is paused, waiting for a person ({question}): "
            f"gwa runs approve {info.run} [--edit TEXT] | gwa runs reject {info.run} "
            "[--reason TEXT]"
        )
    if decision is not None and info.status != "paused":
        raise RunsError(
            f"{store.where}: run {info.run} is {info.status}, not paused: there is nothing to "
            f"{decision.verdict}; resume it with gwa run --resume {info.run}"
        )


def stored_scenario(info: RunInfo) -> Scenario:
    """The scenario a run was started with (secrets were not saved: model keys come from
    the environment again)."""
    return Scenario.model_validate(info.facts["scenario"])


def run_facts(scenario: Scenario, secrets: set[str]) -> dict[str, Any]:
    """What a run keeps of its scenario: the settings with every secret removed (a model key
    left empty, to be read from the environment again), the hash of the real settings, and
    the hash of the stored ones (a resume with the stored scenario matches it)."""
    what = "facts:" + hashlib.sha256("\0".join(sorted(secrets)).encode()).hexdigest()
    return dict(memo(scenario, what, lambda: _facts(scenario, secrets)))


def _facts(scenario: Scenario, secrets: set[str]) -> dict[str, Any]:
    data = Redactor(secrets)(scenario.model_dump(mode="json"))
    for model in dict(data.get("models", {})).values():
        if isinstance(model, dict) and model.get("api_key") == REDACTED:
            model["api_key"] = None
    try:
        stored: str | None = scenario_hash(Scenario.model_validate(data))
    except ValidationError:  # a redacted value no longer fits its field
        stored = None
    return {"scenario": data, "scenario_hash": scenario_hash(scenario), "stored_hash": stored}


def trace_position(path: Path) -> tuple[int, int | None]:
    """The last sequence number written to a trace, and the cycle of its last ``checkpoint``
    event (None if none). A line torn by a crash is cut off, so the resumed run appends after
    whole records."""
    if not path.exists():
        return 0, None
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    seq, checkpoint = 0, None
    for line in reversed(data[:end].splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        seq = seq or int(record.get("seq", 0))
        if record.get("event") in ("checkpoint", "run.resume"):
            checkpoint = record.get("cycle")  # a resume shows the checkpoint it started from
            break
    return seq, checkpoint


@dataclass(slots=True)
class Checkpointer:
    """Saves a checkpoint at the end of every cycle and traces it."""

    store: CheckpointStore
    run: RunId
    models: ModelsState
    redact: Redact | None = None
    """Removes the secrets the run knows from every text saved (working memory may quote a
    goal or an input that holds one; a resumed run sees ``[redacted]`` there)."""
    last_ms: float = 0.0

    def __call__(self, ctx: CycleContext, state: CycleState) -> None:
        started = time.perf_counter()
        doc = capture(ctx, state)
        doc["models"] = self.models()
        doc["trace"] = {"seq": ctx.trace.seq + 1}  # this checkpoint's own event
        data = encode(doc, self.redact)
        self.store.put(self.run, state.cycle, data)
        self.last_ms = (time.perf_counter() - started) * 1000
        ctx.trace.emit(
            CheckpointSaved(
                cycle=state.cycle,
                id=f"{self.run}@{state.cycle}",
                bytes=len(data),
                ms=round(self.last_ms, 3),
            )
        )


def models_state(models: Mapping[str, Any]) -> dict[str, Any]:
    """The state of each distinct stateful model, under its first key, with its name."""
    out: dict[str, Any] = {}
    seen: set[int] = set()
    for key, model in models.items():
        if id(model) in seen or not isinstance(model, Stateful):
            continue
        seen.add(id(model))
        out[key] = {"name": getattr(model, "name", ""), "state": model.snapshot()}
    return out


def restore_models(models: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
    """Put saved model states back where the same model (by name) is used again."""
    for key, entry in saved.items():
        model = models.get(key)
        if isinstance(model, Stateful) and getattr(model, "name", "") == entry["name"]:
            model.restore(entry["state"])


def restart_run(trace: TraceWriter, plan: RunPlan, rewind: Callable[[Any], Any]) -> None:
    """A run lost before its first checkpoint starts again: ``run.resume`` from cycle 0 and
    what it had stored in long-term memory removed."""
    trace.emit(RunResume(cycle=0, checkpoint=f"{plan.run}@0"))
    rewind({"at": 0.0, "issued": None})


def restore_run(
    ctx: CycleContext, state: CycleState, plan: RunPlan, rewind: Callable[[Any], Any]
) -> None:
    """Put the plan's checkpoint back into a fresh context and ``state``; trace
    ``run.resume``. ``rewind`` removes the memories stored after the checkpoint (a resume)."""
    assert plan.checkpoint is not None
    doc, checkpoint = plan.checkpoint.state, plan.checkpoint
    if plan.resumed and plan.traced != checkpoint.cycle:
        ctx.trace.emit(
            CheckpointSaved(cycle=checkpoint.cycle, id=checkpoint.id, bytes=checkpoint.bytes, ms=0)
        )
    restored = restore(ctx, doc)
    for f in fields(state):
        setattr(state, f.name, getattr(restored, f.name))
    if plan.resumed and doc.get("admission") is not None:
        rewind(doc["admission"])
    ctx.trace.emit(
        RunResume(
            cycle=plan.checkpoint.cycle,
            checkpoint=plan.checkpoint.id,
            fork=plan.fork,
            overrides=dict(plan.overrides),
            decision=plan.decision.verdict if plan.decision else None,
        )
    )
