"""Providers: the OpenAI-compatible client over a mock HTTP transport, LangChain, the guard."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from gwa.agents.models import ChatRequest, is_loopback
from gwa.agents.providers import LangChainChatModel, OpenAIChatModel
from gwa.agents.roles import parse_output, request_schema
from gwa.errors import ModelError, ModelUnavailable, NetworkModelForbidden
from gwa.types import ChatMessage, ToolInfo

REQUEST = ChatRequest((ChatMessage("user", "hi"),), temperature=0.3, max_tokens=20, seed=7)
SECRET = "sk-test-abcdefghijklmnopqrstuvwxyz"


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


def _model(handler: Any, retries: int = 0) -> OpenAIChatModel:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return OpenAIChatModel(
        "m",
        base_url="http://127.0.0.1:9/v1",
        api_key=SECRET,
        max_retries=retries,
        http_client=client,
        timeout_s=5,
    )


async def test_openai_provider_sends_sampling_settings_and_reads_usage() -> None:
    """Temperature, max tokens and seed reach the endpoint; usage comes back."""
    seen: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=_completion("hello"))

    response = await _model(handler).complete(REQUEST)
    assert response.text == "hello"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 3)
    assert (seen[0]["temperature"], seen[0]["max_tokens"], seen[0]["seed"]) == (0.3, 20, 7)


async def test_openai_provider_retries_rate_limits() -> None:
    """A 429 is retried (with backoff) and the next success is returned."""
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx2.Response(
                429, json={"error": {"message": "slow down"}}, headers={"retry-after-ms": "1"}
            )
        return httpx2.Response(200, json=_completion("ok"))

    assert (await _model(handler, retries=2).complete(REQUEST)).text == "ok"
    assert len(calls) == 2


async def test_openai_auth_failure_is_clear_and_never_shows_the_key() -> None:
    """A 401 becomes ModelUnavailable saying what to check, without the key."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(401, json={"error": {"message": f"bad key {SECRET}"}})

    with pytest.raises(ModelUnavailable, match="OPENAI_API_KEY") as info:
        await _model(handler).complete(REQUEST)
    assert SECRET not in str(info.value)


async def test_openai_server_errors_become_model_errors() -> None:
    """A 500 with no retries left is a ModelError with the status."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(500, json={"error": {"message": "down"}})

    with pytest.raises(ModelError, match="HTTP 500"):
        await _model(handler).complete(REQUEST)


async def test_network_models_are_forbidden_in_tests() -> None:
    """A non-loopback endpoint refuses to call while GWA_FORBID_NETWORK_MODELS=1."""
    model = OpenAIChatModel("m", base_url="https://api.example.com/v1", api_key="x")
    with pytest.raises(NetworkModelForbidden, match="ScriptedModel"):
        await model.complete(REQUEST)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost/v1", True),
        ("https://a.b/v1", False),
        (None, False),
    ],
)
def test_loopback_detection(url: str | None, expected: bool) -> None:
    """Only loopback hosts count as local."""
    assert is_loopback(url) == expected


class _TemperatureEcho(BaseChatModel):
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=f"T={self.temperature}"))]
        )


async def test_langchain_adapter_sets_temperature_per_call() -> None:
    """The same LangChain model answers at each request's own temperature."""
    model = LangChainChatModel(_TemperatureEcho(), network=False)
    hot = await model.complete(ChatRequest((ChatMessage("user", "x"),), temperature=1.2))
    cold = await model.complete(ChatRequest((ChatMessage("user", "x"),), temperature=0.1))
    assert (hot.text, cold.text) == ("T=1.2", "T=0.1")
    assert hot.usage.completion_tokens > 0


async def test_langchain_fake_models_are_allowed_and_real_ones_guarded() -> None:
    """LangChain's own fakes run in tests; other models count as network models."""
    fake = LangChainChatModel(GenericFakeChatModel(messages=iter(["hi there"])))
    assert (await fake.complete(REQUEST)).text == "hi there"
    with pytest.raises(NetworkModelForbidden):
        await LangChainChatModel(_TemperatureEcho()).complete(REQUEST)


def test_langchain_adapter_rejects_other_objects() -> None:
    """Only BaseChatModel instances are accepted."""
    with pytest.raises(ModelUnavailable, match="BaseChatModel"):
        LangChainChatModel(object())


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
STRUCTURED = ChatRequest((ChatMessage("user", "answer"),), schema=SCHEMA)


def _auto_model(handler: Any, base: str) -> OpenAIChatModel:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return OpenAIChatModel("m", base_url=base, http_client=client, max_retries=0, timeout_s=5)


async def test_auto_falls_back_when_the_server_refuses_a_format_and_remembers() -> None:
    """json_schema refused (400) → json_object, which the server honours; the next request
    (even from another model object) goes straight to json_object."""
    formats: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        fmt = (json.loads(request.content).get("response_format") or {}).get("type")
        formats.append(fmt)
        if fmt == "json_schema":
            return httpx2.Response(400, json={"error": {"message": "unsupported"}})
        return httpx2.Response(200, json=_completion('{"answer": "yes"}'))

    base = "http://127.0.0.1:9/auto-400/v1"
    assert (await _auto_model(handler, base).complete(STRUCTURED)).text == '{"answer": "yes"}'
    assert formats == ["json_schema", "json_object"]
    await _auto_model(handler, base).complete(STRUCTURED)
    assert formats[2:] == ["json_object"]


async def test_auto_moves_on_when_the_server_ignores_the_format() -> None:
    """A server that accepts response_format but answers in prose (as llama.cpp's server
    did with json_schema) is caught by the schema's fields; its tokens still count."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        fmt = (json.loads(request.content).get("response_format") or {}).get("type")
        text = '{"answer": "ok"}' if fmt == "json_object" else "Sure! The answer is ok."
        return httpx2.Response(200, json=_completion(text))

    response = await _auto_model(handler, "http://127.0.0.1:9/auto-ignore/v1").complete(STRUCTURED)
    assert response.text == '{"answer": "ok"}'
    assert response.usage.completion_tokens == 6  # both attempts


async def test_structured_output_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """GWA_STRUCTURED_OUTPUT sets the mode for endpoints the scenario leaves unset; a wrong
    value is a clear error."""
    from gwa.agents.providers import structured_output_from_env
    from gwa.errors import ConfigError
    from gwa.resolve import build_model
    from gwa.scenario import ModelSpec

    monkeypatch.setenv("GWA_STRUCTURED_OUTPUT", "json_object")
    model = build_model(ModelSpec(provider="openai", name="m", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(model, OpenAIChatModel)
    assert model.structured_output == "json_object"
    pinned = ModelSpec(provider="openai", name="m", structured_output="none")
    assert build_model(pinned).structured_output == "none"  # type: ignore[attr-defined]
    monkeypatch.setenv("GWA_STRUCTURED_OUTPUT", "xml")
    with pytest.raises(ConfigError, match="GWA_STRUCTURED_OUTPUT='xml'"):
        structured_output_from_env()
    monkeypatch.delenv("GWA_STRUCTURED_OUTPUT")
    assert structured_output_from_env() == "auto"


CALC = ToolInfo(
    "calculate",
    "Evaluate arithmetic.",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
)
WITH_TOOLS = ChatRequest(
    (ChatMessage("user", "add them"),),
    schema=request_schema("candidates", tools=[CALC]),
    tools=(CALC,),
)


def _tool_call(name: str, arguments: str, content: str | None = None) -> dict[str, Any]:
    body = _completion(content or "")
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }
    return body


async def test_native_function_calling_turns_a_call_into_the_proposals_action() -> None:
    """The tools go to the endpoint as functions; the model's call becomes a valid proposal
    with that action, and the agent's parser accepts it."""
    seen: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=_tool_call("calculate", '{"expression": "2+2"}'))

    model = _auto_model(handler, "http://127.0.0.1:9/native-ok/v1")
    response = await model.complete(WITH_TOOLS)
    assert seen[0]["tools"][0]["function"]["name"] == "calculate"
    assert seen[0]["tool_choice"] == "auto"
    out = parse_output("candidates", response.text, tools=[CALC])
    action = out.candidates[0].action  # type: ignore[attr-defined]
    assert (action.tool, action.arguments) == ("calculate", {"expression": "2+2"})


async def test_an_endpoint_without_function_calling_gets_the_schema_and_is_remembered() -> None:
    """Tools refused (400): the schema goes as response_format, and the next request skips
    the functions."""
    calls: list[bool] = []
    proposal = json.dumps(
        {"candidates": [{"text": "Compute it with the tool.", "salience": 0.5, "final": False,
                         "action": {"tool": "calculate", "arguments": {"expression": "2+2"}}}]}
    )  # fmt: skip

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        calls.append("tools" in body)
        if "tools" in body:
            return httpx2.Response(400, json={"error": {"message": "tools unsupported"}})
        return httpx2.Response(200, json=_completion(proposal))

    base = "http://127.0.0.1:9/native-refused/v1"
    assert (await _auto_model(handler, base).complete(WITH_TOOLS)).text == proposal
    await _auto_model(handler, base).complete(WITH_TOOLS)
    assert calls == [True, False, False]


async def test_openai_provider_streams_the_output_to_a_watcher() -> None:
    """With ``on_text`` the request asks for a stream; the pieces arrive in order, join to
    the returned text, and the final chunk's usage is kept."""
    seen: list[dict[str, Any]] = []
    pieces = ['{"answer"', ': "a ', "green", ' park"}']

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        chunks = [
            {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
            for p in pieces
        ]  # fmt: skip
        usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
        chunks.append(
            {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [], "usage": usage}
        )  # fmt: skip
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx2.Response(200, text=body, headers={"content-type": "text/event-stream"})

    got: list[str] = []
    request = ChatRequest((ChatMessage("user", "a park"),), schema=SCHEMA, on_text=got.append)
    response = await _auto_model(handler, "http://127.0.0.1:9/stream/v1").complete(request)
    assert seen[0]["stream"] is True
    assert got == pieces
    assert response.text == "".join(pieces)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (9, 4)
