"""A real MCP server for the tests, built with the `mcp` SDK: `python -m tests.mcp_server stdio`
or `python -m tests.mcp_server http --port N` (streamable HTTP at `/mcp`).

Tools: `lookup` (annotated read-only), `write_note` (appends to `$MCP_NOTES`, not read-only),
`fail` (answers an error result) and `crash` (the process exits, to test the restart).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("hub-test-tools", log_level="WARNING")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup(word: str) -> str:
    """Look a word up in the glossary."""
    return f"{word}: a word of the test glossary (pid {os.getpid()})"


@server.tool()
def write_note(text: str) -> str:
    """Append a note to the notes file."""
    with Path(os.environ["MCP_NOTES"]).open("a") as notes:
        notes.write(text + "\n")
    return f"noted {len(text)} characters"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def fail(reason: str) -> str:
    """Always fails."""
    raise ToolError(f"failing as asked: {reason}")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def crash() -> str:
    """The server process exits at once."""
    os._exit(3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=("stdio", "http"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
