"""Tool calls, from the model's request to the answer the model reads.

Every call is settled from what the database says about it, so a turn can stop at any call
that needs a human or the IDE ("park"), and go on later — after a decision, a result, a
reconnect or a restart of the hub — by settling the same calls again.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from agents.definitions import AGENTS
from agents.events import RunSink, ToolCallNotice, ToolOutcomeStatus, Wait, WaitKind
from db import store
from db.models import ApprovalStatus, ToolCallRecord, ToolCallStatus
from tools import args as a
from tools.approval import ToolPolicy, rule_allows
from tools.permissions import refusal
from tools.registry import TOOLS, InvalidArguments, Side, ToolSpec, parse_arguments
from tools.workspace import ToolFailed, WorkspaceExecutor


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call of the last assistant message that has no answer in the history yet."""

    call_id: str
    tool_name: str
    arguments: dict[str, Any]
    agent: str


@dataclass(frozen=True, slots=True)
class Parked:
    call_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Completion:
    result: str


class _Waiting:
    pass


WAITING: Final = _Waiting()
_REJECTED = {ApprovalStatus.REJECTED: "rejected", ApprovalStatus.CANCELLED: "cancelled"}


class ToolDispatcher:
    def __init__(
        self,
        policies: Mapping[str, ToolPolicy],
        tool_timeout: float,
        workspace: WorkspaceExecutor | None = None,
    ) -> None:
        self._policies = policies
        self._tool_timeout = tool_timeout
        self._workspace = workspace

    async def settle(
        self, session_id: str, calls: list[OpenCall], sink: RunSink
    ) -> Parked | Completion | None:
        """Take every call as far as it goes now — several may be in flight at once, as the
        original protocol allows — and park on those that wait. None: all answered."""
        waiting: list[str] = []
        for call in calls:
            step = await self._advance(session_id, call, sink)
            if step is WAITING:
                waiting.append(call.call_id)
            elif isinstance(step, Completion):
                return step
        return Parked(tuple(waiting)) if waiting else None

    async def abandon(self, session_id: str, calls: list[OpenCall], sink: RunSink) -> None:
        """Answer every open call as cancelled, so the conversation stays valid."""
        for call in calls:
            approval = await store.get_approval(call.call_id)
            if approval is not None and approval.status is ApprovalStatus.PENDING:
                await store.decide_approval(call.call_id, ApprovalStatus.CANCELLED, "cancel")
                sink.approval_resolved(call.call_id, "cancelled", "cancel")
            await self._finish(session_id, call, "cancelled", "cancelled by the user", sink)

    async def _advance(
        self, session_id: str, call: OpenCall, sink: RunSink
    ) -> _Waiting | Completion | None:
        record = await store.get_tool_call(call.call_id)
        if record is None:
            return await self._first_sight(session_id, call, sink)
        if record.status is ToolCallStatus.DISPATCHED:
            return await self._check_dispatched(session_id, call, record, sink)
        if record.status is ToolCallStatus.PENDING:
            return await self._check_pending(session_id, call, record, sink)
        # Finished (e.g. the IDE's result arrived) but not yet told to the model.
        await self._tell(session_id, call, _status_of(record), _content_of(record), sink)
        return None

    async def _first_sight(
        self, session_id: str, call: OpenCall, sink: RunSink
    ) -> _Waiting | Completion | None:
        spec = TOOLS.get(call.tool_name)
        if spec is None:
            known = ", ".join(TOOLS)
            why = f"unknown tool {call.tool_name!r}; the tools are: {known}"
            await self._finish(session_id, call, "refused", f"error: {why}", sink)
            return None
        try:
            args = parse_arguments(spec, call.arguments)
        except InvalidArguments as exc:
            await self._finish(session_id, call, "failed", f"error: {exc}", sink)
            return None
        if (refused := refusal(AGENTS[call.agent], spec.name, args)) is not None:
            await self._finish(session_id, call, "refused", f"error: refused: {refused}", sink)
            return None
        if spec.side is Side.HUB:
            return await self._run_hub_tool(session_id, call, args, sink)
        await store.create_tool_call(
            call.call_id, session_id, call.agent, spec.name, args.model_dump(exclude_unset=True)
        )
        if await self._needs_approval(session_id, spec, args):
            return await self._ask_approval(session_id, call, spec, args, sink)
        return await self._execute(session_id, call, args, sink, resend=True)

    async def _needs_approval(self, session_id: str, spec: ToolSpec, args: a.ToolArgs) -> bool:
        policy = self._policies.get(spec.name)
        if policy is None or not policy.ask:
            return False
        rules = await store.allow_rules(session_id, spec.name)
        return not any(rule_allows(rule.pattern, args) for rule in rules)

    async def _ask_approval(
        self, session_id: str, call: OpenCall, spec: ToolSpec, args: a.ToolArgs, sink: RunSink
    ) -> _Waiting:
        policy = self._policies[spec.name]
        expires_at = None
        if policy.timeout_seconds is not None:
            expires_at = datetime.now(UTC) + timedelta(seconds=policy.timeout_seconds)
        await store.open_approval(call.call_id, session_id, expires_at)
        sink.tool_call(
            ToolCallNotice(
                call.call_id,
                spec.name,
                args.model_dump(exclude_unset=True),
                call.agent,
                requires_approval=True,
                expires_at=expires_at,
                diff=await self._diff(session_id, args),
            )
        )
        sink.awaiting(_wait(call, "approval", args.model_dump(exclude_unset=True), expires_at))
        return WAITING

    async def _check_pending(
        self, session_id: str, call: OpenCall, record: ToolCallRecord, sink: RunSink
    ) -> _Waiting | Completion | None:
        if record.tool_name == "ask_followup_question":
            sink.awaiting(_wait(call, "answer", record.arguments, None))
            return WAITING
        approval = await store.get_approval(call.call_id)
        if approval is None:  # stopped between recording the call and running it
            args = parse_arguments(TOOLS[record.tool_name], record.arguments)
            return await self._execute(session_id, call, args, sink, resend=True)
        if approval.status is ApprovalStatus.PENDING:
            sink.awaiting(_wait(call, "approval", record.arguments, approval.expires_at))
            return WAITING
        if approval.status is ApprovalStatus.EXPIRED:
            content = "error: nobody approved this call in time"
            await self._finish(session_id, call, "expired", content, sink)
            return None
        if approval.status in _REJECTED:
            feedback = approval.feedback or "no reason given"
            content = f"error: the user {_REJECTED[approval.status]} this call: {feedback}"
            await self._finish(session_id, call, "rejected", content, sink)
            return None
        arguments = {**record.arguments, **(approval.modified_arguments or {})}
        args = parse_arguments(TOOLS[record.tool_name], arguments)
        # An IDE that approved in-band runs the call itself (the original's order); anyone
        # else's approval must be sent to the IDE as a plain tool_call.
        resend = not (approval.decided_by or "").startswith("ide:")
        return await self._execute(session_id, call, args, sink, resend=resend)

    async def _check_dispatched(
        self, session_id: str, call: OpenCall, record: ToolCallRecord, sink: RunSink
    ) -> _Waiting | None:
        if record.deadline is not None and record.deadline <= datetime.now(UTC):
            content = f"error: the IDE sent no result within {self._tool_timeout:g}s"
            await self._finish(session_id, call, "expired", content, sink)
            return None
        sink.awaiting(_wait(call, "tool_result", record.arguments, record.deadline))
        return WAITING

    async def _execute(
        self, session_id: str, call: OpenCall, args: a.ToolArgs, sink: RunSink, *, resend: bool
    ) -> _Waiting | Completion | None:
        if self._workspace is not None:
            try:
                text = await self._workspace.run(args)
            except ToolFailed as exc:
                await self._finish(session_id, call, "failed", f"error: {exc}", sink)
                return None
            await self._finish(session_id, call, "done", text, sink)
            return None
        deadline = datetime.now(UTC) + timedelta(seconds=self._tool_timeout)
        if not await store.dispatch_tool_call(
            call.call_id, args.model_dump(exclude_unset=True), deadline
        ):
            return await self._advance(session_id, call, sink)  # its result came meanwhile
        if resend:
            notice = ToolCallNotice(
                call.call_id, call.tool_name, args.model_dump(exclude_unset=True), call.agent, False
            )
            sink.tool_call(notice)
        sink.awaiting(_wait(call, "tool_result", args.model_dump(exclude_unset=True), deadline))
        return WAITING

    async def _run_hub_tool(
        self, session_id: str, call: OpenCall, args: a.ToolArgs, sink: RunSink
    ) -> _Waiting | Completion | None:
        match args:
            case a.SwitchModeArgs(mode=mode, reason=reason) if mode in AGENTS:
                await sink.switch_agent(mode, reason, "agent")
                content = f"switched to the {mode} agent: {AGENTS[mode].description}"
                await self._finish(session_id, call, "done", content, sink)
                return None
            case a.SwitchModeArgs(mode=mode):
                content = f"error: unknown mode {mode!r}; the modes are: {', '.join(AGENTS)}"
                await self._finish(session_id, call, "failed", content, sink)
                return None
            case a.AttemptCompletionArgs(result=result):
                await self._finish(session_id, call, "done", "the result was shown", sink)
                return Completion(result)
            case a.AskFollowupQuestionArgs(question=question, options=options):
                await store.create_tool_call(
                    call.call_id,
                    session_id,
                    call.agent,
                    call.tool_name,
                    args.model_dump(exclude_unset=True),
                )
                sink.followup_question(call.call_id, question, options)
                sink.awaiting(_wait(call, "answer", args.model_dump(exclude_unset=True), None))
                return WAITING
        raise AssertionError(f"no hub-side handler for {call.tool_name}")

    async def _diff(self, session_id: str, args: a.ToolArgs) -> str | None:
        if not isinstance(args, a.WriteFileArgs):
            return None
        current = await self._current_content(session_id, args.path)
        if current is None:
            return None
        lines = difflib.unified_diff(
            _lines(current),
            _lines(args.content),
            fromfile=f"a/{args.path}",
            tofile=f"b/{args.path}",
        )
        return "".join(lines)

    async def _current_content(self, session_id: str, path: str) -> str | None:
        """The file as the hub's workspace has it, or as the IDE last sent it in full."""
        if self._workspace is not None:
            return await self._workspace.current_text(path)
        return await store.last_full_read(session_id, path)

    async def _finish(
        self,
        session_id: str,
        call: OpenCall,
        status: ToolOutcomeStatus,
        content: str,
        sink: RunSink,
    ) -> None:
        if await store.get_tool_call(call.call_id) is None:
            await store.create_tool_call(
                call.call_id, session_id, call.agent, call.tool_name, call.arguments
            )
        error = content if status != "done" else None
        await store.finish_tool_call(call.call_id, ToolCallStatus(status), content, error)
        await self._tell(session_id, call, status, content, sink)

    async def _tell(
        self,
        session_id: str,
        call: OpenCall,
        status: ToolOutcomeStatus,
        content: str,
        sink: RunSink,
    ) -> None:
        await store.add_message(
            session_id, "tool", content, agent=call.agent, tool_call_id=call.call_id
        )
        sink.tool_finished(call.call_id, call.tool_name, status, content)


def _lines(text: str) -> list[str]:
    # A last line without its newline would run into the next line of the diff.
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _wait(
    call: OpenCall, kind: WaitKind, arguments: dict[str, Any], deadline: datetime | None
) -> Wait:
    return Wait(call.call_id, kind, call.tool_name, arguments, call.agent, deadline)


def _status_of(record: ToolCallRecord) -> ToolOutcomeStatus:
    status: ToolOutcomeStatus = record.status.value  # type: ignore[assignment]
    return status


def _content_of(record: ToolCallRecord) -> str:
    if record.status is not ToolCallStatus.DONE:
        return f"error: {record.error}"
    result = record.result
    return result if isinstance(result, str) else orjson.dumps(result).decode()
