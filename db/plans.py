"""Plans and their steps, one row per plan; a decision or a step's end is one conditional
update, so two clients deciding at once cannot both win."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from db.models import Plan
from db.records import PlanStatus, StepStatus, StoredPlan, StoredPlanStep

UNFINISHED = (PlanStatus.PROPOSED, PlanStatus.APPROVED, PlanStatus.RUNNING)


class PlanBook:
    """Implements `agents.ports.PlanStore` on the database."""

    async def create(
        self,
        plan_id: str,
        session_id: str,
        agent: str,
        title: str,
        steps: Sequence[StoredPlanStep],
    ) -> StoredPlan:
        row = await Plan.create(
            id=plan_id,
            session_id=session_id,
            agent=agent,
            title=title,
            steps=[asdict(s) for s in steps],
            status=PlanStatus.PROPOSED,
            updated_at=datetime.now(UTC),
        )
        return _record(row)

    async def get(self, plan_id: str) -> StoredPlan | None:
        row = await Plan.get_or_none(id=plan_id)
        return _record(row) if row is not None else None

    async def of_session(self, session_id: str, limit: int = 50) -> list[StoredPlan]:
        """The session's plans, newest first."""
        rows = await Plan.filter(session_id=session_id).order_by("-created_at").limit(limit)
        return [_record(r) for r in rows]

    async def unfinished(self, session_id: str) -> StoredPlan | None:
        """The session's plan that is proposed, approved or running (at most one)."""
        row = await Plan.filter(session_id=session_id, status__in=UNFINISHED).first()
        return _record(row) if row is not None else None

    async def update(
        self,
        plan: StoredPlan,
        status: PlanStatus,
        steps: Sequence[StoredPlanStep] | None = None,
        feedback: str | None = None,
    ) -> StoredPlan | None:
        """Change `plan` as it was read; None if it changed meanwhile (the other change won)."""
        changes: dict[str, object] = {
            "status": status,
            "version": plan.version + 1,
            "updated_at": datetime.now(UTC),
        }
        if steps is not None:
            changes["steps"] = [asdict(s) for s in steps]
        if feedback is not None:
            changes["feedback"] = feedback
        if not await Plan.filter(id=plan.id, version=plan.version).update(**changes):
            return None
        return await self.get(plan.id)

    async def in_progress(self) -> list[str]:
        """The sessions with an approved or running plan: after a restart, they go on."""
        going = Plan.filter(status__in=(PlanStatus.APPROVED, PlanStatus.RUNNING))
        return [str(s) for s in await going.values_list("session_id", flat=True)]


def _record(row: Plan) -> StoredPlan:
    steps = tuple(
        StoredPlanStep(
            title=s["title"],
            agent=s["agent"],
            description=s["description"],
            status=StepStatus(s["status"]),
            result=s.get("result"),
            checkpoint_before=s.get("checkpoint_before"),
            checkpoint_after=s.get("checkpoint_after"),
        )
        for s in row.steps
    )
    return StoredPlan(
        id=row.id,
        session_id=row.session_id,  # type: ignore[attr-defined]
        agent=row.agent,
        title=row.title,
        steps=steps,
        status=row.status,
        feedback=row.feedback,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
