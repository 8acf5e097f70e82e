"""The hub as a real process: `python -m hub.cli serve` on 127.0.0.1, waited on via /health."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import API_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class HubProcess:
    def __init__(self, workdir: Path, llm_url: str, **env: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = {
            **os.environ,
            "AGENT_RUNTIME__LLM_PROXY_URL": llm_url,
            "AGENT_RUNTIME__LLM_MODEL": "scripted-model",
            "AGENT_RUNTIME__LLM_MAX_RETRIES": "0",
            "AGENT_RUNTIME__INTERNAL_API_KEY": API_KEY,
            "AGENT_RUNTIME__MAX_FRAME_BYTES": "4096",
            "AGENT_RUNTIME__LOG_LEVEL": "WARNING",
            **env,
        }
        self.log = workdir / "hub.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, *args: str) -> HubProcess:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--port", str(self.port), *args],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"hub exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.http_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"hub did not become healthy:\n{self.log.read_text()}")

    def signal(self, signum: int) -> int:
        """Send a signal and wait for the process to end; its exit code."""
        assert self._process is not None
        self._process.send_signal(signum)
        code = self._process.wait(timeout=30)
        self._process = None
        return code

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def unattended_hub(tmp_path: Path, llm_url: str, workspace: Path) -> HubProcess:
    """A started hub that runs the file tools itself in `workspace`, asking nobody first."""
    return HubProcess(
        tmp_path,
        llm_url,
        AGENT_RUNTIME__WORKSPACE_ROOT=str(workspace),
        AGENT_RUNTIME__APPROVAL_POLICY="{}",
    ).start()
