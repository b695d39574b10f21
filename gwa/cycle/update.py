"""Update: the winner joins working memory; over θ it bifurcates, and what leaves (and, per
policy, the proposals that lost) is offered to long-term memory; usage credit and expiry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gwa.agents.roles import SummaryOut
from gwa.cycle.context import CycleContext
from gwa.cycle.state import CycleState, Provenance
from gwa.events import (
    LinkView,
    MemoryAdmit,
    MemoryConsolidate,
    MemoryExpire,
    MemoryReject,
    MemoryUse,
)
from gwa.memory import (
    AdmissionCandidate,
    Signals,
    cited,
    count_tokens,
    extractive_summary,
    make_entry,
    restates,
    source_of,
)
from gwa.memory.admission import question_share
from gwa.types import Broadcast, Candidate, Critique, Phase, Request, Selection


async def update(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    selection: Selection,
    candidates: Sequence[Candidate],
    critiques: Sequence[Critique],
) -> None:
    """Everything a selection changes in memory, in this order: the winner, credit for the
    memories it cited, the losing proposals offered, consolidation, expiry."""
    winner = selection.winner
    if winner is not None:
        await _take_winner(ctx, state, b, winner, critiques)
    if ctx.scenario.memory is not None and ctx.scenario.memory.offer_proposals:
        await _offer_proposals(ctx, state, b, candidates, winner, critiques)
    await consolidate(ctx, state, b)
    expired = await ctx.admission.tick(state.cycle)
    if expired:
        ctx.trace.emit(MemoryExpire(cycle=state.cycle, memories=list(expired)))


def replies_to_question(b: Broadcast) -> float:
    """How much the broadcast a thought answers asked something: the largest question share
    of the last winner and the new inputs (an admission signal: a reply to a question usually
    carries the answer)."""
    asked = [b.winner.text] if b.winner is not None else []
    return max((question_share(t) for t in [*asked, *b.inputs]), default=0.0)


def signals(
    ctx: CycleContext, b: Broadcast, c: Candidate, critiques: Sequence[Critique], *, won: bool
) -> Signals:
    """What the cycle knew about a candidate: salience, mean critic score, the drive's H."""
    scores = [x.score for x in critiques if x.candidate_id == c.id]
    h = ctx.temperature.last_entropy
    echoes = tuple(
        dict.fromkeys(
            source_of(e)
            for e in ctx.memory.entries
            if e.kind == "input" and restates(c.text, e.text)
        )
    )
    return Signals(
        salience=c.salience,
        won=1.0 if won else 0.0,
        critic=round(sum(scores) / len(scores) / 5.0, 4) if scores else 0.0,
        entropy=round(h, 4) if h is not None else 0.0,
        replies_to_question=replies_to_question(b),
        echoes=echoes,
    )


async def _take_winner(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    winner: Candidate,
    critiques: Sequence[Critique],
) -> None:
    t = state.cycle
    ctx.memory.add(make_entry(winner.id, t, winner.agent, "thought", winner.text))
    state.remember_winner(winner)
    refs = tuple(cited(winner.text, b.memories))
    state.provenance[winner.id] = Provenance(
        ctx.role_of(winner.agent), refs, signals(ctx, b, winner, critiques, won=True), winner.text
    )
    if refs:
        credited = await ctx.admission.used(refs, t)
        ctx.trace.emit(
            MemoryUse(
                cycle=t,
                agent=winner.agent,
                winner=winner.id,
                memories=list(refs),
                credited=list(credited),
            )
        )


async def _offer_proposals(
    ctx: CycleContext,
    state: CycleState,
    b: Broadcast,
    candidates: Sequence[Candidate],
    winner: Candidate | None,
    critiques: Sequence[Critique],
) -> None:
    """Offer the proposals that did not win to long-term memory (memory.offer_proposals):
    a good runner-up need not be lost because another thought won this cycle."""
    t = state.cycle
    offered = [
        AdmissionCandidate(
            make_entry(c.id, t, c.agent, "thought", c.text),
            ctx.run_id,
            "proposal",
            ctx.role_of(c.agent),
            tuple(cited(c.text, b.memories)),
            signals(ctx, b, c, critiques, won=False),
        )
        for c in candidates
        if winner is None or c.id != winner.id
    ]
    await offer(ctx, t, offered)


async def consolidate(ctx: CycleContext, state: CycleState, b: Broadcast) -> None:
    """Over θ: summarise the older entries into one (a summarizer agent, else extractively);
    the raw entries leave as admission candidates with their provenance."""
    memory = ctx.memory
    if not memory.over_budget():
        return
    old = memory.split()
    if not old:
        return
    before = memory.tokens
    text, by = None, "workspace"
    summarizers = ctx.by_phase[Phase.SUMMARIZE]
    if summarizers:
        request = Request(Phase.SUMMARIZE, b, 0.0, entries=old)
        results = await ctx.ask(state, Phase.SUMMARIZE, request, summarizers, SummaryOut)
        if results:
            text, by = results[0][1].summary, results[0][0].name
    if text is None:
        text = extractive_summary(old, memory.budget // 3)
    summary = make_entry(f"s{b.cycle}", b.cycle, by, "summary", text)
    evicted = memory.bifurcate(summary)
    ctx.trace.emit(
        MemoryConsolidate(
            cycle=b.cycle,
            agent=by,
            evicted=[e.id for e in evicted],
            summary=summary.id,
            text=memory.entries[0].text,
            tokens_before=before,
            tokens_after=memory.tokens,
        )
    )
    offered = []
    for e in evicted:
        known = state.provenance.pop(e.id, None)
        role = known.role if known else ("input" if e.kind == "input" else "")
        refs = known.cited if known else ()
        sig = known.signals if known else Signals()
        if known is not None and known.text and known.text != e.text:  # stored whole, not cut
            e = replace(e, text=known.text, tokens=count_tokens(known.text))
        offered.append(AdmissionCandidate(e, ctx.run_id, "evicted", role, refs, sig))
    await offer(ctx, b.cycle, hold_inputs(ctx, state, offered))


def hold_inputs(
    ctx: CycleContext, state: CycleState, offered: Sequence[AdmissionCandidate]
) -> list[AdmissionCandidate]:
    """With ``approval.admit_inputs``: keep inputs back (until a person decides); the rest."""
    if not ctx.scenario.approval.admit_inputs:
        return list(offered)
    state.held.extend(c for c in offered if c.entry.kind == "input")
    return [c for c in offered if c.entry.kind != "input"]


async def offer(ctx: CycleContext, cycle: int, offered: Sequence[AdmissionCandidate]) -> None:
    """Let admission decide on the candidates; trace each decision with p and features."""
    if not offered:
        return
    for d in await ctx.admission.offer(offered):
        entry = d.candidate.entry
        common = {
            "cycle": cycle,
            "agent": entry.author,
            "candidate": entry.id,
            "source": d.candidate.source,
            "p": round(d.p, 4),
            "reason": d.reason,
            "text": entry.text,
            "features": dict(d.features),
        }
        if d.admitted:
            links = [LinkView(type=t, target=m) for t, m in d.links]
            ctx.trace.emit(MemoryAdmit(**common, memory_id=d.memory_id, links=links))
        else:
            ctx.trace.emit(MemoryReject(**common))
