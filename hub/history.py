"""Stored messages as clients see them, over REST and in `resync` frames."""

from __future__ import annotations

from typing import Any

from db.records import StoredMessage
from hub.protocol import HistoryMessage


def history_message(message: StoredMessage) -> HistoryMessage:
    return HistoryMessage(
        id=message.id,
        role=message.role,
        content=message.content,
        agent=message.agent,
        status=message.status,
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id,
        created_at=message.created_at.isoformat(),
        notice=message.notice,
        details=message.details,
        author=message.author,
    )


def message_json(message: StoredMessage) -> dict[str, Any]:
    return history_message(message).model_dump(mode="json")
