"""Plans over HTTP: list a session's, read one with its steps, decide one, skip a step."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from db.records import StoredPlan
from hub import protocol
from hub.checkpoints_api import OFF
from hub.errors import ApiError
from hub.requests import existing_session, read_frame, submit, validation_error
from hub.state import hub_state
from tools.workspace.checkpoints import CheckpointError


def plan_json(plan: StoredPlan) -> dict[str, Any]:
    return {
        "plan_id": plan.id,
        "agent": plan.agent,
        "title": plan.title,
        "status": plan.status,
        "feedback": plan.feedback,
        "steps": [dataclasses.asdict(s) for s in plan.steps],
        "created_at": plan.created_at.isoformat(),
        "updated_at": plan.updated_at.isoformat(),
    }


async def list_plans(request: Request) -> Response:
    session = await existing_session(request)
    plans = await hub_state(request).plans.of_session(session.id)
    return JSONResponse({"session_id": session.id, "plans": [plan_json(p) for p in plans]})


async def show_plan(request: Request) -> Response:
    session = await existing_session(request)
    plan_id = request.path_params["plan_id"]
    plan = await hub_state(request).plans.get(plan_id)
    if plan is None or plan.session_id != session.id:
        raise ApiError(404, f"no plan {plan_id!r} in session {session.id!r}")
    return JSONResponse(plan_json(plan))


async def decide_plan(request: Request) -> Response:
    """The body is the `plan_decision` frame without `type` and `approval_request_id`."""
    session = await existing_session(request)
    plan_id = request.path_params["plan_id"]
    frame = await read_frame(request, protocol.PlanDecision, approval_request_id=plan_id)
    outcome = await submit(request, session.id, frame)
    return JSONResponse({"plan_id": plan_id, "decision": frame.decision, "run_id": outcome.run_id})


async def skip_step(request: Request) -> Response:
    """Skip a step not started yet; the plan goes on."""
    return await _end_step(request, "skip")


async def cancel_step(request: Request) -> Response:
    """Cancel the step that runs; the plan goes on with the next."""
    return await _end_step(request, "cancel")


async def _end_step(request: Request, action: Literal["skip", "cancel"]) -> Response:
    session = await existing_session(request)
    plan_id, step = request.path_params["plan_id"], request.path_params["step"]
    if step > 11:
        raise ApiError(404, f"plan {plan_id!r} has no step {step}")
    try:
        command = protocol.PlanStepCommand(plan_id=plan_id, step=step, action=action)
    except ValidationError as exc:
        raise validation_error(exc) from None
    await submit(request, session.id, command)
    status = "skipped" if action == "skip" else "cancelled"
    return JSONResponse({"plan_id": plan_id, "step": step, "status": status})


async def step_diff(request: Request) -> Response:
    """What a step changed in the hub's workspace: its checkpoints' difference."""
    session = await existing_session(request)
    hub = hub_state(request)
    plan_id, index = request.path_params["plan_id"], request.path_params["step"]
    plan = await hub.plans.get(plan_id)
    if plan is None or plan.session_id != session.id or index >= len(plan.steps):
        raise ApiError(404, f"no step {index} of plan {plan_id!r} in session {session.id!r}")
    step = plan.steps[index]
    if hub.checkpoints is None:
        raise ApiError(409, OFF, "checkpoints_off")
    if step.checkpoint_before is None or step.checkpoint_after is None:
        raise ApiError(409, f"step {index} has no checkpoints: it is {step.status}", "no_diff")
    try:
        diff = await hub.checkpoints.diff_between(step.checkpoint_before, step.checkpoint_after)
    except CheckpointError as exc:  # the checkpoints were deleted, or the workspace moved
        raise ApiError(409, str(exc), "checkpoint_error") from None
    return JSONResponse({"plan_id": plan_id, "step": index, "title": step.title, "diff": diff})


STEP = "/sessions/{session_id}/plans/{plan_id}/steps/{step:int}"

routes = [
    Route("/sessions/{session_id}/plans", list_plans, methods=["GET"]),
    Route("/sessions/{session_id}/plans/{plan_id}", show_plan, methods=["GET"]),
    Route("/sessions/{session_id}/plans/{plan_id}/decision", decide_plan, methods=["POST"]),
    Route("/sessions/{session_id}/plans/{plan_id}/steps/{step:int}/diff", step_diff),
    Route(
        "/sessions/{session_id}/plans/{plan_id}/steps/{step:int}/skip", skip_step, methods=["POST"]
    ),
    Route(
        "/sessions/{session_id}/plans/{plan_id}/steps/{step:int}/cancel",
        cancel_step,
        methods=["POST"],
    ),
]
