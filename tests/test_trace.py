"""Trace files: common fields, redaction of secrets, and a reader that rejects broken lines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gwa.errors import TraceError
from gwa.events import CycleStart, Event, OtherEvent, Proposal
from gwa.scenario import memo, parse_scenario
from gwa.trace import (
    ASCII_FOLDS,
    REDACTED,
    Redactor,
    TraceWriter,
    read_trace,
    secrets_from_env,
)

KEY = "sk-live-1234567890abcdefghij"


def test_events_carry_the_common_fields_in_order(trace_file: Path) -> None:
    """Every line has v, ts, run, seq (1, 2, …), cycle, event, agent."""
    writer = TraceWriter("r1", trace_file, clock=lambda: 12.5)
    writer.emit(OtherEvent(event="custom.start", scenario="s"))
    writer.emit(
        Proposal(cycle=1, agent="gen", candidate="c1.1", text="x", salience=0.5, final=False)
    )
    writer.close()
    lines = [json.loads(line) for line in trace_file.read_text().splitlines()]
    assert lines[0] == {
        "v": 1,
        "ts": 12.5,
        "run": "r1",
        "seq": 1,
        "cycle": None,
        "event": "custom.start",
        "agent": None,
        "scenario": "s",
    }
    assert [r.seq for r in read_trace(trace_file)] == [1, 2]
    assert list(read_trace(trace_file))[1].field("text") == "x"


def test_secrets_never_reach_the_file(trace_file: Path) -> None:
    """Credential fields, known secret values and key-shaped strings are all redacted."""
    writer = TraceWriter("r", trace_file, secrets={"hunter22-password"})
    writer.emit(
        OtherEvent(
            event="model.call",
            config={"models": {"default": {"api_key": "anything", "base_url": "http://x"}}},
            error=f"failed with key {KEY} and hunter22-password",
            headers=["Authorization: Bearer abcdefghijklmnop"],
        )
    )
    writer.close()
    text = trace_file.read_text()
    for secret in ("anything", KEY, "hunter22-password", "abcdefghijklmnop"):
        assert secret not in text
    assert text.count(REDACTED) == 4
    assert "http://x" in text


QUOTED = 'pa"ss\\word-9'
"""A known secret JSON escapes (quote, backslash): it is not verbatim in a JSON text."""


@pytest.mark.parametrize(
    "value",
    [
        {"text": "a plain thought about parks", "n": 3, "items": [{"score": 0.5}]},
        {"nested": [{"deep": {"Api-Key": "x"}}]},
        {"note": "hunter22-password in a list", "more": ["ok"]},
        {"note": f"key {KEY}"},
        {"url": "https://user:pw@example.org/x"},
        {"header": "Bearer abcdefghijklmnop"},
        {"ACCESS_TOKEN": 1, "text": "no secret value"},
        {"note": f"quoting {QUOTED}!"},
        {"ſecret": "a long s folds to s: the regex's case-blindness sees it"},
        {"AccessToken": 1, "Passwd": 2, "authorization": 3, "my_credentials": 4},
        {"text": "a key idea: access for all"},  # anchor words that are no credential
    ],
)
def test_the_fast_path_writes_what_the_walk_writes(tmp_path: Path, value: dict[str, Any]) -> None:
    """A record the JSON-text check passes is written as it is; every other one is walked:
    either way the file holds exactly what redacting every field would give."""
    redactor = Redactor({"hunter22-password", QUOTED})
    path = tmp_path / "t.jsonl"
    writer = TraceWriter("r", path, secrets={"hunter22-password", QUOTED})
    writer.emit(OtherEvent(event="x", **value))
    writer.close()
    written = json.loads(path.read_text())
    assert {k: written[k] for k in value} == redactor(value)
    verbatim = Redactor({"hunter22-password"})  # its secrets show verbatim in JSON text
    text = json.dumps(value, ensure_ascii=False)
    assert verbatim.clean(text) == (value == verbatim(value))


def test_every_credential_name_fails_the_fast_check() -> None:
    """A name for each alternative of the credential-name pattern, in several spellings: the
    anchor-word test in front of the pattern must never wave one through."""
    names = ["apikey", "API_KEY", "api-key", "Secret", "password", "PASSWD", "Authorization"]
    names += ["bearer", "access_token", "AccessToken", "access-token", "credentials"]
    redactor = Redactor()
    for name in names:
        value = {name: "x"}
        assert redactor(value) != value, name
        assert not redactor.clean(json.dumps(value)), name


def test_a_secret_json_escapes_turns_the_fast_path_off() -> None:
    assert Redactor({"hunter22-password"}).clean('{"a": "b"}')
    assert not Redactor({QUOTED}).clean('{"a": "b"}')


def test_raw_listeners_get_the_written_record() -> None:
    """A raw listener gets the record as written (no typed event built)."""
    seen: list[dict[str, Any]] = []
    writer = TraceWriter("r", None, secrets={"hunter22-password"})
    writer.record_listeners.append(seen.append)
    writer.emit(OtherEvent(event="x", note="said hunter22-password"))
    (record,) = seen
    assert (record["event"], record["run"], record["seq"]) == ("x", "r", 1)
    assert record["note"] == f"said {REDACTED}"


def test_line_listeners_get_the_record_and_the_line_written(tmp_path: Path) -> None:
    """A line listener gets each record as written with its JSON text: the file's line."""
    seen: list[tuple[dict[str, Any], str]] = []
    path = tmp_path / "t.jsonl"
    writer = TraceWriter("r", path, secrets={"hunter22-password"})
    writer.line_listeners.append(lambda record, line: seen.append((record, line)))
    writer.emit(OtherEvent(event="x", note="said hunter22-password"))
    writer.emit(OtherEvent(event="y", api_key="sk-abcdefghijklmnop"))
    writer.close()
    assert [line for _, line in seen] == path.read_text().splitlines()
    assert [record for record, _ in seen] == [json.loads(line) for _, line in seen]
    assert seen[0][0]["note"] == f"said {REDACTED}"
    assert seen[1][0]["api_key"] == REDACTED


def test_memo_computes_once_per_scenario_object() -> None:
    text = "name: m\ngoal: g\nagents: [{name: a, role: generator}]\nselection: {policy: score}\n"
    one, two = parse_scenario(text), parse_scenario(text)
    calls: list[str] = []

    def make(name: str) -> str:
        calls.append(name)
        return name

    assert memo(one, "k", lambda: make("one")) == "one"
    assert memo(one, "k", lambda: make("again")) == "one"
    assert memo(two, "k", lambda: make("two")) == "two"
    assert memo(one, "other", lambda: make("other")) == "other"
    assert calls == ["one", "two", "other"]


def test_secret_values_are_collected_from_the_environment() -> None:
    """Variables named like keys or tokens are treated as secrets."""
    env = {"OPENAI_API_KEY": KEY, "HOME": "/root", "MY_TOKEN": "t0k3n-value", "SHORT_KEY": "abc"}
    assert secrets_from_env(env) == {KEY, "t0k3n-value"}


def test_listeners_see_each_event(tmp_path: Path) -> None:
    """Listeners receive the same records that are written, as typed events."""
    seen: list[Event] = []
    writer = TraceWriter("r", None)
    writer.listeners.append(seen.append)
    writer.emit(CycleStart(cycle=1, temperature=0.7, inputs=[], notes=[], working_memory_tokens=0))
    (event,) = seen
    assert isinstance(event, CycleStart)
    assert (event.seq, event.run, event.temperature) == (1, "r", 0.7)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"v":1,"ts":1,"run":"r","seq":1,"event":"a"}', "{truncated"],
            "t.jsonl:2: not a valid trace",
        ),
        (
            ['{"v":1,"ts":1,"run":"r","event":"a"}'],
            "t.jsonl:1: not a valid trace record (seq: Field required)",
        ),
        (['{"v":9,"ts":1,"run":"r","seq":1,"event":"a"}'], "newer than this GWA"),
        (
            [
                '{"v":1,"ts":1,"run":"r","seq":2,"event":"a"}',
                '{"v":1,"ts":1,"run":"r","seq":1,"event":"b"}',
            ],
            "does not follow",
        ),
    ],
)
def test_reader_names_the_broken_line(tmp_path: Path, lines: list[str], message: str) -> None:
    """A broken, incomplete, too new or out-of-order line raises TraceError with file:line."""
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(read_trace(path))


def test_reader_reports_a_missing_file(tmp_path: Path) -> None:
    """A missing trace file is a TraceError, not a bare OSError."""
    with pytest.raises(TraceError, match="not found"):
        list(read_trace(tmp_path / "none.jsonl"))


def test_the_folds_cover_every_character_a_case_blind_letter_matches() -> None:
    """`ASCII_FOLDS` is what lets the secret check lower-case any text: no other character
    beyond ASCII matches a letter case-blindly (checked over every code point)."""
    letter = re.compile("(?i)[a-z]")
    beyond = {cp for cp in range(0x80, 0x110000) if letter.fullmatch(chr(cp))}
    assert beyond == set(ASCII_FOLDS)
    for cp, folded in ASCII_FOLDS.items():
        assert re.fullmatch(f"(?i){folded}", chr(cp))
    redactor = Redactor()
    for name in ("ſecret", "api_Key", "AUTHORİZATİON", "crédit card", "paſſwd"):
        value = {name: 1}
        text = json.dumps(value, ensure_ascii=False)
        assert redactor.clean(text) == (redactor(value) == value), name
