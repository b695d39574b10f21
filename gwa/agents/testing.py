"""Test doubles shipped with GWA, so tests never improvise fakes or reach a network model.

- `ScriptedModel` answers with a fixed script (strings, exceptions, or callables), in order.
- `FunctionModel` answers with whatever a function returns for the request.
- `FakeModel` answers every built-in role with valid, deterministic JSON, optionally after a
  fixed latency: for examples, demos and benchmarks.
- `forbid_network_models()` switches network models off (the test suite does this globally).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from gwa.agents.models import FORBID_ENV, ChatRequest, ChatResponse, estimate_tokens
from gwa.errors import ModelError, ModelTimeout
from gwa.types import Usage

Reply = str | ChatResponse
ScriptItem = Reply | BaseException | Callable[[ChatRequest], Reply]


def _response(reply: Reply, request: ChatRequest, name: str) -> ChatResponse:
    if isinstance(reply, ChatResponse):
        return reply
    prompt = sum(estimate_tokens(m.content) for m in request.messages)
    return ChatResponse(text=reply, usage=Usage(prompt, estimate_tokens(reply)), model=name)


class _TestModel:
    """What the shipped test models share: a ``test:`` name and the requests they received."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.requests: list[ChatRequest] = []

    @property
    def name(self) -> str:
        """``test:<name>``."""
        return f"test:{self._name}"


class ScriptedModel(_TestModel):
    """Answers requests from a script, one item per call; an exception item is raised.

    Every request is kept in `requests` so tests can check prompts and temperatures.
    When the script runs out, the model raises `ModelError` (or repeats the last item when
    ``cycle=True``).
    """

    def __init__(
        self, script: Iterable[ScriptItem], *, name: str = "scripted", cycle: bool = False
    ) -> None:
        super().__init__(name)
        self._script = list(script)
        self._cycle = cycle
        self._index = 0

    def snapshot(self) -> dict[str, Any]:
        """How far into the script it is."""
        return {"index": self._index}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on from a `snapshot`."""
        self._index = int(state["index"])

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Return (or raise) the next script item."""
        self.requests.append(request)
        if self._index >= len(self._script):
            if not (self._cycle and self._script):
                raise ModelError(f"{self.name}: script exhausted after {self._index} calls")
            item = self._script[-1]
        else:
            item = self._script[self._index]
        self._index += 1
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            item = item(request)
        return _response(item, request, self.name)


class FunctionModel(_TestModel):
    """Answers each request with ``fn(request)`` (sync or async; a string or a ChatResponse)."""

    def __init__(
        self, fn: Callable[[ChatRequest], Reply | Awaitable[Reply]], *, name: str = "function"
    ) -> None:
        super().__init__(name)
        self._fn = fn

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Call the function and wrap its answer."""
        self.requests.append(request)
        result = self._fn(request)
        if inspect.isawaitable(result):
            result = await result
        return _response(result, request, self.name)


_INDEXED = re.compile(r"^\[(\d+)\]", re.MULTILINE)
_GOAL = re.compile(r"^GOAL: (.*)$", re.MULTILINE)


FAULTS = ("exception", "timeout", "empty", "invalid-json", "huge")
"""What an injected fault of `FakeModel` is, in turn."""
KEEP_REQUESTS = 1000
"""The fake keeps this many recent requests (a long soak run must not grow without bound)."""


class FakeModel(_TestModel):
    """Valid, deterministic output for every built-in output kind, after ``latency_s``.

    Generators propose numbered thoughts about the goal and mark one final after
    ``final_after`` proposals; critics score candidates in turn; arbiters pick the first
    candidate and answer RESPOND when it is final. Useful to run any scenario with no model.
    With ``faults`` (a share of calls, 0–1) it fails on purpose, chosen by ``seed`` and the
    call's number (so a resumed or replayed run fails at the same calls): an exception, a
    timeout, an empty reply, invalid JSON or 50 kB of text (`FAULTS`).
    """

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        final_after: int = 3,
        name: str = "fake",
        faults: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(name)
        self.latency_s = latency_s
        self.final_after = final_after
        self.faults = faults
        self.seed = seed
        self._count = 0
        self.calls = 0
        self.injected: dict[str, int] = {}
        """Faults injected so far, by kind."""

    def _fault(self) -> str | None:
        if self.faults <= 0:
            return None
        draw = zlib.crc32(f"{self.seed}:{self.calls}".encode())
        if draw % 10_000 >= self.faults * 10_000:
            return None
        kind = FAULTS[(draw // 10_000) % len(FAULTS)]
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind

    def _output(self, request: ChatRequest) -> object:
        kind = (request.schema or {}).get("title", "")
        prompt = request.messages[-1].content
        goal_match = _GOAL.search(prompt)
        goal = goal_match.group(1) if goal_match else "the goal"
        indexed = [int(i) for i in _INDEXED.findall(prompt)] or [1]
        self._count += 1
        n = self._count
        if kind == "Queries":
            return {"queries": [goal[:80]]}
        if kind == "Candidates":
            final = n > self.final_after
            text = f"Thought {n} on {goal[:60]}" + (" — final answer." if final else ".")
            return {"candidates": [{"text": text, "salience": 0.5 + (n % 5) / 10, "final": final}]}
        if kind == "Critiques":
            return {
                "critiques": [
                    {"candidate": i, "score": (n + i) % 7 - 2, "reason": f"point {i}"}
                    for i in indexed
                ]
            }
        if kind == "Choice":
            final = "final answer" in prompt
            tag = "RESPOND" if final else "THINK_MORE"
            return {"winner": indexed[0], "tag": tag, "reason": "first listed"}
        if kind == "Summary":
            return {"summary": f"Summary {n}: earlier thoughts on {goal[:60]}."}
        if kind == "Response":
            return {"answer": f"Answer to {goal[:80]}"}
        return {"text": f"reply {n}"}

    def snapshot(self) -> dict[str, Any]:
        """How many answers and calls it had (its outputs are numbered, its faults drawn by
        call number), and the faults injected."""
        return {"count": self._count, "calls": self.calls, "injected": dict(self.injected)}

    def restore(self, state: dict[str, Any]) -> None:
        """Go on numbering from a `snapshot`."""
        self._count = int(state["count"])
        self.calls = int(state.get("calls", 0))
        self.injected = {str(k): int(v) for k, v in dict(state.get("injected", {})).items()}

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Sleep ``latency_s``, then answer by the request's schema title (or fail, when a
        fault is drawn)."""
        self.requests.append(request)
        if len(self.requests) > 2 * KEEP_REQUESTS:
            del self.requests[:-KEEP_REQUESTS]
        self.calls += 1
        fault = self._fault()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault == "exception":
            raise ModelError(f"{self.name}: injected fault at call {self.calls}")
        if fault == "timeout":
            raise ModelTimeout(f"{self.name}: injected timeout at call {self.calls}")
        if fault is not None:
            text = {"empty": "", "invalid-json": '{"not": json'}.get(fault, "x" * 50_000)
            return _response(text, request, self.name)
        text = json.dumps(self._output(request))
        if request.on_text is not None:
            for piece in re.findall(r"\S+\s*", text):
                request.on_text(piece)
                await asyncio.sleep(0)
        return _response(text, request, self.name)


@contextmanager
def forbid_network_models() -> Iterator[None]:
    """Within the block, any network model raises `NetworkModelForbidden` instead of calling."""
    old = os.environ.get(FORBID_ENV)
    os.environ[FORBID_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(FORBID_ENV, None)
        else:
            os.environ[FORBID_ENV] = old
