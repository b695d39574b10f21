"""llama.cpp's own server with parallel slots: the calls of a phase really overlap.

A real ``llama-server`` (built by `make test`) on the shipped GGUF, reached through GWA's
``openai`` provider. The server's own counter ``n_busy_slots_per_decode`` (the mean number of
requests in each ``llama_decode`` batch) says whether concurrent calls were decoded together
(above 1) or queued (exactly 1).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from llama_server import llama_server, metrics

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.models import ChatRequest
from gwa.agents.providers import OpenAIChatModel
from gwa.agents.roles import parse_output, request_schema
from gwa.types import ChatMessage

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(600)]

TWO_GENERATORS = """
name: two-generators
goal: Name one fruit that is yellow.
agents:
  - {name: gen-a, role: generator}
  - {name: gen-b, role: generator}
  - {name: critic, role: critic}
  - {name: arbiter, role: arbiter}
  - {name: responder, role: responder}
selection: {policy: hybrid}
workspace: {max_cycles: 2, max_tokens: 96, final_answer: always, temperature: 0.9}
"""


def _request(goal: str) -> ChatRequest:
    return ChatRequest(
        messages=(
            ChatMessage("system", 'Propose one thought. Reply like {"candidates": [...]}'),
            ChatMessage("user", f"GOAL: {goal}"),
        ),
        temperature=0.7,
        max_tokens=96,
        seed=0,
        schema=request_schema("candidates", max_tokens=96),
    )


@pytest.mark.parametrize("parallel", [1, 2])
async def test_concurrent_calls_share_decode_batches_only_with_parallel_slots(
    tmp_path: Path, parallel: int
) -> None:
    """Two calls made at once: with two slots llama-server decodes them in the same batches;
    with one, the second waits for the first (one busy slot per decode). Both outputs follow
    the role's schema either way (json_schema, enforced by the server's grammar)."""
    with llama_server(tmp_path, parallel=parallel) as base:
        model = OpenAIChatModel("smollm2", base_url=base, structured_output="json_schema")
        goals = ["a yellow fruit", "a quiet park"]
        responses = await asyncio.gather(*(model.complete(_request(g)) for g in goals))
        await model.aclose()
        assert model._client.is_closed()
        for response in responses:
            parse_output("candidates", response.text)
        busy = metrics(base)["n_busy_slots_per_decode"]
    if parallel == 1:
        assert busy == 1.0
    else:
        assert busy > 1.2, f"mean busy slots per decode {busy}: the calls did not overlap"


async def test_a_scenarios_generators_overlap_on_parallel_slots(
    tmp_path: Path, trace_file: Path
) -> None:
    """The two generators of each cycle are one phase: on two slots they decode together, and
    every role's schema is enforced by the server (no repair, no rejected output)."""
    with llama_server(tmp_path, parallel=2) as base:
        text = TWO_GENERATORS + (
            f"models:\n  default:\n    provider: openai\n    name: smollm2\n"
            f"    base_url: {base}\n    structured_output: json_schema\n"
        )
        result = await Workspace(parse_scenario(text), trace_path=trace_file).run()
        busy = metrics(base)["n_busy_slots_per_decode"]
    assert result.status == "answered"
    assert result.answer
    records = list(read_trace(trace_file))
    calls = [r for r in records if r.event == "model.call"]
    assert {c.agent for c in calls} >= {"gen-a", "gen-b", "critic", "arbiter", "responder"}
    assert all(c.field("ok") and c.field("attempt") == 1 for c in calls)
    assert [r for r in records if r.event == "agent.error"] == []
    assert busy > 1.0, f"mean busy slots per decode {busy}: the generators did not overlap"
