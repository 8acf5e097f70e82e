"""The wire protocol: every frame of the IDE socket, defined once as pydantic models.

`client` holds what clients send, `hub` what the hub sends, `parse` validates client input,
`schema` publishes both unions as JSON Schema; `hub.codec` turns frames into bytes and back.
Import the names from here (`from hub import protocol as p`).
"""

from agents.vocab import ErrorCode
from hub.protocol.base import PROTOCOL_VERSION
from hub.protocol.client import (
    CLIENT_FRAME_TYPES,
    Cancel,
    ClientFrame,
    HitlDecision,
    Ping,
    PlanDecision,
    Role,
    SwitchAgent,
    ToolResult,
    UserMessage,
    client_frame_adapter,
)
from hub.protocol.hub import (
    EXTENSION_FRAME_TYPES,
    AgentSwitched,
    ApprovalExpiring,
    ApprovalResolved,
    AssistantMessage,
    Error,
    FollowupQuestion,
    HistoryMessage,
    HubFrame,
    HubFrameModel,
    InFlightMessage,
    MessageQueued,
    PendingApproval,
    Pong,
    Resync,
    RunFinished,
    RunStarted,
    SessionReady,
    ToolCall,
    ToolFinished,
    hub_frame_adapter,
)
from hub.protocol.parse import SESSION_ID_PATTERN, FrameRejected, is_session_id, parse_client_frame
from hub.protocol.schema import json_schema

__all__ = [
    "CLIENT_FRAME_TYPES",
    "EXTENSION_FRAME_TYPES",
    "PROTOCOL_VERSION",
    "SESSION_ID_PATTERN",
    "AgentSwitched",
    "ApprovalExpiring",
    "ApprovalResolved",
    "AssistantMessage",
    "Cancel",
    "ClientFrame",
    "Error",
    "ErrorCode",
    "FollowupQuestion",
    "FrameRejected",
    "HistoryMessage",
    "HitlDecision",
    "HubFrame",
    "HubFrameModel",
    "InFlightMessage",
    "MessageQueued",
    "PendingApproval",
    "Ping",
    "PlanDecision",
    "Pong",
    "Resync",
    "Role",
    "RunFinished",
    "RunStarted",
    "SessionReady",
    "SwitchAgent",
    "ToolCall",
    "ToolFinished",
    "ToolResult",
    "UserMessage",
    "client_frame_adapter",
    "hub_frame_adapter",
    "is_session_id",
    "json_schema",
    "parse_client_frame",
]
