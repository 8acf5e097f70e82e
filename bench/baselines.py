"""The baselines the hub is measured against, as one server in its own process, on the hub's own
stack (uvicorn + Starlette + the same WebSocket implementation), speaking just enough of the
hub's socket protocol that the bench's clients read both the same way:

* `/relay/{session}` -- a naive relay: each `user_message` is appended to an in-memory history,
  sent with the openai SDK's typed streaming call (`chat.completions.create(stream=True)`), and
  every content delta is sent on as one JSON frame built with `json.dumps`. What a first version
  of such a hub would do; no store, no agents, no fan-out.
* `/push/{session}` -- ready frames: the `bench ...` spec of each `user_message` (the words
  `bench/fake_llm.py` reads) is answered by pushing `n` pre-encoded token frames, paced like the
  fake model when `every_ms` is set (a paced frame's token is `time.time_ns()` taken right before
  the send, like the fake model's chunk). With `n=1` it is an instant echo: the floor of a turn.
* `/socket.io/` -- the same ready-frame push on python-socketio (its ASGI server, on the same
  uvicorn): a `user_message` event with a `bench ...` spec is answered by `n` `token` events and
  a `done` event. What a hub built on Socket.IO would pay per frame before doing any work.

    uv run python -m bench.baselines --llm http://127.0.0.1:8000/v1 --port 0

prints `PORT <n>` once listening, like `bench/fake_llm.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import openai
import orjson
import socketio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

MODEL = "bench-model"


def _frame(seq: int, token: str, final: bool = False) -> str:
    return json.dumps({"type": "assistant_message", "seq": seq, "token": token, "is_final": final})


def _done(seq: int) -> str:
    return json.dumps({"type": "run_finished", "seq": seq, "reason": "completed"})


async def _greet(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_text(json.dumps({"type": "session_ready", "seq": 0}))


def relay_endpoint(client: openai.AsyncOpenAI) -> Any:
    async def relay(ws: WebSocket) -> None:
        await _greet(ws)
        history: list[dict[str, Any]] = [{"role": "system", "content": "You are a coder."}]
        seq = 0
        try:
            while True:
                message = json.loads(await ws.receive_text())
                history.append({"role": "user", "content": message["content"]})
                stream = await client.chat.completions.create(
                    model=MODEL, messages=history, stream=True
                )
                answer = []
                async for chunk in stream:
                    if chunk.choices and (text := chunk.choices[0].delta.content):
                        seq += 1
                        answer.append(text)
                        await ws.send_text(_frame(seq, text))
                history.append({"role": "assistant", "content": "".join(answer)})
                await ws.send_text(_frame(seq + 1, "", final=True))
                await ws.send_text(_done(seq + 2))
                seq += 2
        except WebSocketDisconnect:
            return

    return relay


def _spec(text: str) -> dict[str, float]:
    words = dict(w.split("=", 1) for w in text.split() if "=" in w)
    return {"n": float(words.get("n", 100)), "every_ms": float(words.get("every_ms", 0))}


async def push(ws: WebSocket) -> None:
    await _greet(ws)
    seq = 0
    try:
        while True:
            spec = _spec(json.loads(await ws.receive_text())["content"])
            n, every = int(spec["n"]), spec["every_ms"] / 1000
            if every:
                for i in range(n):
                    await asyncio.sleep(every)
                    await ws.send_text(_frame(seq + i + 1, str(time.time_ns())))
            else:
                # Encoded before the turn: this row is the cost of sending alone.
                frames = [
                    orjson.dumps(
                        {
                            "type": "assistant_message",
                            "seq": seq + i + 1,
                            "token": "tok ",
                            "is_final": False,
                        }
                    ).decode()
                    for i in range(n)
                ]
                for frame in frames:
                    await ws.send_text(frame)
            seq += n
            await ws.send_text(_frame(seq + 1, "", final=True))
            await ws.send_text(_done(seq + 2))
            seq += 2
    except WebSocketDisconnect:
        return


def socketio_push() -> socketio.AsyncServer:
    server = socketio.AsyncServer(async_mode="asgi", transports=["websocket"])

    @server.on("user_message")  # type: ignore[untyped-decorator]
    async def user_message(sid: str, content: str) -> None:
        n = int(_spec(content)["n"])
        for i in range(n):
            await server.emit("token", {"seq": i + 1, "token": "tok "}, to=sid)
        await server.emit("done", {"tokens": n}, to=sid)

    return server


def create_app(llm_url: str) -> Any:
    client = openai.AsyncOpenAI(base_url=llm_url, api_key="bench", max_retries=0)
    app = Starlette(
        routes=[
            WebSocketRoute("/relay/{session}", relay_endpoint(client)),
            WebSocketRoute("/push/{session}", push),
        ]
    )
    return socketio.ASGIApp(socketio_push(), app)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines", description=__doc__)
    parser.add_argument("--llm", required=True, help="the fake model's base URL (…/v1)")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    args = parser.parse_args(argv)
    import socket

    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(create_app(args.llm), log_level="warning", ws_max_size=2**24)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
