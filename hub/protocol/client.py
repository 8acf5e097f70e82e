"""Client → hub frames: what an IDE, the console or an SSE POST may send."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, StringConstraints, TypeAdapter

from agents.vocab import MessageRole, Verdict
from hub.protocol.base import Frame
from hub.protocol.text import CallId, Json, JsonObject, Pattern, Text

Role = MessageRole


class ClientTool(BaseModel):
    """A tool the client runs itself (an AG-UI frontend tool, say), offered to the model."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: Text = ""
    parameters: JsonObject = Field(default_factory=lambda: {"type": "object"})

    def as_function(self) -> dict[str, Any]:
        """The tool as the model is offered it."""
        function = {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }
        return {"type": "function", "function": function}


class UserMessage(Frame):
    """A message from the user; starts a run, or is queued behind the running one."""

    type: Literal["user_message"] = "user_message"
    content: Text
    role: Role = "user"
    interrupt: bool = Field(
        False, description="Hub extension: cancel the turn in progress and run this one next."
    )
    tools: list[ClientTool] | None = Field(
        None,
        max_length=32,
        description="Hub extension: tools this client runs itself, offered to the model from "
        "this message on (an empty list withdraws them). Their calls come as `tool_call` "
        "frames without approval; answer with `tool_result`.",
    )


class ToolResult(Frame):
    """The IDE's answer to a `tool_call`, correlated by `call_id`."""

    type: Literal["tool_result"] = "tool_result"
    call_id: CallId
    result: Json = None
    error: Text | None = None


class HitlDecision(Frame):
    """The user's answer to a `tool_call` that had `requires_approval: true`."""

    type: Literal["hitl_decision"] = "hitl_decision"
    call_id: CallId
    decision: Verdict
    modified_arguments: JsonObject | None = Field(
        None, description="With `edit`: the arguments to use (merged over the model's)."
    )
    feedback: Text | None = Field(None, description="With `reject`: told to the model.")
    always_allow: bool = Field(
        False, description="Hub extension: also allow matching calls in this session from now on."
    )
    allow_pattern: Pattern | None = Field(
        None,
        description="Hub extension: the rule's command prefix or path glob; by default this "
        "call's exact command or path.",
    )
    always_deny: bool = Field(
        False,
        description="Hub extension: with `reject`, also refuse matching calls in this session "
        "from now on, without asking (a deny rule wins over allow rules).",
    )


class SwitchAgent(Frame):
    """The user moves the session to another agent; the conversation goes with it."""

    type: Literal["switch_agent"] = "switch_agent"
    agent_type: Annotated[str, StringConstraints(max_length=64)]
    content: Text = ""
    reason: Text | None = None


class EditedStep(BaseModel):
    title: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    agent: Literal["coder", "architect", "debug", "ask"]
    description: Annotated[Text, StringConstraints(min_length=1, max_length=4000)]


class PlanDecision(Frame):
    """The answer to `plan_approval_required` (later versions of the original)."""

    type: Literal["plan_decision"] = "plan_decision"
    approval_request_id: CallId
    decision: Literal["approve", "reject", "modify"]
    feedback: Text | None = Field(None, description="With `reject` or `modify`: told to the agent.")
    steps: list[EditedStep] | None = Field(
        None,
        min_length=1,
        max_length=12,
        description="Hub extension: with `modify`, the plan's steps as they should run "
        "(reordered, changed, some dropped); the plan is approved so. `modify` without them "
        "sends the plan back with the feedback, to be proposed again.",
    )


class PlanStepCommand(Frame):
    """Hub extension: skip a step of the session's plan that has not started, or cancel the
    one that runs; the plan goes on with the next step."""

    type: Literal["plan_step"] = "plan_step"
    plan_id: CallId
    step: int = Field(ge=0, le=11, description="The step's index, from 0.")
    action: Literal["skip", "cancel"] = Field(
        "skip", description="skip: a step not started yet; cancel: the step that runs."
    )


class Cancel(Frame):
    """Hub extension: stop the running turn; the partial answer is kept, marked cancelled."""

    type: Literal["cancel"] = "cancel"
    reason: str | None = None


class Ping(Frame):
    """Hub extension: liveness check; answered by `pong` carrying the same `data`."""

    type: Literal["ping"] = "ping"
    data: str | None = None


ClientFrame = Annotated[
    UserMessage
    | ToolResult
    | HitlDecision
    | SwitchAgent
    | PlanDecision
    | PlanStepCommand
    | Cancel
    | Ping,
    Discriminator("type"),
]
CLIENT_FRAME_TYPES = frozenset(
    m.model_fields["type"].default
    for m in (
        UserMessage,
        ToolResult,
        HitlDecision,
        SwitchAgent,
        PlanDecision,
        PlanStepCommand,
        Cancel,
        Ping,
    )  # fmt: skip
)

client_frame_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
