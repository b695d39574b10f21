"""Cassettes: record a model's answers, replay them exactly, and fail clearly on a miss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gwa.agents.cassette import Cassette, RecordingModel, ReplayModel
from gwa.agents.models import ChatRequest
from gwa.agents.testing import ScriptedModel
from gwa.errors import CassetteMiss, ConfigError, ModelTimeout
from gwa.types import ChatMessage


def _req(text: str, t: float = 0.5) -> ChatRequest:
    return ChatRequest((ChatMessage("user", text),), temperature=t)


async def test_replay_returns_what_was_recorded(tmp_path: Path) -> None:
    """Answers, errors and repeated identical requests replay in order after a save/load."""
    cassette = Cassette()
    inner = ScriptedModel(["one", "two", ModelTimeout("slow"), "three"])
    rec = RecordingModel(inner, cassette)
    assert (await rec.complete(_req("a"))).text == "one"
    assert (await rec.complete(_req("a"))).text == "two"
    with pytest.raises(ModelTimeout):
        await rec.complete(_req("b"))
    assert (await rec.complete(_req("a", 0.9))).text == "three"
    cassette.save(tmp_path / "c.json")

    replay = ReplayModel(Cassette.load(tmp_path / "c.json"))
    assert (await replay.complete(_req("a", 0.9))).text == "three"
    assert (await replay.complete(_req("a"))).text == "one"
    assert (await replay.complete(_req("a"))).text == "two"
    with pytest.raises(ModelTimeout, match="slow"):
        await replay.complete(_req("b"))
    with pytest.raises(CassetteMiss, match="record again"):
        await replay.complete(_req("a"))


async def test_a_cancelled_call_replays_as_never_answering() -> None:
    """A call cancelled while recording (a late agent) is late again on replay."""
    cassette = Cassette()

    async def never(_: ChatRequest) -> str:
        await asyncio.sleep(10)
        return "late"

    from gwa.agents.testing import FunctionModel

    rec = RecordingModel(FunctionModel(never), cassette)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(rec.complete(_req("x")), 0.05)
    assert cassette.interactions[0]["outcome"] == "cancelled"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ReplayModel(cassette).complete(_req("x")), 0.05)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("{oops", "not JSON"), ('{"version": 99}', "not a GWA cassette")],
)
def test_bad_cassette_files_are_reported(tmp_path: Path, content: str | None, message: str) -> None:
    """Missing, broken or foreign cassette files raise ConfigError naming the file."""
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Cassette.load(path)
