"""The workspace cycle, end to end on shipped test models."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SCENARIOS

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.agent import AgentContext, LLMAgent
from gwa.agents.models import ChatRequest
from gwa.agents.roles import Role
from gwa.agents.testing import FakeModel, FunctionModel, ScriptedModel
from gwa.broadcast import Envelope, LocalBus, Sender, Topics
from gwa.drive import Regulation
from gwa.errors import ConfigError, ModelError
from gwa.events import Event, Recalled
from gwa.memory import AdmissionCandidate, NullSink
from gwa.types import Request

SCORE = """
goal: pick a fruit
agents:
{agents}
selection: {{policy: score}}
workspace: {{max_cycles: {cycles}, agent_deadline_s: {deadline}}}
"""


def scenario(agents: str, cycles: int = 3, deadline: float = 5.0, extra: str = "") -> Any:
    return parse_scenario(SCORE.format(agents=agents, cycles=cycles, deadline=deadline) + extra)


def events(path: Path | None) -> list[Any]:
    assert path is not None
    return list(read_trace(path))


def kinds(path: Path | None, kind: str) -> list[Any]:
    return [r for r in events(path) if r.event == kind]


def candidates(text: str, final: bool = False) -> str:
    return json.dumps({"candidates": [{"text": text, "final": final}]})


async def test_flagship_scenario_answers_with_a_full_trace(trace_file: Path) -> None:
    """The shipped brainstorm scenario runs every phase and ends answered."""
    ws = Workspace.from_yaml(SCENARIOS / "brainstorm.yaml", trace_path=trace_file)
    ws.register_model("default", FakeModel(final_after=4))
    result = await ws.run()
    assert result.status == "answered"
    assert result.answer is not None
    assert result.answer.startswith("Answer to")
    names = {r.event for r in events(trace_file)}
    expected = {
        "run.start",
        "cycle.start",
        "broadcast",
        "proposal",
        "critique",
        "selection",
        "model.call",
        "drive.update",
        "response",
        "run.end",
    }
    assert expected <= names
    end = kinds(trace_file, "run.end")[0]
    assert end.field("status") == "answered"
    assert end.field("tokens_in") == result.usage.prompt_tokens > 0


async def test_attention_queries_reach_the_retriever_and_memories_the_broadcast(
    trace_file: Path,
) -> None:
    """Attention's queries go to the retriever; recalled memories are in what generators see."""
    from gwa.types import Memory

    asked: list[list[str]] = []

    class Recall:
        async def retrieve(self, queries: Any, *, k: int) -> tuple[Memory, ...]:
            asked.append(list(queries))
            return (Memory("m1", "bananas are yellow", 0.9),)

    model = FakeModel()
    ws = Workspace(
        scenario("  - {name: a, role: attention}\n  - {name: g, role: generator}\n", cycles=1),
        models={"default": model},
        retriever=Recall(),
        trace_path=trace_file,
    )
    await ws.run()
    assert asked == [["pick a fruit"]]
    (retrieve,) = kinds(trace_file, "memory.retrieve")
    assert retrieve.field("memories") == [Recalled(id="m1", score=0.9, text="bananas are yellow")]
    generator_prompt = model.requests[1].messages[1].content
    assert "RECALLED MEMORIES:\n- (m1) bananas are yellow" in generator_prompt


async def test_agents_of_a_phase_run_concurrently(trace_file: Path) -> None:
    """Four generators are all in flight at once (not one after another)."""
    in_flight, peak = 0, 0

    async def slow(request: ChatRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return candidates("apple")

    agents = "\n".join(f"  - {{name: g{i}, role: generator}}" for i in range(4))
    ws = Workspace(
        scenario(agents, cycles=1), models={"default": FunctionModel(slow)}, trace_path=trace_file
    )
    await ws.run()
    assert peak == 4


async def test_late_and_failing_agents_are_traced_and_the_run_goes_on(trace_file: Path) -> None:
    """A model past the deadline and one that raises become agent.error; others still win."""

    async def sleepy(request: ChatRequest) -> str:
        await asyncio.sleep(30)
        return candidates("too late")

    agents = (
        "  - {name: ok, role: generator, model: good}\n"
        "  - {name: late, role: generator, model: slow}\n"
        "  - {name: broken, role: generator, model: bad}\n"
    )
    extra = "models:\n  good: {provider: fake}\n  slow: {provider: fake}\n  bad: {provider: fake}\n"
    ws = Workspace(
        scenario(agents, cycles=2, deadline=0.2, extra=extra),
        models={
            "good": ScriptedModel([candidates("pear")], cycle=True),
            "slow": FunctionModel(sleepy),
            "bad": ScriptedModel([ModelError("backend exploded")], cycle=True),
        },
        trace_path=trace_file,
    )
    result = await ws.run()
    assert result.cycles == 2
    errors = {(r.agent, r.field("error_type")) for r in kinds(trace_file, "agent.error")}
    assert errors == {("late", "late"), ("broken", "ModelError")}
    assert all(r.field("text") == "pear" for r in kinds(trace_file, "selection"))


async def test_unparseable_output_is_repaired_once_then_rejected(trace_file: Path) -> None:
    """Garbage twice is a RoleOutputError in the trace; the run still ends normally."""
    agents = "  - {name: g, role: generator}\n"
    ws = Workspace(
        scenario(agents, cycles=1),
        models={"default": ScriptedModel(["??", "!!"])},
        trace_path=trace_file,
    )
    result = await ws.run()
    (error,) = kinds(trace_file, "agent.error")
    assert error.field("error_type") == "RoleOutputError"
    assert [c.field("attempt") for c in kinds(trace_file, "model.call")] == [1, 2]
    assert result.status == "max_cycles"
    assert result.answer is None


async def test_respond_tag_ends_the_run_with_the_winner_as_answer(trace_file: Path) -> None:
    """With no responder, a final winner tagged RESPOND is the answer."""
    model = ScriptedModel([candidates("mango"), candidates("banana is best", final=True)])
    ws = Workspace(
        scenario("  - {name: g, role: generator}\n", cycles=5),
        models={"default": model},
        trace_path=trace_file,
    )
    result = await ws.run()
    assert (result.status, result.answer, result.cycles) == ("answered", "banana is best", 2)


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ("", "max_cycles"),
        ("  token_budget: 1\n", "budget"),
        ("  wall_clock_s: 0.3\n", "timeout"),
    ],
)
async def test_limits_stop_the_run(trace_file: Path, extra: str, status: str) -> None:
    """Max cycles, the token budget and the wall clock each stop a run that never answers."""

    async def slowish(request: ChatRequest) -> str:
        await asyncio.sleep(0.05)
        return candidates(f"idea {len(request.messages[1].content)}")

    text = (
        "goal: g\nagents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"
        "workspace:\n  max_cycles: 50\n" + extra
    )
    if status == "max_cycles":
        text = text.replace("max_cycles: 50", "max_cycles: 3")
    ws = Workspace(
        parse_scenario(text), models={"default": FunctionModel(slowish)}, trace_path=trace_file
    )
    result = await ws.run()
    assert result.status == status
    assert kinds(trace_file, "run.end")[0].field("status") == status


async def test_final_answer_always_answers_at_the_cycle_limit(trace_file: Path) -> None:
    """With final_answer: always, the responder answers when max_cycles is reached."""
    text = (
        "goal: g\nagents:\n  - {name: g, role: generator}\n  - {name: r, role: responder}\n"
        "selection: {policy: score}\nworkspace: {max_cycles: 2, final_answer: always}\n"
    )
    ws = Workspace(
        parse_scenario(text), models={"default": FakeModel(final_after=99)}, trace_path=trace_file
    )
    result = await ws.run()
    assert result.status == "answered"
    assert "max_cycles=2 reached" in result.reason
    assert result.answer == "Answer to g"


async def test_an_answer_that_repeats_one_phrase_gives_way_to_the_winner(
    trace_file: Path,
) -> None:
    """A responder looping on one phrase is rejected like unparseable output (asked once more,
    then traced as an error); the winner answers."""

    def model(request: ChatRequest) -> str:
        if "responder" in request.messages[0].content:
            return json.dumps({"answer": "They're... They're..."})
        return candidates("Host a monthly manga club run by teen volunteers.")

    text = (
        "goal: g\nagents:\n  - {name: g, role: generator}\n  - {name: r, role: responder}\n"
        "selection: {policy: score}\nworkspace: {max_cycles: 1, final_answer: always}\n"
    )
    ws = Workspace(
        parse_scenario(text), models={"default": FunctionModel(model)}, trace_path=trace_file
    )
    result = await ws.run()
    assert result.answer == "Host a monthly manga club run by teen volunteers."
    (response,) = kinds(trace_file, "response")
    assert response.agent == "g"
    (error,) = kinds(trace_file, "agent.error")
    assert error.agent == "r"
    assert error.field("error_type") == "RoleOutputError"
    assert "only repeats one phrase" in error.field("error")
    assert [c.field("attempt") for c in kinds(trace_file, "model.call") if c.agent == "r"] == [1, 2]


async def test_external_stop_from_python_and_from_the_control_topic(trace_file: Path) -> None:
    """ws.stop() and a 'stop' envelope on the control topic both end the run as stopped."""
    model = FakeModel(final_after=10**6, latency_s=0.01)
    ws = Workspace(
        scenario("  - {name: g, role: generator}\n", cycles=10**6),
        models={"default": model},
        trace_path=trace_file,
    )
    async for event in ws.stream():
        if event.event == "selection" and event.cycle == 2:
            ws.stop("enough")
    assert kinds(trace_file, "run.end")[0].field("reason") == "enough"

    bus = LocalBus()
    ws2 = Workspace(
        scenario("  - {name: g, role: generator}\n", cycles=10**6),
        models={"default": model},
        bus=bus,
        trace_path=trace_file.with_name("t2.jsonl"),
    )
    sender = Sender("operator")
    run_topics: list[str] = []
    third_cycle = asyncio.Event()

    def on_event(event: Event) -> None:
        if event.event == "cycle.start" and event.cycle == 3:
            run_topics.append(Topics(event.run).control)
            third_cycle.set()

    ws2.add_listener(on_event)
    task = asyncio.create_task(ws2.run())
    await third_cycle.wait()
    await bus.publish(sender.envelope(run_topics[0], "stop", {"reason": "operator said so"}))
    result = await task
    assert (result.status, result.reason) == ("stopped", "operator said so")
    await bus.close()


async def test_idle_mode_keeps_cycling_and_an_input_interrupts_the_pause(trace_file: Path) -> None:
    """Idle runs go on after an answer; a submitted input ends the (hour-long) pause at once,
    and a stop during the pause ends the run without another cycle."""
    text = (
        "goal: g\nagents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"
        "workspace:\n  max_cycles: 10\n  idle: {enabled: true, interval_s: 3600}\n"
        "drive: {enabled: false}\n"  # this test is about inputs and stops, not the drive
    )
    ws = Workspace(
        parse_scenario(text), models={"default": FakeModel(final_after=0)}, trace_path=trace_file
    )
    responses = 0
    async for event in ws.stream():
        if event.event == "response":
            responses += 1
            if responses == 1:
                await ws.submit("also consider citrus")
            else:
                ws.stop("done listening")
    starts = kinds(trace_file, "cycle.start")
    assert [s.field("inputs") for s in starts] == [[], ["also consider citrus"]]
    end = kinds(trace_file, "run.end")[0]
    assert (end.field("status"), end.field("reason")) == ("stopped", "done listening")


async def test_stream_yields_every_event_and_ends_with_run_end(trace_file: Path) -> None:
    """The stream sees the same events as the file, in order, ending with run.end."""
    ws = Workspace(
        scenario("  - {name: g, role: generator}\n"),
        models={"default": FakeModel()},
        trace_path=trace_file,
    )
    streamed = [e async for e in ws.stream()]
    assert streamed[-1].event == "run.end"
    assert [e.seq for e in streamed] == [r.seq for r in events(trace_file)]


class Echoer:
    """A custom Python agent: proposes the goal back, in upper case."""

    name = "echo"
    role = Role("echoer", "candidates", "echo the goal")

    async def act(self, request: Request, ctx: AgentContext) -> dict[str, Any]:
        return {"candidates": [{"text": request.broadcast.goal.upper(), "final": True}]}


async def test_custom_agents_and_yaml_roles_join_the_swarm(trace_file: Path) -> None:
    """A registered Python agent competes; a YAML-defined role gets its own prompt."""
    extra = "roles:\n  poet:\n    output: candidates\n    prompt: Answer in verse.\n"
    model = ScriptedModel([candidates("roses are red")], cycle=True)
    ws = Workspace(
        scenario("  - {name: p, role: poet}\n", cycles=1, extra=extra),
        models={"default": model},
        trace_path=trace_file,
    )
    ws.register_agent(Echoer())
    await ws.run()
    proposals = {r.agent: r.field("text") for r in kinds(trace_file, "proposal")}
    assert proposals == {"p": "roses are red", "echo": "PICK A FRUIT"}
    assert "Answer in verse." in model.requests[0].messages[0].content


async def test_a_custom_agent_with_invalid_output_is_rejected(trace_file: Path) -> None:
    """Outputs from Python agents are parsed against the role schema too."""

    class Bad(Echoer):
        name = "bad"

        async def act(self, request: Request, ctx: AgentContext) -> dict[str, Any]:
            return {"candidates": "not a list"}

    ws = Workspace(
        scenario("  - {name: g, role: generator}\n", cycles=1),
        models={"default": FakeModel()},
        agents=[Bad()],
        trace_path=trace_file,
    )
    await ws.run()
    (error,) = kinds(trace_file, "agent.error")
    assert (error.agent, error.field("error_type")) == ("bad", "RoleOutputError")


async def test_record_then_replay_reproduces_the_event_sequence(tmp_path: Path) -> None:
    """A replayed run writes the same events as the recorded one (timestamps aside)."""
    cassette = tmp_path / "run.json"
    first = Workspace.from_yaml(SCENARIOS / "brainstorm.yaml", trace_path=tmp_path / "a.jsonl")
    first.register_model("default", FakeModel(final_after=3))
    first.record_to(cassette)
    recorded = await first.run()
    from gwa.scenario import ModelSpec

    second = Workspace.from_yaml(
        SCENARIOS / "brainstorm.yaml",
        trace_path=tmp_path / "b.jsonl",
        model_override=ModelSpec(provider="replay", path=str(cassette)),
    )
    replayed = await second.run()

    def comparable(path: Path) -> list[dict[str, Any]]:
        out = []
        for r in read_trace(path):
            d = r.model_dump()
            for key in ("ts", "run", "latency_ms", "duration_s", "model"):
                d.pop(key, None)
            if r.event == "run.start":
                d = {"event": "run.start", "config_hash": d["config_hash"]}
            if r.event == "checkpoint":  # its id holds the run id; its size the model's state
                d = {"event": "checkpoint", "cycle": d["cycle"]}
            out.append(d)
        return out

    assert comparable(tmp_path / "a.jsonl") == comparable(tmp_path / "b.jsonl")
    assert replayed.answer == recorded.answer


async def test_prompts_stay_flat_as_runs_grow(trace_file: Path) -> None:
    """Working memory stays within θ (+ one recent entry), so later prompts are no longer."""
    model = FakeModel(final_after=10**6)
    text = (
        "goal: g\nagents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"
        "workspace: {max_cycles: 60, working_memory_tokens: 120}\n"
    )
    ws = Workspace(parse_scenario(text), models={"default": model}, trace_path=trace_file)
    await ws.run()
    sizes = [len(r.messages[1].content) for r in model.requests]
    first_peak = sizes.index(max(sizes))
    assert first_peak < 30
    assert max(sizes[first_peak + 1 :]) < sizes[first_peak]
    assert all(b.field("tokens") <= 120 * 1.5 for b in kinds(trace_file, "broadcast"))
    assert len(kinds(trace_file, "memory.consolidate")) >= 3


async def test_evicted_entries_reach_the_admission_sink(trace_file: Path) -> None:
    """Bifurcation hands the raw evicted entries to the admission sink with provenance."""
    offered: list[AdmissionCandidate] = []

    class Sink(NullSink):
        async def offer(self, items: Any) -> list[Any]:
            offered.extend(items)
            return []

    text = (
        "goal: g\nagents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"
        "workspace: {max_cycles: 12, working_memory_tokens: 20}\n"
    )
    ws = Workspace(
        parse_scenario(text),
        models={"default": FakeModel(final_after=99)},
        admission=Sink(),
        trace_path=trace_file,
    )
    await ws.run()
    consolidated = [i for r in kinds(trace_file, "memory.consolidate") for i in r.field("evicted")]
    assert [c.entry.id for c in offered] == consolidated
    assert offered
    assert all(c.source == "evicted" and c.entry.kind == "thought" for c in offered)
    assert all(c.role == "generator" and c.signals.won == 1.0 for c in offered)


async def test_secrets_in_keys_and_outputs_never_reach_the_trace(
    monkeypatch: pytest.MonkeyPatch, trace_file: Path
) -> None:
    """An API key from the environment and the scenario is redacted even if a model echoes it."""
    secret = "sk-proj-secretvalue0123456789"
    monkeypatch.setenv("GWA_TEST_API_KEY", secret)
    extra = "models:\n  default:\n    provider: fake\n    api_key: ${GWA_TEST_API_KEY}\n"
    model = ScriptedModel([candidates(f"my key is {secret}")], cycle=True)
    ws = Workspace(
        scenario("  - {name: g, role: generator}\n", cycles=1, extra=extra),
        models={"default": model},
        trace_path=trace_file,
    )
    await ws.run()
    assert secret not in trace_file.read_text()


async def test_a_run_needs_a_goal() -> None:
    """No goal in the scenario or the call is a ConfigError."""
    ws = Workspace(
        parse_scenario("agents:\n  - {name: g, role: generator}\nselection: {policy: score}\n"),
        models={"default": FakeModel()},
    )
    with pytest.raises(ConfigError, match="no goal"):
        await ws.run()


async def test_duplicate_agent_names_are_refused() -> None:
    """A registered agent may not reuse a scenario agent's name."""

    class Clash(Echoer):
        name = "g"

    ws = Workspace(
        scenario("  - {name: g, role: generator}\n"),
        models={"default": FakeModel()},
        agents=[Clash()],
    )
    with pytest.raises(ConfigError, match="duplicated: g"):
        await ws.run()


class FixedSource:
    """A temperature source that always says 0.9."""

    last_entropy = None
    embedder = None

    def temperature(self) -> float:
        return 0.9

    def update(self, cycle: int, winner: str | None) -> Regulation:
        return Regulation(0.9, {"source": "fixed"})


async def test_temperatures_follow_the_source_and_agent_bounds(trace_file: Path) -> None:
    """Generators take the source's temperature within bounds; other roles their own."""
    agents = (
        "  - {name: hot, role: generator, temperature_bounds: [0.0, 0.5]}\n"
        "  - {name: free, role: generator}\n"
        "  - {name: crit, role: critic}\n"
    )
    ws = Workspace(
        scenario(agents, cycles=1),
        models={"default": FakeModel()},
        temperature=FixedSource(),
        trace_path=trace_file,
    )
    await ws.run()
    temps = {r.agent: r.field("temperature") for r in kinds(trace_file, "model.call")}
    assert temps == {"hot": 0.5, "free": 0.9, "crit": 0.2}
    assert kinds(trace_file, "drive.update")[0].field("source") == "fixed"


def test_run_sync_works_outside_an_event_loop(tmp_path: Path) -> None:
    """run_sync starts its own loop."""
    ws = Workspace(
        scenario("  - {name: g, role: generator}\n", cycles=1),
        models={"default": FakeModel()},
        trace_path=tmp_path / "t.jsonl",
    )
    assert ws.run_sync().cycles == 1


def test_envelopes_on_the_bus_are_json_safe() -> None:
    """Requests published by the hub survive the wire codec (so MQTT can carry them)."""
    from gwa.broadcast import decode, encode

    env = Envelope(topic="t", sender="s", seq=1, kind="request", payload={"request": {"x": [1, 2]}})
    assert decode(encode(env)) == env


def test_named_models_are_built_once_per_workspace() -> None:
    """Building the agents again (the CLI does it before the run) reuses the models built."""
    extra = "models:\n  quick: {provider: fake}\n"
    ws = Workspace(scenario("  - {name: g, role: generator, model: quick}\n", extra=extra))
    first, second = ws.build_agents()[0], ws.build_agents()[0]
    assert isinstance(first, LLMAgent)
    assert isinstance(second, LLMAgent)
    assert first.model is second.model
