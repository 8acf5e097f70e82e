"""A live session on the in-memory fakes, and frames written as snapshot lines: what the unit
tests of the session and the turn core build on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from agents.routing import Router
from agents.run.engine import TurnEngine
from agents.run.tools import ToolRunner
from hub.session.driver import LiveSession
from tests.fakes.memory_store import MemoryStore
from tests.fakes.model import ScriptedModel
from tests.fakes.script import Reply
from tests.frames import Recorder
from tools.approval import ToolPolicy, default_policies
from tools.workspace import WorkspaceExecutor

_VOLATILE = {"ts", "session_id", "type", "seq"}


@dataclass
class Rig:
    live: LiveSession
    store: MemoryStore
    model: ScriptedModel
    ide: Recorder


async def rig(
    *replies: Reply,
    agent: str = "coder",
    policies: Mapping[str, ToolPolicy] | None = None,
    warning_seconds: float = 10.0,
    frames_per_second: float = 1000.0,
    max_replay_frames: int = 4096,
    workspace: WorkspaceExecutor | None = None,
    checkpoint_seconds: float | None = None,
    store: MemoryStore | None = None,
    tracer: Tracer | None = None,
) -> Rig:
    """A session `s` on agent `agent` with an IDE attached, answering from `replies`."""
    store, model = store or MemoryStore(), ScriptedModel(*replies)
    policies = default_policies() if policies is None else policies
    tools = ToolRunner(policies, tool_timeout=5, workspace=workspace)
    engine = TurnEngine(
        model, Router(model, timeout=5), tools, checkpoint_seconds=checkpoint_seconds
    )
    live = LiveSession(
        "s",
        agent,
        engine,
        store,
        approval_warning_seconds=warning_seconds,
        frames_per_second=frames_per_second,
        max_replay_frames=max_replay_frames,
        tracer=tracer,
    )
    ide = Recorder("ide:1")
    await live.attach(ide, "ide")
    return Rig(live, store, model, ide)


def snapshot(frames: list[dict[str, Any]]) -> str:
    """One line per frame: seq, type, then the other fields sorted, with run ids, epochs and
    times replaced by stable names so that whole sequences can be compared."""
    names: dict[str, str] = {}

    def stable(key: str, value: Any) -> Any:
        if key == "run_id":
            return names.setdefault(value, f"run{len(names) + 1}")
        if key in ("epoch", "expires_at", "created_at") and value is not None:
            return f"<{key}>"
        if key == "pending_approvals":
            return [{k: stable(k, v) for k, v in item.items()} for item in value]
        return value

    lines = []
    for frame in frames:
        fields = " ".join(
            f"{key}={stable(key, value)!r}"
            for key, value in sorted(frame.items())
            if key not in _VOLATILE
        )
        lines.append(f"{frame['seq']} {frame['type']} {fields}".rstrip())
    return "\n".join(lines)
