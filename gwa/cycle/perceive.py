"""Perceive: take the inputs, open the cycle, build the broadcast S_t and recall memories."""

from __future__ import annotations

from dataclasses import replace

from gwa.agents.roles import QueriesOut
from gwa.cycle.context import CycleContext
from gwa.cycle.judge import JudgedRetriever
from gwa.cycle.state import CycleState, Provenance
from gwa.events import BroadcastSent, CycleStart, EntryView, MemoryRetrieve, Recalled
from gwa.memory import NullRetriever, Signals, make_entry
from gwa.selection import novelty
from gwa.types import Broadcast, Memory, Phase, Request


async def perceive(ctx: CycleContext, state: CycleState) -> Broadcast:
    """Inputs join working memory; ``cycle.start``; S_t with the recalled memories;
    ``broadcast``."""
    t = state.cycle
    received = ctx.inbox.drain_inputs()
    inputs = [text for text, _ in received]
    for i, (text, origin) in enumerate(received, 1):
        entry = make_entry(f"i{t}.{i}", t, "input", "input", text, origin)
        ctx.memory.add(entry)
        state.provenance[entry.id] = Provenance("input", (), Signals(), text)
    notes, state.notes = state.notes, []
    state.temperature = ctx.temperature.temperature()
    ctx.trace.emit(
        CycleStart(
            cycle=t,
            temperature=state.temperature,
            inputs=inputs,
            notes=notes,
            working_memory_tokens=ctx.memory.tokens,
        )
    )
    b = Broadcast(
        ctx.run_id,
        t,
        ctx.goal,
        ctx.scenario.identity,
        ctx.memory.entries,
        state.last_winner,
        tuple(inputs + notes),
    )
    if state.withhold > 0:  # the perspective step withholds the content the loop feeds on
        state.withhold -= 1
        kept = tuple(e for e in b.working_memory if e.kind != "thought")
        b = replace(b, winner=None, working_memory=kept)
    b = await recall(ctx, state, b)
    ctx.trace.emit(
        BroadcastSent(
            cycle=t,
            working_memory=[
                EntryView(id=e.id, kind=e.kind, author=e.author, text=e.text, tokens=e.tokens)
                for e in b.working_memory
            ],
            tokens=ctx.memory.tokens,
            winner=b.winner.id if b.winner else None,
            inputs=list(b.inputs),
            memories=[m.id for m in b.memories],
        )
    )
    return b


async def recall(ctx: CycleContext, state: CycleState, b: Broadcast) -> Broadcast:
    """Long-term memories for the broadcast: for attention's queries, or (with no attention
    agent) for the goal, the last winner and the inputs; for novelty after a requery step."""
    if state.requery:
        state.requery = False
        return await _novel_recall(ctx, b)
    agents = ctx.by_phase[Phase.ATTEND]
    if agents:
        request = Request(Phase.ATTEND, b, 0.0)
        results = await ctx.ask(state, Phase.ATTEND, request, agents, QueriesOut)
        queries = [q for _, out in results for q in out.queries]
    elif isinstance(ctx.retriever, NullRetriever):
        return b
    else:
        queries = [ctx.goal, *([b.winner.text] if b.winner else []), *b.inputs]
    k = ctx.scenario.workspace.memory_k
    memories = await ctx.retriever.retrieve(queries, k=k) if queries and k else ()
    ctx.trace.emit(MemoryRetrieve(cycle=b.cycle, queries=queries, memories=_recalled(memories)))
    if isinstance(ctx.retriever, JudgedRetriever) and ctx.retriever.last is not None:
        _trace_judge(ctx, b.cycle, ctx.retriever)
    return replace(b, memories=memories)


def _trace_judge(ctx: CycleContext, cycle: int, judged: JudgedRetriever) -> None:
    """The judge's second round (or why it had none to offer) as a ``judged`` retrieval."""
    verdict = judged.last
    if verdict is None or (verdict.enough and verdict.error is None):
        return
    queries, found = list(verdict.queries), _recalled(judged.requeried)
    if verdict.error is None:
        event = MemoryRetrieve(cycle=cycle, mode="judged", queries=queries, memories=found)
    else:  # error only when there is one: traces without a judge keep their fields
        event = MemoryRetrieve(
            cycle=cycle, mode="judged", queries=queries, memories=found, error=verdict.error
        )
    ctx.trace.emit(event)


async def _novel_recall(ctx: CycleContext, b: Broadcast) -> Broadcast:
    """The deadlock step 'requery': recall for the goal, keeping what working memory lacks."""
    k = max(1, ctx.scenario.workspace.memory_k)
    found = await ctx.retriever.retrieve([ctx.goal], k=3 * k)
    context = [e.text for e in ctx.memory.entries]
    memories = tuple(sorted(found, key=lambda m: -novelty(m.text, context))[:k])
    ctx.trace.emit(
        MemoryRetrieve(
            cycle=b.cycle, mode="novelty", queries=[ctx.goal], memories=_recalled(memories)
        )
    )
    return replace(b, memories=memories)


def _recalled(memories: tuple[Memory, ...]) -> list[Recalled]:
    return [Recalled(id=m.id, score=m.score, text=m.text) for m in memories]
