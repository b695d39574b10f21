"""The cycle as phases over plain per-run state.

One cycle: `perceive` (inputs, S_t, recall) → `deliberate` (propose, review) → `compete`
(inhibition of return, the selection policy) → `update` (working memory, consolidation,
admission) → `regulate` (the drive, escalation). `run_cycles` loops them until a stop
condition. Each phase is a function of the run's `CycleContext` (what stays fixed) and its
`CycleState` (what changes, as plain data).
"""

from gwa.cycle.context import CycleContext
from gwa.cycle.inbox import Inbox
from gwa.cycle.loop import respond, run_cycle, run_cycles, stop_condition
from gwa.cycle.state import CycleState, Decision, Outcome, Provenance, Status

__all__ = [
    "CycleContext",
    "CycleState",
    "Decision",
    "Inbox",
    "Outcome",
    "Provenance",
    "Status",
    "respond",
    "run_cycle",
    "run_cycles",
    "stop_condition",
]
