"""`agent-hub serve --workers N`: N hub processes on one port, restarted if one dies.

Each worker binds its own listening socket with SO_REUSEPORT, so the kernel spreads new
connections over them by address hash. (uvicorn's own `--workers` shares one socket, and an
idle worker's accept loop then takes nearly every connection.) The workers share sessions over
the cluster bus exactly as separate hosts do; this parent only starts, stops and restarts them.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from hub import logs
from hub.config import Settings

log = logging.getLogger("agent_hub.workers")
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before restarting a worker, by failures
HEALTHY_SECONDS = 60.0  # a worker that ran this long before dying starts the backoff over


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run_worker(settings_json: str, uvicorn_options: dict[str, Any]) -> None:
    """One worker process: its own socket on the shared port, one hub app."""
    import uvicorn

    from hub.app import create_app
    from hub.cli import quiet_handshake_denials

    quiet_handshake_denials()
    settings = Settings.model_validate_json(settings_json)
    logs.configure(settings.log_level, settings.log_format)  # a spawned process starts bare
    sock = listening_socket(settings.host, settings.port)
    config = uvicorn.Config(create_app(settings), **uvicorn_options)
    uvicorn.Server(config).run(sockets=[sock])


class WorkerSupervisor:
    def __init__(self, settings: Settings, uvicorn_options: dict[str, Any]) -> None:
        self._settings_json = settings.model_dump_json()
        self._options = uvicorn_options
        self._count = settings.workers
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._failures = [0] * self._count
        self._started = [0.0] * self._count
        self._stopping = False

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        self._workers = [self._start(i) for i in range(self._count)]
        while not self._stopping:
            time.sleep(0.5)
            for index, worker in enumerate(self._workers):
                if not worker.is_alive() and not self._stopping:
                    self._restart(index, worker)
        for worker in self._workers:
            worker.join()
        return 0

    def _start(self, index: int) -> BaseProcess:
        worker = self._context.Process(
            target=run_worker,
            args=(self._settings_json, self._options),
            name=f"agent-hub-worker-{index}",
        )
        worker.start()
        self._started[index] = time.monotonic()
        log.info("worker %d started (pid %s)", index, worker.pid)
        return worker

    def _restart(self, index: int, dead: BaseProcess) -> None:
        lived = time.monotonic() - self._started[index]
        failures = 0 if lived > HEALTHY_SECONDS else self._failures[index]
        delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
        log.warning(
            "worker %d (pid %s) exited with %s; restarting in %g s",
            index,
            dead.pid,
            dead.exitcode,
            delay,
        )
        self._failures[index] = failures + 1
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self._stopping:
            time.sleep(0.1)
        if not self._stopping:
            self._workers[index] = self._start(index)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Pass the stop on: each worker shuts down gracefully (its sessions end their runs)."""
        self._stopping = True
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()
