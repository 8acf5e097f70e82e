"""A minimal, fast OpenAI-compatible streaming server for the benchmarks (raw asyncio, HTTP/1.1).

Run as its own process so that its CPU time never competes with the code being measured::

    uv run python -m bench.fake_llm [--port 0]   # prints "PORT <n>" on stdout once listening

Every ``POST .../chat/completions`` with ``"stream": true`` is answered with a chunked
``text/event-stream`` in the chunk shape of ``tests/fakes/openai_stream.py``, which
``tests/scripted_llm.py`` streams too (role chunk, one chunk per content delta, finish chunk,
``data: [DONE]``).  What is streamed is read from the *last user
message*, a line of ``key=value`` words, e.g. ``bench n=20000`` or ``bench n=400 every_ms=5``:

* ``n`` -- number of content chunks (default 100);
* ``every_ms`` -- 0 (default): the whole stream is pre-encoded once per ``n`` and written as
  ~64 KiB blocks, so the server costs next to nothing per chunk; > 0: one chunk is written every
  ``every_ms`` milliseconds and its content is ``time.time_ns()`` taken right before the write
  (the emit timestamp used for latency measurements);
* ``tag`` -- any word; a paced stream with a tag records how it ended (see below).

A paced stream watches its connection: when the client closes it mid-stream (EOF on the socket)
it takes ``time.time_ns()`` at once, stops writing and ends.  With a ``tag``, ``GET
/bench/streams/<tag>`` then answers ``{"end": "completed" | "disconnected", "started_ns",
"ended_ns", "chunks"}`` (404 while the stream runs or for an unknown tag; the last 1000 tags are
kept).

Connections are kept alive, so the openai SDK's connection pool works as with a real endpoint.
Anything else (no ``stream``, bad JSON, other paths) gets a 400 with an OpenAI-style error body.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

import orjson

from tests.fakes import openai_stream

BLOCK_BYTES = 64 * 1024
# Token-like deltas of 2..8 characters, as a tokenizer would produce them.
WORDS = [
    " the",
    " hub",
    " stream",
    "s",
    " token",
    " of",
    " a",
    " socket",
    " model",
    ",",
    " is",
    ".",
]

_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n"
    b"\r\n"
)
_END = b"0\r\n\r\n"


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _head(model: str) -> openai_stream.Head:
    return openai_stream.Head("chatcmpl-bench", int(time.time()), model)


def _content(head: openai_stream.Head, text: str) -> bytes:
    return openai_stream.sse(openai_stream.content_chunk(head, text))


def _first(head: openai_stream.Head) -> bytes:
    return openai_stream.sse(openai_stream.role_chunk(head))


def _last(head: openai_stream.Head) -> bytes:
    return openai_stream.sse(openai_stream.finish_chunk(head, "stop")) + openai_stream.DONE


_cache: dict[tuple[int, str], list[bytes]] = {}


def prebuilt_stream(n: int, model: str) -> list[bytes]:
    """The whole SSE body for `n` chunks as HTTP/1.1 chunked blocks of ~BLOCK_BYTES (cached)."""
    key = (n, model)
    if key not in _cache:
        head = _head(model)
        events = [_first(head)]
        events += [_content(head, WORDS[i % len(WORDS)]) for i in range(n)]
        events.append(_last(head))
        blocks, current, size = [], [], 0
        for event in events:
            current.append(event)
            size += len(event)
            if size >= BLOCK_BYTES:
                blocks.append(_http_chunk(b"".join(current)))
                current, size = [], 0
        if current:
            blocks.append(_http_chunk(b"".join(current)))
        _cache[key] = blocks
    return _cache[key]


def _spec_words(body: dict[str, Any]) -> dict[str, str]:
    """`key=value` words of the last user message."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            words = (w.partition("=") for w in str(message.get("content") or "").split())
            return {key: value for key, sep, value in words if sep}
    return {}


def parse_spec(body: dict[str, Any]) -> dict[str, float]:
    """The numeric `key=value` words of the last user message (see the module docstring)."""
    spec = {"n": 100.0, "every_ms": 0.0}
    for key, value in _spec_words(body).items():
        if key in spec:
            spec[key] = float(value)
    return spec


MAX_ENDS = 1000
_ends: dict[str, dict[str, Any]] = {}  # tag -> how that paced stream ended


def _record_end(tag: str | None, end: str, started_ns: int, ended_ns: int, chunks: int) -> None:
    if tag is None:
        return
    _ends[tag] = {"end": end, "started_ns": started_ns, "ended_ns": ended_ns, "chunks": chunks}
    while len(_ends) > MAX_ENDS:
        del _ends[next(iter(_ends))]


async def _eof_ns(reader: asyncio.StreamReader) -> int:
    """time.time_ns() when the client closes its side, or sends anything, mid-response."""
    with contextlib.suppress(ConnectionError):
        await reader.read(1)  # HTTP/1.1 clients send nothing until the response is complete
    return time.time_ns()


async def _json(writer: asyncio.StreamWriter, status: bytes, obj: dict[str, Any]) -> None:
    body = orjson.dumps(obj)
    writer.write(
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (status, len(body), body)
    )
    await writer.drain()


async def _error(writer: asyncio.StreamWriter, message: str) -> None:
    error = {"error": {"message": message, "type": "invalid_request_error"}}
    await _json(writer, b"400 Bad Request", error)


async def _stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: dict[str, Any]
) -> bool:
    """Write one streamed completion; False if the connection must not be reused."""
    spec = parse_spec(body)
    n, every = int(spec["n"]), spec["every_ms"] / 1000
    model = str(body.get("model") or "bench-model")
    writer.write(_HEAD)
    if every <= 0:
        for block in prebuilt_stream(n, model):
            writer.write(block)
            await writer.drain()
    else:
        tag = _spec_words(body).get("tag")
        started_ns = time.time_ns()
        eof = asyncio.create_task(_eof_ns(reader))
        try:
            head = _head(model)
            writer.write(_http_chunk(_first(head)))
            for written in range(n):
                await asyncio.sleep(every)
                if eof.done():  # the client went away: stop, as a real endpoint would
                    _record_end(tag, "disconnected", started_ns, eof.result(), written)
                    return False
                writer.write(_http_chunk(_content(head, str(time.time_ns()))))
            writer.write(_http_chunk(_last(head)))
        finally:
            eof.cancel()
            await asyncio.wait({eof})  # its read must be off the reader before the next request
        _record_end(tag, "completed", started_ns, time.time_ns(), n)
    writer.write(_END)
    await writer.drain()
    return True


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            raw = await reader.readexactly(length) if length else b""
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None
            path = request_line.split(" ")[1] if " " in request_line else ""
            if path.startswith("/bench/streams/"):
                end = _ends.get(path.removeprefix("/bench/streams/"))
                if end is None:
                    await _json(writer, b"404 Not Found", {"error": "unknown or running"})
                else:
                    await _json(writer, b"200 OK", end)
            elif not path.endswith("/chat/completions") or not isinstance(body, dict):
                await _error(writer, "bench server: POST .../chat/completions with a JSON body")
            elif body.get("stream") is not True:
                await _error(writer, "bench server: only stream=true is supported")
            elif not await _stream(reader, writer, body):
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fake_llm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    args = parser.parse_args(argv)
    try:
        import uvloop  # the hub runs on uvloop too (uvicorn's default when installed)
    except ImportError:
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
