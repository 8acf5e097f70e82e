"""`POST /ag-ui`: a hub session as an AG-UI agent (CopilotKit and other AG-UI clients).

The body is a `RunAgentInput`; its `threadId` is the session id. What the request asks is one
command on the session's one path: the newest user message, the results of the tools the
client ran (tool messages), or — when `resume` is given — the answers to the interrupts of the
run before. The answer streams the run it causes as AG-UI events (`ag_ui.core`, encoded by the
package's `EventEncoder`):

- text → TEXT_MESSAGE_START / CONTENT / END; the agent → STEP_STARTED / STEP_FINISHED;
- a tool call → TOOL_CALL_START / ARGS / END, its outcome → TOOL_CALL_RESULT;
- a call waiting for a human → RUN_FINISHED with an `interrupt` outcome, one interrupt per call
  (its id is the call id); the next run's `resume` answers it: status `resolved` with payload
  `{"decision": "approve" | "edit" | "reject", "arguments"?, "feedback"?}`, `cancelled` rejects;
- a call the client is to run (the tools it lists in `tools`, and the hub's IDE-side tools)
  → RUN_FINISHED with its id among `pendingToolCallIds`; the next run's tool message carries
  the result;
- a failure → RUN_ERROR with the hub's error code.

A request with no messages and no `resume` asks for the thread as it is: a MESSAGES_SNAPSHOT of
the stored conversation, so a client that lost its state (a reload, another device) resyncs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from ag_ui import core as ag
from ag_ui.encoder import EventEncoder
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from db.records import StoredMessage
from hub import protocol as p
from hub.access import sender_for, session_for
from hub.errors import ApiError
from hub.listener import RunListener
from hub.requests import read_json, refusal_error, validation_error
from hub.session.commands import Accepted, Command, Refused
from hub.state import hub_state

SNAPSHOT_MESSAGES = 200


def commands_of(run: ag.RunAgentInput) -> list[p.ClientFrame]:
    """What the request asks of the session, in order."""
    if run.resume:
        return [_decision(entry) for entry in run.resume]
    last = run.messages[-1] if run.messages else None
    if not isinstance(last, ag.UserMessage):  # the client answers the calls of the last run
        results = [
            p.ToolResult(call_id=m.tool_call_id, result=_text(m.content), error=m.error)
            for m in _after_last_assistant(run.messages)
            if isinstance(m, ag.ToolMessage)
        ]
        if results:
            return list(results)
    users = [m for m in run.messages if isinstance(m, ag.UserMessage)]
    if not users:
        raise ApiError(422, "messages must end with a user message, tool results or resume")
    try:
        tools = [
            p.ClientTool(name=t.name, description=t.description, parameters=t.parameters or {})
            for t in run.tools or ()
        ]
        return [p.UserMessage(content=_text(users[-1].content), tools=tools)]
    except ValidationError as exc:
        raise validation_error(exc) from None


def _decision(entry: ag.ResumeEntry) -> p.HitlDecision:
    payload = entry.payload if isinstance(entry.payload, dict) else {}
    if entry.status == "cancelled":
        return p.HitlDecision(call_id=entry.interrupt_id, decision="reject", feedback="cancelled")
    try:
        return p.HitlDecision(
            call_id=entry.interrupt_id,
            decision=payload.get("decision", "approve"),
            modified_arguments=payload.get("arguments"),
            feedback=payload.get("feedback"),
        )
    except ValidationError as exc:
        raise validation_error(exc) from None


def _after_last_assistant(messages: list[Any]) -> list[Any]:
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], ag.AssistantMessage):
            return messages[index + 1 :]
    return messages


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(getattr(part, "text", "") or "" for part in content or ())


class Translation:
    """The hub frames of one run, as AG-UI events."""

    def __init__(self, thread_id: str, run_id: str, agent: str) -> None:
        self.thread_id, self.run_id, self.agent = thread_id, run_id, agent
        self._message_id: str | None = None
        self._interrupts: list[ag.Interrupt] = []
        self._client_calls: list[str] = []

    def start(self) -> list[ag.BaseEvent]:
        return [
            ag.RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id),
            ag.StepStartedEvent(step_name=self.agent),
        ]

    def events(self, frame: dict[str, Any]) -> list[ag.BaseEvent]:
        match frame["type"]:
            case "assistant_message":
                return self._text(frame["token"], frame["is_final"])
            case "agent_switched":
                finished, self.agent = self.agent, frame["to_agent"]
                return [
                    ag.StepFinishedEvent(step_name=finished),
                    ag.StepStartedEvent(step_name=self.agent),
                ]
            case "tool_call":
                return self._tool_call(frame)
            case "tool_finished":
                return [
                    ag.ToolCallResultEvent(
                        message_id=f"result-{frame['call_id']}",
                        tool_call_id=frame["call_id"],
                        content=frame["content"],
                    )
                ]
            case "error":
                return [ag.RunErrorEvent(message=frame["content"], code=frame["code"])]
            case "usage":  # AG-UI has no usage event: the hub's frame, as a custom one
                usage = {k: v for k, v in frame.items() if k not in ("session_id", "seq", "ts")}
                return [ag.CustomEvent(name="usage", value=usage)]
            case "run_finished":
                return [ag.StepFinishedEvent(step_name=self.agent), self._finished(frame)]
        return []

    def _text(self, token: str, final: bool) -> list[ag.BaseEvent]:
        out: list[ag.BaseEvent] = []
        if token:
            if self._message_id is None:
                self._message_id = uuid.uuid4().hex
                out.append(ag.TextMessageStartEvent(message_id=self._message_id, role="assistant"))
            out.append(ag.TextMessageContentEvent(message_id=self._message_id, delta=token))
        if final and self._message_id is not None:
            out.append(ag.TextMessageEndEvent(message_id=self._message_id))
            self._message_id = None
        return out

    def _tool_call(self, frame: dict[str, Any]) -> list[ag.BaseEvent]:
        call_id = frame["call_id"]
        if frame["requires_approval"]:
            self._interrupts.append(
                ag.Interrupt(
                    id=call_id,
                    reason="tool_approval",
                    tool_call_id=call_id,
                    message=f"{frame['tool_name']} needs your approval",
                    expires_at=frame.get("expires_at"),
                    metadata={"diff": frame["diff"]} if frame.get("diff") else None,
                )
            )
        else:
            self._client_calls.append(call_id)
        return [
            ag.ToolCallStartEvent(tool_call_id=call_id, tool_call_name=frame["tool_name"]),
            ag.ToolCallArgsEvent(
                tool_call_id=call_id, delta=orjson.dumps(frame["arguments"]).decode()
            ),
            ag.ToolCallEndEvent(tool_call_id=call_id),
        ]

    def _finished(self, frame: dict[str, Any]) -> ag.BaseEvent:
        waiting = set(frame["waiting_for"])
        outcome: Any
        if frame["reason"] == "cancelled":
            outcome = ag.RunFinishedCancelledOutcome()
        elif interrupts := [i for i in self._interrupts if i.id in waiting]:
            outcome = ag.RunFinishedInterruptOutcome(interrupts=interrupts)
        else:
            pending = [c for c in self._client_calls if c in waiting]
            outcome = ag.RunFinishedSuccessOutcome(pending_tool_call_ids=pending or None)
        return ag.RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, outcome=outcome)


async def run_agent(request: Request) -> Response:
    try:
        run = ag.RunAgentInput.model_validate(await read_json(request))
    except ValidationError as exc:
        raise validation_error(exc) from None
    if not p.is_session_id(run.thread_id):
        raise ApiError(422, f"threadId must match {p.SESSION_ID_PATTERN}", "invalid_request")
    if not run.messages and not run.resume:
        return await _snapshot(request, run)
    frames = commands_of(run)
    stored = await session_for(request, run.thread_id, create=True)
    session = await hub_state(request).registry.open(run.thread_id)
    listener = RunListener()
    await session.attach(listener, "sse")
    sender = sender_for(request, "sse", "ag-ui")
    run_id: str | None = None
    for frame in frames:
        outcome = await session.submit(Command(frame=frame, sender=sender))
        if isinstance(outcome, Refused):
            session.detach(listener)
            raise refusal_error(outcome)
        assert isinstance(outcome, Accepted)
        run_id = outcome.run_id or run_id
    listener.follow(run_id)
    translation = Translation(run.thread_id, run.run_id, stored.current_agent)
    encoder = EventEncoder(accept=request.headers.get("accept", ""))

    async def stream() -> AsyncIterator[str]:
        try:
            for event in translation.start():
                yield encoder.encode(event)
            async for data in listener.frames():
                for event in translation.events(data):
                    yield encoder.encode(event)
                    if isinstance(event, ag.RunErrorEvent):
                        return  # RUN_ERROR ends an AG-UI run
            if run_id is None:  # nothing ran (a decision the hub took elsewhere, say)
                finished = {"type": "run_finished", "reason": "completed", "waiting_for": []}
                for event in translation.events(finished):
                    yield encoder.encode(event)
        finally:
            session.detach(listener)

    return StreamingResponse(
        stream(),
        media_type=encoder.get_content_type(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _snapshot(request: Request, run: ag.RunAgentInput) -> Response:
    session = await session_for(request, run.thread_id, create=True)
    history = await hub_state(request).store.history(session.id, SNAPSHOT_MESSAGES)
    translation = Translation(run.thread_id, run.run_id, session.current_agent)
    snapshot = ag.MessagesSnapshotEvent(messages=[m for m in map(_message, history) if m])
    finished = {"type": "run_finished", "reason": "completed", "waiting_for": []}
    encoder = EventEncoder(accept=request.headers.get("accept", ""))
    events = [*translation.start(), snapshot, *translation.events(finished)]
    body = "".join(encoder.encode(event) for event in events)
    return Response(body, media_type=encoder.get_content_type())


def _message(stored: StoredMessage) -> Any:
    """A stored message as AG-UI's; None for notices, which are for the hub's own views."""
    message_id = str(stored.id)
    if stored.notice:
        return None
    if stored.role == "user":
        return ag.UserMessage(id=message_id, content=stored.content)
    if stored.role == "tool":
        return ag.ToolMessage(
            id=message_id, content=stored.content, tool_call_id=stored.tool_call_id or ""
        )
    if stored.role == "assistant":
        calls = [
            ag.ToolCall(
                id=call["id"],
                function=ag.FunctionCall(
                    name=call["function"]["name"], arguments=call["function"]["arguments"]
                ),
            )
            for call in stored.tool_calls or ()
        ]
        return ag.AssistantMessage(id=message_id, content=stored.content, tool_calls=calls or None)
    return None


routes = [Route("/ag-ui", run_agent, methods=["POST"])]
