"""The browser debug console in real headless Chromium (Debian's, driven by Playwright)
against a real hub process and the scripted LLM."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from hub.identity import issue_token
from tests.conftest import API_KEY, routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).parent.parent / "docs" / "console.png"
SECRET = "console-test-secret-" * 2


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    process = HubProcess(
        tmp_path,
        llm.base_url,
        AGENT_RUNTIME__WORKSPACE_ROOT=str(workspace),
        AGENT_RUNTIME__AUTH_JWT_SECRET=SECRET,
    )
    yield process.start()
    process.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        if os.environ.get("CI") == "true":
            raise RuntimeError("chromium is required in CI; .ci/run installs it")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        await browser.close()


async def signed_in(browser: Browser, hub: HubProcess) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(f"{hub.http_url}/console/")
    await page.get_by_test_id("api-key").fill(API_KEY)
    await page.get_by_test_id("sign-in").click()
    await expect(page.get_by_test_id("session-list")).to_be_visible()
    return page


async def test_a_user_token_shows_only_that_users_sessions(
    browser: Browser, hub: HubProcess, llm: ScriptedLLM
) -> None:
    alice = issue_token(SECRET, "alice", 600)
    for credential, session_id in [
        ({"Authorization": f"Bearer {alice}"}, "alices-notes"),
        ({"Authorization": f"Bearer {issue_token(SECRET, 'bob', 600)}"}, "bobs-notes"),
        ({"X-Internal-Auth": API_KEY}, "service-job"),
    ]:
        async with httpx.AsyncClient(base_url=hub.http_url, headers=credential) as client:
            await client.post("/sessions", json={"session_id": session_id})
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(f"{hub.http_url}/console/")
    await page.get_by_test_id("api-key").fill(alice)
    await page.get_by_test_id("sign-in").click()
    await expect(page.get_by_test_id("who")).to_have_text("signed in as alice")
    items = page.get_by_test_id("session-item")
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("alices-notes")
    llm.push(routed("ask", "a greeting"), Text(["Hello ", "alice"]))
    await items.first.click()  # the socket opens with a ticket issued to alice
    status = page.get_by_test_id("connection-status")
    await expect(status).to_have_attribute("data-state", "connected")
    await page.get_by_test_id("message-input").fill("hi")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_text("Hello alice")).to_be_visible()

    await page.get_by_test_id("sign-out").click()
    await page.get_by_test_id("api-key").fill(API_KEY)
    await page.get_by_test_id("sign-in").click()
    await expect(page.get_by_test_id("who")).to_have_text("administrator: every session")
    await expect(items).to_have_count(3)


async def test_a_wrong_key_does_not_sign_in(browser: Browser, hub: HubProcess) -> None:
    page = await browser.new_page()
    await page.goto(f"{hub.http_url}/console/")
    await page.get_by_test_id("api-key").fill("not-the-key")
    await page.get_by_test_id("sign-in").click()
    await expect(page.get_by_text("401", exact=False).first).to_be_visible()
    await expect(page.get_by_test_id("session-list")).to_be_hidden()


async def test_a_session_streams_switches_agent_and_is_approved_inline(
    browser: Browser, hub: HubProcess, llm: ScriptedLLM, tmp_path: Path
) -> None:
    llm.push(
        routed("coder", "writing a file"),
        Hang(["Let me ", "think."]),
        ToolCalls([("ui-1", "write_file", {"path": "notes.md", "content": "hello\n"})]),
        Text(["Done: <script>window.__owned = 1</script> **saved**"]),
    )
    page = await signed_in(browser, hub)
    await page.get_by_test_id("new-session").click()
    status = page.get_by_test_id("connection-status")
    await expect(status).to_have_attribute("data-state", "connected")
    await page.get_by_test_id("message-input").fill("plan notes.md")
    await page.get_by_test_id("send").click()

    transcript = page.get_by_test_id("transcript")
    await expect(page.get_by_test_id("agent-switch").first).to_contain_text("coder")
    await expect(page.get_by_test_id("current-agent")).to_have_text("coder")
    await expect(transcript).to_contain_text("Let me think.")  # streamed; the run still goes on
    llm.release()
    await page.get_by_test_id("message-input").fill("now write it")
    await page.get_by_test_id("send").click()

    card = page.get_by_test_id("approval-card")
    await expect(card).to_be_visible()
    await expect(card).to_contain_text("notes.md")
    await card.get_by_test_id("approve").click()
    await expect(card).to_have_attribute("data-state", "resolved")
    await expect(transcript).to_contain_text("<script>window.__owned = 1</script>")
    assert await page.evaluate("window.__owned") is None  # shown as text, never run
    assert (tmp_path / "workspace" / "notes.md").read_text() == "hello\n"
    await expect(page.get_by_test_id("run-state")).to_have_text("idle")  # every call is in
    total = sum(reported["total_tokens"] for reported in llm.reported)
    assert len(llm.reported) == 4  # routing, two answers and the call asking to write
    await expect(page.get_by_test_id("session-usage")).to_have_text(f"{total:,}")

    log = page.get_by_test_id("frame-log")
    await expect(
        log.locator("[data-testid=frame-row][data-type=run_finished]").first
    ).to_be_attached()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))


async def test_a_rejection_with_feedback_from_the_console(
    browser: Browser, hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(
        routed("coder"),
        ToolCalls([("ui-2", "execute_command", {"command": "rm -rf /"})]),
        Text(["Understood."]),
    )
    page = await signed_in(browser, hub)
    await page.get_by_test_id("new-session").click()
    await page.get_by_test_id("message-input").fill("clean up")
    await page.get_by_test_id("send").click()
    card = page.get_by_test_id("approval-card")
    await card.get_by_test_id("feedback").fill("never do that")
    await card.get_by_test_id("reject").click()
    await expect(card).to_have_attribute("data-state", "resolved")
    await expect(page.get_by_test_id("transcript")).to_contain_text("Understood.")
    assert "never do that" in str(llm.requests[-1]["messages"])


async def test_a_plan_is_approved_on_its_card_and_shows_each_steps_result(
    browser: Browser, hub: HubProcess, llm: ScriptedLLM
) -> None:
    steps = [
        {"title": "Write it", "agent": "coder", "description": "Write hello.py."},
        {"title": "Explain it", "agent": "ask", "description": "Explain <b>it</b>."},
    ]
    route = {"agent": "coder", "confidence": 0.8, "reason": "several steps", "plan": True}
    llm.push(
        ToolCalls([("route-1", "route_to_agent", route)]),
        ToolCalls([("plan-ui", "propose_plan", {"title": "Hello", "steps": steps})]),
        Text(["Wrote hello.py."]),
        Text(["It greets."]),
        Text(["All done."]),
    )
    page = await signed_in(browser, hub)
    await page.get_by_test_id("new-session").click()
    await page.get_by_test_id("message-input").fill("write and explain hello")
    await page.get_by_test_id("send").click()
    card = page.get_by_test_id("plan-card")
    await expect(card).to_have_attribute("data-state", "proposed")
    await expect(card.get_by_test_id("plan-step")).to_have_count(2)
    await expect(card).to_contain_text("Explain <b>it</b>.")  # text, not markup
    await card.get_by_test_id("plan-approve").click()
    await expect(card).to_have_attribute("data-state", "done")
    await expect(card.get_by_test_id("plan-result")).to_have_text(["Wrote hello.py.", "It greets."])
    await expect(card.get_by_test_id("plan-approve")).to_be_hidden()
    await expect(page.get_by_test_id("transcript")).to_contain_text("All done.")
