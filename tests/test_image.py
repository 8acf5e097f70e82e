"""The Dockerfile's image, built by `.ci/image` with podman, run as a container: healthy by its
own HEALTHCHECK, not root, JSON logs, and a whole demo session through its published port.
`compose.yaml` is checked by docker-compose's own schema (its postgres and redis images come
from a registry this machine cannot reach, so it is validated, not run).

The image is named by AGENT_HUB_IMAGE, which `.ci/image` prints; without it these tests are
skipped, except in CI, where they must run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from tests.conftest import API_KEY
from tests.hub_process import free_port
from tests.socket_client import AUTH, receive, receive_until, send

pytestmark = pytest.mark.image
ROOT = Path(__file__).parent.parent
COLLECTOR = "http://127.0.0.1:4318"


def _required(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the image tests are required in CI: {why}")
    pytest.skip(f"{why}; bash .ci/image builds it (required only in CI)")


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=check, timeout=120
    )


class Container:
    def __init__(self, image: str) -> None:
        self.name = f"agent-hub-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        podman(
            "run", "--detach", "--name", self.name,
            "--publish", f"127.0.0.1:{self.port}:8001",
            "--env", f"AGENT_RUNTIME__INTERNAL_API_KEY={API_KEY}",
            # Nothing listens there: the image has the SDK, so the hub starts and says where
            # it sends its traces (the export itself is tested in test_tracing.py).
            "--env", f"OTEL_EXPORTER_OTLP_ENDPOINT={COLLECTOR}",
            image, "agent-hub", "serve", "--demo-llm",
        )  # fmt: skip

    def healthy(self, within: float = 60) -> str:
        """Run the image's own HEALTHCHECK until it passes; the state podman records. (podman
        is run blocking: a deadline, as a timeout could not cut a hung podman short.)"""
        deadline = time.monotonic() + within
        while podman("healthcheck", "run", self.name, check=False).returncode != 0:
            running = podman("inspect", "--format", "{{.State.Running}}", self.name)
            if running.stdout.strip() != "true":
                raise AssertionError(f"the container stopped:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy within {within:g} s:\n{self.logs()}")
            time.sleep(0.5)
        return podman("inspect", "--format", "{{.State.Health.Status}}", self.name).stdout.strip()

    def logs(self) -> str:
        logs = podman("logs", self.name)
        return logs.stdout + logs.stderr

    def remove(self) -> None:
        podman("rm", "--force", "--time", "2", self.name, check=False)


@pytest.fixture
def container() -> Iterator[Container]:
    image = os.environ.get("AGENT_HUB_IMAGE")
    if not image:
        _required("AGENT_HUB_IMAGE is not set")
    if shutil.which("podman") is None:
        _required("podman is not installed")
    assert image is not None
    running = Container(image)
    yield running
    running.remove()


async def test_the_image_runs_healthy_not_as_root_and_serves_a_demo_session(
    container: Container,
) -> None:
    assert container.healthy() == "healthy"
    assert podman("exec", container.name, "id", "-u").stdout.strip() == "10001"
    touched = podman("exec", container.name, "touch", "/app/hub/x", check=False)
    assert touched.returncode != 0  # the code is read-only to the hub; only data/ is its own

    async with connect(f"ws://127.0.0.1:{container.port}/ws/image", additional_headers=AUTH) as ws:
        assert (await receive(ws))["type"] == "session_ready"
        await send(ws, type="user_message", content="hello", role="user")
        frames = await receive_until(ws, "run_finished")
    answer = "".join(f.get("token", "") for f in frames if f["type"] == "assistant_message")
    assert "demo model" in answer and frames[-1]["reason"] == "completed"

    lines = [orjson.loads(line) for line in container.logs().splitlines() if line.startswith("{")]
    assert lines, container.logs()  # the image's default: one JSON object per line
    ended = [line for line in lines if line.get("event", "").startswith("run ended")]
    assert f"traces are exported by OTLP to {COLLECTOR}" in [line.get("event") for line in lines]
    assert ended and ended[0]["session_id"] == "image"
    assert "hello" not in container.logs()  # no message text at INFO


def test_compose_yaml_is_valid_and_demands_the_internal_key() -> None:
    if shutil.which("docker-compose") is None:
        _required("docker-compose is not installed")
    compose = ["docker-compose", "--file", str(ROOT / "compose.yaml"), "config", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "AGENT_RUNTIME__INTERNAL_API_KEY"}
    valid = subprocess.run(
        compose, env={**env, "AGENT_RUNTIME__INTERNAL_API_KEY": "k"}, capture_output=True
    )
    assert valid.returncode == 0, valid.stderr
    keyless = subprocess.run(compose, env=env, capture_output=True, text=True)
    assert keyless.returncode != 0 and "set it in .env" in keyless.stderr
