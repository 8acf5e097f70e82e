"""The ten tools: typed arguments, where each runs, and its schema for the model."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from tools import args as a
from tools.validation import describe


class Side(StrEnum):
    IDE = "ide"  # runs where the files are: the IDE, or the hub's workspace executor
    HUB = "hub"  # changes the run itself: switch agent, finish, ask the user


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    args: type[a.ToolArgs]
    side: Side

    @property
    def description(self) -> str:
        return (self.args.__doc__ or self.name).strip()

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": compact(self.args.model_json_schema()),
            },
        }


def compact(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without what the model does not need, since every call sends it: titles, the
    description the function already has, and `anyOf [T, null]` of an optional argument (left
    out, it is null). Nine tools take about a third fewer tokens."""
    out = {k: v for k, v in schema.items() if k not in ("title", "description")}
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        options = prop.get("anyOf", [])
        if prop.get("default", ...) is None and len(options) == 2 and {"type": "null"} in options:
            (kept,) = (o for o in options if o != {"type": "null"})
            prop = {**{k: v for k, v in prop.items() if k not in ("anyOf", "default")}, **kept}
        properties[name] = prop
    if properties:
        out["properties"] = properties
    return out


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("read_file", a.ReadFileArgs, Side.IDE),
        ToolSpec("write_file", a.WriteFileArgs, Side.IDE),
        ToolSpec("list_files", a.ListFilesArgs, Side.IDE),
        ToolSpec("create_directory", a.CreateDirectoryArgs, Side.IDE),
        ToolSpec("execute_command", a.ExecuteCommandArgs, Side.IDE),
        ToolSpec("search_in_code", a.SearchInCodeArgs, Side.IDE),
        ToolSpec("switch_mode", a.SwitchModeArgs, Side.HUB),
        ToolSpec("attempt_completion", a.AttemptCompletionArgs, Side.HUB),
        ToolSpec("ask_followup_question", a.AskFollowupQuestionArgs, Side.HUB),
        ToolSpec("propose_plan", a.ProposePlanArgs, Side.HUB),
    )
}


def openai_tools(names: Iterable[str]) -> list[dict[str, Any]]:
    """The tools as the model sees them. Built once per tool: a JSON Schema costs ~0.2 ms."""
    return [_schema(name) for name in names]


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    return TOOLS[name].openai_schema()


class InvalidArguments(Exception):
    """The model's arguments do not fit the tool; the message is meant for the model."""


def parse_arguments(spec: ToolSpec, raw: dict[str, Any]) -> a.ToolArgs:
    try:
        return spec.args.model_validate(raw)
    except ValidationError as exc:
        problems = describe(exc, whole="arguments")
        raise InvalidArguments(f"invalid arguments for {spec.name}: {problems}") from None
