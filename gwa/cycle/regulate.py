"""Regulate: the temperature source observes the cycle, sets the next temperature, and may
find a deadlock; the escalation step it names is applied here."""

from __future__ import annotations

from gwa.agents.prompts import perspective_note
from gwa.cycle.context import CycleContext
from gwa.cycle.state import CycleState
from gwa.drive import Deadlock
from gwa.events import DeadlockSeen, DriveUpdate
from gwa.types import Candidate, Phase


def regulate(ctx: CycleContext, state: CycleState, winner: Candidate | None) -> None:
    """``drive.update`` with each generator's temperature; ``deadlock`` and its step if any."""
    attempt, state.attempt = state.attempt, None
    regulation = ctx.temperature.update(state.cycle, winner.text if winner else attempt)
    state.temperature = regulation.temperature
    per_agent = {a.name: ctx.params(a, state)[0] for a in ctx.by_phase[Phase.PROPOSE]}
    info = {"temperature": regulation.temperature, **regulation.info}
    ctx.trace.emit(DriveUpdate(cycle=state.cycle, temperatures=per_agent, **info))
    if regulation.deadlock is not None:
        escalate(ctx, state, regulation.deadlock)


def escalate(ctx: CycleContext, state: CycleState, deadlock: Deadlock) -> None:
    """Act on the escalation step the drive chose, and trace the evidence.

    Steps: ``spike`` (the drive raised its own temperature), ``perspective`` (a lens note
    joins the next broadcast, the loop's content is withheld), ``requery`` (the next recall
    looks for novelty), ``stall`` (the run stops as stalled). Every step also starts a spell
    of inhibition of return.
    """
    drive = ctx.scenario.drive
    withhold = drive.spike_cycles if drive else 2
    if deadlock.step == "perspective":
        state.notes.append(perspective_note(state.cycle))
        state.withhold = withhold
    elif deadlock.step == "requery":
        state.requery = True
    elif deadlock.step == "stall":
        state.stalled = f"deadlock persisted through every escalation step: {deadlock.evidence}"
    recovery = drive.deadlock.recovery if drive else 3
    state.inhibit = withhold + recovery
    ctx.trace.emit(
        DeadlockSeen(
            cycle=state.cycle,
            evidence=deadlock.evidence,
            step=deadlock.step,
            level=deadlock.level,
            **deadlock.details,
        )
    )
