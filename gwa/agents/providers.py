"""Network chat-model providers: any OpenAI-compatible endpoint, any LangChain chat model."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, get_args

from gwa.agents.models import ChatRequest, ChatResponse, estimate_tokens, guard_network
from gwa.errors import ConfigError, ModelError, ModelTimeout, ModelUnavailable
from gwa.types import ToolInfo, Usage

StructuredOutput = Literal["auto", "none", "json_schema", "json_object"]
"""How a role's schema reaches an OpenAI-compatible server (see `OpenAIChatModel`)."""
STRUCTURED_ENV = "GWA_STRUCTURED_OUTPUT"
"""Sets ``structured_output`` for endpoints whose scenario does not."""
LADDER: tuple[str, ...] = ("json_schema", "json_object", "none")
"""What ``auto`` tries, in order."""


def structured_output_from_env(value: str | None = None) -> StructuredOutput:
    """``GWA_STRUCTURED_OUTPUT`` (default ``auto``), checked."""
    raw = (os.environ.get(STRUCTURED_ENV, "") if value is None else value).strip() or "auto"
    if raw not in get_args(StructuredOutput):
        raise ConfigError(
            f"{STRUCTURED_ENV}={raw!r} is not one of {', '.join(get_args(StructuredOutput))}"
        )
    return raw  # type: ignore[return-value]


def fits(text: str, schema: dict[str, Any]) -> bool:
    """Whether ``text`` holds a JSON object with the schema's required top-level fields (a
    server that ignored ``response_format`` usually answers in prose)."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        data = json.loads(match.group(0), strict=False) if match else None
    except ValueError:
        return False
    return isinstance(data, dict) and all(k in data for k in schema.get("required", []))


def as_proposal(content: str, tool: str, arguments: str) -> str:
    """A native function call as a generator's output: the thought (the content's own
    proposal, or its prose, or a sentence naming the call) with the call as its action."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        args = {"_unparsed": arguments}
    match = re.search(r"\{.*\}", content, re.DOTALL)
    thought = content.strip()
    try:
        data = json.loads(match.group(0), strict=False) if match else None
        if isinstance(data, dict):
            thought = str(data["candidates"][0]["text"])
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    if len(thought) < 12 or thought.startswith("{"):
        thought = f"Call the tool {tool} to move toward the goal."
    action = {"tool": tool, "arguments": args}
    return json.dumps(
        {"candidates": [{"text": thought, "salience": 0.5, "final": False, "action": action}]}
    )


class _Refused(Exception):
    """An endpoint refused a request (perhaps its response_format); another mode may work."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class OpenAIChatModel:
    """A model behind an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
    llama.cpp server, LM Studio …), called through the ``openai`` SDK.

    The SDK retries 408/409/429/5xx and connection errors with exponential backoff
    (``max_retries``). ``structured_output`` sends the role's schema as ``response_format``
    so the server enforces it: ``json_schema`` (OpenAI, vLLM, Ollama) or ``json_object``
    (llama.cpp's server, which takes ``{"type": "json_object", "schema": …}``); ``none``
    only prompts. ``auto`` (the default) tries json_schema, then json_object, then prompting,
    moving on when the server refuses the format (HTTP 400/422) or answers without the
    schema's fields, and remembers per endpoint and model what worked (for the process).
    """

    _learned: ClassVar[dict[tuple[str, str], str]] = {}
    """(base URL, model) → the structured-output mode that worked there."""
    _native: ClassVar[dict[tuple[str, str], bool]] = {}
    """(base URL, model) → whether it takes tools as functions (unknown: try)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        structured_output: StructuredOutput = "auto",
        http_client: Any = None,
    ) -> None:
        import openai

        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.structured_output = structured_output
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=timeout_s,
            max_retries=max_retries,
            http_client=http_client,
        )

    @property
    def name(self) -> str:
        """``openai:<model>``."""
        return f"openai:{self.model}"

    async def aclose(self) -> None:
        """Close the HTTP connections (before the event loop that opened them closes)."""
        await self._client.close()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Call the endpoint; map SDK failures to `ModelError`s without echoing credentials."""

        guard_network(self.name, self.base_url or "https://api.openai.com/v1")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        modes = self._modes() if request.schema is not None else ["none"]
        spent = Usage()
        if request.tools and request.schema is not None and self._native.get(self._key, True):
            native = await self._native_call(kwargs, request)
            if native is not None and fits(native.text, request.schema):
                return native
            spent += native.usage if native is not None else Usage()
        for i, mode in enumerate(modes):
            last = i == len(modes) - 1
            try:
                text, usage = await self._answer(kwargs, request, mode)
            except _Refused as exc:  # the server cannot take this response_format
                if last:
                    raise ModelError(f"{self.name}: HTTP {exc.status}") from None
                continue
            if last or request.schema is None or fits(text, request.schema):
                if self.structured_output == "auto" and request.schema is not None:
                    self._learned[self._key] = mode
                return ChatResponse(text=text, usage=spent + usage, model=self.name)
            spent += usage  # the server ignored the format: try the next mode
        raise ModelError(f"{self.name}: no structured-output mode to try")  # unreachable

    async def _answer(
        self, kwargs: dict[str, Any], request: ChatRequest, mode: str
    ) -> tuple[str, Usage]:
        """One call in ``mode``: the text and its usage; streamed to ``request.on_text``
        piece by piece when the caller watches."""
        if request.on_text is None:
            resp = await self._create(kwargs, request.schema, mode)
            text = (resp.choices[0].message.content or "") if resp.choices else ""
            return text, self._usage(resp, text)
        stream = await self._create(
            {**kwargs, "stream": True, "stream_options": {"include_usage": True}},
            request.schema,
            mode,
        )
        pieces: list[str] = []
        usage: Any = None
        async for chunk in stream:
            usage = chunk.usage or usage
            piece = (chunk.choices[0].delta.content or "") if chunk.choices else ""
            if piece:
                pieces.append(piece)
                request.on_text(piece)
        text = "".join(pieces)
        if usage is None:
            return text, Usage(0, estimate_tokens(text))
        return text, Usage(usage.prompt_tokens, usage.completion_tokens)

    async def _native_call(
        self, kwargs: dict[str, Any], request: ChatRequest
    ) -> ChatResponse | None:
        """Offer the tools as functions (native function calling); a call the model makes
        becomes the proposal's action. None when the endpoint refuses tools (remembered)."""
        if self.structured_output != "auto":
            return None
        try:
            resp = await self._create(kwargs, request.schema, "tools", request.tools)
        except _Refused:
            self._native[self._key] = False
            return None
        message = resp.choices[0].message if resp.choices else None
        text = (message.content or "") if message is not None else ""
        calls = (message.tool_calls or []) if message is not None else []
        if calls:
            self._native[self._key] = True
            text = as_proposal(text, calls[0].function.name, calls[0].function.arguments)
        return ChatResponse(text=text, usage=self._usage(resp, text), model=self.name)

    @property
    def _key(self) -> tuple[str, str]:
        return (self.base_url or "https://api.openai.com/v1", self.model)

    def _modes(self) -> list[str]:
        """The modes to try for a request with a schema."""
        if self.structured_output != "auto":
            return [self.structured_output]
        learned = self._learned.get(self._key)
        return list(LADDER[LADDER.index(learned) :]) if learned else list(LADDER)

    async def _create(
        self, kwargs: dict[str, Any], schema: Any, mode: str, tools: Sequence[ToolInfo] = ()
    ) -> Any:
        """One chat-completions call with the ``response_format`` of ``mode`` (``tools``:
        the tools as functions instead)."""
        import openai

        call = dict(kwargs)
        if mode == "tools":
            call["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in tools
            ]
            call["tool_choice"] = "auto"
        elif mode == "json_schema":
            call["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema},
            }
        elif mode == "json_object":
            call["response_format"] = {"type": "json_object", "schema": schema}
        try:
            return await self._client.chat.completions.create(**call)
        except openai.APITimeoutError:
            raise ModelTimeout(f"{self.name} timed out") from None
        except openai.APIConnectionError:
            raise ModelUnavailable(
                f"{self.name}: cannot connect to {self.base_url or 'api.openai.com'}"
            ) from None
        except openai.AuthenticationError:
            raise ModelUnavailable(
                f"{self.name}: authentication failed; check OPENAI_API_KEY or the scenario's "
                "model.api_key"
            ) from None
        except openai.APIStatusError as exc:
            # 400/422, or a 500 that outlived the retries (llama.cpp's server answers a
            # json_schema response_format with 500): the caller may try another mode.
            if exc.status_code in (400, 422, 500) and self.structured_output == "auto":
                raise _Refused(exc.status_code) from None
            raise ModelError(f"{self.name}: HTTP {exc.status_code}") from None

    @staticmethod
    def _usage(resp: Any, text: str) -> Usage:
        return Usage(
            resp.usage.prompt_tokens if resp.usage else 0,
            resp.usage.completion_tokens if resp.usage else estimate_tokens(text),
        )


class LangChainChatModel:
    """Adapts any langchain-core ``BaseChatModel``; temperature is set per call.

    The temperature is passed by binding (``model.bind(temperature=…)``) or, for models that
    ignore bound kwargs, by a per-call copy (``model_copy(update=…)``), so agents sharing one
    LangChain model still sample at their own temperature.
    """

    def __init__(self, model: Any, *, network: bool | None = None) -> None:
        from langchain_core.language_models import BaseChatModel

        if not isinstance(model, BaseChatModel):
            raise ModelUnavailable(
                f"expected a langchain_core BaseChatModel, got {type(model).__name__}"
            )
        self._model = model
        module = type(model).__module__
        self._network = (
            network
            if network is not None
            else not module.startswith("langchain_core.language_models.fake")
        )

    @property
    def name(self) -> str:
        """``langchain:<class name>``."""
        return f"langchain:{type(self._model).__name__}"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Invoke the LangChain model at the request's temperature."""
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        if self._network:
            guard_network(self.name, None)
        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        messages = [kinds[m.role](content=m.content) for m in request.messages]
        update: dict[str, Any] = {}
        fields = type(self._model).model_fields
        if "temperature" in fields:
            update["temperature"] = request.temperature
        if "max_tokens" in fields:
            update["max_tokens"] = request.max_tokens
        model = self._model.model_copy(update=update) if update else self._model
        try:
            result = await model.ainvoke(messages)
        except Exception as exc:
            raise ModelError(f"{self.name}: {type(exc).__name__}: {exc}") from None
        text = result.content if isinstance(result.content, str) else str(result.content)
        meta = getattr(result, "usage_metadata", None) or {}
        usage = Usage(
            int(meta.get("input_tokens", 0))
            or sum(estimate_tokens(m.content) for m in request.messages),
            int(meta.get("output_tokens", 0)) or estimate_tokens(text),
        )
        return ChatResponse(text=text, usage=usage, model=self.name)
