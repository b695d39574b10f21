"""The loop: one cycle is perceive → deliberate → compete → update → regulate; the run goes
on until an answer (unless idle), a stop condition, or the wall clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict

from gwa.agents.roles import ResponseOut
from gwa.cycle.act import act, describe
from gwa.cycle.approval import ask, ask_admit, await_person, give, save, settle
from gwa.cycle.compete import compete
from gwa.cycle.context import CycleContext
from gwa.cycle.deliberate import deliberate
from gwa.cycle.perceive import perceive
from gwa.cycle.regulate import regulate
from gwa.cycle.state import CycleState, Outcome, Status
from gwa.cycle.update import update
from gwa.types import Broadcast, Candidate, Phase, Request, Selection

Stop = tuple[Status, str]


async def run_cycle(ctx: CycleContext, state: CycleState) -> Selection:
    """One whole cycle (``state.cycle`` is the cycle to run); the winner's action runs
    unless it answers (one that needs a person's approval pauses the run)."""
    b = await perceive(ctx, state)
    candidates, critiques = await deliberate(ctx, state, b)
    selection = await compete(ctx, state, b, candidates, critiques)
    await update(ctx, state, b, selection, candidates, critiques)
    if selection.tag != "RESPOND":
        waiting = await act(ctx, state, selection, candidates)
        if waiting is not None and waiting.action is not None:
            what = describe(waiting.action)
            ask(ctx, state, "tool", f"Run {what}?", what, candidate=asdict(waiting))
    regulate(ctx, state, selection.winner)
    return selection


async def run_cycles(ctx: CycleContext, state: CycleState) -> Outcome:
    """Cycle until an answer (unless idle) or a stop condition; answer from the workspace at
    the end when the scenario says ``final_answer: always``."""
    ws = ctx.scenario.workspace
    start = time.monotonic()
    stop: Stop = ("max_cycles", "")
    try:
        async with asyncio.timeout(ws.wall_clock_s):
            stop = await _cycle_until_stop(ctx, state)
    except TimeoutError:
        stop = ("timeout", f"wall clock of {ws.wall_clock_s:g} s reached")
    status, reason = stop
    if (
        status in ("max_cycles", "budget")
        and not state.outputs
        and ws.final_answer == "always"
        and state.last_winner is not None
    ):
        if await respond(ctx, state, state.last_winner):
            status, reason = "answered", f"{reason}; answered from the workspace (final_answer)"
        else:  # the final answer awaits a person
            save(ctx, state)
            status, reason = "paused", "waiting for a person: Give this answer?"
    return state.outcome(status, reason, time.monotonic() - start)


async def _cycle_until_stop(ctx: CycleContext, state: CycleState) -> Stop:
    if state.cycle > 0:  # resumed: a pending question first; it may have stopped for good
        stop = await settle(ctx, state) or stop_condition(ctx, state)
        if stop is not None:
            return stop
    while True:
        state.cycle += 1
        stop = await _one_cycle(ctx, state)
        if stop is not None:
            return stop
        if idling(ctx):
            await idle_wait(ctx)
            if ctx.inbox.stop_reason is not None:
                return "stopped", ctx.inbox.stop_reason


async def _one_cycle(ctx: CycleContext, state: CycleState) -> Stop | None:
    """One cycle, its answer (or the question about it), the checkpoint, a pause."""
    selection = await run_cycle(ctx, state)
    answered = False
    if selection.winner is not None and selection.tag == "RESPOND":
        answered = await respond(ctx, state, selection.winner)
    ask_admit(ctx, state)
    save(ctx, state)
    if state.pending is not None:
        stop = await await_person(ctx, state)
        if stop is not None:
            return stop
    elif answered and not idling(ctx):
        return "answered", f"{selection.policy} tagged RESPOND"
    return stop_condition(ctx, state)


def stop_condition(ctx: CycleContext, state: CycleState) -> Stop | None:
    """Why the run stops after this cycle, if it does: stalled, stopped, max cycles, budget."""
    ws = ctx.scenario.workspace
    if state.stalled is not None:
        return "stalled", state.stalled
    if ctx.inbox.stop_reason is not None:
        return "stopped", ctx.inbox.stop_reason
    if state.cycle >= ws.max_cycles:
        return "max_cycles", f"max_cycles={ws.max_cycles} reached"
    budget = ws.token_budget
    if budget is not None and state.usage.total >= budget:
        return "budget", f"token budget {budget} used ({state.usage.total})"
    return None


def idling(ctx: CycleContext) -> bool:
    """Whether the run thinks on after an answer: the scenario's idle setting, unless an
    ``idle`` message on the control topic switched it."""
    switched = ctx.inbox.idle
    return ctx.scenario.workspace.idle.enabled if switched is None else switched


async def idle_wait(ctx: CycleContext) -> None:
    """In idle mode: pause for the interval, or until an input or a stop arrives."""
    if ctx.inbox.has_input:
        return
    ctx.inbox.wake.clear()
    try:
        async with asyncio.timeout(ctx.scenario.workspace.idle.interval_s):
            await ctx.inbox.wake.wait()
    except TimeoutError:
        pass


async def respond(ctx: CycleContext, state: CycleState, winner: Candidate) -> bool:
    """The responder writes the answer from the workspace (else the winner is the answer);
    it is given (``response``, the output topic), or, with ``approval.respond``, put to a
    person first. Whether it was given."""
    responders = ctx.by_phase[Phase.RESPOND]
    answer, by = winner.text, winner.agent
    if responders:
        s = ctx.scenario
        b = Broadcast(ctx.run_id, state.cycle, ctx.goal, s.identity, ctx.memory.entries, winner)
        request = Request(Phase.RESPOND, b, 0.0)
        results = await ctx.ask(state, Phase.RESPOND, request, responders, ResponseOut)
        if results:
            answer, by = results[0][1].answer, results[0][0].name
    if ctx.scenario.approval.respond:
        ask(ctx, state, "respond", "Give this answer?", answer, agent=by, winner=winner.id)
        return False
    await give(ctx, state, answer, by, winner.id)
    return True
