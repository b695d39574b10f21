"""Role outputs: parsing against each kind's schema, and the tight per-request schemas."""

from __future__ import annotations

import json

import pytest

from gwa.agents.roles import BUILTIN_ROLES, OUTPUTS, CandidatesOut, parse_output, request_schema
from gwa.errors import RoleOutputError
from gwa.types import Phase


def test_every_builtin_role_acts_in_the_phase_of_its_output() -> None:
    """Roles map to phases through their output kind."""
    phases = {name: role.phase for name, role in BUILTIN_ROLES.items()}
    assert phases == {
        "attention": Phase.ATTEND,
        "generator": Phase.PROPOSE,
        "critic": Phase.REVIEW,
        "arbiter": Phase.SELECT,
        "responder": Phase.RESPOND,
        "summarizer": Phase.SUMMARIZE,
    }


def test_parse_accepts_json_inside_prose_or_fences() -> None:
    """A JSON object is found inside a code fence or surrounding text."""
    text = 'Sure!\n```json\n{"candidates": [{"text": "idea", "salience": 0.9}]}\n```'
    out = parse_output("candidates", text)
    assert isinstance(out, CandidatesOut)
    assert out.candidates[0].text == "idea"
    assert out.candidates[0].salience == 0.9


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("candidates", "just words", "no JSON object"),
        ("candidates", '{"candidates": []}', "candidates"),
        ("critiques", '{"critiques": [{"candidate": 1, "score": 9}]}', "score"),
        ("choice", '{"winner": 1, "tag": "MAYBE"}', "tag"),
        ("queries", '{"queries": ["a", "b", "c", "d"]}', "queries"),
    ],
)
def test_parse_rejects_invalid_output_saying_why(kind: str, text: str, message: str) -> None:
    """Invalid outputs raise RoleOutputError naming the field."""
    with pytest.raises(RoleOutputError, match=message):
        parse_output(kind, text)


def test_raw_newlines_inside_strings_are_accepted() -> None:
    """A grammar-constrained model may write a literal newline inside a string."""
    out = parse_output("response", '{"answer": "line one\nline two"}')
    assert out.model_dump()["answer"] == "line one\nline two"


def test_candidate_numbers_must_exist() -> None:
    """A critique or choice naming a candidate beyond 1..n is rejected."""
    with pytest.raises(RoleOutputError, match=r"only 1\.\.2 exist"):
        parse_output("choice", '{"winner": 3, "tag": "RESPOND"}', n_candidates=2)


@pytest.mark.parametrize("kind", sorted(OUTPUTS))
def test_request_schemas_accept_what_they_describe(kind: str) -> None:
    """An output built from a request schema's enums parses against the kind's model."""
    schema = request_schema(kind, n_candidates=3, n_items=2)
    assert schema["required"] == list(schema["properties"])
    examples = {
        "queries": {"queries": ["q"]},
        "candidates": {"candidates": [{"text": "t", "salience": 0.5, "final": False}] * 2},
        "critiques": {
            "critiques": [{"candidate": i, "score": -5, "reason": "r"} for i in (1, 2, 3)]
        },
        "choice": {"winner": 3, "tag": "RESPOND", "reason": "r"},
        "response": {"answer": "a"},
        "summary": {"summary": "s"},
    }
    parse_output(kind, json.dumps(examples[kind]), n_candidates=3)


def test_request_schema_limits_numbers_to_the_candidates() -> None:
    """Candidate numbers are an enum of exactly 1..n, scores of −5..+5."""
    schema = request_schema("critiques", n_candidates=3)
    item = schema["properties"]["critiques"]["items"]["properties"]
    assert item["candidate"]["enum"] == [1, 2, 3]
    assert item["score"]["enum"] == list(range(-5, 6))
    assert schema["properties"]["critiques"]["minItems"] == 3
