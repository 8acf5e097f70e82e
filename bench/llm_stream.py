"""Sections 0 and 1: the LLM server ceiling (raw bytes) and LLM stream parsing in this process
(the openai SDK's typed stream against the hub's `OpenAIChatModel.stream`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import openai

from agents.llm import OpenAIChatModel
from bench.clients import TURN_TIMEOUT
from bench.measure import Report, Row, fmt_rate, median_run, ratio
from bench.processes import MODEL, FakeLLM
from tests.scripted_llm import ScriptedLLM, Text


def bench_messages(spec: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"bench {spec}"}]


async def read_raw(base_url: str, n: int) -> float:
    """Seconds to read the raw bytes of an n-chunk stream with httpx2 (no SSE parsing)."""
    body = {"model": MODEL, "stream": True, "messages": bench_messages(f"n={n}")}
    async with httpx2.AsyncClient(timeout=TURN_TIMEOUT) as client:
        started = time.perf_counter()
        async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
            response.raise_for_status()
            async for _ in response.aiter_raw():
                pass
        return time.perf_counter() - started


async def parse_sdk(client: openai.AsyncOpenAI, n: int) -> float:
    """Seconds for the openai SDK's typed stream to deliver n content deltas."""
    started = time.perf_counter()
    count = 0
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"bench n={n}"}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            count += 1
    elapsed = time.perf_counter() - started
    if count != n:
        raise RuntimeError(f"SDK stream gave {count} deltas, expected {n}")
    return elapsed


async def parse_chat_model(model: OpenAIChatModel, n: int) -> float:
    """Seconds for the hub's OpenAIChatModel.stream to deliver n text deltas."""
    started = time.perf_counter()
    count = 0
    async for item in model.stream(bench_messages(f"n={n}")):
        if type(item) is str:
            count += 1
    elapsed = time.perf_counter() - started
    if count != n:
        raise RuntimeError(f"OpenAIChatModel.stream gave {count} deltas, expected {n}")
    return elapsed


async def repeat(times: int, run: Callable[[], Awaitable[float]]) -> list[float]:
    return [await run() for _ in range(times)]


async def section_source(args: argparse.Namespace, fake: FakeLLM, report: Report) -> None:
    n = args.chunks
    with ScriptedLLM() as scripted:
        words = [f" w{i % 97}" for i in range(n)]
        client = openai.AsyncOpenAI(base_url=scripted.base_url, api_key="x", max_retries=0)
        model = OpenAIChatModel(client, MODEL)

        async def scripted_raw() -> float:
            scripted.push(Text(words))
            return await read_raw(scripted.base_url, n)

        async def scripted_parse() -> float:
            scripted.push(Text(words))
            return await parse_chat_model(model, n)

        await scripted_raw()  # warm-up
        s_raw = median_run(await repeat(args.repeat, scripted_raw))
        s_parse = median_run(await repeat(args.repeat, scripted_parse))
        await client.close()
    await read_raw(fake.base_url, n)  # warm-up: builds and caches the stream
    f_raw = median_run(await repeat(args.repeat, lambda: read_raw(fake.base_url, n)))
    report.results["source"] = {
        "scripted_raw_cps": n / s_raw,
        "scripted_chat_model_cps": n / s_parse,
        "fake_raw_cps": n / f_raw,
    }
    report.section(
        f"0. LLM server ceiling: {n:,}-chunk stream, raw bytes read with httpx2, "
        f"median of {args.repeat}",
        [
            Row(
                "fake_llm.py (own process), raw read",
                fmt_rate(n / f_raw),
                "chunks/s",
                note="server used below",
            ),
            Row(
                "ScriptedLLM (thread in this process), raw read",
                fmt_rate(n / s_raw),
                "chunks/s",
                ratio(n / s_raw, n / f_raw),
            ),
            Row(
                "ScriptedLLM, OpenAIChatModel.stream",
                fmt_rate(n / s_parse),
                "chunks/s",
                note="server and parser share one GIL",
            ),
        ],
    )


async def section_parse(args: argparse.Namespace, fake: FakeLLM, report: Report) -> float:
    n = args.chunks
    client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
    model = OpenAIChatModel(client, MODEL)
    await parse_sdk(client, 100)  # warm-up: connection, lazy imports
    await parse_chat_model(model, 100)
    sdk_runs: list[float] = []
    hub_runs: list[float] = []
    for _ in range(args.repeat):  # interleaved so drift hits both alike
        sdk_runs.append(await parse_sdk(client, n))
        hub_runs.append(await parse_chat_model(model, n))
    await client.close()
    sdk: float = n / median_run(sdk_runs)
    hub: float = n / median_run(hub_runs)
    report.results["parse"] = {"sdk_cps": sdk, "chat_model_cps": hub}
    report.section(
        f"1. LLM stream parsing in this process: {n:,} chunks from fake_llm.py, "
        f"median of {args.repeat}",
        [
            Row("baseline: openai SDK typed stream", fmt_rate(sdk), "chunks/s", "1.00x"),
            Row(
                "hub: OpenAIChatModel.stream (raw + orjson)",
                fmt_rate(hub),
                "chunks/s",
                ratio(hub, sdk),
            ),
        ],
    )
    return hub
