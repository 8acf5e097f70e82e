"""The one codec of hub frames: built from their models (or, per token, a dict of the same
shape), encoded once with orjson, decoded back from text (replay, the cluster bus)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from hub import protocol as p


@dataclass(frozen=True, slots=True)
class Frame:
    data: dict[str, Any]
    text: str  # the JSON sent on the wire, encoded once for all subscribers


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def encode(model: type[p.HubFrameModel], session_id: str, seq: int, **fields: Any) -> Frame:
    """A typed frame; the model validates the fields."""
    built = model(session_id=session_id, seq=seq, ts=now_ms(), **fields)
    data = built.model_dump(mode="json")
    return Frame(data, orjson.dumps(data).decode())


def token(session_id: str, seq: int, text: str) -> Frame:
    """The hot path: a plain dict in `AssistantMessage`'s shape, no model per token."""
    data = {
        "type": "assistant_message",
        "token": text,
        "is_final": False,
        "session_id": session_id,
        "seq": seq,
        "ts": now_ms(),
    }
    return Frame(data, orjson.dumps(data).decode())


def decode(text: str) -> Frame:
    """A frame this hub (or another process of it) encoded."""
    return Frame(orjson.loads(text), text)
