"""One run of cycles: perceive → broadcast → propose → review → compete → update → regulate.

Each phase is a scatter-gather over the bus (`gwa.hub`): all agents of a phase act at once and
the phase waits at most the deadline. Trace events are written in the scenario's agent order,
not in order of arrival, so a replayed run writes the same events as the recorded one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from gwa.agents.agent import Agent
from gwa.broadcast import Bus, Sender, Subscription, Topics
from gwa.drive import Deadlock, TemperatureSource, clamp
from gwa.hub import Hub
from gwa.memory import (
    AdmissionCandidate,
    AdmissionSink,
    NullRetriever,
    Retriever,
    WorkingMemory,
    cited,
    extractive_summary,
    make_entry,
)
from gwa.memory.admission import question_share
from gwa.scenario import AgentSpec, Scenario
from gwa.selection import novelty, select_by_score, shortlist
from gwa.trace import TraceWriter
from gwa.types import (
    Broadcast,
    Candidate,
    Critique,
    Phase,
    Request,
    RunId,
    Selection,
    Usage,
)

# Escalation step 'perspective': this note joins the next broadcast, and for the next
# `drive.spike_cycles` broadcasts the last winner and the raw thoughts are withheld (agents
# that copy what they see cannot copy the loop).
PERSPECTIVES = (
    "as someone who disagrees with everything said so far",
    "as a child who would use the result",
    "with almost no money to spend",
    "looking ten years ahead",
    "by asking what could go wrong",
    "as a visitor from another country",
)


def perspective_note(cycle: int) -> str:
    """The perspective prompt: a concrete lens (chosen by cycle, so replays match)."""
    lens = PERSPECTIVES[cycle % len(PERSPECTIVES)]
    return (
        f"[workspace] The last thoughts repeat each other. Think about the goal {lens}, and "
        "propose something clearly different from everything in working memory."
    )


class RunState:
    """Inputs waiting to be perceived and stop requests, fed from the input and control topics."""

    def __init__(self, bus: Bus, topics: Topics, sender: Sender) -> None:
        self._bus = bus
        self._topics = topics
        self._sender = sender
        self.sender = sender
        self._inputs: list[str] = []
        self.stop_reason: str | None = None
        self.wake = asyncio.Event()
        self._subs: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.present: dict[str, str] = {}
        """Remote agents that joined over the bus: agent name → worker id."""
        self.presence: list[tuple[str, str, str]] = []
        """Joins and leaves not yet traced: (agent, "join" | "leave", detail)."""
        self.joined = asyncio.Event()

    async def start(self) -> None:
        """Listen to the input and control topics."""
        for topic, fn in (
            (self._topics.input, self._on_input),
            (self._topics.control, self._on_control),
        ):
            sub = self._bus.subscribe(topic)
            self._subs.append(sub)
            self._tasks.append(asyncio.create_task(self._listen(sub, fn)))

    @staticmethod
    async def _listen(sub: Subscription, fn: Any) -> None:
        async for envelope in sub:
            fn(envelope.kind, envelope.payload)

    def _on_input(self, kind: str, payload: dict[str, Any]) -> None:
        text = payload.get("text")
        if kind == "input" and isinstance(text, str) and text.strip():
            self._inputs.append(text.strip())
            self.wake.set()

    def _on_control(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "stop":
            self.request_stop(str(payload.get("reason") or "stop requested on the control topic"))
        agent, worker = str(payload.get("agent", "")), str(payload.get("worker", ""))
        if kind == "join" and agent:
            self.present[agent] = worker
            self.presence.append((agent, "join", f"worker {worker} joined"))
            self.joined.set()
        elif kind == "leave" and agent and self.present.get(agent) == worker:
            del self.present[agent]
            self.presence.append((agent, "leave", str(payload.get("reason", "left"))))

    def mark_absent(self, agent: str, reason: str) -> None:
        """Stop asking a remote agent until it joins again."""
        if self.present.pop(agent, None) is not None:
            self.presence.append((agent, "leave", reason))

    async def submit(self, text: str) -> None:
        """Publish an input on the run's input topic."""
        await self._bus.publish(self._sender.envelope(self._topics.input, "input", {"text": text}))

    def request_stop(self, reason: str) -> None:
        """Stop after the current cycle (the first reason given is kept)."""
        self.stop_reason = self.stop_reason or reason
        self.wake.set()

    async def publish_output(self, answer: str, cycle: int) -> None:
        """Publish a response on the run's output topic."""
        envelope = self._sender.envelope(self._topics.output, "output", {"answer": answer}, cycle)
        await self._bus.publish(envelope)

    def drain_inputs(self) -> list[str]:
        """Take every input received so far."""
        taken, self._inputs = self._inputs, []
        return taken

    @property
    def has_input(self) -> bool:
        """Whether inputs are waiting."""
        return bool(self._inputs)

    async def stop(self) -> None:
        """Stop listening."""
        for sub in self._subs:
            await sub.close()
        await asyncio.gather(*self._tasks)


Status = Literal["answered", "max_cycles", "budget", "timeout", "stopped", "stalled"]
"""How a run ended."""


def replies_to_question(b: Broadcast) -> float:
    """How much the broadcast a thought answers asked something: the largest question share
    of the last winner and the new inputs (an admission signal: a reply to a question usually
    carries the answer)."""
    asked = [b.winner.text] if b.winner is not None else []
    return max((question_share(t) for t in [*asked, *b.inputs]), default=0.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run of cycles ended."""

    status: Status
    reason: str
    answer: str | None
    outputs: tuple[str, ...]
    cycles: int
    usage: Usage
    duration_s: float


class CycleRunner:
    """Runs the cycles of one run."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        goal: str,
        agents: Sequence[Agent],
        hub: Hub,
        trace: TraceWriter,
        state: RunState,
        memory: WorkingMemory,
        temperature: TemperatureSource,
        retriever: Retriever,
        admission: AdmissionSink,
        remote: Sequence[str] = (),
    ) -> None:
        self.s = scenario
        self.remote = set(remote)
        self.ws = scenario.workspace
        self.goal = goal
        self.hub = hub
        self.trace = trace
        self.state = state
        self.memory = memory
        self.temperature = temperature
        self.retriever = retriever
        self.admission = admission
        self.run_id = RunId(trace.run)
        self.withhold_cycles = scenario.drive.spike_cycles if scenario.drive else 2
        self.specs: dict[str, AgentSpec] = {a.name: a for a in scenario.agents}
        self.by_phase: dict[Phase, list[Agent]] = {p: [] for p in Phase}
        for agent in agents:
            self.by_phase[agent.role.phase].append(agent)
        self.usage = Usage()
        self.last_winner: Candidate | None = None
        self.outputs: list[str] = []
        self._cycle_temperature = temperature.temperature()
        self._requests = 0
        self._notes: list[str] = []
        self._withhold = 0
        self._inhibit = 0
        self._attempt: str | None = None
        window = scenario.drive.window if scenario.drive else 4
        self._recent: deque[str] = deque(maxlen=window)
        self._requery = False
        self.stalled: str | None = None
        self._provenance: dict[str, tuple[str, tuple[str, ...], dict[str, float]]] = {}
        self.offer_proposals = bool(scenario.memory and scenario.memory.offer_proposals)

    def _params(self, agent: Agent) -> tuple[float, int]:
        spec = self.specs.get(agent.name)
        low, high = spec.temperature_bounds if spec else (0.0, 2.0)
        if spec is not None and spec.temperature is not None:
            t = spec.temperature
        elif agent.role.output == "candidates":
            t = self._cycle_temperature
        else:
            t = self.ws.role_temperature
        max_tokens = spec.max_tokens if spec and spec.max_tokens else self.ws.max_tokens
        return round(clamp(t, low, high), 4), max_tokens

    def _trace_calls(self, cycle: int, agent: str, calls: Sequence[dict[str, Any]]) -> None:
        for call in calls:
            self.usage += Usage(call["prompt_tokens"], call["completion_tokens"])
            self.trace.emit(
                "model.call",
                cycle=cycle,
                agent=agent,
                provider=call["model"].partition(":")[0],
                model=call["model"],
                temperature=call["temperature"],
                max_tokens=call["max_tokens"],
                tokens_in=call["prompt_tokens"],
                tokens_out=call["completion_tokens"],
                latency_ms=round(call["latency_ms"], 2),
                attempt=call["attempt"],
                ok=call["ok"],
                error=call["error"],
            )

    async def _phase(
        self, phase: Phase, request: Request, agents: Sequence[Agent]
    ) -> list[tuple[Agent, dict[str, Any]]]:
        """Ask the agents of a phase; trace calls and failures; return the valid outputs."""
        cycle = request.broadcast.cycle
        for stale in self.hub.stale:
            self._trace_calls(cycle, stale["agent"], stale.get("calls", []))
        self.hub.stale.clear()
        agents = self._present(cycle, agents)
        if not agents:
            return []
        self._requests += 1
        replies, _ = await self.hub.gather(
            f"{cycle}.{phase.value}.{self._requests}",
            request,
            {a.name: self._params(a) for a in agents},
            timeout_s=self.ws.agent_deadline_s,
            seed=self.ws.seed,
        )
        results: list[tuple[Agent, dict[str, Any]]] = []
        for agent in agents:
            reply = replies.get(agent.name)
            if reply is None and agent.name in self.remote:
                self.state.mark_absent(
                    agent.name, f"no reply within {self.ws.agent_deadline_s:g} s (cycle {cycle})"
                )
            if reply is None:
                self.trace.emit(
                    "agent.error",
                    cycle=cycle,
                    agent=agent.name,
                    phase=phase.value,
                    error_type="late",
                    error=f"no reply within {self.ws.agent_deadline_s:g} s",
                )
                continue
            self._trace_calls(cycle, agent.name, reply["calls"])
            if reply["ok"]:
                results.append((agent, reply["output"]))
            else:
                self.trace.emit(
                    "agent.error",
                    cycle=cycle,
                    agent=agent.name,
                    phase=phase.value,
                    error_type=reply["error_type"],
                    error=reply["error"],
                )
        return results

    def _present(self, cycle: int, agents: Sequence[Agent]) -> list[Agent]:
        """Trace joins and leaves; drop remote agents that are not (or no longer) present."""
        for agent, what, detail in self.state.presence:
            self.trace.emit(
                "agent.join" if what == "join" else "agent.absent",
                cycle=cycle,
                agent=agent,
                detail=detail,
            )
        self.state.presence.clear()
        return [a for a in agents if a.name not in self.remote or a.name in self.state.present]

    async def run(self) -> Outcome:
        """Cycle until an answer (unless idle) or a stop condition."""
        start = time.monotonic()
        status: Status = "max_cycles"
        reason, cycle = "", 0
        try:
            async with asyncio.timeout(self.ws.wall_clock_s):
                while True:
                    cycle += 1
                    selection = await self._cycle(cycle)
                    if selection.winner is not None and selection.tag == "RESPOND":
                        await self._respond(cycle, selection.winner)
                        if not self.ws.idle.enabled:
                            status, reason = "answered", f"{selection.policy} tagged RESPOND"
                            break
                    if self.stalled is not None:
                        status, reason = "stalled", self.stalled
                        break
                    stop = self._stop_condition(cycle)
                    if stop is not None:
                        status, reason = stop
                        break
                    if self.ws.idle.enabled:
                        await self._idle_wait()
                        if self.state.stop_reason is not None:
                            status, reason = "stopped", self.state.stop_reason
                            break
        except TimeoutError:
            status, reason = "timeout", f"wall clock of {self.ws.wall_clock_s:g} s reached"
        if (
            status in ("max_cycles", "budget")
            and not self.outputs
            and self.ws.final_answer == "always"
            and self.last_winner is not None
        ):
            await self._respond(cycle, self.last_winner)
            status, reason = "answered", f"{reason}; answered from the workspace (final_answer)"
        return Outcome(
            status=status,
            reason=reason,
            answer=self.outputs[-1] if self.outputs else None,
            outputs=tuple(self.outputs),
            cycles=cycle,
            usage=self.usage,
            duration_s=time.monotonic() - start,
        )

    def _stop_condition(self, cycle: int) -> tuple[Status, str] | None:
        if self.state.stop_reason is not None:
            return "stopped", self.state.stop_reason
        if cycle >= self.ws.max_cycles:
            return "max_cycles", f"max_cycles={self.ws.max_cycles} reached"
        budget = self.ws.token_budget
        if budget is not None and self.usage.total >= budget:
            return "budget", f"token budget {budget} used ({self.usage.total})"
        return None

    async def _idle_wait(self) -> None:
        if self.state.has_input:
            return
        self.state.wake.clear()
        try:
            async with asyncio.timeout(self.ws.idle.interval_s):
                await self.state.wake.wait()
        except TimeoutError:
            pass

    async def _cycle(self, t: int) -> Selection:
        inputs = self.state.drain_inputs()
        for i, text in enumerate(inputs, 1):
            self.memory.add(make_entry(f"i{t}.{i}", t, "input", "input", text))
        notes, self._notes = self._notes, []
        self._cycle_temperature = self.temperature.temperature()
        self.trace.emit(
            "cycle.start",
            cycle=t,
            temperature=self._cycle_temperature,
            inputs=inputs,
            notes=notes,
            working_memory_tokens=self.memory.tokens,
        )
        b = Broadcast(
            self.run_id,
            t,
            self.goal,
            self.s.identity,
            self.memory.entries,
            self.last_winner,
            tuple(inputs + notes),
        )
        if self._withhold > 0:  # inhibition of return: withhold the content the loop feeds on
            self._withhold -= 1
            kept = tuple(e for e in b.working_memory if e.kind != "thought")
            b = replace(b, winner=None, working_memory=kept)
        b = await self._perceive(b)
        self.trace.emit(
            "broadcast",
            cycle=t,
            working_memory=[
                {"id": e.id, "kind": e.kind, "author": e.author, "text": e.text, "tokens": e.tokens}
                for e in b.working_memory
            ],
            tokens=self.memory.tokens,
            winner=b.winner.id if b.winner else None,
            inputs=list(b.inputs),
            memories=[m.id for m in b.memories],
        )
        candidates = await self._propose(b)
        critiques = await self._review(b, candidates) if candidates else []
        selection = await self._select(b, candidates, critiques)
        self._inhibit = max(0, self._inhibit - 1)
        winner = selection.winner
        self.trace.emit(
            "selection",
            cycle=t,
            agent=winner.agent if winner else None,
            policy=selection.policy,
            winner=winner.id if winner else None,
            text=winner.text if winner else None,
            tag=selection.tag,
            scores=selection.scores,
            reason=selection.reason,
        )
        if winner is not None:
            self.memory.add(make_entry(winner.id, t, winner.agent, "thought", winner.text))
            self.last_winner = winner
            self._recent.append(winner.text)
            refs = tuple(cited(winner.text, b.memories))
            self._provenance[winner.id] = (
                self._role_of(winner.agent),
                refs,
                {
                    "salience": winner.salience,
                    "won": 1.0,
                    "replies_to_question": replies_to_question(b),
                    **self._signals(winner, critiques),
                },
            )
            if refs:
                credit = getattr(self.admission, "used", None)
                credited = await credit(refs, t) if credit is not None else []
                self.trace.emit(
                    "memory.use",
                    cycle=t,
                    agent=winner.agent,
                    winner=winner.id,
                    memories=list(refs),
                    credited=list(credited),
                )
        if self.offer_proposals:
            await self._offer_proposals(t, b, candidates, winner, critiques)
        await self._consolidate(b)
        tick = getattr(self.admission, "tick", None)
        expired = await tick(t) if tick is not None else []
        if expired:
            self.trace.emit("memory.expire", cycle=t, memories=list(expired))
        self._regulate(t, winner)
        return selection

    def _regulate(self, t: int, winner: Candidate | None) -> None:
        attempt, self._attempt = self._attempt, None
        regulation = self.temperature.update(t, winner.text if winner else attempt)
        self._cycle_temperature = regulation.temperature
        per_agent = {a.name: self._params(a)[0] for a in self.by_phase[Phase.PROPOSE]}
        self.trace.emit("drive.update", cycle=t, temperatures=per_agent, **regulation.info)
        if regulation.deadlock is not None:
            self._escalate(t, regulation.deadlock)

    def _escalate(self, t: int, deadlock: Deadlock) -> None:
        """Act on the escalation step the drive chose, and trace the evidence."""
        if deadlock.step == "perspective":
            self._notes.append(perspective_note(t))
            self._withhold = self.withhold_cycles
        elif deadlock.step == "requery":
            self._requery = True
        elif deadlock.step == "stall":
            self.stalled = f"deadlock persisted through every escalation step: {deadlock.evidence}"
        # Inhibition of return for as long as the ladder's quiet period lasts.
        recovery = self.s.drive.deadlock.recovery if self.s.drive else 3
        self._inhibit = self.withhold_cycles + recovery
        self.trace.emit(
            "deadlock",
            cycle=t,
            evidence=deadlock.evidence,
            step=deadlock.step,
            level=deadlock.level,
            **deadlock.details,
        )

    async def _perceive(self, b: Broadcast) -> Broadcast:
        if self._requery:
            self._requery = False
            return await self._novel_recall(b)
        agents = self.by_phase[Phase.ATTEND]
        if agents:
            results = await self._phase(Phase.ATTEND, Request(Phase.ATTEND, b, 0.0), agents)
            queries = [q for _, out in results for q in out["queries"]]
        elif isinstance(self.retriever, NullRetriever):
            return b
        else:
            # No attention agent: recall for the goal and for what the workspace just thought.
            queries = [self.goal, *([b.winner.text] if b.winner else []), *b.inputs]
        k = self.ws.memory_k
        memories = await self.retriever.retrieve(queries, k=k) if queries and k else ()
        self.trace.emit(
            "memory.retrieve",
            cycle=b.cycle,
            queries=queries,
            memories=[{"id": m.id, "score": m.score, "text": m.text} for m in memories],
        )
        return replace(b, memories=memories)

    async def _novel_recall(self, b: Broadcast) -> Broadcast:
        """The deadlock step 'requery': recall for the goal, keeping what working memory lacks."""
        k = max(1, self.ws.memory_k)
        found = await self.retriever.retrieve([self.goal], k=3 * k)
        context = [e.text for e in self.memory.entries]
        memories = tuple(sorted(found, key=lambda m: -novelty(m.text, context))[:k])
        self.trace.emit(
            "memory.retrieve",
            cycle=b.cycle,
            mode="novelty",
            queries=[self.goal],
            memories=[{"id": m.id, "score": m.score, "text": m.text} for m in memories],
        )
        return replace(b, memories=memories)

    async def _propose(self, b: Broadcast) -> list[Candidate]:
        results = await self._phase(
            Phase.PROPOSE, Request(Phase.PROPOSE, b, 0.0), self.by_phase[Phase.PROPOSE]
        )
        candidates: list[Candidate] = []
        for agent, out in results:
            for c in out["candidates"]:
                cand = Candidate(
                    f"c{b.cycle}.{len(candidates) + 1}",
                    agent.name,
                    c["text"],
                    c["salience"],
                    c["final"],
                )
                candidates.append(cand)
                self.trace.emit(
                    "proposal",
                    cycle=b.cycle,
                    agent=agent.name,
                    candidate=cand.id,
                    text=cand.text,
                    salience=cand.salience,
                    final=cand.final,
                )
        return candidates

    async def _review(self, b: Broadcast, candidates: list[Candidate]) -> list[Critique]:
        critics = self.by_phase[Phase.REVIEW]
        if not critics:
            return []
        request = Request(Phase.REVIEW, b, 0.0, candidates=tuple(candidates))
        critiques: list[Critique] = []
        for agent, out in await self._phase(Phase.REVIEW, request, critics):
            for c in out["critiques"]:
                crit = Critique(
                    agent.name, candidates[c["candidate"] - 1].id, c["score"], c["reason"]
                )
                critiques.append(crit)
                self.trace.emit(
                    "critique",
                    cycle=b.cycle,
                    agent=agent.name,
                    candidate=crit.candidate_id,
                    score=crit.score,
                    reason=crit.reason,
                )
        return critiques

    async def _select(
        self, b: Broadcast, candidates: list[Candidate], critiques: list[Critique]
    ) -> Selection:
        policy = self.s.selection
        if not candidates:
            return Selection(policy.policy, None, "THINK_MORE", {}, "no candidates")
        mode = self.s.drive.inhibition if self.s.drive and self.s.drive.enabled else "off"
        active = mode == "always" or (mode == "deadlock" and self._inhibit > 0)
        if active and self._recent:
            offered = candidates
            candidates = self._inhibit_repeats(b.cycle, candidates)
            if not candidates:
                # What the workspace tried to broadcast still tells the drive it is looping.
                self._attempt = max(offered, key=lambda c: c.salience).text
                return Selection(
                    policy.policy,
                    None,
                    "THINK_MORE",
                    {},
                    "every candidate repeats a recent winner (inhibition of return in a deadlock)",
                )
        context = [e.text for e in self.memory.entries]
        scored = select_by_score(
            candidates,
            critiques,
            context,
            threshold=policy.threshold,
            margin=policy.margin,
            respond_min_score=policy.respond_min_score,
        )
        if policy.policy == "score":
            return scored
        pool = (
            candidates
            if policy.policy == "arbiter"
            else shortlist(
                candidates, scored.scores, size=policy.shortlist, threshold=policy.threshold
            )
        )
        if not pool:
            return replace(scored, policy=policy.policy)
        ids = {c.id for c in pool}
        request = Request(
            Phase.SELECT,
            b,
            0.0,
            candidates=tuple(pool),
            critiques=tuple(c for c in critiques if c.candidate_id in ids),
        )
        results = await self._phase(Phase.SELECT, request, self.by_phase[Phase.SELECT])
        if results:
            agent, out = results[0]
            return Selection(
                policy.policy,
                pool[out["winner"] - 1],
                out["tag"],
                scored.scores,
                f"{agent.name}: {out['reason']}".strip(),
            )
        return replace(
            scored,
            policy=policy.policy,
            reason=f"no valid arbiter choice; fell back to the score policy ({scored.reason})",
        )

    async def _respond(self, t: int, winner: Candidate) -> None:
        responders = self.by_phase[Phase.RESPOND]
        answer, by = winner.text, winner.agent
        if responders:
            b = Broadcast(self.run_id, t, self.goal, self.s.identity, self.memory.entries, winner)
            results = await self._phase(Phase.RESPOND, Request(Phase.RESPOND, b, 0.0), responders)
            if results:
                answer, by = results[0][1]["answer"], results[0][0].name
        self.outputs.append(answer)
        self.trace.emit("response", cycle=t, agent=by, answer=answer, winner=winner.id)
        await self.state.publish_output(answer, t)

    async def _consolidate(self, b: Broadcast) -> None:
        if not self.memory.over_budget():
            return
        old = self.memory.split()
        if not old:
            return
        before = self.memory.tokens
        text, by = None, "workspace"
        summarizers = self.by_phase[Phase.SUMMARIZE]
        if summarizers:
            request = Request(Phase.SUMMARIZE, b, 0.0, entries=old)
            results = await self._phase(Phase.SUMMARIZE, request, summarizers)
            if results:
                text, by = results[0][1]["summary"], results[0][0].name
        if text is None:
            text = extractive_summary(old, self.memory.budget // 3)
        summary = make_entry(f"s{b.cycle}", b.cycle, by, "summary", text)
        evicted = self.memory.bifurcate(summary)
        self.trace.emit(
            "memory.consolidate",
            cycle=b.cycle,
            agent=by,
            evicted=[e.id for e in evicted],
            summary=summary.id,
            text=self.memory.entries[0].text,
            tokens_before=before,
            tokens_after=self.memory.tokens,
        )
        offered = []
        for e in evicted:
            role, refs, signals = self._provenance.pop(
                e.id, ("input" if e.kind == "input" else "", (), {})
            )
            offered.append(AdmissionCandidate(e, self.run_id, "evicted", role, refs, signals))
        await self._offer(b.cycle, offered)

    async def _offer_proposals(
        self,
        t: int,
        b: Broadcast,
        candidates: Sequence[Candidate],
        winner: Candidate | None,
        critiques: Sequence[Critique],
    ) -> None:
        """Offer the proposals that did not win to long-term memory (memory.offer_proposals):
        a good runner-up need not be lost because another thought won this cycle."""
        replied = replies_to_question(b)
        offered = [
            AdmissionCandidate(
                make_entry(c.id, t, c.agent, "thought", c.text),
                self.run_id,
                "proposal",
                self._role_of(c.agent),
                tuple(cited(c.text, b.memories)),
                {
                    "salience": c.salience,
                    "won": 0.0,
                    "replies_to_question": replied,
                    **self._signals(c, critiques),
                },
            )
            for c in candidates
            if winner is None or c.id != winner.id
        ]
        await self._offer(t, offered)

    async def _offer(self, cycle: int, offered: Sequence[AdmissionCandidate]) -> None:
        """Let admission decide on the candidates; trace each decision with p and features."""
        if not offered:
            return
        for d in await self.admission.offer(offered):
            entry = d.candidate.entry
            stored: dict[str, Any] = {}
            if d.admitted:
                stored = {
                    "memory_id": d.memory_id,
                    "links": [{"type": t, "target": m} for t, m in d.links],
                }
            self.trace.emit(
                "memory.admit" if d.admitted else "memory.reject",
                cycle=cycle,
                agent=entry.author,
                candidate=entry.id,
                source=d.candidate.source,
                p=round(d.p, 4),
                reason=d.reason,
                text=entry.text,
                features=dict(d.features),
                **stored,
            )

    def _signals(self, winner: Candidate, critiques: Sequence[Critique]) -> dict[str, float]:
        """What the cycle knew about a candidate: its mean critic score and the diversity H."""
        scores = [c.score for c in critiques if c.candidate_id == winner.id]
        out = {"critic": round(sum(scores) / len(scores) / 5.0, 4)} if scores else {}
        h = getattr(self.temperature, "last_entropy", None)
        if isinstance(h, float):
            out["entropy"] = round(h, 4)
        return out

    def _inhibit_repeats(self, cycle: int, candidates: list[Candidate]) -> list[Candidate]:
        """Inhibition of return: while a deadlock is being broken, a near-copy of a recent
        winner (the drive's window) may not win again (cosine ≥ δ, the drive's embedder)."""
        embedder = getattr(self.temperature, "embedder", None)
        delta = self.s.drive.deadlock.similarity if self.s.drive else 0.9
        recent = list(self._recent)
        if embedder is not None:
            vecs = embedder.embed([*recent, *(c.text for c in candidates)])
            past, now = vecs[: len(recent)], vecs[len(recent) :]
            sims = [float((past @ v).max()) for v in now]
        else:
            sims = [1.0 - novelty(c.text, recent) for c in candidates]
        kept = [c for c, sim in zip(candidates, sims, strict=True) if sim < delta]
        if len(kept) < len(candidates):
            self.trace.emit(
                "selection.inhibit",
                cycle=cycle,
                inhibited=[c.id for c, sim in zip(candidates, sims, strict=True) if sim >= delta],
                similarity=[round(x, 4) for x in sims],
                recent_winners=len(recent),
            )
        return kept

    def _role_of(self, agent: str) -> str:
        spec = self.specs.get(agent)
        return spec.role if spec is not None else ""
