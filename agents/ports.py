"""What the turn core needs from the world, as small Protocols passed in by whoever runs it.

`db.store.Store` implements `HistoryStore` on the database and `agents.llm.OpenAIChatModel`
implements `ChatModel` over HTTP; tests/fakes has an in-memory store and an in-process model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from agents.llm import FunctionCall, ToolCallFragment
from agents.usage import Usage
from db.records import (
    ApprovalStatus,
    MessageStatus,
    PlanStatus,
    StoredApproval,
    StoredCall,
    StoredMessage,
    StoredPlan,
    StoredPlanStep,
    StoredQueued,
    StoredRule,
    StoredUsage,
    ToolCallStatus,
)
from tools.workspace.checkpoints import Checkpoint


class ChatModel(Protocol):
    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str | ToolCallFragment | Usage]:
        """Text deltas as `str` and tool-call pieces, at most `max_tokens` of them, then the
        call's `Usage` if the model reports it; any failure raises `LLMError`."""

    async def call_function(
        self,
        messages: list[dict[str, Any]],
        function: dict[str, Any],
        timeout: float,  # noqa: ASYNC109
        max_tokens: int = 256,
    ) -> FunctionCall:
        """The arguments of one forced call to `function`; any failure raises `LLMError`."""


class TokenCounter(Protocol):
    async def count(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> int | None:
        """The prompt's tokens by the model's own tokenizer; None if there is none to ask."""


class UsageLedger(Protocol):
    async def record(
        self,
        session_id: str,
        agent: str,
        purpose: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None,
    ) -> None:
        """Store one model call's tokens (None: not reported)."""

    async def totals(self, session_id: str) -> StoredUsage:
        """The session's totals over every call stored."""


class PlanStore(Protocol):
    async def create(
        self,
        plan_id: str,
        session_id: str,
        agent: str,
        title: str,
        steps: Sequence[StoredPlanStep],
    ) -> StoredPlan: ...

    async def get(self, plan_id: str) -> StoredPlan | None: ...

    async def unfinished(self, session_id: str) -> StoredPlan | None:
        """The session's plan that is proposed, approved or running (at most one)."""

    async def update(
        self,
        plan: StoredPlan,
        status: PlanStatus,
        steps: Sequence[StoredPlanStep] | None = None,
        feedback: str | None = None,
    ) -> StoredPlan | None:
        """Change `plan` as it was read; None if it changed meanwhile (the other change won)."""


class Snapshots(Protocol):
    """The hub workspace's checkpoints (`tools.workspace.checkpoints.Checkpoints`)."""

    async def take(self, session_id: str, label: str) -> Checkpoint: ...


class HistoryStore(Protocol):
    async def set_current_agent(self, session_id: str, agent: str) -> None: ...

    async def mark_running(self, session_id: str, running: bool) -> None: ...

    async def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        agent: str | None = None,
        status: MessageStatus = MessageStatus.COMPLETE,
        tool_calls: Sequence[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        notice: bool = False,
        details: dict[str, Any] | None = None,
        author: str | None = None,
    ) -> StoredMessage: ...

    async def update_message(
        self,
        message_id: int,
        content: str,
        *,
        status: MessageStatus,
        tool_calls: Sequence[dict[str, Any]] | None = None,
    ) -> StoredMessage: ...

    async def history(
        self, session_id: str, limit: int, before: int | None = None
    ) -> list[StoredMessage]: ...

    async def queue_message(
        self, session_id: str, role: str, content: str, author: str | None = None
    ) -> int: ...

    async def unqueue_message(self, queued_id: int) -> None: ...

    async def queued_messages(self, session_id: str) -> list[StoredQueued]: ...

    async def create_tool_call(
        self, call_id: str, session_id: str, agent: str, tool_name: str, arguments: dict[str, Any]
    ) -> StoredCall: ...

    async def get_tool_call(self, call_id: str) -> StoredCall | None: ...

    async def dispatch_tool_call(
        self, call_id: str, arguments: dict[str, Any], deadline: datetime | None
    ) -> bool: ...

    async def finish_tool_call(
        self,
        call_id: str,
        status: ToolCallStatus,
        result: Any,
        error: str | None,
        *,
        only_from: tuple[ToolCallStatus, ...] | None = None,
    ) -> bool: ...

    async def open_tool_calls(self, session_id: str) -> list[StoredCall]: ...

    async def last_full_read(self, session_id: str, path: str) -> str | None: ...

    async def open_approval(
        self, call_id: str, session_id: str, expires_at: datetime | None
    ) -> None: ...

    async def get_approval(self, call_id: str) -> StoredApproval | None: ...

    async def decide_approval(
        self,
        call_id: str,
        status: ApprovalStatus,
        decided_by: str,
        decider_role: str,
        modified_arguments: dict[str, Any] | None = None,
        feedback: str | None = None,
    ) -> bool: ...

    async def allow_rules(
        self, session_id: str, tool_name: str | None = None
    ) -> list[StoredRule]: ...

    async def add_allow_rule(
        self, session_id: str, tool_name: str, pattern: str, created_by: str, effect: str = "allow"
    ) -> StoredRule: ...
