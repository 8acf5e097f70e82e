"""`hub_client.HubClient` against a real hub process: typed frames, commands, a dropped
connection resumed without losing or repeating a frame, and refusals that are not retried."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import protocol as p
from hub.identity import issue_token
from hub_client import HubClient, HubRefused
from tests.conftest import API_KEY, routed
from tests.hub_process import HubProcess
from tests.scripted_llm import Hang, ScriptedLLM, Text, ToolCalls

SECRET = "hub-client-test-secret-" * 2


@pytest.fixture
def hub(tmp_path: Path, llm: ScriptedLLM) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path, llm.base_url, AGENT_RUNTIME__AUTH_JWT_SECRET=SECRET).start()
    yield process
    process.stop()


async def until(client: HubClient, kind: type[p.HubFrameModel]) -> list[p.HubFrame]:
    seen: list[p.HubFrame] = []
    async with asyncio.timeout(10):
        async for frame in client.frames():
            seen.append(frame)
            if isinstance(frame, kind):
                return seen
    raise AssertionError("the stream ended")


async def test_a_turn_with_an_approval_through_typed_frames(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    write = ToolCalls([("c-1", "write_file", {"path": "a.md", "content": "x"})])
    llm.push(routed(), write, Text(["done"]))
    token = issue_token(SECRET, "alice", 600)
    async with HubClient(hub.http_url, "typed", token=token) as client:
        ready = (await until(client, p.SessionReady))[-1]
        assert isinstance(ready, p.SessionReady) and ready.current_agent == "orchestrator"
        await client.send_message("write code")
        asked = (await until(client, p.ToolCall))[-1]
        assert isinstance(asked, p.ToolCall) and asked.requires_approval
        await client.approve(asked.call_id)  # in-band: the IDE runs the call it approved
        await client.tool_result(asked.call_id, result="wrote a.md")
        frames = await until(client, p.RunFinished)  # the run that asked, parked
        assert isinstance(frames[-1], p.RunFinished) and frames[-1].reason == "waiting"
        frames = await until(client, p.RunFinished)  # the run the result continued
    text = "".join(f.token for f in frames if isinstance(f, p.AssistantMessage))
    assert text == "done"


async def test_a_dropped_connection_resumes_with_every_frame_once(
    hub: HubProcess, llm: ScriptedLLM
) -> None:
    llm.push(routed(), Hang(["one ", "two "]), Text(["three"]))
    async with HubClient(hub.http_url, "resumed", key=API_KEY) as client:
        await until(client, p.SessionReady)
        await client.send_message("count")
        seen: list[p.HubFrame] = []
        async for frame in client.frames():
            seen.append(frame)
            if isinstance(frame, p.AssistantMessage) and frame.token == "two ":
                break
        assert client._ws is not None
        client._ws.transport.abort()  # the network drops the connection
        llm.release()  # the turn goes on meanwhile
        seen += await until(client, p.RunFinished)
    assert client.reconnects == 1
    resumed = [f for f in seen if isinstance(f, p.SessionReady) and f.resumed]
    assert len(resumed) == 1  # the greeting of the new connection, then what was missed
    seqs = [f.seq for f in seen if not isinstance(f, p.Error | p.SessionReady)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # none lost, none twice
    tokens = "".join(f.token for f in seen if isinstance(f, p.AssistantMessage))
    assert tokens == "one two "


async def test_a_refused_socket_is_not_retried(hub: HubProcess) -> None:
    with pytest.raises(HubRefused) as refused:
        async with HubClient(hub.http_url, "nope", key="wrong-key-123"):
            pass
    assert refused.value.status == 401 and "wrong X-Internal-Auth key" in refused.value.detail
