"""A run's cycle state as plain JSON data, and back: what a checkpoint saves.

`capture` takes everything the next cycle depends on (the `CycleState`, working memory, the
inbox's waiting inputs, the bus sequence numbers, and the state of the temperature source and
the admission sink where they implement `gwa.types.Stateful`); `restore` puts it back into a
freshly built context, so the next cycle runs as it would have in the interrupted process.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from gwa.cycle.act import candidate_from
from gwa.cycle.context import CycleContext
from gwa.cycle.state import CycleState, Provenance
from gwa.memory import AdmissionCandidate, Signals
from gwa.types import Stateful, Usage, WorkingEntry, plain


def state_to_dict(state: CycleState) -> dict[str, Any]:
    """A `CycleState` as JSON data."""
    out = {f.name: getattr(state, f.name) for f in fields(state)}
    out["usage"] = [state.usage.prompt_tokens, state.usage.completion_tokens]
    out["last_winner"] = plain(state.last_winner) if state.last_winner else None
    out["provenance"] = {k: plain(v) for k, v in state.provenance.items()}
    out["held"] = [plain(c) for c in state.held]
    out["outputs"], out["notes"], out["recent"] = (
        list(state.outputs),
        list(state.notes),
        list(state.recent),
    )
    return out


def state_from_dict(data: dict[str, Any]) -> CycleState:
    """The `CycleState` `state_to_dict` wrote."""
    d = dict(data)
    d["usage"] = Usage(*d["usage"])
    d["last_winner"] = candidate_from(d["last_winner"]) if d["last_winner"] else None
    d["provenance"] = {k: _provenance(v) for k, v in d["provenance"].items()}
    d["held"] = [_candidate(c) for c in d.get("held", [])]
    return CycleState(**d)


def _candidate(d: dict[str, Any]) -> AdmissionCandidate:
    return AdmissionCandidate(
        WorkingEntry(**d["entry"]),
        d["run"],
        d["source"],
        d["role"],
        tuple(d["cited"]),
        _signals(d["signals"]),
    )


def _signals(d: dict[str, Any]) -> Signals:
    return Signals(**{**d, "echoes": tuple(d.get("echoes", ()))})


def _provenance(d: dict[str, Any]) -> Provenance:
    return Provenance(d["role"], tuple(d["cited"]), _signals(d["signals"]), d.get("text", ""))


def _piece(obj: object) -> dict[str, Any] | None:
    return obj.snapshot() if isinstance(obj, Stateful) else None


def capture(ctx: CycleContext, state: CycleState) -> dict[str, Any]:
    """Everything the next cycle depends on, as JSON data."""
    return {
        "state": state_to_dict(state),
        "memory": ctx.memory.snapshot(),
        "inbox": ctx.inbox.snapshot(),
        "hub": ctx.hub.sender.snapshot(),
        "temperature": _piece(ctx.temperature),
        "admission": _piece(ctx.admission),
    }


def restore(ctx: CycleContext, doc: dict[str, Any]) -> CycleState:
    """Put a `capture` back into a fresh context; the state to cycle on."""
    ctx.memory.restore(doc["memory"])
    ctx.inbox.restore(doc["inbox"])
    ctx.hub.sender.restore(doc["hub"])
    for obj, key in ((ctx.temperature, "temperature"), (ctx.admission, "admission")):
        if doc.get(key) is not None and isinstance(obj, Stateful):
            obj.restore(doc[key])
    return state_from_dict(doc["state"])
