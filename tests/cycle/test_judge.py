"""The optional memory judge: a model reads the first round of recall and asks for a second."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.testing import FakeModel, ScriptedModel
from gwa.cycle.judge import JudgedRetriever, fuse_rankings, judge_schema
from gwa.errors import ConfigError, ModelError
from gwa.types import Memory

FIRST = (Memory("m-1", "Maria opened the bakery in 2019.", 1.0),)
FOUND = Memory("m-2", "The bakery's owner is Maria's brother Tom.", 0.9)


class Store:
    """A retriever that answers the goal with FIRST and anything else with FOUND."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def retrieve(self, queries: Sequence[str], *, k: int) -> tuple[Memory, ...]:
        self.asked.append(list(queries))
        return FIRST if self.asked[-1][0].startswith("Who") else (FOUND, FIRST[0])


def test_the_rounds_are_interleaved_the_first_rounds_first() -> None:
    def fuse(first: list[str], second: list[str], k: int) -> list[str]:
        return fuse_rankings(first, second, k, key=lambda x: x)

    assert fuse(["a", "b", "c"], ["c", "d"], 10) == ["a", "c", "b", "d"]
    assert fuse(["a", "b"], ["b", "a"], 10) == ["a", "b"]
    assert fuse(["a", "g"], ["new", "g"], 10) == ["a", "new", "g"]  # g not lifted
    assert fuse(["a", "b"], ["x", "y"], 3) == ["a", "x", "b"]


async def test_enough_keeps_the_first_round_and_asks_no_second() -> None:
    store = Store()
    model = ScriptedModel(['{"enough": true, "queries": []}'])
    judged = JudgedRetriever(store, model)
    assert await judged.retrieve(["Who runs the bakery?"], k=5) == FIRST
    assert store.asked == [["Who runs the bakery?"]]
    prompt = model.requests[0].messages[-1].content
    assert "Who runs the bakery?" in prompt
    assert FIRST[0].text in prompt
    assert model.requests[0].schema == judge_schema(2)
    assert judged.last is not None
    assert judged.last.enough
    assert judged.requeried == ()


async def test_missing_facts_are_searched_and_fused_behind_the_first_rounds_best() -> None:
    store = Store()
    model = ScriptedModel(['{"enough": false, "queries": ["bakery owner", "Tom", "Maria"]}'])
    judged = JudgedRetriever(store, model, max_queries=2)
    got = await judged.retrieve(["Who runs the bakery?"], k=5)
    assert store.asked[1] == ["bakery owner", "Tom"]  # at most max_queries
    assert [m.id for m in got] == ["m-1", "m-2"]
    assert judged.requeried == (FOUND,)


@pytest.mark.parametrize(
    "reply", [ModelError("test: down"), "no json here", '{"enough": "yes", "queries": 3}']
)
async def test_a_failed_or_unusable_judge_keeps_the_first_round(reply: object) -> None:
    store = Store()
    judged = JudgedRetriever(store, ScriptedModel([reply]))  # type: ignore[list-item]
    assert await judged.retrieve(["Who runs the bakery?"], k=5) == FIRST
    assert len(store.asked) == 1
    assert judged.last is not None
    assert judged.last.error


SCENARIO = """
name: judged
goal: Who runs the bakery?
models:
  judge: {provider: fake}
agents:
  - {name: gen, role: generator}
  - {name: arbiter, role: arbiter}
selection: {policy: arbiter}
workspace: {max_cycles: 2, memory_k: 3}
memory: {judge: {model: judge}}
"""


async def test_a_scenarios_judge_adds_a_second_round_and_traces_it(tmp_path: Path) -> None:
    judge = ScriptedModel(['{"enough": false, "queries": ["bakery owner"]}'], cycle=True)
    ws = Workspace(parse_scenario(SCENARIO), retriever=Store(), trace_path=tmp_path / "t.jsonl")
    ws.register_model("default", FakeModel())
    ws.register_model("judge", judge)
    await ws.run()
    events = [r for r in read_trace(tmp_path / "t.jsonl") if r.event == "memory.retrieve"]
    plain = [e for e in events if e.field("mode") is None]
    judged = [e for e in events if e.field("mode") == "judged"]
    assert plain
    assert len(judged) == len(plain) == len(judge.requests)
    assert [m.id for m in plain[0].field("memories")] == ["m-1", "m-2"]
    assert judged[0].field("queries") == ["bakery owner"]
    assert [m.id for m in judged[0].field("memories")] == ["m-2"]


async def test_a_failing_judge_is_traced_and_the_run_goes_on(tmp_path: Path) -> None:
    judge = ScriptedModel([ModelError("test: judge down")], cycle=True)
    ws = Workspace(parse_scenario(SCENARIO), retriever=Store(), trace_path=tmp_path / "t.jsonl")
    ws.register_model("default", FakeModel())
    ws.register_model("judge", judge)
    result = await ws.run()
    assert result.cycles == 2
    events = [r for r in read_trace(tmp_path / "t.jsonl") if r.event == "memory.retrieve"]
    judged = [e for e in events if e.field("mode") == "judged"]
    assert judged
    assert all("judge down" in e.field("error") for e in judged)
    plain = [e for e in events if e.field("mode") is None]
    assert all([m.id for m in e.field("memories")] == ["m-1"] for e in plain)


def test_a_judge_naming_an_unknown_model_is_refused_with_the_valid_names() -> None:
    text = SCENARIO.replace("{model: judge}", "{model: judje}")
    with pytest.raises(ConfigError) as err:
        parse_scenario(text)
    # the line and column of the judge's model, the name given, the names there are
    assert str(err.value) == "<scenario>:11:25: unknown model 'judje'; valid: judge"
