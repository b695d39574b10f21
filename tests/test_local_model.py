"""The embedded local model, for real: no mocks, the shipped GGUF, in-process and over HTTP.

These tests need the 'local' extra, which the README's test command installs.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gwa import Workspace, parse_scenario, read_trace
from gwa.agents.local import LocalChatModel, shipped_model_path
from gwa.agents.roles import CandidatesOut
from gwa.scenario import ModelSpec
from gwa.types import ChatMessage

pytestmark = [pytest.mark.local_model, pytest.mark.timeout(600)]

SMALL = """
name: small
goal: Name one fruit that is yellow.
agents:
  - {name: gen, role: generator}
  - {name: critic, role: critic}
  - {name: arbiter, role: arbiter}
  - {name: responder, role: responder}
selection: {policy: hybrid}
workspace: {max_cycles: 2, max_tokens: 96, final_answer: always, temperature: 0.9}
"""


def _check_trace(path: Path, provider: str) -> None:
    records = list(read_trace(path))
    calls = [r for r in records if r.event == "model.call"]
    assert calls
    assert {c.field("provider") for c in calls} == {provider}
    temperatures = {c.agent: c.field("temperature") for c in calls}
    assert temperatures == {"gen": 0.9, "critic": 0.2, "arbiter": 0.2, "responder": 0.2}
    assert all(c.field("ok") and c.field("attempt") == 1 for c in calls)
    assert [r for r in records if r.event == "agent.error"] == []
    assert all(c.field("tokens_out") > 0 for c in calls)


async def test_a_scenario_runs_to_an_answer_on_the_real_local_model(trace_file: Path) -> None:
    """Every role's output parses at the first attempt (grammar-constrained) and it answers."""
    ws = Workspace(
        parse_scenario(SMALL), model_override=ModelSpec(provider="local"), trace_path=trace_file
    )
    result = await ws.run()
    assert result.status == "answered"
    assert result.answer
    assert result.answer.strip()
    _check_trace(trace_file, "local")


async def test_without_constraints_the_same_model_rarely_fits_a_schema() -> None:
    """The reason for grammars: unconstrained, the 135M model's reply is not the JSON asked."""
    from gwa.agents.models import ChatRequest
    from gwa.agents.roles import parse_output, request_schema
    from gwa.errors import RoleOutputError
    from gwa.types import ChatMessage

    model = LocalChatModel.shared()
    request = ChatRequest(
        (
            ChatMessage("system", 'Score each candidate. Reply like {"critiques": [...]}'),
            ChatMessage("user", "GOAL: a yellow fruit\nCANDIDATES:\n[1] banana\n[2] plum"),
        ),
        temperature=0.2,
        max_tokens=96,
        seed=0,
        schema=request_schema("critiques", n_candidates=2, max_tokens=96),
    )
    constrained = await model.complete(request)
    parse_output("critiques", constrained.text, n_candidates=2)
    free = await model.unconstrained().complete(request)
    with pytest.raises(RoleOutputError):
        parse_output("critiques", free.text, n_candidates=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def llama_server(tmp_path: Path) -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server on 127.0.0.1 with the shipped model."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(shipped_model_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited: {(tmp_path / 'server.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


async def test_the_openai_provider_against_a_real_local_http_server(
    llama_server: str, trace_file: Path
) -> None:
    """The same scenario through the openai SDK over HTTP, schema enforced by the server."""
    text = SMALL + (
        f"models:\n  default:\n    provider: openai\n    name: smollm2\n"
        f"    base_url: {llama_server}\n    api_key: local-test-key\n"
        "    structured_output: json_object\n"
    )
    ws = Workspace(parse_scenario(text), trace_path=trace_file)
    result = await ws.run()
    assert result.status == "answered"
    assert result.answer
    _check_trace(trace_file, "openai")
    assert "local-test-key" not in trace_file.read_text()


async def test_auto_structured_output_finds_the_servers_format(
    llama_server: str, trace_file: Path
) -> None:
    """With no structured_output in the scenario (auto: json_schema, json_object, prompting),
    llama.cpp's server ends up enforcing every role's schema: no output is rejected."""
    text = SMALL + (
        f"models:\n  default:\n    provider: openai\n    name: smollm2\n"
        f"    base_url: {llama_server}\n    api_key: local-test-key\n"
    )
    ws = Workspace(parse_scenario(text), trace_path=trace_file)
    result = await ws.run()
    assert result.status == "answered"
    records = list(read_trace(trace_file))
    assert [r for r in records if r.event == "agent.error"] == []
    assert all(r.field("attempt") == 1 for r in records if r.event == "model.call")


async def test_the_embedded_model_streams_its_constrained_output() -> None:
    """With ``on_text`` the pieces arrive as they are generated (one per token), join to the
    returned text (valid under the grammar), and the prompt is counted as without streaming."""
    from gwa.agents.models import ChatRequest
    from gwa.agents.roles import parse_output, request_schema
    from gwa.types import ChatMessage

    model = LocalChatModel.shared()
    messages = (
        ChatMessage("system", "Propose one thought as JSON."),
        ChatMessage("user", "GOAL: name a park"),
    )
    schema = request_schema("candidates", max_tokens=96)
    whole = await model.complete(ChatRequest(messages, 0.7, 96, 5, schema))
    pieces: list[str] = []
    streamed = await model.complete(
        ChatRequest(messages, 0.7, 96, 5, schema, on_text=pieces.append)
    )
    assert len(pieces) > 5
    assert "".join(pieces) == streamed.text
    assert streamed.usage.completion_tokens == len(pieces)
    assert streamed.usage.prompt_tokens == whole.usage.prompt_tokens
    assert parse_output("candidates", streamed.text).candidates  # type: ignore[attr-defined]


async def test_grammar_checked_on_the_top_tokens_keeps_every_output_valid() -> None:
    """The grammar runs on the top-k tokens of a step and over the whole vocabulary only when
    none of them is valid (the first token, where the model wants prose, usually). Hot
    temperatures and several seeds: every output parses, and both paths were taken."""
    from gwa.agents.llamacpp import TopKGrammarSampler
    from gwa.agents.models import ChatRequest
    from gwa.agents.roles import parse_output, request_schema
    from gwa.types import ChatMessage

    model = LocalChatModel.shared()
    messages = (
        ChatMessage("system", "You are a critic. Score each numbered candidate."),
        ChatMessage("user", "GOAL: a yellow fruit\nCANDIDATES:\n[1] banana\n[2] plum"),
    )
    schema = request_schema("critiques", n_candidates=2, max_tokens=96)
    steps = fallbacks = 0
    for seed, temperature in [(1, 0.2), (2, 0.9), (3, 1.2), (4, 1.2)]:
        # room beyond the schema's string bounds, so no reply is cut by max_tokens
        reply = await model.complete(ChatRequest(messages, temperature, 400, seed, schema))
        parse_output("critiques", reply.text, n_candidates=2)
        sampler = model._llm._sampler
        assert isinstance(sampler, TopKGrammarSampler)
        steps += sampler.steps
        fallbacks += sampler.fallbacks
    assert steps > 4 * 10
    assert 0 < fallbacks < steps


async def test_an_agents_system_prompt_is_restored_not_evaluated_again() -> None:
    """Two agents take turns (A, B, A, B): each prompt's state is kept and the agent's next
    call restores it (its system prompt and the goal's label), so fewer prompt tokens are
    evaluated; greedy outputs are those of a model that evaluates every prompt whole."""
    from gwa.agents.models import ChatRequest
    from gwa.agents.roles import request_schema
    from gwa.types import ChatMessage

    def request(system: str, goal: str) -> ChatRequest:
        messages = (ChatMessage("system", system), ChatMessage("user", f"GOAL: {goal}"))
        return ChatRequest(messages, 0.0, 48, 0, request_schema("candidates", max_tokens=48))

    a = "You are a gardener. Propose one concrete idea for a small park, in one sentence."
    b = "You are a teacher. Propose one concrete idea for a school trip, in one sentence."
    turns = [request(a, "shade"), request(b, "museums"), request(a, "benches"), request(b, "rain")]
    kept = LocalChatModel(keep_prefixes=8)
    whole = LocalChatModel(keep_prefixes=0)
    replies = [await kept.complete(r) for r in turns]
    expected = [await whole.complete(r) for r in turns]
    assert [r.text for r in replies] == [r.text for r in expected]
    states = kept._llm.prefix_states
    assert (states.saved, states.restored) == (4, 2)
    assert whole._llm.prefix_states is None
    saved_tokens = kept.profile.prompt_tokens - kept.profile.prompt_evaluated
    assert saved_tokens > 2 * 20  # both restored system prompts are longer than 20 tokens
    assert whole.profile.prompt_evaluated > kept.profile.prompt_evaluated


BROADCAST = """GOAL: Suggest two ways a small town can keep its only bakery open.
CYCLE: 3
WORKING MEMORY:
- (thought, gen-a) Sell bread at the weekly market as well as in the shop.
- (thought, gen-b) Ask the school to buy its sandwiches from the bakery.
LAST WINNER (gen-b): Ask the school to buy its sandwiches from the bakery.
RECALLED MEMORIES:
- (m-1) The bakery opens at six and closes at two.
- (m-2) The town council owns the building the bakery rents."""


async def test_the_agents_of_a_cycle_share_the_broadcast_in_the_kv_cache() -> None:
    """The shared-first layout: two agents with the same workspace state and
    different instructions. The second call evaluates fewer prompt tokens than it has beyond
    the broadcast (which the first call left in the KV cache); with the instructions first,
    it evaluates nearly its whole prompt. Greedy outputs are those of a cold cache."""
    from gwa.agents.models import ChatRequest
    from gwa.agents.roles import request_schema
    from gwa.types import ChatMessage

    def request(system: str) -> ChatRequest:
        messages = (ChatMessage("system", system), ChatMessage("user", BROADCAST))
        return ChatRequest(messages, 0.0, 48, 0, request_schema("candidates", max_tokens=48))

    a = "You are a baker. Propose one concrete idea, in one sentence."
    b = "You are a mayor. Propose one concrete idea the council could pay for, in one sentence."

    async def second_call(model: LocalChatModel) -> tuple[int, int, list[str]]:
        first = await model.complete(request(a))
        before = model.profile.prompt_evaluated
        second = await model.complete(request(b))
        evaluated = model.profile.prompt_evaluated - before
        return evaluated, second.usage.prompt_tokens, [first.text, second.text]

    shared = LocalChatModel(keep_prefixes=0, layout="shared-first")
    evaluated, prompt, texts = await second_call(shared)
    n_broadcast = len(shared._llm.tokenize(BROADCAST.encode(), add_bos=False))
    assert n_broadcast > 80
    assert evaluated < prompt - n_broadcast

    given = LocalChatModel(keep_prefixes=0)
    assert given.layout == "as-given"  # the default
    given_evaluated, given_prompt, _ = await second_call(given)
    assert given_evaluated > given_prompt - 10  # only the template's first tokens are shared

    cold = []
    for r in (request(a), request(b)):
        shared._llm.reset()
        cold.append((await shared.complete(r)).text)
    assert cold == texts


def test_the_shared_first_layout_puts_the_workspace_state_before_the_instructions() -> None:
    """A system message then a user message become one user turn, the state first; a
    repair's later messages follow unchanged; as-given and other shapes are untouched."""
    from gwa.agents.local import laid_out
    from gwa.types import ChatMessage

    system, user = ChatMessage("system", "RULES"), ChatMessage("user", "STATE")
    repair = (ChatMessage("assistant", "bad"), ChatMessage("user", "fix it"))
    assert laid_out((system, user, *repair), "shared-first") == [
        {"role": "user", "content": "STATE\n\nRULES"},
        {"role": "assistant", "content": "bad"},
        {"role": "user", "content": "fix it"},
    ]
    as_given = [{"role": "system", "content": "RULES"}, {"role": "user", "content": "STATE"}]
    assert laid_out((system, user), "as-given") == as_given
    assert laid_out((user, system), "shared-first") == as_given[::-1]
    assert laid_out((user,), "shared-first") == [{"role": "user", "content": "STATE"}]


def test_a_scenario_chooses_the_local_models_layout() -> None:
    """``models.default.layout`` reaches the embedded model; an unknown layout is refused
    with the place and the choices."""
    from gwa.errors import ConfigError
    from gwa.resolve import build_model

    spec = "models: {default: {provider: local, layout: shared-first}}\n"
    model = build_model(parse_scenario(SMALL + spec).models["default"])
    assert isinstance(model, LocalChatModel)
    assert model.layout == "shared-first"
    assert LocalChatModel.shared().layout == "as-given"  # a view; the shared one unchanged
    with pytest.raises(ConfigError, match=r"models\.default\.layout.*as-given"):
        parse_scenario(SMALL + "models: {default: {provider: local, layout: last}}\n")
    with pytest.raises(ValueError, match="is not one of shared-first, as-given"):
        LocalChatModel.shared().with_layout("last")


async def test_a_prompt_that_extends_an_earlier_one_evaluates_only_what_it_adds() -> None:
    """A, then B, then A again with its first prompt plus candidates (a critic's next turn, a
    repair after its output): the third call restores A's whole kept prompt and evaluates only
    the candidates, where its system prompt alone would have the broadcast evaluated again."""
    from gwa.agents.models import ChatRequest
    from gwa.agents.roles import request_schema
    from gwa.types import ChatMessage

    def request(system: str, user: str) -> ChatRequest:
        messages = (ChatMessage("system", system), ChatMessage("user", user))
        return ChatRequest(messages, 0.0, 32, 0, request_schema("candidates", max_tokens=32))

    a = "You are a baker. Propose one concrete idea, in one sentence."
    b = "You are a mayor. Propose one concrete idea, in one sentence."
    extra = "\nCANDIDATES:\n[1] (gen-a) Bake a loaf named after the town.\n[2] (gen-b) Open late."
    model = LocalChatModel(keep_prefixes=8)
    await model.complete(request(a, BROADCAST))
    await model.complete(request(b, BROADCAST))
    before = (model.profile.prompt_tokens, model.profile.prompt_evaluated)
    await model.complete(request(a, BROADCAST + extra))
    prompt = model.profile.prompt_tokens - before[0]
    evaluated = model.profile.prompt_evaluated - before[1]
    tokenize = model._llm.tokenize
    assert evaluated <= len(tokenize(extra.encode(), add_bos=False)) + 8  # + the turn's end
    assert prompt - evaluated > len(tokenize(BROADCAST.encode(), add_bos=False))


PROSE_PROMPT = (
    ChatMessage(
        "system",
        "You are part of a small team of librarians and youth workers.\n\nPropose one "
        "concrete idea using games, comics, music or social media that would bring teenagers "
        'to read at the library.\n\nReply with one JSON object only, like: {"candidates": '
        '[{"text": "…", "salience": 0.7, "final": false}]}',
    ),
    ChatMessage(
        "user",
        "GOAL: Suggest three practical ways a small public library can attract more teenage "
        "readers.\nCYCLE: 2\nWORKING MEMORY:\n- (thought, gen-media) Read a book with your "
        "teenager\nRECALLED MEMORIES:\n- (m-ca22e5f6a27d) Attracting more teenage readers\n"
        "- (m-6b05bdff0e56) adds to list of three ideas, 2018-10-31",
    ),
)


async def test_the_prose_grammar_keeps_json_syntax_out_of_thoughts() -> None:
    """The prompt that opened a brainstorm thought with '…”, “salience”: 0.7, …' on the
    shipped model: over twelve seeds, with the prose grammar every thought passes the role's
    checks and holds none of the characters it forbids; the same model without it (the
    control) writes some of them."""
    from gwa.agents.models import ChatRequest
    from gwa.agents.roles import parse_output, request_schema

    schema = request_schema("candidates", max_tokens=160)
    shipped = LocalChatModel.shared()
    free = shipped._view(prose=False)
    forbidden = re.compile(r'[\[\]{}"“”]|^\W')
    freely = []
    for seed in range(1, 13):
        request = ChatRequest(PROSE_PROMPT, 0.9, 160, seed, schema)
        thought = parse_output("candidates", (await shipped.complete(request)).text)
        assert isinstance(thought, CandidatesOut)
        assert not forbidden.search(thought.candidates[0].text)
        freely.append(json.loads((await free.complete(request)).text)["candidates"][0]["text"])
    assert any(forbidden.search(text) for text in freely)
