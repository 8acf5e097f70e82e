"""Approvals that find the user: a call waits while nobody watches the session, the webhook
reaches a local receiver with a valid signature, and its link approves the call in Chromium at
a phone's viewport."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from hub.webhooks import ApprovalLinks, signature
from tests.conftest import routed
from tests.hub_process import HubProcess, free_port
from tests.scripted_llm import ScriptedLLM, Text, ToolCalls
from tests.socket_client import AUTH
from tests.test_console import CHROMIUM, FLAGS, HAVE_CHROMIUM

SECRET = "a-webhook-secret-of-some-length"
PHONE = {"width": 390, "height": 844}


class Receiver:
    """The user's webhook endpoint: records what it is sent; fails the first call."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.failed = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not receiver.failed:
                    receiver.failed = True  # the hub must try again
                    self.send_response(503)
                else:
                    receiver.received.append((dict(self.headers), body))
                    receiver.arrived.set()
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM, receiver: Receiver) -> Iterator[HubProcess]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    process = HubProcess(
        tmp_path,
        llm.base_url,
        AGENT_RUNTIME__WORKSPACE_ROOT=str(workspace),
        AGENT_RUNTIME__APPROVAL_WEBHOOK_URL=f"http://127.0.0.1:{receiver.port}/hook",
        AGENT_RUNTIME__APPROVAL_WEBHOOK_SECRET=SECRET,
    ).start()
    yield process
    process.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


async def test_an_unwatched_approval_is_sent_signed_and_approved_from_a_phone(
    hub: HubProcess, llm: ScriptedLLM, receiver: Receiver, browser: Browser, tmp_path: Path
) -> None:
    write = ToolCalls([("hook-1", "write_file", {"path": "notes.md", "content": "<b>hi</b>\n"})])
    llm.push(routed(), write, Text(["Saved."]))
    body = {"session_id": "away", "type": "user_message", "content": "save notes", "role": "user"}
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH, timeout=30) as client:
        await client.post("/agent/message/stream", json=body)  # no socket watches "away"
        assert receiver.arrived.wait(15), "the webhook never arrived"
        ((headers, raw),) = receiver.received
        timestamp = headers["X-Agent-Hub-Signature"].split(",")[0].removeprefix("t=")
        assert headers["X-Agent-Hub-Signature"] == signature(SECRET, timestamp, raw)
        sent = json.loads(raw)
        assert (sent["type"], sent["call_id"], sent["tool_name"]) == (
            "approval_waiting", "hook-1", "write_file"
        )  # fmt: skip
        link = sent["approve_url"]
        forged = link.rsplit(".", 1)[0] + ".AAAA"
        assert (await client.get(forged)).status_code == 404
        assert (await client.get("/approve/x.%C3%A9")).status_code == 404  # not ASCII: no 500
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        nul = await client.post(link, content="decision=reject&feedback=%00", headers=form)
        assert nul.status_code == 422  # refused, and nothing decided

        page = await browser.new_page(viewport=PHONE)
        await page.goto(link)
        await expect(page.get_by_test_id("tool")).to_have_text("write_file")
        await expect(page.get_by_test_id("arguments")).to_contain_text("<b>hi</b>")  # as text
        fits = await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits  # nothing wider than the phone
        await page.get_by_test_id("approve").click()
        await expect(page.get_by_test_id("title")).to_have_text("Approved")
        await page.goto(link)  # the link again: decided once, so it only says so
        await expect(page.get_by_test_id("title")).to_have_text("Already decided")
        await last_message_is(client, "away", "Saved.")  # the turn goes on after the click
    assert (tmp_path / "workspace" / "notes.md").read_text() == "<b>hi</b>\n"


async def last_message_is(client: httpx.AsyncClient, session_id: str, text: str) -> None:
    """Until the session's last stored message is `text` (its run is in another process)."""
    path = f"/sessions/{session_id}/history"
    async with asyncio.timeout(10):
        while (await client.get(path)).json()["messages"][-1]["content"] != text:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def test_a_link_names_one_approval_until_it_expires() -> None:
    links = ApprovalLinks(SECRET)
    token = links.token("s1", "c1", expires=2_000)
    found = links.read(token, now=1_000)
    assert found is not None and (found.session_id, found.call_id) == ("s1", "c1")
    assert links.read(token, now=2_001) is None  # expired
    assert ApprovalLinks("another-secret-entirely").read(token, now=1_000) is None
    body, _, signed = token.partition(".")
    assert links.read(body + "x." + signed, now=1_000) is None  # changed claims
    assert links.read("garbage", now=1_000) is None
