"""An optional LLM judge over long-term recall (off by default; ``memory.judge`` in a scenario).

After the first retrieval round a model reads the question(s) and what was recalled, says
whether that covers them, and names up to ``max_queries`` searches for what is missing (the
judge-and-re-query step of AMA-style memory agents). A second round runs those searches and the
two rankings are interleaved, so what the first round found stays near the top and the second
round's finds join it. A model error or an output that does not parse keeps the first
round as it was: the judge can add to recall, never lose it.

It costs one model call per retrieval (two retrieval rounds when it re-queries), so it is meant
for users with a capable model; measured separately from the default retrieval
(docs/memory.md, `gwa eval memory --judge MODEL`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gwa.agents.models import ChatModel, ChatRequest
from gwa.agents.roles import extract_json
from gwa.errors import ModelError
from gwa.memory import Retriever
from gwa.types import ChatMessage, Memory

T = TypeVar("T")

SHOWN = 5  # recalled texts shown to the judge (the first round's best)
SHOWN_CHARS = 200

INSTRUCTIONS = (
    "You check whether recalled notes are enough to answer a question. If they are, reply "
    '{"enough": true, "queries": []}. If not, reply {"enough": false, "queries": [...]} with '
    "up to {n} short search queries for the missing facts: names, places, events or dates the "
    "question needs that the notes do not mention. Reply with one JSON object only."
)


def judge_schema(max_queries: int) -> dict[str, Any]:
    """The judge's output: whether the notes suffice, and the searches for what is missing."""
    return {
        "title": "Verdict",
        "type": "object",
        "properties": {
            "enough": {"type": "boolean"},
            "queries": {
                "type": "array",
                "items": {"type": "string", "minLength": 2, "maxLength": 80},
                "maxItems": max_queries,
            },
        },
        "required": ["enough", "queries"],
    }


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the judge said (``error``: why it said nothing usable; the first round stands)."""

    enough: bool
    queries: tuple[str, ...] = ()
    error: str | None = None


def _parse(text: str, max_queries: int) -> Verdict:
    try:
        data = extract_json(text)
        enough = data["enough"]
        raw = data.get("queries") or []
    except (ValueError, KeyError, TypeError):
        return Verdict(True, error=f"the judge's output is not the expected JSON: {text[:80]!r}")
    if not isinstance(enough, bool) or not isinstance(raw, list):
        return Verdict(True, error="the judge's output has the wrong types")
    queries = tuple(q.strip() for q in raw if isinstance(q, str) and len(q.strip()) > 1)
    return Verdict(enough or not queries, queries[:max_queries])


async def judge(
    model: ChatModel,
    questions: Sequence[str],
    recalled: Sequence[str],
    *,
    max_queries: int = 2,
    seed: int = 0,
) -> Verdict:
    """Ask ``model`` whether ``recalled`` covers ``questions``; what to search for if not."""
    notes = "\n".join(f"- {t[:SHOWN_CHARS]}" for t in recalled[:SHOWN]) or "(none)"
    user = "QUESTION: " + " / ".join(questions) + "\nRECALLED NOTES:\n" + notes
    request = ChatRequest(
        messages=(
            ChatMessage("system", INSTRUCTIONS.replace("{n}", str(max_queries))),
            ChatMessage("user", user),
        ),
        temperature=0.0,
        max_tokens=24 + 30 * max_queries,
        seed=seed,
        schema=judge_schema(max_queries),
    )
    try:
        response = await model.complete(request)
    except ModelError as exc:
        return Verdict(True, error=f"the judge's model failed: {exc}")
    return _parse(response.text, max_queries)


def fuse_rankings(
    first: Sequence[T], second: Sequence[T], k: int, key: Callable[[T], Any]
) -> list[T]:
    """The two rankings interleaved, the first round's first; an item in both (by ``key``)
    keeps its earlier place. (Reciprocal-rank fusion was not used: it lifts what both rounds
    find moderately, a generic memory, above what only the second round finds, the fact that
    was missing.)"""
    out: list[T] = []
    seen: set[Any] = set()
    for i in range(max(len(first), len(second))):
        for ranking in (first, second):
            if i < len(ranking) and key(ranking[i]) not in seen:
                seen.add(key(ranking[i]))
                out.append(ranking[i])
    return out[:k]


@dataclass
class JudgedRetriever:
    """A `Retriever` whose first round a model judges; it re-queries for what is missing.

    ``last`` is the latest retrieval's verdict and ``requeried`` the memories its second round
    brought (the cycle traces them as a ``memory.retrieve`` event of mode ``judged``).
    """

    inner: Retriever
    model: ChatModel
    max_queries: int = 2
    last: Verdict | None = field(default=None, init=False)
    requeried: tuple[Memory, ...] = field(default=(), init=False)

    async def retrieve(self, queries: Sequence[str], *, k: int) -> tuple[Memory, ...]:
        """The first round, and when the judge asks for it a second, fused."""
        self.last, self.requeried = None, ()
        first = await self.inner.retrieve(queries, k=k)
        if not queries or k <= 0:
            return first
        self.last = await judge(
            self.model, queries, [m.text for m in first], max_queries=self.max_queries
        )
        if self.last.enough:
            return first
        second = await self.inner.retrieve(list(self.last.queries), k=k)
        found = {m.id for m in first}
        self.requeried = tuple(m for m in second if m.id not in found)
        return tuple(fuse_rankings(first, second, k, key=lambda m: m.id))
