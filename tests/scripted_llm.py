"""A scripted, OpenAI-compatible chat-completions server for tests.

Tests start a :class:`ScriptedLLM` on ``127.0.0.1`` (a free port is picked) and point the real
``openai.AsyncOpenAI`` client at :attr:`ScriptedLLM.base_url`, so everything between the code under
test and "the model" is real HTTP.  Each ``POST /v1/chat/completions`` pops the next scripted
reply from a FIFO queue::

    with ScriptedLLM() as llm:
        llm.push(Text(["Hel", "lo"]), ToolCalls([("call_1", "read_file", {"path": "a.py"})]))
        client = AsyncOpenAI(base_url=llm.base_url, api_key="x", max_retries=0)
        ...
        assert llm.requests[0]["messages"][-1]["content"] == "hi"

Reply kinds: :class:`Text`, :class:`ToolCalls`, :class:`Fail`, :class:`Cut`, :class:`Hang`.

Notes:

* Use ``max_retries=0`` on the client: the SDK retries 5xx/429 and connection errors by default,
  and every retry pops another scripted reply.
* When the queue is empty the server answers 500 with
  ``{"error": {"message": "no scripted reply left", "type": "server_error"}}``.
* The server runs in a daemon thread with its own event loop, so it works from sync tests,
  async tests, and any pytest-asyncio loop scope.  Create one per module/session and call
  :meth:`ScriptedLLM.reset` between tests.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes import openai_stream
from tests.fakes.script import Cut, Fail, Hang, Reply, Text, ToolCalls

__all__ = ["Cut", "Fail", "Hang", "Reply", "ScriptedLLM", "Text", "ToolCalls"]

#: Upper bound for how long a :class:`Hang` reply waits for ``release()``/``stop()``.
HANG_TIMEOUT = 30.0
#: Poll interval of :class:`Hang` while waiting.
_HANG_STEP = 0.01


class _ScriptedCut(Exception):
    """Raised inside a streaming body to make uvicorn abort the connection (see ``Cut``)."""


class _DropScriptedCut(logging.Filter):
    """Drop uvicorn's "Exception in ASGI application" record caused by a deliberate ``Cut``."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not _contains_cut(exc)


def _contains_cut(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, _ScriptedCut):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains_cut(e) for e in exc.exceptions)
    return False


_filter_lock = threading.Lock()
_cut_filter = _DropScriptedCut()


def _install_log_filter() -> None:
    # Only records whose exception is our private _ScriptedCut are dropped, so this is harmless
    # for any other uvicorn server running in the same process.
    with _filter_lock:
        logger = logging.getLogger("uvicorn.error")
        if _cut_filter not in logger.filters:
            logger.addFilter(_cut_filter)


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _split_args(arguments: str) -> list[str]:
    """Split a JSON arguments string into 2–3 non-empty pieces (1 if it is a single char)."""
    pieces = 3 if len(arguments) >= 3 else max(len(arguments), 1)
    size = -(-len(arguments) // pieces)  # ceil division
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


class _Completion:
    """Builds chunk / completion payloads for one request (shape: tests/fakes/openai_stream.py)."""

    _ids = itertools.count(1)

    def __init__(
        self, body: dict[str, Any], report: Callable[[dict[str, int]], None] | None
    ) -> None:
        self.report = report  # None: this server reports no usage
        model = str(body.get("model") or "scripted-model")
        self.head = openai_stream.Head(
            f"chatcmpl-scripted-{next(self._ids)}", int(time.time()), model
        )
        options = body.get("stream_options")
        self.include_usage = (
            report is not None and isinstance(options, dict) and bool(options.get("include_usage"))
        )
        self.prompt_tokens = len(body.get("messages") or [])
        self.completion_tokens = 0

    def emit(self, payload: dict[str, Any]) -> bytes:
        """One SSE event; every chunk with a choice counts as a completion token."""
        self.completion_tokens += 1
        return openai_stream.sse(payload)

    def end(self, finish_reason: str) -> list[bytes]:
        """Final chunk, optional usage chunk and ``[DONE]``."""
        out = [self.emit(openai_stream.finish_chunk(self.head, finish_reason))]
        if self.include_usage and self.report is not None:
            usage = openai_stream.usage_chunk(self.head, self.prompt_tokens, self.completion_tokens)
            self.report(usage["usage"])
            out.append(openai_stream.sse(usage))
        out.append(openai_stream.DONE)
        return out

    def completion(
        self,
        content: str | None,
        finish_reason: str,
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        self.completion_tokens = max(1, len(content or "") // 4) + len(tool_calls or [])
        usage = openai_stream.usage(self.prompt_tokens, self.completion_tokens)
        if self.report is not None:
            self.report(usage)
        return {
            "id": self.head.id,
            "object": "chat.completion",
            "created": self.head.created,
            "model": self.head.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            **({"usage": usage} if self.report is not None else {}),
        }


class ScriptedLLM:
    """OpenAI-compatible ``/v1/chat/completions`` server answering from a FIFO script."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Lock()
        self._disconnected = threading.Condition(self._lock)
        self._queue: deque[Reply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._client_ports: list[int] = []
        self._disconnects = 0
        self._reported: list[dict[str, int]] = []
        #: False: answer like a server that reports no token usage at all.
        self.report_usage = True
        self._release_generation = 0
        self._stopping = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._chat_completions, methods=["POST"])]
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 5.0) -> ScriptedLLM:
        """Bind a free port and serve in a daemon thread; returns once uvicorn has started."""
        if self._thread is not None:
            raise RuntimeError("ScriptedLLM already started")
        _install_log_filter()
        self._stopping = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self._socket = sock
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,  # do not touch the process-wide logging configuration
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"ScriptedLLM:{self._port}",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ScriptedLLM failed to start")
            time.sleep(0.002)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Wake hanging replies, shut the server down and join its thread (idempotent)."""
        self._stopping = True
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if sock is not None:
            sock.close()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("ScriptedLLM not started")
        return self._port

    @property
    def base_url(self) -> str:
        """E.g. ``http://127.0.0.1:PORT/v1`` — pass as ``AsyncOpenAI(base_url=...)``."""
        return f"http://{self._host}:{self.port}/v1"

    # ------------------------------------------------------------------ script

    def push(self, *replies: Reply) -> None:
        """Append replies to the script; each request consumes the oldest one."""
        for reply in replies:
            if not isinstance(reply, Text | ToolCalls | Fail | Cut | Hang):
                raise TypeError(f"not a scripted reply: {reply!r}")
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Drop unconsumed replies and recorded requests, release hanging replies."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._client_ports.clear()
            self._disconnects = 0
            self._reported.clear()
            self.report_usage = True
            self._release_generation += 1

    def release(self) -> None:
        """Let every currently hanging :class:`Hang` reply finish."""
        with self._lock:
            self._release_generation += 1

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of the parsed JSON bodies of all requests received so far (oldest first)."""
        with self._lock:
            return list(self._requests)

    @property
    def client_ports(self) -> list[int]:
        """The client's TCP port of each request (oldest first): one port for many requests
        means the client kept its connection alive."""
        with self._lock:
            return list(self._client_ports)

    @property
    def reported(self) -> list[dict[str, int]]:
        """The `usage` objects sent so far, one per completed call (oldest first)."""
        with self._lock:
            return list(self._reported)

    def _report(self, usage: dict[str, int]) -> None:
        with self._lock:
            self._reported.append(usage)

    @property
    def pending(self) -> int:
        """Number of scripted replies not consumed yet."""
        with self._lock:
            return len(self._queue)

    @property
    def disconnects(self) -> int:
        """How many streams were cancelled because the client went away mid-stream."""
        with self._lock:
            return self._disconnects

    async def until_disconnects(self, count: int, within: float = 5.0) -> None:
        """Wait until `count` streams were cut by their client; no frame marks that moment."""

        def wait() -> bool:
            with self._lock:
                return self._disconnected.wait_for(lambda: self._disconnects >= count, within)

        if not await asyncio.to_thread(wait):
            raise TimeoutError(f"{self.disconnects} of {count} streams cut within {within} s")

    # ------------------------------------------------------------------ server side

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return JSONResponse(_error_body("request body is not valid JSON", 400), 400)
        if not isinstance(body, dict):
            return JSONResponse(_error_body("request body must be a JSON object", 400), 400)
        with self._lock:
            self._requests.append(body)
            self._client_ports.append(request.client.port if request.client else 0)
            reply = self._queue.popleft() if self._queue else None
            generation = self._release_generation

        if reply is None:
            return JSONResponse(_error_body("no scripted reply left", 500), 500)
        if isinstance(reply, Fail):
            return JSONResponse(_error_body(reply.message, reply.status), reply.status)

        comp = _Completion(body, self._report if self.report_usage else None)
        if body.get("stream") is True:
            return StreamingResponse(
                self._guard(self._stream(reply, comp, generation)),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        if isinstance(reply, Cut):
            return StreamingResponse(
                self._guard(self._cut_json(reply, comp)), media_type="application/json"
            )
        return JSONResponse(await self._complete(reply, comp, generation))

    async def _guard(self, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        # Starlette cancels the body iterator when it sees http.disconnect.
        try:
            async for item in stream:
                yield item
        except asyncio.CancelledError:
            with self._lock:
                self._disconnects += 1
                self._disconnected.notify_all()
            raise

    async def _wait_for_release(self, generation: int) -> None:
        deadline = time.monotonic() + HANG_TIMEOUT
        while not self._stopping and time.monotonic() < deadline:
            with self._lock:
                if self._release_generation != generation:
                    return
            await asyncio.sleep(_HANG_STEP)

    async def _stream(
        self, reply: Text | ToolCalls | Cut | Hang, comp: _Completion, generation: int
    ) -> AsyncIterator[bytes]:
        head = comp.head
        if isinstance(reply, ToolCalls):
            has_text = bool(reply.text_chunks)
            yield comp.emit(openai_stream.role_chunk(head, "" if has_text else None))
            for piece in reply.text_chunks:
                yield comp.emit(openai_stream.content_chunk(head, piece))
            for index, (call_id, name, arguments) in enumerate(reply.calls):
                yield comp.emit(openai_stream.tool_call_start_chunk(head, index, call_id, name))
                for part in _split_args(orjson.dumps(arguments).decode()):
                    yield comp.emit(openai_stream.tool_call_arguments_chunk(head, index, part))
            for item in comp.end("tool_calls"):
                yield item
            return

        yield comp.emit(openai_stream.role_chunk(head))
        for piece in reply.chunks:
            if isinstance(reply, Text) and reply.delay > 0:
                await asyncio.sleep(reply.delay)
            yield comp.emit(openai_stream.content_chunk(head, piece))

        if isinstance(reply, Cut):
            # Abort by raising: the exception escapes Starlette (the response has started, so
            # no 500 can be sent), uvicorn logs it (dropped by _DropScriptedCut) and calls
            # transport.close() without writing the terminating "0\r\n\r\n" chunk.  close()
            # still flushes what was already written, so the client gets every chunk above and
            # then a RemoteProtocolError.  (Returning from the ASGI app without
            # more_body=False works the same way in uvicorn, but needs a raw ASGI response and
            # logs an error we could only filter by message text.)
            raise _ScriptedCut("scripted connection cut")
        if isinstance(reply, Hang):
            await self._wait_for_release(generation)

        for item in comp.end("stop"):
            yield item

    async def _cut_json(self, reply: Cut, comp: _Completion) -> AsyncIterator[bytes]:
        full = orjson.dumps(comp.completion("".join(reply.chunks), "stop"))
        yield full[: len(full) // 2]
        raise _ScriptedCut("scripted connection cut")

    async def _complete(
        self, reply: Text | ToolCalls | Hang, comp: _Completion, generation: int
    ) -> dict[str, Any]:
        if isinstance(reply, ToolCalls):
            tool_calls = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
                }
                for call_id, name, arguments in reply.calls
            ]
            content = "".join(reply.text_chunks) or None
            return comp.completion(content, "tool_calls", tool_calls)
        if isinstance(reply, Text) and reply.delay > 0:
            await asyncio.sleep(reply.delay * len(reply.chunks))
        if isinstance(reply, Hang):
            await self._wait_for_release(generation)
        return comp.completion("".join(reply.chunks), "stop")
