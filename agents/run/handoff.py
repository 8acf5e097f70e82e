"""A handoff: another agent takes the conversation, whoever asked (routing, a tool, the user)."""

from __future__ import annotations

from agents.definitions import AGENTS
from agents.ports import HistoryStore
from agents.run.conversation import Conversation
from agents.run.steps import AgentSwitched, Handoff
from agents.vocab import ErrorCode, Refusal


async def hand_off(
    store: HistoryStore, conversation: Conversation, from_agent: str, handoff: Handoff
) -> AgentSwitched | None:
    """Store the switch (the session's agent and a notice in its history); the caller
    publishes the returned event. An unknown agent is refused; a switch to the agent the
    session is on already changes nothing (None)."""
    to_agent = handoff.to_agent
    if to_agent not in AGENTS:
        raise Refusal(
            ErrorCode.UNKNOWN_AGENT,
            f"unknown agent {to_agent!r}; expected one of: {', '.join(AGENTS)}",
        )
    if to_agent == from_agent:
        return None
    note = f"Switched from {from_agent} to {to_agent}: {handoff.reason}"
    await store.set_current_agent(conversation.session_id, to_agent)
    how = {"method": handoff.method, "confidence": handoff.confidence}
    await conversation.add("system", note, agent=to_agent, notice=True, details=how)
    return AgentSwitched(
        from_agent, to_agent, handoff.reason, handoff.method, handoff.confidence, note
    )
