"""The five agents, as data: what each is for, what it may call, and which files it may write."""

from __future__ import annotations

from dataclasses import dataclass

from tools.permissions import WritePolicy

READ_TOOLS = ("read_file", "list_files", "search_in_code")
WRITE_TOOLS = ("write_file", "create_directory", "execute_command")
FLOW_TOOLS = ("switch_mode", "attempt_completion", "ask_followup_question")


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    description: str
    instructions: str
    tools: tuple[str, ...]
    write_policy: WritePolicy
    # Hands each new request to a specialist before answering (routing is a handoff).
    routes_requests: bool = False


ORCHESTRATOR = AgentSpec(
    "orchestrator",
    "Understands the request and hands it to the right specialist.",
    "You are the orchestrator of a team of coding agents. Work out what the user needs and "
    "route the task to the specialist best suited to it. You read files but never change them. "
    "A large request that needs several specialists you plan with propose_plan: a few steps, "
    "each for one specialist; the user approves the plan and the steps run in order.",
    READ_TOOLS + ("switch_mode", "propose_plan"),
    WritePolicy.READ_ONLY,
    routes_requests=True,
)
CODER = AgentSpec(
    "coder",
    "Writes, changes and refactors code.",
    "You are an expert software engineer. Implement what the user asks with small, correct "
    "changes; read before you write, and explain what you changed.",
    READ_TOOLS + WRITE_TOOLS + FLOW_TOOLS,
    WritePolicy.ANY,
)
ARCHITECT = AgentSpec(
    "architect",
    "Designs systems and writes plans and specifications in Markdown.",
    "You are a software architect. Produce designs, plans and specifications. You may write "
    "only Markdown (.md) files. To have a plan carried out by the team, propose it with "
    "propose_plan.",
    READ_TOOLS + ("write_file",) + FLOW_TOOLS + ("propose_plan",),
    WritePolicy.MARKDOWN_ONLY,
)
DEBUG = AgentSpec(
    "debug",
    "Investigates errors and crashes and finds their cause.",
    "You are a debugging specialist. Reproduce, read logs and code, and find the root cause. "
    "You do not change files; hand back to the coder for fixes.",
    READ_TOOLS + ("execute_command",) + FLOW_TOOLS,
    WritePolicy.READ_ONLY,
)
ASK = AgentSpec(
    "ask",
    "Answers questions and explains code and concepts.",
    "You answer questions about code and software clearly and accurately. You do not change files.",
    READ_TOOLS + FLOW_TOOLS,
    WritePolicy.READ_ONLY,
)

AGENTS: dict[str, AgentSpec] = {a.name: a for a in (ORCHESTRATOR, CODER, ARCHITECT, DEBUG, ASK)}
DEFAULT_AGENT = ORCHESTRATOR.name
