"""Deliberate: generators propose candidate thoughts, critics score them."""

from __future__ import annotations

from gwa.agents.roles import CandidatesOut, CritiquesOut
from gwa.cycle.context import CycleContext
from gwa.cycle.state import CycleState
from gwa.events import CritiqueGiven, Proposal
from gwa.types import Action, Broadcast, Candidate, Critique, Phase, Request


async def deliberate(
    ctx: CycleContext, state: CycleState, b: Broadcast
) -> tuple[list[Candidate], list[Critique]]:
    """The cycle's candidates and their critiques (none without candidates)."""
    candidates = await propose(ctx, state, b)
    critiques = await review(ctx, state, b, candidates) if candidates else []
    return candidates, critiques


async def propose(ctx: CycleContext, state: CycleState, b: Broadcast) -> list[Candidate]:
    """Every generator answers the broadcast; each candidate gets the id ``c<cycle>.<n>``."""
    request = Request(Phase.PROPOSE, b, 0.0)
    agents = ctx.by_phase[Phase.PROPOSE]
    candidates: list[Candidate] = []
    for agent, out in await ctx.ask(state, Phase.PROPOSE, request, agents, CandidatesOut):
        for c in out.candidates:
            cid = f"c{b.cycle}.{len(candidates) + 1}"
            action = Action(c.action.tool, dict(c.action.arguments)) if c.action else None
            cand = Candidate(cid, agent.name, c.text, c.salience, c.final, action)
            candidates.append(cand)
            proposal = Proposal(
                cycle=b.cycle,
                agent=agent.name,
                candidate=cand.id,
                text=cand.text,
                salience=cand.salience,
                final=cand.final,
            )
            if action is not None:
                proposal = proposal.model_copy(
                    update={"action": {"tool": action.tool, "arguments": action.arguments}}
                )
            ctx.trace.emit(proposal)
    return candidates


async def review(
    ctx: CycleContext, state: CycleState, b: Broadcast, candidates: list[Candidate]
) -> list[Critique]:
    """Every critic scores the numbered candidates."""
    critics = ctx.by_phase[Phase.REVIEW]
    if not critics:
        return []
    request = Request(Phase.REVIEW, b, 0.0, candidates=tuple(candidates))
    critiques: list[Critique] = []
    for agent, out in await ctx.ask(state, Phase.REVIEW, request, critics, CritiquesOut):
        for c in out.critiques:
            crit = Critique(agent.name, candidates[c.candidate - 1].id, c.score, c.reason)
            critiques.append(crit)
            ctx.trace.emit(
                CritiqueGiven(
                    cycle=b.cycle,
                    agent=agent.name,
                    candidate=crit.candidate_id,
                    score=crit.score,
                    reason=crit.reason,
                )
            )
    return critiques
