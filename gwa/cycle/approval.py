"""Approval points: where a run checkpoints, stops and asks a person (scenario ``approval:``).

Before an answer is given (``respond``) and before inputs enter long-term memory
(``admit_inputs``), the run records the question in `CycleState.pending`, traces ``run.pause``,
checkpoints, and waits up to ``approval.wait_s`` for a decision on its control topic; without
one it stops as ``paused``. A decision (from the control topic, ``ws.resume(run, decision)``
or ``gwa runs approve|reject``) is applied by `settle`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from gwa.cycle.act import candidate_from, run_action, settle_result
from gwa.cycle.context import CycleContext
from gwa.cycle.state import CycleState, Decision, Status
from gwa.cycle.update import offer
from gwa.events import MemoryReject, ResponseGiven, RunPause, RunResume
from gwa.types import Action

Stop = tuple[Status, str]


def ask(
    ctx: CycleContext, state: CycleState, point: str, question: str, text: str, **extra: Any
) -> None:
    """Record the question the run waits on and trace ``run.pause``."""
    state.pending = {
        "point": point,
        "question": question,
        "text": text,
        "cycle": state.cycle,
        **extra,
    }
    ctx.trace.emit(RunPause(cycle=state.cycle, point=point, question=question, text=text))


def ask_admit(ctx: CycleContext, state: CycleState) -> None:
    """Ask about the held inputs (when there are any and nothing else is pending)."""
    if state.pending is None and state.held:
        texts = "\n".join(f"- {c.entry.text}" for c in state.held)
        ask(ctx, state, "admit", f"Store {len(state.held)} input(s) in long-term memory?", texts)


async def give(ctx: CycleContext, state: CycleState, answer: str, by: str, winner: str) -> None:
    """The answer is given: ``response`` and the output topic."""
    state.outputs.append(answer)
    ctx.trace.emit(ResponseGiven(cycle=state.cycle, agent=by, answer=answer, winner=winner))
    await ctx.inbox.publish_output(answer, state.cycle)


def save(ctx: CycleContext, state: CycleState) -> None:
    """Checkpoint (when the run has a checkpointer)."""
    if ctx.checkpoint is not None:
        ctx.checkpoint(ctx, state)


async def await_person(ctx: CycleContext, state: CycleState) -> Stop | None:
    """Wait up to ``approval.wait_s`` for a decision on the control topic and apply it;
    without one the run stops as paused."""
    wait_s = ctx.scenario.approval.wait_s
    if wait_s > 0 and ctx.decision is None:
        try:
            async with asyncio.timeout(wait_s):
                await ctx.inbox.decided.wait()
        except TimeoutError:
            pass
    return await settle(ctx, state)


async def settle(ctx: CycleContext, state: CycleState) -> Stop | None:
    """Apply a decision to the pending question; how the run goes on (None: cycle on)."""
    pending = state.pending
    if pending is None:
        return None
    live = ctx.decision is None
    decision = ctx.decision or ctx.inbox.take_decision()
    ctx.decision = None
    if decision is None:
        return "paused", f"waiting for a person: {pending['question']}"
    if live:
        ident = f"{ctx.run_id}@{state.cycle}"
        ctx.trace.emit(RunResume(cycle=state.cycle, checkpoint=ident, decision=decision.verdict))
    state.pending = None
    stop = None
    if pending["point"] == "respond":
        stop = await _answer(ctx, state, pending, decision)
    elif pending["point"] == "tool":
        await _tool(ctx, state, pending, decision)
    else:
        await _inputs(ctx, state, decision)
    ask_admit(ctx, state)
    save(ctx, state)
    if state.pending is not None:
        return await await_person(ctx, state)
    return stop


async def _answer(
    ctx: CycleContext, state: CycleState, pending: dict[str, Any], d: Decision
) -> Stop | None:
    if d.verdict == "reject":
        reason = f": {d.text}" if d.text else ""
        ctx.inbox.receive(f"A person rejected the answer{reason}. Think again.", origin="person")
        return None
    text = d.text if d.verdict == "edit" and d.text else pending["text"]
    await give(ctx, state, text, pending["agent"], pending["winner"])
    if ctx.inbox.idle or (ctx.inbox.idle is None and ctx.scenario.workspace.idle.enabled):
        return None
    return "answered", "approved by a person" if d.verdict == "approve" else "edited by a person"


async def _tool(ctx: CycleContext, state: CycleState, pending: dict[str, Any], d: Decision) -> None:
    """Approved: the call runs (``edit``: with the person's JSON arguments); rejected: its
    result says so."""
    c = candidate_from(pending["candidate"])
    if d.verdict == "reject":
        call = f"t{state.cycle}.0"
        reason = f"rejected by a person{': ' + d.text if d.text else ''}"
        settle_result(ctx, state, c, call, False, reason, 0.0)
        return
    if d.verdict == "edit" and d.text and c.action is not None:
        try:
            arguments = json.loads(d.text)
        except ValueError:
            arguments = None
        if isinstance(arguments, dict):
            c = replace(c, action=Action(c.action.tool, arguments))
    await run_action(ctx, state, c, 0)


async def _inputs(ctx: CycleContext, state: CycleState, d: Decision) -> None:
    held, state.held = state.held, []
    if d.verdict != "reject":
        await offer(ctx, state.cycle, held)
        return
    for c in held:
        ctx.trace.emit(
            MemoryReject(
                cycle=state.cycle,
                agent=c.entry.author,
                candidate=c.entry.id,
                source=c.source,
                p=0.0,
                reason=f"rejected by a person{': ' + d.text if d.text else ''}",
                text=c.entry.text,
                features={},
            )
        )
