"""Act: the workspace runs the tool calls of the cycle's winner (and, with
``actions_per_cycle`` above 1, of the next best proposals, concurrently); each result (or
error) is traced and enters the next cycle as an input from ``tool:<name>``. A tool marked
``confirm`` waits for a person first (the run pauses)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from gwa.cycle.context import CycleContext
from gwa.cycle.state import CycleState
from gwa.events import ToolCalled, ToolResult
from gwa.types import Action, Candidate, Selection


def chosen(
    ctx: CycleContext, selection: Selection, candidates: Sequence[Candidate]
) -> list[Candidate]:
    """The proposals whose actions run this cycle: the winner's first, then by score."""
    winner = selection.winner
    if winner is None or ctx.tools is None:
        return []
    ranked = sorted(
        (c for c in candidates if c.action is not None and c.id != winner.id),
        key=lambda c: -selection.scores.get(c.id, float("-inf")),
    )
    picked = [winner] if winner.action is not None else []
    room = ctx.scenario.workspace.actions_per_cycle - len(picked)
    return picked + ranked[: max(0, room)] if picked else []


def describe(action: Action) -> str:
    """``tool {"arg": …}``: how a call is shown to a person and in an input."""
    return f"{action.tool} {json.dumps(action.arguments, ensure_ascii=False)}"


async def run_action(ctx: CycleContext, state: CycleState, c: Candidate, n: int) -> None:
    """Run one proposal's action through the toolbox; trace it; the result becomes an input."""
    assert c.action is not None
    assert ctx.tools is not None
    call = f"t{state.cycle}.{n}"
    ctx.trace.emit(
        ToolCalled(
            cycle=state.cycle,
            agent=c.agent,
            call=call,
            tool=c.action.tool,
            arguments=dict(c.action.arguments),
            candidate=c.id,
        )
    )
    allow = ctx.specs[c.agent].tools if c.agent in ctx.specs else ["*"]
    outcome = await ctx.tools.run(c.action, allow, state.tool_calls)
    state.tool_calls += 1
    settle_result(ctx, state, c, call, outcome.ok, outcome.text, outcome.ms)


def settle_result(
    ctx: CycleContext, state: CycleState, c: Candidate, call: str, ok: bool, text: str, ms: float
) -> None:
    """Trace a call's result and hand it to the next cycle as an input."""
    assert c.action is not None
    ctx.trace.emit(
        ToolResult(
            cycle=state.cycle,
            agent=c.agent,
            call=call,
            tool=c.action.tool,
            ok=ok,
            result=text if ok else None,
            error=None if ok else text,
            ms=ms,
        )
    )
    head = f"Result of {describe(c.action)}" if ok else f"Failed: {describe(c.action)}"
    ctx.inbox.receive(f"{head}: {text}", origin=f"tool:{c.action.tool}")


async def act(
    ctx: CycleContext, state: CycleState, selection: Selection, candidates: Sequence[Candidate]
) -> Candidate | None:
    """Run this cycle's actions; a call that needs a person's approval is returned instead
    (the caller pauses the run), the others run."""
    picked = chosen(ctx, selection, candidates)
    if not picked or ctx.tools is None:
        return None
    waiting = [c for c in picked if c.action is not None and ctx.tools.needs_confirm(c.action)]
    ready = [c for c in picked if c not in waiting]
    await asyncio.gather(*(run_action(ctx, state, c, i) for i, c in enumerate(ready, 1)))
    return waiting[0] if waiting else None


def candidate_from(data: dict[str, Any]) -> Candidate:
    """A `Candidate` from its JSON form (a pending approval, a checkpoint)."""
    d = dict(data)
    action = d.pop("action", None)
    return Candidate(
        **d, action=Action(action["tool"], dict(action["arguments"])) if action else None
    )
