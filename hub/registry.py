"""The live sessions of this process, opened from the database on first use; in a cluster, a
relay for sessions another process runs. Both are `SessionPort`s to the endpoints."""

from __future__ import annotations

import asyncio
from typing import Protocol

from opentelemetry.trace import Tracer

from agents.definitions import DEFAULT_AGENT
from agents.run.engine import TurnEngine
from agents.vocab import ErrorCode
from db.store import Store
from hub.cluster.owner import Cluster
from hub.cluster.relay import RelaySession
from hub.fanout import Retention, Subscriber
from hub.metrics import HubMetrics
from hub.session.clients import AttachRole, ResumePoint
from hub.session.commands import Command, Outcome
from hub.session.driver import LiveSession
from hub.users import UserLimits
from hub.webhooks import ApprovalNotifier

INTERRUPTED_NOTE = "The hub stopped while this turn was running; the turn was interrupted."


class SessionPort(Protocol):
    """A session as the transports use it, run here (`LiveSession`) or elsewhere (relay)."""

    id: str

    @property
    def connections(self) -> int: ...

    async def attach(
        self, client: Subscriber, role: AttachRole, resume: ResumePoint | None = None
    ) -> None: ...

    def detach(self, client: Subscriber) -> None: ...

    async def submit(self, command: Command, origin: Subscriber | None = None) -> Outcome:
        """The one entry point: never raises for what the command asked or how it failed."""

    def reject(self, client: Subscriber, code: ErrorCode, message: str) -> None:
        """Answer input that never became a command (it did not parse)."""


class SessionRegistry:
    def __init__(
        self,
        engine: TurnEngine,
        store: Store,
        approval_warning_seconds: float = 10.0,
        retention: Retention | None = None,
        frames_per_second: float = 20.0,
        cluster: Cluster | None = None,
        max_replay_frames: int = 4096,
        users: UserLimits | None = None,
        metrics: HubMetrics | None = None,
        notifier: ApprovalNotifier | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self._cluster = cluster
        self._tracer = tracer
        self._metrics = metrics
        self._notifier = notifier
        self._users = users or UserLimits()
        self._background: set[asyncio.Task[None]] = set()
        self._engine = engine
        self._store = store
        self._approval_warning = approval_warning_seconds
        self._retention = retention or Retention()
        self._frames_per_second = frames_per_second
        self._max_replay = max_replay_frames
        self._live: dict[str, LiveSession] = {}
        self._evictions: dict[str, asyncio.TimerHandle] = {}
        self._opening = asyncio.Lock()

    async def open(self, session_id: str) -> SessionPort:
        """The session, created (in the database too) if it does not exist yet; in a cluster,
        a relay to the process that runs it if that is another one."""
        if self._cluster is not None and session_id not in self._live:
            owner = await self._cluster.bus.claim(session_id)
            if owner != self._cluster.bus.instance_id:
                return RelaySession(self._cluster, session_id, owner, self._take_over)
        return await self.open_owned(session_id)

    async def _take_over(self, session_id: str) -> LiveSession | None:
        """The session's owner died: run it here if this process gets its lease first, its
        interrupted run marked as at start-up. None if another process got it."""
        assert self._cluster is not None
        if await self._cluster.bus.claim(session_id) != self._cluster.bus.instance_id:
            return None
        if session_id in await self._store.running_sessions():
            await self._store.mark_interrupted([session_id], INTERRUPTED_NOTE)
        return await self.open_owned(session_id)

    def owned(self) -> list[str]:
        return list(self._live)

    def running(self) -> str | None:
        """A session of this process that is running a turn now, if any."""
        return next((i for i, live in self._live.items() if live.run_state == "running"), None)

    def counts(self) -> tuple[int, int]:
        """Sessions live in this process, and the approvals waiting in them (for metrics)."""
        waiting = sum(
            1 for live in self._live.values() for w in live.machine.waits.values()
            if w.kind == "approval"
        )  # fmt: skip
        return len(self._live), waiting

    async def open_owned(self, session_id: str) -> LiveSession:
        """The live session run by this process."""
        eviction = self._evictions.pop(session_id, None)
        if eviction is not None:
            eviction.cancel()
        live = self._live.get(session_id)
        if live is not None:
            return live
        async with self._opening:
            live = self._live.get(session_id)
            if live is None:
                live = await self._load(session_id)
                self._live[session_id] = live
            return live

    async def _load(self, session_id: str) -> LiveSession:
        row = await self._store.get_or_create_session(session_id, DEFAULT_AGENT)
        live = LiveSession(
            row.id,
            row.current_agent,
            self._engine,
            self._store,
            on_quiet=self._forget_later,
            approval_warning_seconds=self._approval_warning,
            retention=self._retention,
            frames_per_second=self._frames_per_second,
            max_replay_frames=self._max_replay,
            owner=row.owner,
            users=self._users,
            metrics=self._metrics,
            notifier=self._notifier,
            tracer=self._tracer,
        )
        earlier = await self._store.record_epoch(row.id, live.frames.epoch)
        live.frames.earlier_epochs = frozenset(earlier)
        await live.restore()
        if self._cluster is not None:
            self._cluster.own(live)
        return live

    def _forget_later(self, live: LiveSession) -> None:
        """A quiet session is kept while its frames could still be resumed, then let go; it is
        reopened from the database on next use, so memory stays bounded."""
        if live.id in self._evictions:
            return
        loop = asyncio.get_running_loop()
        delay = self._retention.seconds
        self._evictions[live.id] = loop.call_later(delay, self._forget, live)

    def _forget(self, live: LiveSession) -> None:
        self._evictions.pop(live.id, None)
        if live.quiet and self._live.get(live.id) is live:
            del self._live[live.id]
            if self._cluster is not None:
                release = asyncio.create_task(self._cluster.bus.release(live.id))
                self._background.add(release)
                release.add_done_callback(self._background.discard)

    def get(self, session_id: str) -> LiveSession | None:
        return self._live.get(session_id)

    async def close_all(self) -> None:
        for eviction in self._evictions.values():
            eviction.cancel()
        sessions, self._live = list(self._live.values()), {}
        await asyncio.gather(*(s.close() for s in sessions))
