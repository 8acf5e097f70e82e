"""An in-process `ChatModel` answering from a script (the replies of `tests.fakes.script`),
for tests of the turn core and the session that need no HTTP server, and for the bench's
measure of the core alone. Like the Agents SDK's `FakeModel`: it records every request and
`assert_complete()` checks the script was used up."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson

from agents.llm import FunctionCall, LLMError, ToolCallFragment, http_kind
from agents.usage import Usage
from tests.fakes.script import Cut, Fail, Hang, Reply, Text, ToolCalls


class ScriptedModel:
    def __init__(self, *replies: Reply) -> None:
        self._script: deque[Reply] = deque(replies)
        self.requests: list[dict[str, Any]] = []
        self._released = asyncio.Event()
        # Reported at the end of every call that completes; None: the model reports nothing.
        self.usage: Usage | None = None

    def push(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def release(self) -> None:
        """Let every `Hang` reply finish."""
        self._released.set()

    def assert_complete(self) -> None:
        assert not self._script, f"{len(self._script)} scripted replies left: {self._script}"

    def _next(self, request: dict[str, Any]) -> Reply:
        self.requests.append(request)
        if not self._script:
            raise LLMError("LLM endpoint answered HTTP 500: no scripted reply left", "http_5xx")
        return self._script.popleft()

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | ToolCallFragment | Usage]:
        request = {"messages": messages, "tools": tools, "stream": True, "max_tokens": max_tokens}
        reply = self._next(request)
        match reply:
            case Fail(status=status, message=message):
                raise LLMError(f"LLM endpoint answered HTTP {status}: {message}", http_kind(status))
            case Text(chunks=chunks, delay=delay):
                for chunk in chunks:
                    if delay:
                        await asyncio.sleep(delay)
                    yield chunk
                if self.usage is not None:
                    yield self.usage
            case ToolCalls(calls=calls, text_chunks=text_chunks):
                for chunk in text_chunks:
                    yield chunk
                for index, (call_id, name, arguments) in enumerate(calls):
                    yield ToolCallFragment(index, call_id, name, "")
                    yield ToolCallFragment(index, None, None, orjson.dumps(arguments).decode())
                if self.usage is not None:
                    yield self.usage
            case Cut(chunks=chunks):
                for chunk in chunks:
                    yield chunk
                raise LLMError(
                    "LLM stream failed: RemoteProtocolError: the scripted stream was cut",
                    "stream_broken",
                )
            case Hang(chunks=chunks):
                for chunk in chunks:
                    yield chunk
                await self._released.wait()
                if self.usage is not None:
                    yield self.usage

    async def call_function(
        self,
        messages: list[dict[str, Any]],
        function: dict[str, Any],
        timeout: float,  # noqa: ASYNC109  # the port's signature
        max_tokens: int = 256,
    ) -> FunctionCall:
        request = {"messages": messages, "function": function, "max_tokens": max_tokens}
        reply = self._next(request | {"stream": False})
        match reply:
            case ToolCalls(calls=calls):
                for _, name, arguments in calls:
                    if name == function["name"]:
                        return FunctionCall(arguments, self.usage)
            case Fail(status=status, message=message):
                raise LLMError(f"LLM endpoint answered HTTP {status}: {message}", http_kind(status))
        raise LLMError(f"LLM did not call {function['name']}", "no_call")
