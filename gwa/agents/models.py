"""The chat-model seam: one small protocol every provider implements."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlparse

from gwa.errors import NetworkModelForbidden
from gwa.types import ChatMessage, Usage

FORBID_ENV = "GWA_FORBID_NETWORK_MODELS"
"""Set to 1 (the test suite does) to make every network model refuse to call out."""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a model is asked: the prompt and how to sample."""

    messages: tuple[ChatMessage, ...]
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    schema: dict[str, Any] | None = field(default=None, compare=False)
    """JSON Schema the output must follow; providers that can enforce it at generation time do."""

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


def network_models_forbidden() -> bool:
    """Whether network models are switched off (``GWA_FORBID_NETWORK_MODELS=1``)."""
    return os.environ.get(FORBID_ENV, "") not in ("", "0", "false", "no")


def is_loopback(url: str | None) -> bool:
    """Whether a base URL points at this machine (allowed even when network models are not)."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def guard_network(model_name: str, base_url: str | None) -> None:
    """Refuse a call to a non-loopback endpoint while network models are forbidden."""
    if network_models_forbidden() and not is_loopback(base_url):
        raise NetworkModelForbidden(
            f"model {model_name!r} would call {base_url or 'the network'} but network models are "
            f"forbidden ({FORBID_ENV}=1); use gwa.agents.testing.ScriptedModel, FunctionModel "
            "or a replay cassette in tests"
        )


def estimate_tokens(text: str) -> int:
    """A cheap token estimate for providers that report no usage (about 4 characters a token)."""
    return max(1, (len(text) + 3) // 4) if text else 0
