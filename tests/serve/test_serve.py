"""`gwa serve`, started as its own process on the fake model: the run API with server-sent
events (resumable), token auth, JSON errors, pauses answered over HTTP, and the
OpenAI-compatible endpoint used by the openai SDK and by LangChain's ChatOpenAI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from served import PICNIC, TOKEN, serving

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`gwa serve brainstorm picnic.yaml --model fake`, stopped by its PID."""
    folder = tmp_path_factory.mktemp("serve")
    (folder / "picnic.yaml").write_text(PICNIC)
    with serving(folder, "brainstorm", str(folder / "picnic.yaml")) as url:
        yield url


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)


def sse(url: str, path: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every data line of an event stream, until it ends."""
    out = []
    with client(url).stream("GET", path, headers=headers or {}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data:"):
                out.append(json.loads(line[5:].strip()))
    return out


def test_without_the_token_nothing_answers(server: str) -> None:
    """401 with a JSON error on the API and the OpenAI routes; the console page is public."""
    for path in ("/api/runs", "/v1/models"):
        r = httpx.get(server + path)
        assert r.status_code == 401
        assert "token" in r.json()["error"]["message"]
    wrong = httpx.get(server + "/api/runs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert httpx.get(server + "/").status_code == 200


def test_bad_requests_get_json_errors_with_the_right_status(server: str) -> None:
    """Malformed JSON, a missing field, an unknown scenario, run or route, a bad decision."""
    c = client(server)
    cases = [
        (c.post("/api/runs", content=b"{oops"), 400, "not JSON"),
        (c.post("/api/runs", json={"goal": "x"}), 400, "'scenario' must be"),
        (c.post("/api/runs", json={"scenario": "nope"}), 404, "no scenario 'nope'"),
        (c.get("/api/runs/missing"), 404, "no run 'missing'"),
        (c.get("/api/nothing-here"), 404, "no route"),
        (c.post("/v1/chat/completions", json={"model": "brainstorm"}), 400, "'messages'"),
        (
            c.post("/v1/chat/completions", json={"model": "x", "messages": []}),
            404,
            "does not exist",
        ),
    ]
    for response, status, why in cases:
        assert response.status_code == status, response.text
        assert why in response.json()["error"]["message"]


def test_a_run_streams_its_events_and_resumes_from_a_sequence_number(server: str) -> None:
    """Start a run; its events arrive in order ending with run.end; a stream from
    Last-Event-ID N starts after N."""
    c = client(server)
    run = c.post("/api/runs", json={"scenario": "brainstorm", "goal": "Name a park"}).json()
    records = sse(server, f"/api/runs/{run['id']}/events")
    events = [e for e in records if e["event"] != "token"]  # tokens: tests/serve/test_tokens.py
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run.start"
    assert kinds[-2:] == ["run.end", "end"]
    seqs = [e["seq"] for e in events[:-1]]
    assert seqs == sorted(seqs)
    later = sse(server, f"/api/runs/{run['id']}/events", {"Last-Event-ID": str(seqs[9])})
    assert [e["seq"] for e in later[:-1]] == seqs[10:]
    assert c.get(f"/api/runs/{run['id']}").json()["status"] == "answered"
    # An ended run keeps its events (above), not its workspace: nothing to stop or feed.
    assert c.post(f"/api/runs/{run['id']}/stop").json() == {"stopping": False}
    for path, body in (("input", {"text": "more"}), ("idle", {"enabled": True})):
        late = c.post(f"/api/runs/{run['id']}/{path}", json=body)
        assert late.status_code == 409
        assert "answered" in late.json()["error"]["message"]


def test_a_pause_is_answered_over_http(server: str) -> None:
    """The paused run's question is listed; an edit decision resumes it to that answer."""
    c = client(server)
    run = c.post("/api/runs", json={"scenario": "picnic"}).json()
    sse(server, f"/api/runs/{run['id']}/events")
    info = c.get(f"/api/runs/{run['id']}").json()
    assert info["status"] == "paused"
    assert info["pending"]["point"] == "respond"
    assert c.post(f"/api/runs/{run['id']}/decision", json={"verdict": "maybe"}).status_code == 400
    r = c.post(f"/api/runs/{run['id']}/decision", json={"verdict": "edit", "text": "Plums."})
    assert r.status_code == 202
    events = sse(server, f"/api/runs/{run['id']}/events")
    assert events[-1]["run"]["status"] == "answered"
    assert events[-1]["run"]["answer"] == "Plums."
    again = c.post(f"/api/runs/{run['id']}/decision", json={"verdict": "approve"})
    assert again.status_code == 409


def test_the_openai_sdk_talks_to_a_scenario(server: str) -> None:
    """models.list names the scenarios; a completion answers; streaming gives the same text
    in pieces; earlier turns reach the run as inputs."""
    import openai

    sdk = openai.OpenAI(base_url=server + "/v1", api_key=TOKEN)
    assert {"brainstorm", "picnic"} <= {m.id for m in sdk.models.list()}
    messages: Any = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "We like trees."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Suggest a name for the new park."},
    ]
    done = sdk.chat.completions.create(model="brainstorm", messages=messages)
    answer = done.choices[0].message.content
    assert answer
    assert "Suggest a name for the new park" in answer  # the fake answers about its goal
    assert done.usage is not None
    assert done.usage.total_tokens > 0
    parts = [
        chunk.choices[0].delta.content or ""
        for chunk in sdk.chat.completions.create(model="brainstorm", messages=messages, stream=True)
        if chunk.choices
    ]
    assert len(parts) > 2
    assert "".join(parts) == answer
    run = client(server).get("/api/runs").json()["runs"][-1]
    events = sse(server, f"/api/runs/{run['id']}/events")
    inputs = [i for e in events if e["event"] == "cycle.start" for i in e.get("inputs", [])]
    assert inputs == ["user: We like trees.", "assistant: Noted."]


def test_langchain_chat_openai_talks_to_a_scenario(server: str) -> None:
    """LangChain's ChatOpenAI, pointed at the server, gets the workspace's answer."""
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="brainstorm", base_url=server + "/v1", api_key=TOKEN, max_retries=0)
    reply = chat.invoke("Suggest a name for the new library.")
    assert "Suggest a name for the new library" in str(reply.content)


def test_gwa_view_serve_opens_the_console_with_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gwa view --serve URL` needs the token from the environment and names the console."""
    from gwa.cli import main

    monkeypatch.delenv("GWA_SERVE_TOKEN", raising=False)
    assert main(["view", "--serve", "http://127.0.0.1:8766", "--no-browser"]) == 2
    assert "GWA_SERVE_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("GWA_SERVE_TOKEN", TOKEN)
    assert main(["view", "--serve", "http://127.0.0.1:8766", "--no-browser"]) == 0
    assert "console: http://127.0.0.1:8766/" in capsys.readouterr().err
    assert main(["view"]) == 2
