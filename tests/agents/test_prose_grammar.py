"""The embedded model's grammar for prose fields: what a thought may open with and hold."""

from __future__ import annotations

import re

import pytest

from gwa.agents.local import PROSE_FIELDS, grammar_schema
from gwa.agents.roles import ToolInfo, request_schema


def _text_pattern(schema: dict[str, object]) -> str:
    items = schema["properties"]["candidates"]["items"]  # type: ignore[index]
    pattern = items["properties"]["text"]["pattern"]
    assert isinstance(pattern, str)
    return pattern


def test_prose_fields_become_a_pattern_that_keeps_the_length_bounds() -> None:
    for kind in ("candidates", "critiques", "choice", "response"):
        schema = request_schema(kind, n_candidates=2, max_tokens=160)
        plain = grammar_schema(schema, prose=False)
        shaped = grammar_schema(schema)
        assert "pattern" not in str(plain)
        assert str(shaped).count("pattern") == 1  # the one prose field of each kind
    text = request_schema("candidates", max_tokens=160)["properties"]["candidates"]["items"]
    low, high = text["properties"]["text"]["minLength"], text["properties"]["text"]["maxLength"]
    pattern = _text_pattern(grammar_schema(request_schema("candidates", max_tokens=160)))
    assert pattern.endswith(f"{{{low - 1},{high - 1}}}$")
    assert re.fullmatch(pattern, "a" * low)
    assert not re.fullmatch(pattern, "a" * (low - 1))
    assert re.fullmatch(pattern, "a" * high)
    assert not re.fullmatch(pattern, "a" * (high + 1))
    # Enums and numbers are left alone.
    choice = grammar_schema(request_schema("choice", n_candidates=2, max_tokens=160))
    assert choice["properties"]["tag"] == {"type": "string", "enum": ["THINK_MORE", "RESPOND"]}


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("Host a monthly manga club with snacks", True),
        ("3D-printing nights, open to teens", True),
        ("Élodie's poetry slam (ages 13-18)", True),
        ("…”, “salience”: 0.7, final: false}}, {", False),
        ('Read a book", "salience": 0.7', False),
        ("Adults should use [tech].[t]g..", False),
        (" leading space", False),
        ("(m-ca22e5f6a27d) Attracting more readers", False),
    ],
)
def test_a_thought_opens_with_a_letter_or_digit_and_holds_no_json_syntax(
    text: str, allowed: bool
) -> None:
    pattern = _text_pattern(grammar_schema(request_schema("candidates", max_tokens=160)))
    assert bool(re.fullmatch(pattern, text)) is allowed


def test_a_tools_arguments_keep_their_own_schema() -> None:
    """A tool argument named like a prose field (``text``) may hold anything its tool takes."""
    tool = ToolInfo(
        "echo",
        "says it back",
        {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    )
    schema = grammar_schema(request_schema("candidates", max_tokens=160, tools=[tool]))
    assert "text" in PROSE_FIELDS
    items = schema["properties"]["candidates"]["items"]
    assert "pattern" in items["properties"]["text"]
    calls = items["properties"]["action"]["anyOf"][1]
    assert calls["properties"]["arguments"]["properties"]["text"] == {"type": "string"}
