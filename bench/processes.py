"""The processes under measurement: the LLM server `bench/fake_llm.py` and the real hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.hub_process import HubProcess

MODEL = "bench-model"


class FakeLLM:
    """`python -m bench.fake_llm` as a subprocess."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> FakeLLM:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_llm", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"bench.fake_llm did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


def start_hub(workdir: Path, fake: FakeLLM, deflate: bool) -> HubProcess:
    """The real hub (`python -m hub.cli serve`) on SQLite in `workdir`, streaming from `fake`."""
    hub = HubProcess(
        workdir,
        fake.base_url,
        AGENT_RUNTIME__DATABASE_URL=f"sqlite://{workdir}/hub.sqlite3",
        AGENT_RUNTIME__LLM_MODEL=MODEL,
        # Off by default in the hub; on here so the deflate rows can be compared.
        AGENT_RUNTIME__WS_COMPRESSION="true" if deflate else "false",
    )
    return hub.start()


def hub_pid(hub: HubProcess) -> int:
    """The pid of the running hub (it changes with every restart)."""
    assert hub._process is not None
    return hub._process.pid
