"""The OpenAI-compatible endpoint: each served scenario is a model; a conversation's last user
message is the goal, its earlier turns are inputs the first cycle perceives, and the
workspace's answer is the reply (streamed with ``stream: true``; ``"gwa_events": true`` adds
every trace event as an extra chunk field for clients that want the cycles)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from gwa.serve.hub import RunHub, ServedRun

_WORD = re.compile(r"\S+\s*")


async def models(request: Request, hub: RunHub) -> Response:
    """``GET /v1/models``: the served scenarios."""
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "gwa"} for name in hub.served]
    return JSONResponse({"object": "list", "data": data})


def conversation(data: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(goal, earlier turns as inputs) from a chat-completions body; a 400 when malformed."""
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HTTPException(400, "'messages' must be a non-empty list")
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(messages):
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):  # content parts: keep the text ones
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str) or m.get("role") not in ("system", "user", "assistant"):
            raise HTTPException(400, f"messages[{i}] needs a role and text content")
        turns.append((m["role"], content))
    users = [i for i, (role, _) in enumerate(turns) if role == "user"]
    if not users or not turns[users[-1]][1].strip():
        raise HTTPException(400, "the conversation needs a user message with text")
    last = users[-1]
    earlier = tuple(
        (f"{role}: {text}", f"chat:{role}")
        for i, (role, text) in enumerate(turns)
        if i != last and role != "system" and text.strip()
    )
    return turns[last][1], earlier


async def body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 naming what is wrong."""
    try:
        data = await request.json()
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return data


async def chat_completions(request: Request, hub: RunHub) -> Response:
    """``POST /v1/chat/completions`` (``stream`` or not)."""
    data = await body(request)
    name = data.get("model")
    if not isinstance(name, str) or name not in hub.served:
        raise KeyError(f"the model {name!r} does not exist; models: {', '.join(hub.served)}")
    goal, earlier = conversation(data)
    run = await hub.start(name, goal, earlier)
    if data.get("stream") is True:
        extra = data.get("gwa_events") is True
        return EventSourceResponse(_chunks(run, name, extra), ping=15)
    assert run.task is not None
    await run.task
    return JSONResponse(_completion(run, name))


def _completion(run: ServedRun, name: str) -> dict[str, Any]:
    r = run.result
    usage = r.usage if r else None
    return {
        "id": f"chatcmpl-{run.id}",
        "object": "chat.completion",
        "created": int(run.created),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": (r.answer if r else None) or ""},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "total_tokens": usage.total if usage else 0,
        },
        "gwa": {"run": run.id, "status": run.status, "cycles": r.cycles if r else 0},
    }


def _chunk(run: ServedRun, name: str, delta: dict[str, Any], finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": f"chatcmpl-{run.id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


async def _chunks(run: ServedRun, name: str, extra: bool) -> AsyncIterator[dict[str, str]]:
    yield {"data": _chunk(run, name, {"role": "assistant", "content": ""})}
    async for e in run.follow():
        data = e.data() if extra or e.event == "response" else {}
        if extra:
            yield {"data": json.dumps({**json.loads(_chunk(run, name, {})), "gwa_event": data})}
        if e.event == "response":
            for word in _WORD.findall(str(data.get("answer", ""))):
                yield {"data": _chunk(run, name, {"content": word})}
    yield {"data": _chunk(run, name, {}, "stop")}
    yield {"data": "[DONE]"}
