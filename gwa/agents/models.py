"""The chat-model seam: one small protocol every provider implements.

The network guard (`GWA_FORBID_NETWORK_MODELS`) lives in `gwa.netguard`; it is re-exported here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gwa.netguard import FORBID_ENV, guard_network, is_loopback, network_models_forbidden
from gwa.types import ChatMessage, ToolInfo, Usage

__all__ = [
    "FORBID_ENV",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "estimate_tokens",
    "guard_network",
    "is_loopback",
    "network_models_forbidden",
]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a model is asked: the prompt and how to sample."""

    messages: tuple[ChatMessage, ...]
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    schema: dict[str, Any] | None = field(default=None, compare=False)
    """JSON Schema the output must follow; providers that can enforce it at generation time do."""
    on_text: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    """Called with each piece of the output as it is generated, by models that stream (the
    embedded model, the fake); the whole text is still returned."""
    tools: tuple[ToolInfo, ...] = field(default=(), compare=False)
    """Tools the output may propose a call of (also in ``schema``): a provider with native
    function calling offers them as functions."""

    def key(self) -> str:
        """A stable digest of the request, used by record/replay cassettes."""
        body = {
            "messages": [[m.role, m.content] for m in self.messages],
            "temperature": round(self.temperature, 6),
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "schema": self.schema,
        }
        raw = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """A model's answer and what it cost."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns a `ChatRequest` into a `ChatResponse`."""

    @property
    def name(self) -> str:
        """``provider:model``, as shown in traces."""
        ...

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer the request; raise a `gwa.errors.ModelError` on failure."""
        ...


def estimate_tokens(text: str) -> int:
    """A cheap token estimate for providers that report no usage (about 4 characters a token)."""
    return max(1, (len(text) + 3) // 4) if text else 0
