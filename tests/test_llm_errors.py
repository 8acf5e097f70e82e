"""Settings and failures of the model endpoint, told so that a person can act on them."""

from __future__ import annotations

import openai
import pytest

from agents.llm import LLMError, OpenAIChatModel
from hub.cli import _dev_key
from hub.config import SettingsError, load_settings
from tests.scripted_llm import Cut, Fail, Hang, Reply, ScriptedLLM, Text


def test_a_proxy_url_that_is_not_a_url_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="AGENT_RUNTIME__LLM_PROXY_URL"):
        load_settings(llm_proxy_url="notaurl")
    assert load_settings(llm_proxy_url="https://api.example/v1").llm_proxy_url.startswith("https")


async def test_an_unreachable_model_is_named_with_its_url_and_setting() -> None:
    client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
    model = OpenAIChatModel(client, "m")
    with pytest.raises(LLMError) as failed:
        async for _ in model.stream([{"role": "user", "content": "hi"}]):
            pass
    assert "http://127.0.0.1:9/v1" in str(failed.value)
    assert "AGENT_RUNTIME__LLM_PROXY_URL" in str(failed.value)
    assert failed.value.kind == "unreachable"
    with pytest.raises(LLMError, match="AGENT_RUNTIME__LLM_PROXY_URL"):
        await model.call_function([{"role": "user", "content": "hi"}], {"name": "f"}, 2)
    await client.close()


def test_a_dev_key_never_looks_like_an_option() -> None:
    assert not any(_dev_key().startswith("-") for _ in range(2000))


async def test_streamed_calls_keep_their_connection_alive(llm: ScriptedLLM) -> None:
    """Leaving a stream at `[DONE]` before the body's end made the pool drop the connection:
    every model call paid a TCP connect."""
    llm.push(*(Text(["a", "b"]) for _ in range(4)))
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="x", max_retries=0)
    model = OpenAIChatModel(client, "m")
    for _ in range(4):
        parts = [p async for p in model.stream([{"role": "user", "content": "hi"}])]
        assert "".join(p for p in parts if isinstance(p, str)) == "ab"
    await client.close()
    assert len(set(llm.client_ports)) == 1, llm.client_ports


@pytest.mark.parametrize(
    ("reply", "kind", "told"),
    [
        (Fail(429, "slow down"), "http_429", "HTTP 429"),
        (Fail(401, "bad key"), "http_4xx", "HTTP 401"),
        (Fail(502, "upstream died"), "http_5xx", "HTTP 502"),
        (Cut(["par", "tial"]), "stream_broken", "stream"),
        (Hang(["stalled"]), "timeout", "stalled"),  # after a chunk: the client's read timeout
    ],
)
async def test_each_failure_is_told_by_its_kind(
    llm: ScriptedLLM, reply: Reply, kind: str, told: str
) -> None:
    """The kind labels `agent_hub_llm_errors_total`; the message stays the one shown."""
    llm.push(reply)
    timeout = 0.5 if isinstance(reply, Hang) else 30.0  # only the stall is meant to time out
    client = openai.AsyncOpenAI(base_url=llm.base_url, api_key="x", max_retries=0, timeout=timeout)
    with pytest.raises(LLMError) as failed:
        _ = [p async for p in OpenAIChatModel(client, "m").stream([])]
    await client.close()
    assert failed.value.kind == kind
    assert told in str(failed.value)
