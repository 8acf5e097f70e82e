"""What `hub.model_calls.ObservedModel` (the histogram sample and span of every model call)
adds to each token, beside the same tokens read from the model directly:

    uv run python -m bench.observed_model [--tokens 1000000]

The model is an in-process generator of ready tokens, so the figure is the wrapper's own hop.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry.trace import NoOpTracer

from agents.llm import FunctionCall, ToolCallFragment
from agents.ports import ChatModel
from agents.usage import Usage
from hub.metrics import HubMetrics
from hub.model_calls import ObservedModel

TURN = 400  # tokens a call


class ReadyTokens:
    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | ToolCallFragment | Usage]:
        for _ in range(TURN):
            yield "token"

    async def call_function(
        self,
        messages: list[dict[str, Any]],
        function: dict[str, Any],
        timeout: float,  # noqa: ASYNC109  # the port's signature
        max_tokens: int = 256,
    ) -> FunctionCall:
        raise NotImplementedError("only streams are measured")


async def per_token(model: ChatModel, tokens: int) -> float:
    started = time.perf_counter()
    for _ in range(tokens // TURN):
        async for _token in model.stream([]):
            pass
    return (time.perf_counter() - started) / tokens * 1e9


async def main(tokens: int) -> None:
    direct = ReadyTokens()
    observed = ObservedModel(direct, "m", HubMetrics(), NoOpTracer())
    for _ in range(2):  # the second round is the one printed: both warm
        plain, wrapped = await per_token(direct, tokens), await per_token(observed, tokens)
    print(f"ns per token: direct {plain:.0f}, observed {wrapped:.0f}, added {wrapped - plain:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().tokens))
