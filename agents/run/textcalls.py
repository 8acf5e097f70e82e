"""Tool calls written in a reply's text, for models that have no native function calling.

With `AGENT_RUNTIME__TOOL_CALL_FORMAT=text` the model is sent no `tools=`; its instructions end
with the tools and this format instead, and the hub finds the calls in the streamed text:

    <tool_call>
    {"name": "write_file", "arguments": {"path": "notes.md", "content": "hello"}}
    </tool_call>

(the `<tool_call>` JSON block that many small open models are trained on). What the parser
finds becomes the same `ToolCallFragment`s a native stream gives, so approvals, the file policy
and the frames are the same in both formats, and the history is stored the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson

from agents.llm import ToolCallFragment
from agents.usage import Usage
from tools.registry import TOOLS

OPEN, CLOSE = "<tool_call>", "</tool_call>"

_FORMAT = f"""\
## Tools
To use a tool, answer with a block like this and nothing after it:
{OPEN}
{{"name": "TOOL_NAME", "arguments": {{"ARGUMENT": "VALUE"}}}}
{CLOSE}
The result comes back in a <tool_result> message. The tools (arguments with ? are optional):
"""


def tools_prompt(names: Iterable[str], functions: Iterable[dict[str, Any]] = ()) -> str:
    """The part of the instructions that describes the tools and how to call them; `functions`
    (OpenAI function tools: an MCP server's, or a client's own) are listed after the agent's."""
    lines = [_signature(n, TOOLS[n].args.model_json_schema(), TOOLS[n].description) for n in names]
    for tool in functions:
        function = tool.get("function") or {}
        schema = function.get("parameters")
        lines.append(
            _signature(
                str(function.get("name", "")),
                schema if isinstance(schema, dict) else {},
                str(function.get("description") or ""),
            )
        )
    return _FORMAT + "\n".join(lines)


def _signature(name: str, schema: dict[str, Any], description: str) -> str:
    required = set(schema.get("required", ()))
    params = []
    properties = schema.get("properties")
    for arg, prop in (properties if isinstance(properties, dict) else {}).items():
        options = prop.get("anyOf", [prop]) if isinstance(prop, dict) else [{}]
        kinds = [str(o.get("type", "any")) for o in options if o.get("type") != "null"]
        params.append(f"{arg}{'' if arg in required else '?'}: {'|'.join(kinds)}")
    return f"- {name}({', '.join(params)}): {description}"


def call_text(call: dict[str, Any]) -> str:
    """A stored call as the model would have written it."""
    function = call["function"]
    try:
        arguments = orjson.loads(function["arguments"] or "{}")
    except orjson.JSONDecodeError:
        arguments = function["arguments"]
    body = orjson.dumps({"name": function["name"], "arguments": arguments}).decode()
    return f"{OPEN}\n{body}\n{CLOSE}"


def result_text(tool_name: str, content: str) -> str:
    return f'<tool_result name="{tool_name}">\n{content}\n</tool_result>'


class TextCallParser:
    """Splits a streamed reply into the text people see and the tool calls in it."""

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False
        self._calls = 0

    def feed(self, delta: str) -> list[str | ToolCallFragment]:
        self._buffer += delta
        out: list[str | ToolCallFragment] = []
        while True:
            if self._inside:
                end = self._buffer.find(CLOSE)
                if end < 0:
                    return out
                out += self._parse(self._buffer[:end])
                self._buffer, self._inside = self._buffer[end + len(CLOSE) :], False
                continue
            start = self._buffer.find(OPEN)
            if start >= 0:
                if text := self._buffer[:start]:
                    out.append(text)
                self._buffer, self._inside = self._buffer[start + len(OPEN) :], True
                continue
            # Hold back what may be the start of a block split across deltas.
            keep = _open_prefix(self._buffer)
            if text := self._buffer[: len(self._buffer) - keep]:
                out.append(text)
            self._buffer = self._buffer[len(self._buffer) - keep :]
            return out

    def close(self) -> list[str | ToolCallFragment]:
        """The end of the stream: a block left open (the model ran out of tokens) is parsed
        as it is, and held-back text is let go."""
        rest, self._buffer = self._buffer, ""
        if self._inside:
            self._inside = False
            return list(self._parse(rest))
        return [rest] if rest else []

    def _parse(self, body: str) -> list[ToolCallFragment]:
        try:
            parsed = orjson.loads(body.strip() or "null")
        except orjson.JSONDecodeError:
            parsed = None
        items = parsed if isinstance(parsed, list) else [parsed]
        calls = [item for item in items if isinstance(item, dict) and "name" in item]
        if not calls:  # the runner tells the model the block was not a call it can read
            return [self._fragment("", body.strip())]
        return [self._fragment(str(c["name"]), _arguments(c.get("arguments"))) for c in calls]

    def _fragment(self, name: str, arguments: str) -> ToolCallFragment:
        self._calls += 1
        return ToolCallFragment(self._calls - 1, f"call_{uuid.uuid4().hex}", name, arguments)


async def split_calls(
    stream: AsyncIterator[str | ToolCallFragment | Usage],
) -> AsyncIterator[str | ToolCallFragment | Usage]:
    """The stream with the calls written in its text taken out of the text."""
    parser = TextCallParser()
    async for item in stream:
        if type(item) is str:
            for piece in parser.feed(item):
                yield piece
        else:
            yield item
    for piece in parser.close():
        yield piece


def _arguments(value: Any) -> str:
    if isinstance(value, str):  # some models write the arguments as a JSON string
        return value
    return orjson.dumps(value if value is not None else {}).decode()


def _open_prefix(text: str) -> int:
    """How many of the last characters of `text` could begin `<tool_call>`."""
    for size in range(min(len(OPEN) - 1, len(text)), 0, -1):
        if OPEN.startswith(text[-size:]):
            return size
    return 0
