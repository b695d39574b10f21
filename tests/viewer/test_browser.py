"""The viewer in a real browser: Debian's Chromium driven by Playwright.

Screenshots go to test-output/viewer/. The traces are made by real runs on the shipped
FakeModel (with the entropy drive and a retriever), plus hand-made hostile and broken ones.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SCENARIOS
from playwright.sync_api import Browser, Page, expect

from gwa import Workspace, load_scenario
from gwa.agents.testing import FakeModel
from gwa.types import Memory
from gwa.viewer import Viewer, serve_in_background

SHOTS = REPO / "test-output" / "viewer"
pytestmark = pytest.mark.timeout(120)


class Recall:
    async def retrieve(self, queries: Any, *, k: int) -> tuple[Memory, ...]:
        return (Memory("m1", "teen book club on Fridays", 0.82), Memory("m2", "manga shelf", 0.74))


def make_trace(path: Path, final_after: int) -> Path:
    s = load_scenario(SCENARIOS / "brainstorm.yaml")
    attention = s.agents[0].model_copy(
        update={"name": "attention", "role": "attention", "prompt": None}
    )
    ws_spec = s.workspace.model_copy(update={"max_cycles": 12, "working_memory_tokens": 60})
    # The fake model's templated thoughts ("Thought 3 on …") are near-copies of each other;
    # the viewer tests want a winner every cycle, so the drive's inhibition of return is off.
    assert s.drive is not None
    drive = s.drive.model_copy(update={"inhibition": "off"})
    s = s.model_copy(
        update={"workspace": ws_spec, "agents": [*s.agents, attention], "drive": drive}
    )
    ws = Workspace(s, trace_path=path, retriever=Recall())
    ws.register_model("default", FakeModel(final_after=final_after))
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        pool.submit(asyncio.run, ws.run()).result()
    return path


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("traces")
    return make_trace(folder / "a.jsonl", 20), make_trace(folder / "b.jsonl", 4)


def open_viewer(browser: Browser, viewer: Viewer) -> Iterator[Page]:
    server, url = serve_in_background(viewer)
    page = browser.new_page(viewport={"width": 1500, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    try:
        yield page
    finally:
        assert errors == []
        page.close()
        server.shutdown()
        server.server_close()


@pytest.fixture
def page(browser: Browser, traces: tuple[Path, Path]) -> Iterator[Page]:
    yield from open_viewer(browser, Viewer(traces[0]))


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_summary_timeline_and_step_through(page: Page) -> None:
    """The run summary shows; → and ← step through cycles and the detail follows."""
    assert page.locator('[data-fact="scenario"]').text_content() == "brainstorm"
    assert page.locator('[data-fact="status"]').text_content() == "answered"
    assert page.locator("#timeline li").count() >= 5
    assert page.locator("#position").text_content().startswith("cycle 1 of")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#detail-title")).to_have_text("Cycle 3")
    expect(page.locator("#timeline li.current")).to_have_attribute("data-cycle", "3")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#detail-title")).to_have_text("Cycle 2")
    expect(page.locator("#timeline li.current")).to_have_attribute("data-cycle", "2")
    winner = page.locator("#proposals tr.winner")
    assert winner.count() == 1
    assert "winner" in winner.locator("td").last.text_content()
    assert page.locator("#proposals tbody tr").count() == 2
    shot(page, "step-through")


def test_chart_and_memory_panels_render(page: Page) -> None:
    """The entropy/temperature chart has both lines; retrievals and the link graph show."""
    t_points = page.locator("#chart polyline.t").get_attribute("points") or ""
    h_points = page.locator("#chart polyline.h").get_attribute("points") or ""
    assert len(t_points.split()) >= 5
    assert len(h_points.split()) >= 4
    assert page.locator("#chart line.d").count() >= 1
    retrievals = page.locator('#memory li[data-kind="memory.retrieve"]')
    assert retrievals.count() >= 5
    assert "teen book club on Fridays" in retrievals.first.text_content()
    assert page.locator('#memory li[data-kind="memory.consolidate"]').count() >= 1
    assert int(page.locator("#graph").get_attribute("data-nodes") or 0) >= 2
    shot(page, "chart-memory")


def test_filters_and_search(page: Page) -> None:
    """Filtering by agent and event kind narrows the events; text search narrows the cycles."""
    page.select_option("#f-agent", "critic")
    page.wait_for_timeout(200)
    kinds = page.locator("#events li").all_text_contents()
    assert kinds
    assert all("critic" in k for k in kinds)
    page.select_option("#f-agent", "")
    page.select_option("#f-kind", "proposal")
    page.wait_for_timeout(200)
    assert all(k.startswith("proposal") for k in page.locator("#events .kind").all_text_contents())
    page.select_option("#f-kind", "")
    total = page.locator("#timeline li").count()
    page.fill("#f-text", "Thought 13 on")
    expect(page.locator("#timeline li")).not_to_have_count(total)
    assert page.locator("#timeline li").count() in (1, 2)  # the proposal, maybe a summary
    expect(page.locator('#timeline li[data-cycle="3"]')).to_have_count(1)
    shot(page, "filtered")


def test_two_runs_side_by_side(browser: Browser, traces: tuple[Path, Path]) -> None:
    """With --compare, winners per cycle stand side by side and the divergence is named."""
    for page in open_viewer(browser, Viewer(traces[0], traces[1])):
        assert page.locator("#compare").is_visible()
        rows = page.locator("#compare-table tbody tr")
        assert rows.count() >= 5
        first = page.locator("#divergence").get_attribute("data-first")
        assert first
        assert (
            page.locator(f'#compare-table tr[data-cycle="{first}"]').get_attribute("class")
            == "diverged"
        )
        shot(page, "compare")


HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '"><svg onload="window.__pwned=3">',
    "javascript:window.__pwned=4",
]


def test_hostile_trace_content_is_shown_as_text_and_never_runs(
    browser: Browser, tmp_path: Path
) -> None:
    """Script and HTML payloads in every field appear literally; nothing executes."""
    lines: list[dict[str, Any]] = [
        {
            "event": "run.start",
            "scenario": HOSTILE[0],
            "goal": HOSTILE[1],
            "agents": [{"name": HOSTILE[2], "role": "generator"}],
        },
        {"event": "cycle.start", "cycle": 1, "temperature": 0.7},
        {
            "event": "broadcast",
            "cycle": 1,
            "working_memory": [
                {"id": "x", "kind": HOSTILE[3], "author": HOSTILE[0], "text": HOSTILE[1]}
            ],
        },
        {
            "event": "proposal",
            "cycle": 1,
            "agent": HOSTILE[2],
            "candidate": HOSTILE[3],
            "text": HOSTILE[0],
        },
        {
            "event": "selection",
            "cycle": 1,
            "agent": HOSTILE[2],
            "winner": HOSTILE[3],
            "text": HOSTILE[1],
            "tag": HOSTILE[0],
        },
        {
            "event": "memory.retrieve",
            "cycle": 1,
            "queries": [HOSTILE[0]],
            "memories": [{"id": HOSTILE[1], "score": 1, "text": HOSTILE[2]}],
        },
        {
            "event": "run.end",
            "cycle": 1,
            "status": HOSTILE[1],
            "reason": HOSTILE[2],
            "answer": HOSTILE[0],
        },
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        "".join(
            json.dumps({"v": 1, "ts": 0, "run": HOSTILE[3], "seq": i, **r}) + "\n"
            for i, r in enumerate(lines, 1)
        )
    )
    dialogs: list[str] = []
    for page in open_viewer(browser, Viewer(path)):
        page.on("dialog", lambda d: dialogs.append(d.message))
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert dialogs == []
        assert page.locator('[data-fact="scenario"]').text_content() == HOSTILE[0]
        assert HOSTILE[0] in page.locator("#proposals").text_content()
        assert page.locator("#detail script, #detail img, #side img, header script").count() == 0
        shot(page, "hostile")


def test_broken_trace_shows_its_errors_not_a_blank_page(
    browser: Browser, traces: tuple[Path, Path], tmp_path: Path
) -> None:
    """Broken and truncated lines are listed; the valid part of the trace still renders."""
    text = traces[0].read_text().splitlines()
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join([*text[:40], "{not json", *text[40:60]]) + "\n" + text[60][:30])
    for page in open_viewer(browser, Viewer(path)):
        assert page.locator("#errors").is_visible()
        items = page.locator("#error-list li").all_text_contents()
        assert items[0].startswith("line 41: not JSON")
        assert "truncated" in items[-1]
        assert page.locator("#timeline li").count() >= 1
        shot(page, "broken")


def test_live_mode_follows_a_growing_trace(
    browser: Browser, traces: tuple[Path, Path], tmp_path: Path
) -> None:
    """In live mode new cycles appear as the trace grows, until run.end."""
    lines = traces[0].read_text().splitlines(keepends=True)
    cut = next(
        i for i, line in enumerate(lines) if '"cycle": 3' in line and '"cycle.start"' in line
    )
    path = tmp_path / "live.jsonl"
    path.write_text("".join(lines[:cut]))
    for page in open_viewer(browser, Viewer(path, live=True)):
        assert page.locator("#timeline li").count() == 2
        assert page.locator("#live").is_visible()
        with path.open("a") as f:
            f.write("".join(lines[cut:]))
        expect(page.locator("#live")).to_contain_text("finished", timeout=10_000)
        assert page.locator("#timeline li").count() >= 5


def test_admissions_rejections_links_and_role_filter(browser: Browser, tmp_path: Path) -> None:
    """Admission decisions show with their probability, links draw the graph, the memory list
    pages, and the role filter keeps only that role's agents."""
    lines: list[dict[str, Any]] = [
        {
            "event": "run.start",
            "scenario": "mem",
            "agents": [{"name": "gen", "role": "generator"}, {"name": "crit", "role": "critic"}],
        },
    ]
    for c in range(1, 4):
        lines += [
            {"event": "cycle.start", "cycle": c, "temperature": 0.7},
            {
                "event": "proposal",
                "cycle": c,
                "agent": "gen",
                "candidate": f"c{c}.1",
                "text": f"idea {c}",
            },
            {
                "event": "critique",
                "cycle": c,
                "agent": "crit",
                "candidate": f"c{c}.1",
                "score": 2,
                "reason": "ok",
            },
            {
                "event": "selection",
                "cycle": c,
                "agent": "gen",
                "winner": f"c{c}.1",
                "text": f"idea {c}",
                "tag": "THINK_MORE",
            },
        ]
    lines += [
        {
            "event": "memory.admit",
            "cycle": 3,
            "memory_id": f"m{i}",
            "p": 0.9,
            "reason": "novel",
            "links": [{"type": "derived_from", "target": f"m{i - 1}"}] if i else [],
        }
        for i in range(400)
    ]
    lines.append(
        {
            "event": "memory.reject",
            "cycle": 3,
            "candidate": "c3.9",
            "p": 0.12,
            "reason": "instruction-like text from an untrusted source",
            "features": {"bias": 1.0, "novelty": 0.35, "new_words": 0.4, "won": 0.0},
        }
    )
    path = tmp_path / "memory.jsonl"
    path.write_text(
        "".join(
            json.dumps({"v": 1, "ts": 0, "run": "r", "seq": i, **r}) + "\n"
            for i, r in enumerate(lines, 1)
        )
    )
    for page in open_viewer(browser, Viewer(path)):
        assert page.locator("#memory-info").text_content() == "300 of 401 memory events"
        first = page.locator('#memory li[data-kind="memory.admit"]').first.text_content()
        assert "m0 p=0.9 novel" in first
        page.click("#memory-more")
        expect(page.locator("#memory-info")).to_have_text("401 of 401 memory events")
        assert page.locator("#memory-more").is_hidden()
        reject = page.locator('#memory li[data-kind="memory.reject"]').text_content()
        assert "p=0.12 instruction-like text" in reject
        features = page.locator('#memory li[data-kind="memory.reject"] details.features')
        features.locator("summary").click()
        assert features.text_content() == "featuresnew_words 0.4 · novelty 0.35"  # no zeros
        assert int(page.locator("#graph").get_attribute("data-nodes") or 0) == 200
        assert page.locator("#graph line").count() >= 100
        page.select_option("#f-role", "critic")
        expect(page.locator("#events li")).to_have_count(1)
        assert "critique" in page.locator("#events li").text_content()
        shot(page, "memory-admissions")


def test_the_page_stays_usable_after_wrong_typed_and_huge_events(
    browser: Browser, traces: tuple[Path, Path], tmp_path: Path
) -> None:
    """Wrong-typed lines (skipped and listed), a script payload and a 5 MB thought: the page
    renders, steps through every cycle without a script error, and lists the bad lines."""
    rows = [json.loads(line) for line in traces[1].read_text().splitlines()]
    proposal = next(r for r in rows if r["event"] == "proposal")
    call = next(r for r in rows if r["event"] == "model.call")
    bad = [
        {**call, "tokens_in": "<b>12</b>"},
        {**call, "tokens_in": [1]},
        {**rows[0], "agents": 5},
        {**next(r for r in rows if r["event"] == "broadcast"), "memories": "abc"},
        {**next(r for r in rows if r["event"] == "broadcast"), "working_memory": "abc"},
        {**proposal, "text": "<img src=x onerror=alert(1)><script>alert(2)</script>"},
        {**proposal, "text": "y" * 5_000_000},
    ]
    out = [*rows[:4], *bad, *rows[4:]]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(json.dumps({**r, "seq": i}) for i, r in enumerate(out, 1)) + "\n")
    for page in open_viewer(browser, Viewer(path)):
        assert page.locator("#timeline li").count() >= 2
        items = page.locator("#error-list li").all_text_contents()
        assert len(items) == 5
        assert all("skipped" in item for item in items)
        for _ in range(page.locator("#timeline li").count()):
            page.keyboard.press("ArrowRight")
        assert page.locator("body[data-ready]").count() == 1
        shot(page, "hostile-types")
