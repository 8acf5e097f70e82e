"""`agent-hub` as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.hub_process import HubProcess
from tests.scripted_llm import ScriptedLLM


def agent_hub(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_RUNTIME__")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_help_explains_every_command(tmp_path: Path) -> None:
    result = agent_hub("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "migrate", "schema"):
        assert command in result.stdout
    serve = agent_hub("serve", "--help", cwd=tmp_path).stdout
    for flag in ("--host", "--port", "--dev"):
        assert flag in serve


def test_serve_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    result = agent_hub("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "AGENT_RUNTIME__INTERNAL_API_KEY is not set" in result.stderr
    assert "--dev" in result.stderr


def test_a_bad_setting_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    result = agent_hub(
        "serve", cwd=tmp_path, AGENT_RUNTIME__PORT="eighty", AGENT_RUNTIME__LOG_LEVEL="LOUD"
    )
    assert result.returncode == 2
    assert "AGENT_RUNTIME__PORT" in result.stderr
    assert "AGENT_RUNTIME__LOG_LEVEL" in result.stderr


def test_workers_without_a_bus_are_refused_naming_what_to_set(tmp_path: Path) -> None:
    result = agent_hub("serve", "--dev", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert "2 workers share sessions over the cluster bus" in result.stderr
    assert "AGENT_RUNTIME__BUS_URL=redis://" in result.stderr
    zero = agent_hub("serve", "--dev", "--workers", "0", cwd=tmp_path)
    assert zero.returncode == 2 and "AGENT_RUNTIME__WORKERS" in zero.stderr


def test_settings_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AGENT_RUNTIME__DATABASE_URL=mysql://nope\n")
    result = agent_hub("migrate", cwd=tmp_path)
    assert result.returncode == 2
    assert "AGENT_RUNTIME__DATABASE_URL" in result.stderr


def test_migrate_creates_the_sqlite_database_under_data(tmp_path: Path) -> None:
    result = agent_hub("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "agent_hub.sqlite3").stat().st_size > 0


def test_dev_mode_prints_a_generated_key_that_works(tmp_path: Path, llm: ScriptedLLM) -> None:
    hub = HubProcess(tmp_path, llm.base_url)
    del hub.env["AGENT_RUNTIME__INTERNAL_API_KEY"]
    hub.start("--dev")
    try:
        match = re.search(r"X-Internal-Auth key for this run: (\S+)", hub.log.read_text())
        assert match is not None
        key = match.group(1)
        url = f"{hub.http_url}/agents"
        assert httpx.get(url, headers={"X-Internal-Auth": key}).status_code == 200
        assert httpx.get(url, headers={"X-Internal-Auth": "guess"}).status_code == 401
    finally:
        hub.stop()


def test_traces_asked_for_without_the_sdk_are_refused_before_serving(tmp_path: Path) -> None:
    # Shadows the SDK as an environment without the `otel` extra lacks it.
    blocked = tmp_path / "blocked" / "opentelemetry" / "sdk"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('no SDK here')\n")
    result = agent_hub(
        "serve",
        "--dev",
        "--workers",
        "2",
        cwd=tmp_path,
        PYTHONPATH=str(tmp_path / "blocked"),
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
        AGENT_RUNTIME__BUS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 2
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in result.stderr
    assert "uv sync --extra otel" in result.stderr
    assert "Traceback" not in result.stderr
