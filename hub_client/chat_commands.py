"""The terminal client's own commands, typed at its prompt: a line that starts with `/`.

They speak to the hub's REST API for the session (its checkpoints), never to the model; a
message that must start with `/` is sent by doubling it (`//etc is…` sends `/etc is…`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from rich.markup import escape

HELP = """commands:
  /checkpoints      this session's checkpoints of the hub's workspace, newest first
  /diff ID          what the call after checkpoint ID changed
  /restore ID       put the workspace's files back as checkpoint ID had them (undoable)
  /help             this list
a message that starts with / is sent with // in front"""


class ChatCommands:
    def __init__(self, rest: httpx.AsyncClient, session_id: str, show: Callable[[str], None]):
        self._rest = rest
        self._base = f"/sessions/{session_id}/checkpoints"
        self._show = show

    @staticmethod
    def is_command(line: str) -> bool:
        return line.startswith("/") and not line.startswith("//")

    async def run(self, line: str) -> None:
        name, _, argument = line.strip().partition(" ")
        argument = argument.strip()
        try:
            match name:
                case "/checkpoints":
                    await self._list()
                case "/diff" if argument:
                    body = await self._get(f"{self._base}/{argument}")
                    self._show(f"[bold]{escape(body['label'])}[/bold]")
                    self._show(escape(body["diff"]) or "[dim](no change)[/dim]")
                case "/restore" if argument:
                    body = await self._post(f"{self._base}/{argument}/restore")
                    undo = body["undo"]["id"][:12]
                    restored = escape(body["restored"]["label"])
                    self._show(
                        f"[green]restored[/green] to before {restored}; undo: /restore {undo}"
                    )
                case "/help":
                    self._show(HELP)
                case _:
                    self._show(f"[red]unknown command {escape(line.strip())}[/red]\n{HELP}")
        except httpx.HTTPError as exc:
            self._show(f"[red]the hub could not be asked: {escape(str(exc))}[/red]")

    async def _list(self) -> None:
        body = await self._get(self._base)
        if not body["enabled"]:
            self._show("[dim]checkpoints are off: the hub has no workspace of its own[/dim]")
        elif not body["checkpoints"]:
            self._show("[dim]no checkpoints yet: the agents have changed no files[/dim]")
        for checkpoint in body["checkpoints"]:
            when = checkpoint["created_at"][:19].replace("T", " ")
            self._show(f"{checkpoint['id'][:12]}  {when}  {escape(checkpoint['label'])}")

    async def _get(self, path: str) -> dict[str, Any]:
        return _body(await self._rest.get(path))

    async def _post(self, path: str) -> dict[str, Any]:
        return _body(await self._rest.post(path))


def _body(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if response.is_error:
        raise httpx.HTTPError(f"{body.get('error')}: {body.get('detail')}")
    return body  # type: ignore[no-any-return]
