"""Token streaming: the agents' output pieces reach token listeners (and `gwa serve`'s event
stream) as they are generated, in order, and join to each turn's whole output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from served import TOKEN, serving

from gwa import Workspace, parse_scenario
from gwa.agents.testing import FakeModel
from gwa.events import Proposal
from gwa.testing import capture_events

SCENARIO = """
goal: name a park
agents:
  - {name: g, role: generator}
  - {name: c, role: critic}
selection: {policy: score, respond_min_score: -5}
workspace: {max_cycles: 2}
"""


@pytest.mark.timeout(30)
async def test_token_listeners_get_each_agents_output_as_it_is_generated() -> None:
    """The pieces of g's turns join to JSON outputs holding exactly its proposals; the
    critic's pieces are its own; without a listener nothing is streamed."""
    ws = Workspace(
        parse_scenario(SCENARIO), models={"default": FakeModel()}, trace_path=False, runs=False
    )
    pieces: dict[str, list[str]] = {}
    ws.add_token_listener(lambda agent, text: pieces.setdefault(agent, []).append(text))
    with capture_events(ws) as events:
        await ws.run()
    assert set(pieces) == {"g", "c"}
    texts = "".join(pieces["g"]).replace("}{", "}\n{").splitlines()
    proposed = [json.loads(t)["candidates"][0]["text"] for t in texts]
    assert proposed == [p.text for p in events.of(Proposal)]
    assert all(json.loads(t) for t in "".join(pieces["c"]).replace("}{", "}\n{").splitlines())


SLOW = """
name: slowpark
goal: name a park
models:
  default: {provider: fake, latency_s: 0.3, final_after: 1}
agents:
  - {name: g, role: generator}
selection: {policy: score, respond_min_score: -5}
workspace: {max_cycles: 3}
"""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose fake model takes 0.3 s a call (the stream attaches before it answers)."""
    folder: Path = tmp_path_factory.mktemp("tokens")
    (folder / "slowpark.yaml").write_text(SLOW)
    with serving(folder, str(folder / "slowpark.yaml"), fake=False) as u:
        yield u


@pytest.mark.timeout(60)
def test_the_event_stream_carries_tokens_before_each_output(url: str) -> None:
    """While a stream follows the run, token records (agent, text; no sequence number) come
    before the proposal they build up to; a stream resumed from a sequence number replays
    no tokens; a chat completion nobody streams makes the agents stream nothing."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
        run = c.post("/api/runs", json={"scenario": "slowpark"}).json()
        records = []
        with c.stream("GET", f"/api/runs/{run['id']}/events") as response:
            records = [json.loads(x[5:]) for x in response.iter_lines() if x.startswith("data:")]
        kinds = [r["event"] for r in records]
        first_token = kinds.index("token")  # from the first request after the stream attached
        assert "proposal" in kinds[first_token:]
        assert all("seq" not in r for r in records if r["event"] == "token")
        with c.stream("GET", f"/api/runs/{run['id']}/events?since=1") as response:
            later = [json.loads(x[5:]) for x in response.iter_lines() if x.startswith("data:")]
        assert "token" not in [r["event"] for r in later]
        body = {"model": "slowpark", "messages": [{"role": "user", "content": "name a park"}]}
        assert c.post("/v1/chat/completions", json=body).status_code == 200
        quiet = c.get("/api/runs").json()["runs"][-1]
        with c.stream("GET", f"/api/runs/{quiet['id']}/events") as response:
            replay = [json.loads(x[5:]) for x in response.iter_lines() if x.startswith("data:")]
        assert "token" not in [r["event"] for r in replay]
