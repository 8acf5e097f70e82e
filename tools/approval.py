"""When a tool call needs a human: per-tool policy and the session's "always allow" rules."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from tools.args import ExecuteCommandArgs, ToolArgs

ASK_BY_DEFAULT = ("write_file", "create_directory", "execute_command")


class ToolPolicy(BaseModel):
    ask: bool = True
    timeout_seconds: float | None = Field(
        None, gt=0, description="Reject the call if nobody decides in time; None waits forever."
    )


def default_policies() -> dict[str, ToolPolicy]:
    return {name: ToolPolicy() for name in ASK_BY_DEFAULT}


def subject(args: ToolArgs) -> str | None:
    """What an allow rule is matched against: the command, or the normalised path."""
    if isinstance(args, ExecuteCommandArgs):
        return args.command.strip()
    path = getattr(args, "path", None)
    return PurePosixPath(path).as_posix() if isinstance(path, str) else None


def rule_allows(pattern: str, args: ToolArgs) -> bool:
    """A command rule is a prefix of whole words ("npm test" allows "npm test -k x", not
    "npm tests"); a path rule is a glob ("docs/*.md"). Either may use `*` globs."""
    target = subject(args)
    if target is None:
        return False
    if isinstance(args, ExecuteCommandArgs) and "*" not in pattern:
        prefix = pattern.strip()
        return target == prefix or target.startswith(prefix + " ")
    return fnmatchcase(target, pattern)
