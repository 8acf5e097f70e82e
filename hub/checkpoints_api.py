"""The workspace's checkpoints over HTTP: list a session's, show what one changed, restore one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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
    listed = await checkpoints.of_session(session.id) if checkpoints is not None else []
    return JSONResponse(
        {
            "session_id": session.id,
            "enabled": checkpoints is not None,
            "checkpoints": [checkpoint_json(c) for c in listed],
        }
    )


async def show_checkpoint(request: Request) -> Response:
    checkpoints, checkpoint = await _checkpoint(request)
    diff = await checkpoints.diff(checkpoint)
    return JSONResponse({**checkpoint_json(checkpoint), "diff": diff})


async def restore_checkpoint(request: Request) -> Response:
    """Put the workspace back as the checkpoint had it. Refused while the session runs a turn
    (its next write would land on files it did not expect); the answer names the checkpoint
    that undoes the restore."""
    session = await existing_session(request)
    live = hub_state(request).registry.get(session.id)
    if live is not None and live.run_state == "running":
        raise ApiError(409, "the session is running a turn: cancel it first", "session_busy")
    checkpoints, checkpoint = await _checkpoint(request)
    try:
        undo = await checkpoints.restore(session.id, checkpoint)
    except CheckpointError as exc:
        raise ApiError(500, str(exc), "restore_failed") from None
    return JSONResponse({"restored": checkpoint_json(checkpoint), "undo": checkpoint_json(undo)})


async def _checkpoint(request: Request) -> tuple[Checkpoints, Checkpoint]:
    session = await existing_session(request)
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
