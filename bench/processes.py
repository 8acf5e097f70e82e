"""The processes under measurement: the LLM server `bench/fake_llm.py` and the real hub."""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Self

from tests.hub_process import HubProcess

MODEL = "bench-model"


class PortProcess:
    """`python -m <module> --port 0 ...` as a subprocess that prints `PORT <n>` once listening."""

    def __init__(self, module: str, *args: str) -> None:
        self._command = [sys.executable, "-m", module, "--port", "0", *args]
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> Self:
        self._process = subprocess.Popen(self._command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"{self._command[2]} did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


class FakeLLM(PortProcess):
    """`python -m bench.fake_llm`: the fast OpenAI-compatible model server."""

    def __init__(self) -> None:
        super().__init__("bench.fake_llm")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


class Baselines(PortProcess):
    """`python -m bench.baselines`: the naive relay and the ready-frame push, on `fake`."""

    def __init__(self, fake: FakeLLM) -> None:
        super().__init__("bench.baselines", "--llm", fake.base_url)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def start_hub(
    workdir: Path, fake: FakeLLM, deflate: bool, database_url: str | None = None, **env: str
) -> HubProcess:
    """The real hub (`python -m hub.cli serve`) streaming from `fake`, on SQLite in `workdir`
    unless `database_url` says otherwise."""
    hub = HubProcess(
        workdir,
        fake.base_url,
        AGENT_RUNTIME__DATABASE_URL=database_url or f"sqlite://{workdir}/hub.sqlite3",
        AGENT_RUNTIME__LLM_MODEL=MODEL,
        # Off by default in the hub; on here so the deflate rows can be compared.
        AGENT_RUNTIME__WS_COMPRESSION="true" if deflate else "false",
        # Turns back to back on one session are faster than the flood guard's default allows.
        AGENT_RUNTIME__MAX_MESSAGES_PER_SECOND="10000",
        **env,
    )
    return hub.start()


def hub_pid(hub: HubProcess) -> int:
    """The pid of the running hub (it changes with every restart)."""
    assert hub._process is not None
    return hub._process.pid


def hub_env(args: argparse.Namespace) -> dict[str, str]:
    """`--hub-source`: that checkout's packages shadow this one's (PYTHONPATH comes first);
    `--workers N`: N processes sharing sessions over Redis, under a prefix of this run's."""
    env = {"PYTHONPATH": str(Path(args.hub_source).resolve())} if args.hub_source else {}
    if args.workers == 1:
        return env
    return {
        **env,
        "AGENT_RUNTIME__WORKERS": str(args.workers),
        "AGENT_RUNTIME__BUS_URL": "redis://127.0.0.1:6379",
        "AGENT_RUNTIME__BUS_PREFIX": f"hub-bench-{uuid.uuid4().hex[:8]}",
    }
