"""Network chat-model providers: any OpenAI-compatible endpoint, any LangChain chat model."""

from __future__ import annotations

import os
from typing import Any, Literal

from gwa.agents.models import ChatRequest, ChatResponse, estimate_tokens, guard_network
from gwa.errors import ModelError, ModelTimeout, ModelUnavailable
from gwa.types import Usage


class OpenAIChatModel:
    """A model behind an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama,
    llama.cpp server, LM Studio …), called through the ``openai`` SDK.

    The SDK retries 408/409/429/5xx and connection errors with exponential backoff
    (``max_retries``). ``structured_output`` sends the role's schema as ``response_format``
    so the server enforces it: ``json_schema`` (OpenAI, vLLM, Ollama) or ``json_object``
    (llama.cpp's server, which takes ``{"type": "json_object", "schema": …}``).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        structured_output: Literal["none", "json_schema", "json_object"] = "none",
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

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Call the endpoint; map SDK failures to `ModelError`s without echoing credentials."""
        import openai

        guard_network(self.name, self.base_url or "https://api.openai.com/v1")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.schema is not None and self.structured_output == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.schema},
            }
        elif request.schema is not None and self.structured_output == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": request.schema}
        try:
            resp = await self._client.chat.completions.create(**kwargs)
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
            raise ModelError(f"{self.name}: HTTP {exc.status_code}") from None
        text = (resp.choices[0].message.content or "") if resp.choices else ""
        usage = Usage(
            resp.usage.prompt_tokens if resp.usage else 0,
            resp.usage.completion_tokens if resp.usage else estimate_tokens(text),
        )
        return ChatResponse(text=text, usage=usage, model=self.name)


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
