"""LLMAgent: prompts carry identity and state; invalid output gets one repair, then rejection."""

from __future__ import annotations

import pytest

from gwa.agents.agent import AgentContext, LLMAgent
from gwa.agents.roles import BUILTIN_ROLES, CandidatesOut
from gwa.agents.testing import ScriptedModel
from gwa.errors import RoleOutputError
from gwa.types import Broadcast, Phase, Request

BROADCAST = Broadcast(run="r", cycle=1, goal="name a colour", identity="You are Ada.")
PROPOSE = Request(Phase.PROPOSE, BROADCAST, temperature=0.9)
GOOD = '{"candidates": [{"text": "blue"}, {"text": "red"}]}'


async def test_prompt_carries_identity_goal_and_temperature() -> None:
    """The system prompt starts with the identity; the user prompt holds the goal."""
    model = ScriptedModel([GOOD])
    agent = LLMAgent("gen", BUILTIN_ROLES["generator"], model, candidates=2)
    out = await agent.act(PROPOSE, AgentContext(max_tokens=50, seed=3))
    assert isinstance(out, CandidatesOut)
    request = model.requests[0]
    assert request.messages[0].content.startswith("You are Ada.")
    assert "GOAL: name a colour" in request.messages[1].content
    assert (request.temperature, request.max_tokens, request.seed) == (0.9, 50, 3)
    assert request.schema is not None
    assert request.schema["properties"]["candidates"]["maxItems"] == 2


async def test_one_repair_attempt_fixes_invalid_output() -> None:
    """After an invalid reply the agent asks again with the error, and accepts a valid one."""
    model = ScriptedModel(["no json here", GOOD])
    ctx = AgentContext()
    out = await LLMAgent("gen", BUILTIN_ROLES["generator"], model).act(PROPOSE, ctx)
    assert isinstance(out, CandidatesOut)
    assert "rejected" in model.requests[1].messages[-1].content
    assert [c.attempt for c in ctx.calls] == [1, 2]


async def test_second_invalid_output_is_rejected() -> None:
    """Two invalid replies raise RoleOutputError; both calls are logged."""
    model = ScriptedModel(["nope", '{"candidates": []}'])
    ctx = AgentContext()
    with pytest.raises(RoleOutputError):
        await LLMAgent("gen", BUILTIN_ROLES["generator"], model).act(PROPOSE, ctx)
    assert len(ctx.calls) == 2


async def test_extra_candidates_are_trimmed_to_the_configured_number() -> None:
    """A generator asked for one candidate keeps only the first."""
    out = await LLMAgent("gen", BUILTIN_ROLES["generator"], ScriptedModel([GOOD])).act(
        PROPOSE, AgentContext()
    )
    assert isinstance(out, CandidatesOut)
    assert [c.text for c in out.candidates] == ["blue"]
