"""Tool calls written in a reply's text: found in any split of the stream, text kept apart."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from agents.llm import ToolCallFragment
from agents.run.textcalls import TextCallParser, call_text, tools_prompt

REPLY = (
    "I will write it.\n<tool_call>\n"
    '{"name": "write_file", "arguments": {"path": "notes.md", "content": "a < b"}}\n'
    "</tool_call>"
)


def parse(deltas: list[str]) -> tuple[str, list[ToolCallFragment]]:
    parser = TextCallParser()
    pieces = [p for d in deltas for p in parser.feed(d)] + parser.close()
    text = "".join(p for p in pieces if isinstance(p, str))
    return text, [p for p in pieces if isinstance(p, ToolCallFragment)]


@given(st.lists(st.integers(0, len(REPLY)), max_size=12))
def test_a_call_is_found_however_the_stream_is_split(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(REPLY)]
    text, calls = parse([REPLY[a:b] for a, b in zip(bounds, bounds[1:], strict=False)])
    assert text == "I will write it.\n"
    assert [(c.name, orjson.loads(c.arguments)) for c in calls] == [
        ("write_file", {"path": "notes.md", "content": "a < b"})
    ]


def test_text_that_only_looks_like_a_block_is_text() -> None:
    assert parse(["a <tool", "_ca", "x and <b>"]) == ("a <tool_cax and <b>", [])
    assert parse(["ends with <tool_c"]) == ("ends with <tool_c", [])


def test_several_calls_a_list_and_an_unclosed_block_at_the_end() -> None:
    listed = (
        '<tool_call>[{"name": "read_file", "arguments": {"path": "a"}}, {"name": "list_files"}]'  # noqa: E501
    )
    _, calls = parse([listed + '</tool_call>then <tool_call>{"name": "read_file"'])
    assert [c.name for c in calls] == ["read_file", "list_files", ""]
    assert calls[1].arguments == "{}"
    assert len({c.call_id for c in calls}) == 3 and [c.index for c in calls] == [0, 1, 2]


def test_a_block_that_is_not_a_call_is_told_to_the_model_as_such() -> None:
    _, (call,) = parse(["<tool_call>write the file please</tool_call>"])
    assert (call.name, call.arguments) == ("", "write the file please")


def test_the_prompt_names_every_tool_and_a_stored_call_reads_back_as_written() -> None:
    prompt = tools_prompt(["read_file", "write_file"])
    assert "- read_file(path: string, encoding?: string, start_line?: integer" in prompt
    assert "- write_file(path: string, content: string" in prompt
    stored = {"id": "c", "function": {"name": "read_file", "arguments": '{"path": "a"}'}}
    text, (call,) = parse([call_text(stored)])
    assert (text, call.name, orjson.loads(call.arguments)) == ("", "read_file", {"path": "a"})
