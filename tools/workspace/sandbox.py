"""Where `execute_command` runs: inside bubblewrap (`bwrap`), or — only when the operator opts
out with `AGENT_RUNTIME__COMMAND_SANDBOX=none` — directly on the hub's machine.

In the sandbox a command gets new PID, IPC, UTS and network namespaces (no network, no view
of the hub's processes or their environment), the whole filesystem read-only, an empty `/tmp`,
the hub's working directory hidden, and the workspace bound read-write only for agents that may
write. Limits on memory and CPU time apply either way.
"""

from __future__ import annotations

import os
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tools.workspace.paths import ToolFailed

SandboxMode = Literal["bwrap", "none"]
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
MEMORY_BYTES = 2 * 1024**3
_SECRET_PREFIXES = ("AGENT_RUNTIME__", "OPENAI_")
NO_SANDBOX = (
    "commands run only in a sandbox and bubblewrap is not installed: install it (Debian: "
    "apt-get install bubblewrap), or set AGENT_RUNTIME__COMMAND_SANDBOX=none to run commands "
    "unsandboxed"
)


@dataclass(frozen=True, slots=True)
class CommandSandbox:
    mode: SandboxMode | None  # None: a sandbox is wanted but bwrap is not installed

    @classmethod
    def choose(cls, setting: SandboxMode | None = None) -> CommandSandbox:
        """`none` only when asked for; otherwise bwrap, or no way to run commands at all."""
        if setting == "none":
            return cls("none")
        return cls("bwrap" if shutil.which("bwrap") else None)

    def command(self, argv: list[str], root: Path, cwd: Path, writable: bool) -> list[str]:
        """The argv that runs `argv` in `cwd` under this sandbox."""
        if self.mode is None:
            raise ToolFailed(NO_SANDBOX)
        if self.mode == "none":
            return argv
        _check_program(argv[0], cwd)
        hub_dir = Path.cwd()
        hide = ["--tmpfs", str(hub_dir)] if hub_dir != Path("/") else []
        bind = "--bind" if writable else "--ro-bind"
        return [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-net",
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            *hide,
            bind, str(root), str(root),
            "--chdir", str(cwd),
            "--clearenv",
            *(arg for key, value in self.environment().items() for arg in ("--setenv", key, value)),
            "--",
            *argv,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        """Sandboxed: a clean environment. Unsandboxed: the hub's, minus its settings and keys
        (a model can run `env`)."""
        if self.mode == "bwrap":
            return {"PATH": SANDBOX_PATH, "HOME": "/tmp", "LANG": "C.UTF-8", "TERM": "dumb"}
        return {k: v for k, v in os.environ.items() if not k.startswith(_SECRET_PREFIXES)}


def limit_resources(cpu_seconds: int) -> None:
    """Run in the child before it starts (`preexec_fn`): bounded memory and CPU time."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))


def _check_program(program: str, cwd: Path) -> None:
    """A missing program is told as such, not as the sandbox's own exec error."""
    found = (
        (cwd / program).is_file() if "/" in program else shutil.which(program, path=SANDBOX_PATH)
    )
    if not found:
        raise ToolFailed(f"program not found: {program}")
