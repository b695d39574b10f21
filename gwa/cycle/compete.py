"""Compete: inhibition of return, then the selection policy picks one winner and tags it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from gwa.agents.roles import ChoiceOut
from gwa.cycle.context import CycleContext
from gwa.cycle.state import CycleState
from gwa.events import SelectionInhibit, SelectionMade
from gwa.selection import novelty, select_by_score, shortlist
from gwa.types import Broadcast, Candidate, Critique, Phase, Request, Selection


async def compete(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    candidates: list[Candidate],
    critiques: list[Critique],
) -> Selection:
    """The cycle's selection, traced as ``selection`` (with every score)."""
    selection = await select(ctx, state, b, candidates, critiques)
    state.inhibit = max(0, state.inhibit - 1)
    winner = selection.winner
    ctx.trace.emit(
        SelectionMade(
            cycle=b.cycle,
            agent=winner.agent if winner else None,
            policy=selection.policy,
            winner=winner.id if winner else None,
            text=winner.text if winner else None,
            tag=selection.tag,
            scores=selection.scores,
            reason=selection.reason,
        )
    )
    return selection


def inhibition_active(ctx: CycleContext, state: CycleState) -> bool:
    """Whether near-copies of recent winners are kept from winning this cycle."""
    drive = ctx.scenario.drive
    mode = drive.inhibition if drive and drive.enabled else "off"
    return mode == "always" or (mode == "deadlock" and state.inhibit > 0)


async def select(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    candidates: list[Candidate],
    critiques: list[Critique],
) -> Selection:
    """Apply inhibition of return, then the scenario's policy (score, arbiter or hybrid)."""
    policy = ctx.scenario.selection
    if not candidates:
        return Selection(policy.policy, None, "THINK_MORE", {}, "no candidates")
    if inhibition_active(ctx, state) and state.recent:
        offered = candidates
        candidates = inhibit_repeats(ctx, state, candidates)
        if not candidates:
            # What the workspace tried to broadcast still tells the drive it is looping.
            state.attempt = max(offered, key=lambda c: c.salience).text
            reason = "every candidate repeats a recent winner (inhibition of return in a deadlock)"
            return Selection(policy.policy, None, "THINK_MORE", {}, reason)
    context = [e.text for e in ctx.memory.entries]
    scored = select_by_score(
        candidates,
        critiques,
        context,
        threshold=policy.threshold,
        margin=policy.margin,
        respond_min_score=policy.respond_min_score,
    )
    return await POLICIES[policy.policy](ctx, state, b, candidates, critiques, scored)


Policy = Callable[
    [CycleContext, CycleState, Broadcast, list[Candidate], list[Critique], Selection],
    Awaitable[Selection],
]
"""A selection policy: given the cycle's candidates, critiques and the score policy's choice
(``scored``, with every score), the selection. Adding one: a function here, its name in
`POLICIES` and in `gwa.scenario.spec.SelectionSpec.policy`."""


async def by_score(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    candidates: list[Candidate],
    critiques: list[Critique],
    scored: Selection,
) -> Selection:
    """``score``: salience × critic × novelty, with the entry threshold and winning margin."""
    return scored


async def by_arbiter(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    candidates: list[Candidate],
    critiques: list[Critique],
    scored: Selection,
) -> Selection:
    """``arbiter``: an LLM meta role chooses among all candidates and tags the winner."""
    return await _arbitrate(ctx, state, b, candidates, critiques, scored)


async def hybrid(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    candidates: list[Candidate],
    critiques: list[Critique],
    scored: Selection,
) -> Selection:
    """``hybrid``: the score shortlists, the arbiter chooses among the shortlist."""
    spec = ctx.scenario.selection
    pool = shortlist(candidates, scored.scores, size=spec.shortlist, threshold=spec.threshold)
    if not pool:
        return replace(scored, policy=spec.policy)
    return await _arbitrate(ctx, state, b, pool, critiques, scored)


POLICIES: dict[str, Policy] = {"score": by_score, "arbiter": by_arbiter, "hybrid": hybrid}
"""Selection policies by the name a scenario gives."""


async def _arbitrate(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    pool: list[Candidate],
    critiques: Sequence[Critique],
    scored: Selection,
) -> Selection:
    """The arbiter chooses among ``pool`` and tags it; without a valid choice, the score does."""
    policy = ctx.scenario.selection.policy
    ids = {c.id for c in pool}
    request = Request(
        Phase.SELECT,
        b,
        0.0,
        candidates=tuple(pool),
        critiques=tuple(c for c in critiques if c.candidate_id in ids),
    )
    arbiters = ctx.by_phase[Phase.SELECT]
    results = await ctx.ask(state, Phase.SELECT, request, arbiters, ChoiceOut)
    if results:
        agent, out = results[0]
        reason = f"{agent.name}: {out.reason}".strip()
        return Selection(policy, pool[out.winner - 1], out.tag, scored.scores, reason)
    return replace(
        scored,
        policy=policy,
        reason=f"no valid arbiter choice; fell back to the score policy ({scored.reason})",
    )


def plain(text: str) -> str:
    """A text as near-copy detection compares it: lower case, words only ("...This is fun!"
    and "this is fun" are the same thought)."""
    return " ".join(re.findall(r"[\w'’]+", text.lower()))


def inhibit_repeats(
    ctx: CycleContext, state: CycleState, candidates: list[Candidate]
) -> list[Candidate]:
    """Inhibition of return: a near-copy of a recent winner (the drive's window) may not win
    again (cosine ≥ δ with the drive's embedder, else word overlap)."""
    delta = ctx.scenario.drive.deadlock.similarity if ctx.scenario.drive else 0.9
    recent = [plain(t) for t in state.recent]
    texts = [plain(c.text) for c in candidates]
    embedder = ctx.temperature.embedder
    if embedder is not None:
        vecs = embedder.embed([*recent, *texts])
        past, now = vecs[: len(recent)], vecs[len(recent) :]
        sims = [float((past @ v).max()) for v in now]
    else:
        sims = [1.0 - novelty(t, recent) for t in texts]
    kept = [c for c, sim in zip(candidates, sims, strict=True) if sim < delta]
    if len(kept) < len(candidates):
        ctx.trace.emit(
            SelectionInhibit(
                cycle=state.cycle,
                inhibited=[c.id for c, s in zip(candidates, sims, strict=True) if s >= delta],
                similarity=[round(x, 4) for x in sims],
                recent_winners=len(recent),
            )
        )
    return kept
