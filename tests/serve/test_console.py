"""The live console of `gwa serve` in Debian's Chromium (Playwright): a whole conversation
through the page on the fake model (start, talk, idle, stop, an approval edited), and
hostile text from a run shown literally, never run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from served import PICNIC, TOKEN, serving

IDLER = """
name: idler
goal: keep an eye on the garden
agents:
  - {name: watcher, role: generator}
  - {name: critic, role: critic}
selection: {policy: score, respond_min_score: 5}
workspace: {max_cycles: 400, idle: {enabled: true, interval_s: 0.2}}
"""
HOSTILE = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("console")
    (folder / "picnic.yaml").write_text(PICNIC)
    (folder / "idler.yaml").write_text(IDLER)
    with serving(folder, str(folder / "picnic.yaml"), str(folder / "idler.yaml")) as u:
        yield u


def open_console(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/#token={TOKEN}")
    expect(page.locator("#conn")).to_have_text("connected", timeout=10_000)
    return page, errors


def test_a_conversation_with_an_approval_through_the_page(browser: Browser, url: str) -> None:
    """Start a run with a hostile goal, watch its events and agents fill in, get asked for
    approval, edit the answer; the hostile text is shown literally and never runs."""
    page, errors = open_console(browser, url)
    page.select_option("#scenario", "picnic")
    page.fill("#goal", HOSTILE)
    page.click("#start-run")
    expect(page.locator('#events li[data-kind="run.pause"]')).to_have_count(1, timeout=30_000)
    expect(page.locator("#approval")).to_be_visible()
    expect(page.locator("#question")).to_have_text("Give this answer?")
    expect(page.locator("#agents tr[data-agent='g']")).to_have_count(1)
    assert page.locator("#goal-text").text_content() == HOSTILE
    page.fill("#approval-text", "Pears, sliced.")
    page.click("#edit")
    expect(page.locator("#answer")).to_have_text("Answer: Pears, sliced.", timeout=30_000)
    expect(page.locator("#status")).to_have_text("answered", timeout=30_000)
    assert page.evaluate("window.__pwned") is None
    assert errors == []


def test_talk_to_a_thinking_run_switch_idle_and_stop_it(browser: Browser, url: str) -> None:
    """A run that keeps thinking perceives what is typed in the page; idle off lets it end at
    its next answer, or Stop ends it."""
    page, errors = open_console(browser, url)
    page.select_option("#scenario", "idler")
    page.click("#start-run")
    expect(page.locator('#events li[data-kind="cycle.start"]').first).to_be_visible(timeout=30_000)
    page.fill("#input", "The roses need water.")
    page.click("#send")
    perceived = page.locator(
        '#events li[data-kind="cycle.start"]', has_text="The roses need water."
    )
    expect(perceived).to_have_count(1, timeout=30_000)
    page.check("#idle")
    page.uncheck("#idle")
    page.click("#stop")
    expect(page.locator("#status")).to_have_text("stopped", timeout=30_000)
    assert errors == []


def test_the_page_without_a_token_says_so(browser: Browser, url: str) -> None:
    """No token: the page loads and says it is not connected (the API refused it)."""
    page = browser.new_page()
    page.goto(url + "/")
    page.evaluate("sessionStorage.clear()")
    page.reload()
    expect(page.locator("#conn")).to_contain_text("not connected", timeout=10_000)
