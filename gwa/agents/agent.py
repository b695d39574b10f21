"""The agent seam: anything with a name, a role and an ``act`` coroutine."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from gwa.agents.models import ChatModel, ChatRequest
from gwa.agents.prompts import render
from gwa.agents.roles import OUTPUTS, CandidatesOut, Role, parse_output, request_schema
from gwa.errors import ModelError, RoleOutputError
from gwa.types import ChatMessage, Request, ToolInfo, Usage


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One model call an agent made, for the ``model.call`` trace event."""

    model: str
    temperature: float
    max_tokens: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    attempt: int
    ok: bool
    error: str | None = None


@dataclass(slots=True)
class AgentContext:
    """Per-turn services an agent gets: limits, seed, and a log of its model calls."""

    max_tokens: int = 256
    seed: int | None = None
    calls: list[CallRecord] = field(default_factory=list)
    on_text: Callable[[str], None] | None = None
    """Called with each piece of a model's output as it is generated (when the run streams
    and the model can)."""

    @property
    def usage(self) -> Usage:
        """Tokens used by the calls of this turn."""
        return sum(
            (Usage(c.prompt_tokens, c.completion_tokens) for c in self.calls),
            Usage(),
        )


@runtime_checkable
class Agent(Protocol):
    """A specialist in the swarm. It sees only the request it is handed and returns its output.

    The output (a pydantic model or a plain dict) is parsed against the role's schema by the
    workspace; anything that does not fit is rejected and traced.
    """

    @property
    def name(self) -> str:
        """Unique within the scenario."""
        ...

    @property
    def role(self) -> Role:
        """What the agent may emit."""
        ...

    async def act(self, request: Request, ctx: AgentContext) -> BaseModel | dict[str, Any]:
        """Do one turn."""
        ...


class LLMAgent:
    """An agent whose turn is a chat-model call, parsed against its role's schema.

    If the output does not parse, the agent asks once more with the error (one repair attempt);
    a second failure raises `RoleOutputError`.
    """

    def __init__(
        self,
        name: str,
        role: Role,
        model: ChatModel,
        *,
        instruction: str | None = None,
        candidates: int = 1,
        tools: Sequence[ToolInfo] = (),
    ) -> None:
        self._name = name
        self._role = role
        self.model = model
        self.instruction = instruction
        self.candidates = candidates
        self.tools: tuple[ToolInfo, ...] = tuple(tools)
        """Tools this agent may propose calls of (set by the workspace once a run lists
        them); a generator's output schema then carries an ``action``."""

    @property
    def name(self) -> str:
        """The agent's name."""
        return self._name

    @property
    def role(self) -> Role:
        """The agent's role."""
        return self._role

    async def _call(
        self, messages: tuple[ChatMessage, ...], request: Request, ctx: AgentContext, attempt: int
    ) -> str:
        chat = ChatRequest(
            messages=messages,
            temperature=request.temperature,
            max_tokens=ctx.max_tokens,
            seed=ctx.seed,
            schema=request_schema(
                self._role.output,
                n_candidates=len(request.candidates),
                n_items=self.candidates,
                max_tokens=ctx.max_tokens,
                tools=self.tools if self._role.output == "candidates" else (),
            ),
            tools=self.tools if self._role.output == "candidates" else (),
            on_text=ctx.on_text,
        )
        start = time.perf_counter()
        try:
            response = await self.model.complete(chat)
        except ModelError as exc:
            ctx.calls.append(
                CallRecord(
                    self.model.name,
                    chat.temperature,
                    chat.max_tokens,
                    0,
                    0,
                    (time.perf_counter() - start) * 1000,
                    attempt,
                    False,
                    str(exc),
                )
            )
            raise
        ctx.calls.append(
            CallRecord(
                response.model or self.model.name,
                chat.temperature,
                chat.max_tokens,
                response.usage.prompt_tokens,
                response.usage.completion_tokens,
                (time.perf_counter() - start) * 1000,
                attempt,
                True,
            )
        )
        return response.text

    async def act(self, request: Request, ctx: AgentContext) -> BaseModel:
        """Prompt, parse, repair once, and return the validated output."""
        messages = render(
            self._role,
            request,
            instruction=self.instruction,
            n_candidates=self.candidates,
            tools=self.tools if self._role.output == "candidates" else (),
        )
        n = len(request.candidates)
        tools = self.tools or None
        text = await self._call(messages, request, ctx, 1)
        try:
            out = parse_output(self._role.output, text, n_candidates=n, tools=tools)
        except RoleOutputError as first:
            repair = (
                *messages,
                ChatMessage("assistant", text),
                ChatMessage(
                    "user",
                    f"That reply was rejected: {first}. Reply again with one JSON object only, "
                    f"like: {OUTPUTS[self._role.output].example}",
                ),
            )
            text = await self._call(repair, request, ctx, 2)
            out = parse_output(self._role.output, text, n_candidates=n, tools=tools)
        if isinstance(out, CandidatesOut) and len(out.candidates) > self.candidates:
            out = CandidatesOut(candidates=out.candidates[: self.candidates])
        return out
