"""Record/replay cassettes: a replayed run reproduces the recorded run's events exactly.

A cassette maps each request's digest (`ChatRequest.key`) to the outcomes recorded for it, in
order. Requests with the same digest are answered first-in first-out, so concurrent agents
(whose prompts differ) and repeated identical prompts both replay faithfully. A call that was
cancelled while recording (an agent past its deadline) replays as a call that never returns,
so it is late again.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gwa.agents.models import ChatModel, ChatRequest, ChatResponse
from gwa.errors import CassetteMiss, ConfigError, ModelError, ModelTimeout, ModelUnavailable
from gwa.types import Usage

CASSETTE_VERSION = 1
_ERRORS: dict[str, type[ModelError]] = {
    "ModelError": ModelError,
    "ModelTimeout": ModelTimeout,
    "ModelUnavailable": ModelUnavailable,
}


class Cassette:
    """Recorded model interactions, loadable from and savable to a JSON file."""

    def __init__(self, interactions: list[dict[str, Any]] | None = None) -> None:
        self.interactions: list[dict[str, Any]] = list(interactions or [])

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        """Read a cassette; a missing or malformed file is a `ConfigError` naming it."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: cassette not found (record one with --record)") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{p}:{exc.lineno}:{exc.colno}: cassette is not JSON") from None
        if not isinstance(data, dict) or data.get("version") != CASSETTE_VERSION:
            raise ConfigError(f"{p}: not a GWA cassette of version {CASSETTE_VERSION}")
        return cls(list(data.get("interactions", [])))

    def save(self, path: str | Path, *, redact: Callable[[str], str] | None = None) -> None:
        """Write atomically (a crash mid-write leaves the old file intact); ``redact`` removes
        secrets from every recorded text (a replay then answers with the redacted text)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        interactions = self.interactions
        if redact is not None:
            interactions = [
                {k: redact(v) if isinstance(v, str) and k != "key" else v for k, v in i.items()}
                for i in interactions
            ]
        body = {"version": CASSETTE_VERSION, "interactions": interactions}
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name, suffix=".tmp")
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, ensure_ascii=False, indent=1)
        os.replace(tmp, p)


class RecordingModel:
    """Wraps a model and appends every request and its outcome to a cassette."""

    def __init__(self, inner: ChatModel, cassette: Cassette) -> None:
        self.inner = inner
        self.cassette = cassette

    @property
    def name(self) -> str:
        """The wrapped model's name."""
        return self.inner.name

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Call the wrapped model and record what happened."""
        entry: dict[str, Any] = {
            "key": request.key(),
            "temperature": request.temperature,
            "prompt": request.messages[-1].content[:200],
        }
        try:
            response = await self.inner.complete(request)
        except asyncio.CancelledError:
            self.cassette.interactions.append({**entry, "outcome": "cancelled"})
            raise
        except ModelError as exc:
            self.cassette.interactions.append(
                {**entry, "outcome": "error", "error": type(exc).__name__, "message": str(exc)}
            )
            raise
        self.cassette.interactions.append(
            {
                **entry,
                "outcome": "ok",
                "text": response.text,
                "usage": [response.usage.prompt_tokens, response.usage.completion_tokens],
                "model": response.model or self.inner.name,
            }
        )
        return response


class ReplayModel:
    """Answers from a cassette; a request it does not hold raises `CassetteMiss`."""

    def __init__(self, cassette: Cassette, *, source: str = "cassette") -> None:
        self._cassette = cassette
        self._queues: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._used: dict[str, int] = {}
        self.restore({})
        self._source = source

    def snapshot(self) -> dict[str, Any]:
        """How many recorded answers each request has consumed (a checkpoint: a resumed
        replay goes on where the interrupted one was)."""
        return {"used": dict(self._used)}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a `snapshot` (``{}``: from the start)."""
        self._queues.clear()
        for item in self._cassette.interactions:
            self._queues[item["key"]].append(item)
        self._used = {str(k): int(v) for k, v in dict(state.get("used", {})).items()}
        for key, n in self._used.items():
            for _ in range(min(n, len(self._queues[key]))):
                self._queues[key].popleft()

    @property
    def name(self) -> str:
        """``replay:<source>``."""
        return f"replay:{self._source}"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Return the next recorded outcome for this exact request."""
        queue = self._queues.get(request.key())
        if not queue:
            raise CassetteMiss(
                f"{self._source}: no recorded answer for this request (temperature "
                f"{request.temperature}); the scenario or prompts changed since recording: "
                "record again with --record"
            )
        item = queue.popleft()
        self._used[request.key()] = self._used.get(request.key(), 0) + 1
        if item["outcome"] == "cancelled":
            await asyncio.Event().wait()
        if item["outcome"] == "error":
            raise _ERRORS.get(item["error"], ModelError)(item["message"])
        prompt, completion = item["usage"]
        return ChatResponse(text=item["text"], usage=Usage(prompt, completion), model=item["model"])
