"""Tortoise ORM models: sessions and their history. Schema changes go through db/migrations."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from db.records import ApprovalStatus, MessageStatus, PlanStatus, ToolCallStatus


class ChatSession(Model):
    id = fields.CharField(primary_key=True, max_length=128)
    current_agent = fields.CharField(max_length=32)
    # Set while a run works on the session: still set at start-up means the hub died mid-run.
    running_since = fields.DatetimeField(null=True)
    # The epochs of its recent frame streams, newest last: a client resuming from one of them
    # is told the stream restarted, not that its epoch is unknown.
    epochs: fields.Field[list[str] | None] = fields.JSONField(null=True)
    # The user who created it (a token's sub); null: created with the internal key.
    owner = fields.CharField(max_length=128, null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "sessions"


class Message(Model):
    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="messages", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16)
    content = fields.TextField()
    agent = fields.CharField(max_length=32, null=True)
    tool_calls: fields.Field[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    tool_call_id = fields.CharField(max_length=128, null=True)
    status = fields.CharEnumField(MessageStatus, default=MessageStatus.COMPLETE)
    # A notice for people (an agent switch, an interrupted run), never sent to the model.
    notice = fields.BooleanField(default=False)
    # Who sent a user message, as the audit trail names clients: `ide:3f2a (alice)`, `rest`.
    author = fields.CharField(max_length=200, null=True)
    # What a notice records beyond its text, e.g. how an agent switch was decided.
    details: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "messages"
        indexes = (("session_id", "id"),)


class QueuedMessage(Model):
    """A user message waiting behind the turn in progress, moved to the history when it runs."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="queued_messages", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=16)
    content = fields.TextField()
    author = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "queued_messages"


class ToolCallRecord(Model):
    id = fields.CharField(primary_key=True, max_length=128)  # the call_id on the wire
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="tool_calls", on_delete=fields.CASCADE
    )
    session_id: str
    agent = fields.CharField(max_length=32)
    tool_name = fields.CharField(max_length=64)
    arguments: fields.Field[dict[str, Any]] = fields.JSONField()
    status = fields.CharEnumField(ToolCallStatus, default=ToolCallStatus.PENDING)
    result: fields.Field[Any] = fields.JSONField(null=True)
    error = fields.TextField(null=True)
    deadline = fields.DatetimeField(null=True)  # when a dispatched call times out
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "tool_calls"


class Approval(Model):
    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="approvals", on_delete=fields.CASCADE
    )
    session_id: str
    call: fields.OneToOneRelation[ToolCallRecord] = fields.OneToOneField(
        "models.ToolCallRecord", related_name="approval", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(ApprovalStatus, default=ApprovalStatus.PENDING)
    modified_arguments: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    feedback = fields.TextField(null=True)
    decided_by = fields.CharField(max_length=128, null=True)
    decider_role = fields.CharField(max_length=16, null=True)
    decided_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "approvals"


class ApprovalAudit(Model):
    """Every decision anyone sent, including the ones that came too late."""

    id = fields.BigIntField(primary_key=True)
    approval: fields.ForeignKeyRelation[Approval] = fields.ForeignKeyField(
        "models.Approval", related_name="audit", on_delete=fields.CASCADE
    )
    decision = fields.CharField(max_length=16)
    decided_by = fields.CharField(max_length=128)
    accepted = fields.BooleanField()
    modified_arguments: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    feedback = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "approval_audit"


class AllowRule(Model):
    """A rule of one session: allow or deny calls of a tool by a command prefix or path glob."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="allow_rules", on_delete=fields.CASCADE
    )
    tool_name = fields.CharField(max_length=64)
    pattern = fields.CharField(max_length=512)
    effect = fields.CharField(max_length=8, default="allow")  # "allow" or "deny"; a deny wins
    created_by = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "allow_rules"


class ModelCall(Model):
    """One call to the model and the tokens it reported (null: it reported none)."""

    id = fields.BigIntField(primary_key=True)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="model_calls", on_delete=fields.CASCADE
    )
    agent = fields.CharField(max_length=32)
    purpose = fields.CharField(max_length=16)
    prompt_tokens = fields.IntField(null=True)
    completion_tokens = fields.IntField(null=True)
    cached_tokens = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "model_calls"
        indexes = (("session_id", "id"),)


class Plan(Model):
    """A plan an agent proposed: its steps (each with its status and result) and its status."""

    id = fields.CharField(primary_key=True, max_length=128)  # the proposing call's id
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="plans", on_delete=fields.CASCADE
    )
    agent = fields.CharField(max_length=32)
    title = fields.CharField(max_length=200)
    steps: fields.Field[list[dict[str, Any]]] = fields.JSONField()
    status = fields.CharEnumField(PlanStatus, max_length=16)
    feedback = fields.TextField(null=True)
    version = fields.IntField(default=0)  # +1 at every change: updates are conditional on it
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "plans"
        indexes = (("session_id", "status"),)
