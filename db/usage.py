"""What each model call cost in tokens: one row per call, and a session's totals over them."""

from __future__ import annotations

from tortoise.expressions import Q
from tortoise.functions import Count, Sum

from db.batch import WriteBatch
from db.models import ModelCall
from db.records import StoredModelCall, StoredUsage

_TOTALS = {
    "prompt": Sum("prompt_tokens"),
    "completion": Sum("completion_tokens"),
    "cached": Sum("cached_tokens"),
    "calls": Count("id"),
    "unreported": Count("id", _filter=Q(prompt_tokens__isnull=True)),
}


class UsageLedger:
    """Implements `agents.ports.UsageLedger` on the database; calls recorded at the same time
    are inserted together (`db.batch.WriteBatch`)."""

    def __init__(self) -> None:
        self._rows: WriteBatch[ModelCall] = WriteBatch(_insert)

    async def record(
        self,
        session_id: str,
        agent: str,
        purpose: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None,
    ) -> None:
        row = ModelCall(
            session_id=session_id,
            agent=agent,
            purpose=purpose,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached_tokens,
        )
        await self._rows.write(row)

    async def totals(self, session_id: str) -> StoredUsage:
        query = ModelCall.filter(session_id=session_id).annotate(**_TOTALS)
        row = (await query.values(*_TOTALS))[0]
        return StoredUsage(
            prompt_tokens=row["prompt"] or 0,
            completion_tokens=row["completion"] or 0,
            cached_tokens=row["cached"] or 0,
            model_calls=row["calls"],
            unreported_calls=row["unreported"],
        )

    async def calls(self, session_id: str, limit: int) -> list[StoredModelCall]:
        """The session's most recent model calls, oldest first."""
        rows = await ModelCall.filter(session_id=session_id).order_by("-id").limit(limit)
        return [
            StoredModelCall(
                id=row.id,
                session_id=session_id,
                agent=row.agent,
                purpose=row.purpose,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
                cached_tokens=row.cached_tokens,
                created_at=row.created_at,
            )
            for row in reversed(rows)
        ]


async def _insert(rows: list[ModelCall]) -> None:
    await ModelCall.bulk_create(rows)
