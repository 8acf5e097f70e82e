"""Several hub processes on one database: Redis carries what crosses between them.

Each session is run by one process at a time, its owner, which holds a lease in Redis
(`SET NX PX`, renewed while it has the session open). The owner appends every broadcast frame to
a Redis Stream per session and epoch (entry id `<seq>-1`), so clients on any process read the
same ordered frames and resume from any `seq` the stream keeps. What other processes ask of the
owner (a client's frame, a decision, a cancel) travels as a message on the owner's pub/sub inbox,
and answers come back on the asker's inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as redis

log = logging.getLogger(__name__)
READ_BATCH = 500  # frames a relay reads at once

_RENEW_IF_MINE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_IF_MINE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisBus:
    def __init__(
        self,
        url: str,
        prefix: str = "agent-hub",
        lease_seconds: float = 15.0,
        keep_frames: int = 20_000,
        keep_seconds: float = 600.0,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.instance_id = uuid.uuid4().hex[:12]
        # redis-py's stubs type replies as bytes | str | Awaitable; the hub reads bytes.
        self._redis: Any = redis.from_url(url)
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._keep_frames = keep_frames
        self._keep_ms = int(keep_seconds * 1000)
        self._on_lag = on_lag  # told, for each read of frames, how long its first one waited
        self._outgoing: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None

    def _key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    async def start(self) -> None:
        await self._redis.ping()
        self._sender = asyncio.create_task(self._send_posted())

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self._redis.aclose()

    # --- ownership ------------------------------------------------------------------------

    async def claim(self, session_id: str) -> str:
        """The process that runs this session: this one if the lease was free."""
        key = self._key("owner", session_id)
        if await self._redis.set(key, self.instance_id, nx=True, px=self._lease_ms):
            return self.instance_id
        owner = await self._redis.get(key)
        if owner is None:  # expired between the two calls
            return await self.claim(session_id)
        return str(owner.decode())

    async def owner(self, session_id: str) -> str | None:
        """The process holding the session's lease now; None once it lapsed."""
        owner = await self._redis.get(self._key("owner", session_id))
        return None if owner is None else str(owner.decode())

    async def renew(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            key = self._key("owner", session_id)
            await self._redis.eval(_RENEW_IF_MINE, 1, key, self.instance_id, self._lease_ms)

    async def release(self, session_id: str) -> None:
        key = self._key("owner", session_id)
        await self._redis.eval(_RELEASE_IF_MINE, 1, key, self.instance_id)

    @property
    def renew_every(self) -> float:
        return self._lease_ms / 3000

    # --- frames -------------------------------------------------------------------------------

    async def append(self, session_id: str, epoch: str, frames: list[tuple[int, str]]) -> None:
        key = self._key("frames", session_id, epoch)
        appended = f"{time.time():.4f}"  # when, for the readers' lag
        async with self._redis.pipeline(transaction=False) as pipe:
            for seq, text in frames:
                pipe.xadd(key, {"f": text, "t": appended}, id=f"{seq}-1", maxlen=self._keep_frames)
            pipe.pexpire(key, self._keep_ms)
            await pipe.execute()

    async def tail(self, session_id: str, epoch: str, after_seq: int) -> AsyncIterator[str]:
        """The frames after `after_seq`, in order, then live ones as the owner appends them."""
        key = self._key("frames", session_id, epoch)
        last = f"{after_seq}-1"
        live = False  # caught up with the stream: what a read finds now was appended just now
        while True:
            found = await self._redis.xread({key: last}, block=1000, count=READ_BATCH)
            live = live or not found
            for _, entries in found:
                if live and self._on_lag is not None and b"t" in entries[0][1]:
                    self._on_lag(time.time() - float(entries[0][1][b"t"]))
                live = len(entries) < READ_BATCH
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    yield fields[b"f"].decode()

    # --- messages between processes -------------------------------------------------------

    def post(self, instance_id: str, payload: bytes) -> None:
        """Send without waiting (from sync code, e.g. a subscriber's deliver)."""
        self._outgoing.put_nowait((self._key("inbox", instance_id), payload))

    async def _send_posted(self) -> None:
        while True:
            channel, payload = await self._outgoing.get()
            try:
                await self._redis.publish(channel, payload)
            except redis.RedisError:
                log.exception("could not send a message to %s", channel)

    async def inbox(self) -> AsyncIterator[bytes]:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(self._key("inbox", self.instance_id))
            async for message in pubsub.listen():
                if message["type"] == "message":
                    yield bytes(message["data"])
