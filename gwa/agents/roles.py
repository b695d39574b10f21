"""Roles: what an agent may emit (its output kind and schema) and how it is asked.

Every role has one output kind; the kind fixes the phase of the cycle it acts in and the
pydantic schema its output is parsed against. Anything that does not parse is rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gwa.errors import RoleOutputError
from gwa.types import Phase, ToolInfo

OutputKind = Literal["queries", "candidates", "critiques", "choice", "response", "summary"]


_REPEAT = re.compile(r"^(.+?)(?: \1)+$")


def repeated_phrase(text: str) -> bool:
    """Whether ``text`` is one phrase said over and over ("They're... They're..."), ignoring
    case and punctuation; a one-word answer ("42") is not."""
    words = " ".join(re.findall(r"[\w'’]+", text.lower()))
    return bool(_REPEAT.match(words))


_JSON_SYNTAX = re.compile(
    r'["”]\s*:\s*(?:true|false|null|-?\d|["“{\[])|\{\s*["“]|["”]\s*\}|\}\s*[,}\]]'
)
MIN_WORD_SHARE = 0.6
"""Below this share of letters and digits among the non-space characters, a text is debris."""


def debris(text: str) -> str | None:
    """Why ``text`` is not a thought, or None: mostly punctuation, JSON syntax from a model that
    closed a string early (``...", "final":false}}, {``), or one phrase repeated."""
    visible = [c for c in text if not c.isspace()]
    words = sum(1 for c in visible if c.isalnum())
    if not visible or words / len(visible) < MIN_WORD_SHARE:
        return "it is mostly punctuation"
    if _JSON_SYNTAX.search(text):
        return "it holds JSON syntax (a fragment of the output format, not a thought)"
    if repeated_phrase(text):
        return "it only repeats one phrase"
    return None


def _thought(text: str) -> str:
    why = debris(text)
    if why is not None:
        raise ValueError(f"not a thought: {why}")
    return text


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class QueriesOut(_Out):
    """Attention: 1–3 queries for long-term memory."""

    model_config = ConfigDict(title="Queries", extra="ignore", frozen=True)
    queries: list[str] = Field(min_length=1, max_length=3)


class ActionOut(_Out):
    """A tool call proposed with a thought."""

    model_config = ConfigDict(title="Action", extra="ignore", frozen=True)
    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class CandidateOut(_Out):
    """One proposed thought."""

    model_config = ConfigDict(title="Candidate", extra="ignore", frozen=True)
    text: str = Field(min_length=1, max_length=2000)
    salience: float = Field(default=0.5, ge=0.0, le=1.0)
    final: bool = False
    action: ActionOut | None = None

    @field_validator("text")
    @classmethod
    def _a_thought(cls, text: str) -> str:
        return _thought(text)


class CandidatesOut(_Out):
    """Generator: one or more candidate thoughts."""

    model_config = ConfigDict(title="Candidates", extra="ignore", frozen=True)
    candidates: list[CandidateOut] = Field(min_length=1, max_length=8)


class CritiqueOut(_Out):
    """A score for one numbered candidate."""

    model_config = ConfigDict(title="Critique", extra="ignore", frozen=True)
    candidate: int = Field(ge=1)
    score: int = Field(ge=-5, le=5)
    reason: str = Field(default="", max_length=500)


class CritiquesOut(_Out):
    """Critic: scores for the candidates."""

    model_config = ConfigDict(title="Critiques", extra="ignore", frozen=True)
    critiques: list[CritiqueOut] = Field(min_length=1)


class ChoiceOut(_Out):
    """Arbiter: the winning candidate's number and whether to think more or respond."""

    model_config = ConfigDict(title="Choice", extra="ignore", frozen=True)
    winner: int = Field(ge=1)
    tag: Literal["THINK_MORE", "RESPOND"]
    reason: str = Field(default="", max_length=500)


class ResponseOut(_Out):
    """Responder: the final answer."""

    model_config = ConfigDict(title="Response", extra="ignore", frozen=True)
    answer: str = Field(min_length=1)

    @field_validator("answer")
    @classmethod
    def _an_answer(cls, answer: str) -> str:
        # A small model under a schema sometimes loops on one phrase ("They're... They're...").
        return _thought(answer)


class SummaryOut(_Out):
    """Summarizer: one entry that replaces several."""

    model_config = ConfigDict(title="Summary", extra="ignore", frozen=True)
    summary: str = Field(min_length=1)

    @field_validator("summary")
    @classmethod
    def _a_summary(cls, summary: str) -> str:
        return _thought(summary)


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """The phase an output kind acts in, its schema and an example shown to the model."""

    phase: Phase
    model: type[_Out]
    example: str


OUTPUTS: dict[str, OutputSpec] = {
    "queries": OutputSpec(Phase.ATTEND, QueriesOut, '{"queries": ["…"]}'),
    "candidates": OutputSpec(
        Phase.PROPOSE,
        CandidatesOut,
        '{"candidates": [{"text": "…", "salience": 0.7, "final": false}]}',
    ),
    "critiques": OutputSpec(
        Phase.REVIEW, CritiquesOut, '{"critiques": [{"candidate": 1, "score": 3, "reason": "…"}]}'
    ),
    "choice": OutputSpec(
        Phase.SELECT, ChoiceOut, '{"winner": 1, "tag": "THINK_MORE", "reason": "…"}'
    ),
    "response": OutputSpec(Phase.RESPOND, ResponseOut, '{"answer": "…"}'),
    "summary": OutputSpec(Phase.SUMMARIZE, SummaryOut, '{"summary": "…"}'),
}


def output_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of an output kind (what constrained decoding enforces)."""
    return OUTPUTS[kind].model.model_json_schema()


_SALIENCE = [round(x / 10, 1) for x in range(1, 11)]


def _obj(title: str, **props: Any) -> dict[str, Any]:
    return {"title": title, "type": "object", "properties": props, "required": list(props)}


CHARS_PER_TOKEN = 2.0
"""A cautious characters-per-token ratio for fitting strings into a completion budget."""
MIN_THOUGHT_CHARS = 12
"""Thoughts, answers and summaries shorter than this are fragments ("...", "Adults"), which
a small constrained model otherwise emits to close a string early."""
JSON_TOKENS_PER_STRING = 24
"""Tokens of JSON syntax and of the other fields around each string field."""


def _string_budget(kind: str, n_candidates: int, n_items: int) -> int:
    return {"queries": 3, "candidates": n_items, "critiques": max(1, n_candidates)}.get(kind, 1)


def action_schema(tools: Sequence[ToolInfo]) -> dict[str, Any]:
    """The ``action`` of a proposal: null, or one of the tools with arguments fitting its
    schema (so a constrained model can only propose valid calls)."""
    calls = [
        _obj("Action", tool={"type": "string", "enum": [t.name]}, arguments=t.parameters)
        for t in tools
    ]
    return {"anyOf": [{"type": "null"}, *calls]}


def _candidates(text: dict[str, Any], n: int, tools: Sequence[ToolInfo]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "text": text,
        "salience": {"type": "number", "enum": _SALIENCE},
        "final": {"type": "boolean"},
    }
    if tools:
        fields["action"] = action_schema(tools)
    item = _obj("Candidate", **fields)
    return _obj(
        "Candidates", candidates={"type": "array", "items": item, "minItems": n, "maxItems": n}
    )


def request_schema(
    kind: str,
    *,
    n_candidates: int = 0,
    n_items: int = 1,
    max_tokens: int | None = None,
    tools: Sequence[ToolInfo] = (),
) -> dict[str, Any]:
    """The tight JSON Schema for one request: candidate numbers as enums of 1..n, scores as
    −5..+5, exactly ``n_items`` generated thoughts, and strings short enough that the whole
    object fits in ``max_tokens`` (a constrained output cut off by the token limit would not
    parse). Providers that constrain decoding (llama.cpp grammars, structured outputs) make
    outputs valid by construction; the pydantic schema of the kind still validates them."""
    numbers = {"type": "integer", "enum": list(range(1, max(1, n_candidates) + 1))}
    cap = 10**6
    if max_tokens is not None:
        strings = _string_budget(kind, n_candidates, n_items)
        per_string = max(4, max_tokens // strings - JSON_TOKENS_PER_STRING)
        cap = max(8, int(per_string * CHARS_PER_TOKEN))

    def _text(limit: int, least: int = 3) -> dict[str, Any]:
        return {"type": "string", "minLength": least, "maxLength": max(least, min(limit, cap))}

    if kind == "queries":
        items = {"type": "array", "items": _text(100), "minItems": 1, "maxItems": 3}
        return _obj("Queries", queries=items)
    if kind == "candidates":
        return _candidates(_text(400, MIN_THOUGHT_CHARS), n_items, tools)
    if kind == "critiques":
        item = _obj(
            "Critique",
            candidate=numbers,
            score={"type": "integer", "enum": list(range(-5, 6))},
            reason=_text(160),
        )
        n = max(1, n_candidates)
        arr = {"type": "array", "items": item, "minItems": n, "maxItems": n}
        return _obj("Critiques", critiques=arr)
    if kind == "choice":
        tag = {"type": "string", "enum": ["THINK_MORE", "RESPOND"]}
        return _obj("Choice", winner=numbers, tag=tag, reason=_text(160))
    if kind == "response":
        return _obj("Response", answer=_text(800, MIN_THOUGHT_CHARS))
    if kind == "summary":
        return _obj("Summary", summary=_text(600, MIN_THOUGHT_CHARS))
    raise KeyError(kind)


@dataclass(frozen=True, slots=True)
class Role:
    """A role: its name, the kind of output it emits, and its standing instruction."""

    name: str
    output: OutputKind
    instruction: str

    @property
    def phase(self) -> Phase:
        """The phase of the cycle in which this role acts."""
        return OUTPUTS[self.output].phase


BUILTIN_ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role(
            "attention",
            "queries",
            "You direct attention. Write 1 to 3 short search queries that would recall the "
            "long-term memories most useful for the goal right now.",
        ),
        Role(
            "generator",
            "candidates",
            "You generate thoughts. Propose the next useful thought towards the goal: build on "
            "the workspace, do not repeat it. Mark a thought final only if it fully answers "
            "the goal.",
        ),
        Role(
            "critic",
            "critiques",
            "You are a critic. Score every numbered candidate from -5 (wrong or harmful) to +5 "
            "(correct, useful, new) with a short reason.",
        ),
        Role(
            "arbiter",
            "choice",
            "You are the arbiter. Choose the single best numbered candidate. Tag it RESPOND if "
            "the goal can now be answered, THINK_MORE otherwise.",
        ),
        Role(
            "responder",
            "response",
            "You are the responder. Write the final answer to the goal from the workspace.",
        ),
        Role(
            "summarizer",
            "summary",
            "You summarise. Compress the numbered entries into one short summary that keeps "
            "every fact and decision.",
        ),
    )
}


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """The JSON object in a model's text (in a code fence or around prose), raw control
    characters in strings accepted (llama.cpp's JSON grammar lets a model write them)."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object found")
    return json.loads(text[start : end + 1], strict=False)


def check_actions(out: CandidatesOut, tools: Sequence[ToolInfo]) -> None:
    """Every proposed action names one of ``tools`` with arguments its schema accepts;
    `RoleOutputError` saying which does not (the agent's repair attempt gets the reason)."""
    by_name = {t.name: t for t in tools}
    for c in out.candidates:
        if c.action is None:
            continue
        tool = by_name.get(c.action.tool)
        if tool is None:
            names = ", ".join(by_name) or "none"
            raise RoleOutputError(f"action names tool {c.action.tool!r}; the tools are: {names}")
        try:
            jsonschema.validate(c.action.arguments, tool.parameters)
        except jsonschema.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "arguments"
            raise RoleOutputError(f"action {tool.name}: {where}: {exc.message}") from None


def parse_output(
    kind: str, text: str, *, n_candidates: int = 0, tools: Sequence[ToolInfo] | None = None
) -> _Out:
    """Parse a model's text as the output of ``kind``; raise `RoleOutputError` saying why not.

    For critiques and choices, candidate numbers must lie in 1..n_candidates; with
    ``tools``, a proposal's action must name one and fit its argument schema.
    """
    spec = OUTPUTS[kind]
    try:
        out = spec.model.model_validate(extract_json(text))
    except (ValueError, ValidationError) as exc:
        detail = (
            "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'root'}: {e['msg']}" for e in exc.errors()
            )
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        raise RoleOutputError(f"{kind} output invalid: {detail}") from None
    numbers: list[int] = []
    if isinstance(out, CritiquesOut):
        numbers = [c.candidate for c in out.critiques]
    elif isinstance(out, ChoiceOut):
        numbers = [out.winner]
    if isinstance(out, CandidatesOut) and tools is not None:
        check_actions(out, tools)
    bad = [i for i in numbers if n_candidates and i > n_candidates]
    if bad:
        raise RoleOutputError(
            f"{kind} output names candidate {bad[0]} but only 1..{n_candidates} exist"
        )
    return out
