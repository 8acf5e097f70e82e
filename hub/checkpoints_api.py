"""The workspace's checkpoints over HTTP: list a session's, show what one changed, restore one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from db.records import StoredSession
from hub.errors import ApiError
from hub.requests import existing_session
from hub.state import hub_state
from tools.workspace import Checkpoints
from tools.workspace.checkpoints import Checkpoint, CheckpointError

OFF = (
    "checkpoints are off: they need AGENT_RUNTIME__WORKSPACE_ROOT (the hub runs the file tools), "
    "git, and AGENT_RUNTIME__WORKSPACE_CHECKPOINTS not false"
)


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "label": checkpoint.label,
        "created_at": checkpoint.created_at.isoformat(),
    }


async def list_checkpoints(request: Request) -> Response:
    session = await existing_session(request)
    checkpoints = hub_state(request).checkpoints
    try:
        listed = await checkpoints.of_session(session.id) if checkpoints is not None else []
    except CheckpointError as exc:
        raise ApiError(409, str(exc), "checkpoint_error") from None
    return JSONResponse(
        {
            "session_id": session.id,
            "enabled": checkpoints is not None,
            "checkpoints": [checkpoint_json(c) for c in listed],
        }
    )


async def show_checkpoint(request: Request) -> Response:
    checkpoints, checkpoint = await _checkpoint(request, await existing_session(request))
    try:
        diff = await checkpoints.diff(checkpoint)
    except CheckpointError as exc:
        raise ApiError(409, str(exc), "checkpoint_error") from None
    return JSONResponse({**checkpoint_json(checkpoint), "diff": diff})


async def restore_checkpoint(request: Request) -> Response:
    """Put the workspace back as the checkpoint had it. Refused while any session runs a turn:
    the workspace is shared, and a write landing during the restore would be lost. The answer
    names the checkpoint that undoes the restore."""
    session = await existing_session(request)
    if (busy := hub_state(request).registry.running()) is not None:
        who = "this session" if busy == session.id else "another session"
        detail = f"{who} is running a turn on the workspace: wait for it, or cancel it"
        raise ApiError(409, detail, "session_busy")
    checkpoints, checkpoint = await _checkpoint(request, session)
    try:
        undo = await checkpoints.restore(session.id, checkpoint)
    except CheckpointError as exc:
        raise ApiError(409, str(exc), "restore_failed") from None
    return JSONResponse({"restored": checkpoint_json(checkpoint), "undo": checkpoint_json(undo)})


async def _checkpoint(request: Request, session: StoredSession) -> tuple[Checkpoints, Checkpoint]:
    checkpoints = hub_state(request).checkpoints
    if checkpoints is None:
        raise ApiError(409, OFF, "checkpoints_off")
    wanted = request.path_params["checkpoint_id"]
    found = await checkpoints.get(session.id, wanted)
    if found is None:  # another session's checkpoint is not found either
        raise ApiError(404, f"no checkpoint {wanted!r} in session {session.id!r}")
    return checkpoints, found


routes = [
    Route("/sessions/{session_id}/checkpoints", list_checkpoints, methods=["GET"]),
    Route("/sessions/{session_id}/checkpoints/{checkpoint_id}", show_checkpoint, methods=["GET"]),
    Route(
        "/sessions/{session_id}/checkpoints/{checkpoint_id}/restore",
        restore_checkpoint,
        methods=["POST"],
    ),
]
