"""Settings of the hub, read from `AGENT_RUNTIME__*` variables or a `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agents.definitions import AGENTS
from agents.usage import Prices
from agents.vocab import ToolCallFormat
from tools.approval import ToolPolicy, default_policies
from tools.mcp import SERVER_NAME, McpServerSpec
from tools.validation import problems

ENV_PREFIX = "AGENT_RUNTIME__"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    llm_proxy_url: str = Field(
        "http://localhost:8000/v1",
        pattern=r"^https?://[^\s/]+",
        description="Base URL of an OpenAI-compatible API (http:// or https://).",
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name sent with every request.")
    llm_api_key: str = Field("not-needed", description="API key for the LLM endpoint.")
    demo_llm: bool = Field(
        False,
        description="Answer with the built-in demo model instead of an LLM (serve --demo-llm): "
        "it streams, routes, calls tools, asks and plans by rule, to try the hub with nothing "
        "else running.",
    )
    llm_timeout_seconds: float = Field(
        120.0,
        gt=0,
        description="Bound on one model call, connect to last byte of the stream, however "
        "steadily the tokens come; past it the turn ends with llm_error, the partial answer kept.",
    )
    llm_max_retries: int = Field(
        1, ge=0, le=10, description="Retries of a failed LLM request before any token arrived."
    )
    internal_api_key: str | None = Field(
        None,
        min_length=8,
        description="Shared secret expected in X-Internal-Auth: for services and "
        "administrators, it sees every session.",
    )
    auth_jwt_secret: str | None = Field(
        None,
        min_length=32,
        description="Secret of the hub's own user tokens (HS256, `agent-hub token`); unset "
        "with no JWKS URL: only the internal key is accepted.",
    )
    auth_jwks_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="An identity provider's JWKS: user tokens signed RS256/ES256 by its keys "
        "(cached, refreshed when a token names an unknown key).",
    )
    auth_jwt_issuer: str | None = Field(None, description="Required `iss` of user tokens.")
    auth_jwt_audience: str | None = Field(None, description="Required `aud` of user tokens.")
    max_connections_per_user: int = Field(
        64, ge=1, description="Sockets one user may hold open at once, over all sessions."
    )
    max_messages_per_second_per_user: float = Field(
        40.0, gt=0, description="Frames per second one user may send over all sessions."
    )
    max_running_sessions_per_user: int = Field(
        8, ge=1, description="Sessions of one user whose turns may run at once."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] = Field(
        "console",
        description="console: readable lines; json: one JSON object per line, each with the "
        "session, run, client and user it concerns (the Docker image's default).",
    )
    version: str = Field("0.1.0", description="Version reported by /health.")
    database_url: str = Field(
        "sqlite://data/agent_hub.sqlite3",
        pattern=r"^(sqlite|postgres|asyncpg)://",
        description="sqlite://path or postgres://user:pass@host:port/db.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8001, ge=1, le=65535)
    max_frame_bytes: int = Field(
        262_144, ge=1024, description="Largest client frame accepted on the socket."
    )
    tool_timeout_seconds: float = Field(
        300.0, gt=0, description="How long a run waits for the IDE's tool_result."
    )
    workspace_root: Path | None = Field(
        None,
        description="Run the file and command tools on the hub, inside this directory, "
        "instead of sending them to the IDE.",
    )
    workspace_checkpoints: bool = Field(
        True,
        description="With WORKSPACE_ROOT: commit the files to a shadow git repository before "
        "each call that may change them, to see and undo what it did (needs git).",
    )
    workspace_checkpoint_dir: Path = Field(
        Path("data/checkpoints"),
        description="Where the shadow repositories are kept (one per workspace root); must be "
        "outside the workspace.",
    )
    command_sandbox: Literal["bwrap", "none"] | None = Field(
        None,
        description="How execute_command runs on the hub's workspace: bwrap (bubblewrap: no "
        "network, read-only system, the workspace read-only for read-only agents), or none "
        "(unsandboxed, logged as a warning). Unset: bwrap; without it commands are refused.",
    )
    approval_policy: dict[str, ToolPolicy] = Field(
        default_factory=default_policies,
        description='Tools that need a human, as JSON: {"execute_command": {"ask": true, '
        '"timeout_seconds": 120}}. Replaces the default (write_file, create_directory and '
        "execute_command ask, with no timeout).",
    )
    mcp_servers: dict[Annotated[str, StringConstraints(pattern=SERVER_NAME)], McpServerSpec] = (
        Field(
            default_factory=dict,
            description='MCP servers whose tools the agents may call, as JSON: {"docs": '
            '{"command": "uvx", "args": ["mcp-server-fetch"]}, "tracker": {"url": '
            '"https://mcp.example/mcp", "headers": {"Authorization": "Bearer …"}, "agents": '
            '["coder"]}}. Their tools are named mcp__<server>__<tool>; see docs/config.md.',
        )
    )
    approval_webhook_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="When an approval waits and no IDE or console watches its session, POST "
        "a signed JSON body here with a link to a page that approves or rejects it.",
    )
    approval_webhook_secret: str | None = Field(
        None,
        min_length=16,
        description="Signs the webhook's body (HMAC-SHA256) and its links; required with the URL.",
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="How people reach this hub (for the webhook's links); default: "
        "http://HOST:PORT.",
    )
    approval_warning_seconds: float = Field(
        10.0, ge=0, description="How long before an approval expires clients are warned."
    )
    routing_timeout_seconds: float = Field(
        15.0, gt=0, description="How long the orchestrator's routing call may take."
    )
    llm_max_tokens: int = Field(
        2048,
        ge=1,
        description="Tokens one model call of a turn may generate (max_tokens); the "
        "orchestrator's routing call has a small fixed cap of its own.",
    )
    llm_temperature: float | None = Field(
        None,
        ge=0,
        le=2,
        description="Sampling temperature sent with every model call; unset: "
        "the server's default. 0 makes a local model's answers repeatable.",
    )
    llm_stream_usage: bool = Field(
        True,
        description="Ask the model to report token usage at the end of each stream "
        "(stream_options.include_usage); turn off for a server that refuses the option.",
    )
    llm_prices: Prices | None = Field(
        None,
        description='USD per million tokens, to estimate cost: JSON {"prompt": 0.15, '
        '"completion": 0.6, "cached": 0.075} (cached defaults to prompt). Unset: no cost.',
    )
    llm_context_tokens: int | None = Field(
        None,
        ge=256,
        description="The model's context window in tokens: the oldest messages are left out "
        "of a call that would not fit beside the instructions, tools and LLM_MAX_TOKENS; a "
        "newest message that cannot fit fails with context_too_long. Unset: no budget.",
    )
    tool_call_format: ToolCallFormat = Field(
        "native",
        description="native: tools are offered through the API's function calling; text: "
        "the instructions describe them and the model writes <tool_call> JSON blocks in its "
        "reply (for models without function calling). Approvals and frames are the same.",
    )
    checkpoint_seconds: float = Field(
        1.0,
        ge=0,
        description="While an answer streams, it is saved this often, so a crash of the hub "
        "loses at most that much text; 0: saved only when the model call ends.",
    )
    max_model_calls: int = Field(
        8, ge=1, le=100, description="Model calls in one run before the turn is stopped."
    )
    resume_frames: int = Field(
        1000, ge=0, description="Frames per session always kept for clients that resume."
    )
    resume_seconds: float = Field(
        600.0, ge=0, description="Frames younger than this are kept for resume too."
    )
    resume_max_frames: int = Field(
        20_000, ge=1, description="Hard cap on frames kept per session, whatever their age."
    )
    send_queue_frames: int = Field(
        256, ge=1, description="Frames queued per socket before token frames are merged."
    )
    send_queue_max_frames: int = Field(
        4096, ge=2, description="Frames queued per socket before the client is cut off."
    )
    slow_client_timeout_seconds: float = Field(
        15.0, gt=0, description="A socket that takes no frame for this long is closed (1013)."
    )
    max_connections_per_session: int = Field(
        16, ge=1, description="Sockets on one session; more are refused with 429."
    )
    max_messages_per_second: float = Field(
        20.0, gt=0, description="Client frames per second per session (bursts of twice that)."
    )
    idle_timeout_seconds: float = Field(
        900.0, gt=0, description="A socket with no frame either way for this long is closed."
    )
    ws_ping_interval_seconds: float = Field(
        20.0, gt=0, description="WebSocket ping interval; a peer that misses a pong is dropped."
    )
    shutdown_timeout_seconds: int = Field(
        10, gt=0, description="On SIGTERM, how long open connections get before exit."
    )
    bus_url: str | None = Field(
        None,
        pattern=r"^rediss?://",
        description="Redis shared by several hub processes on one database; unset: one process.",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Hub processes serving one port (`serve --workers N`), to use more cores; "
        "past one they share sessions the way a cluster does, so BUS_URL must be set.",
    )
    bus_prefix: str = Field("agent-hub", description="Prefix of every Redis key the hub uses.")
    bus_lease_seconds: float = Field(
        6.0,
        gt=0,
        description="A session's owner renews its lease every third of this; a process whose "
        "lease lapses is taken for dead, and its sessions are taken over within about this long.",
    )
    ws_compression: bool = Field(
        False,
        description="Accept per-message deflate on sockets: less bandwidth, but every token "
        "frame is compressed once per client and idle sockets take ~2.4x the memory.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to open sockets besides the hub's own, as JSON: "
        '["https://app.example"]. A socket without Origin (an IDE) is always allowed.',
    )
    ws_ticket_ttl_seconds: float = Field(
        30.0, gt=0, description="Lifetime of a browser WebSocket ticket."
    )

    @model_validator(mode="after")
    def _reply_fits_the_context(self) -> Settings:
        context = self.llm_context_tokens
        if context is not None and self.llm_max_tokens >= context // 2:
            raise ValueError(
                f"{ENV_PREFIX}LLM_MAX_TOKENS ({self.llm_max_tokens}) must be under half of "
                f"{ENV_PREFIX}LLM_CONTEXT_TOKENS ({context}): room for the reply is kept free in "
                "the context, and the conversation needs the rest"
            )
        return self

    @model_validator(mode="after")
    def _mcp_agents_exist(self) -> Settings:
        for name, spec in self.mcp_servers.items():
            unknown = sorted(set(spec.agents or ()) - set(AGENTS))
            if unknown:
                raise ValueError(
                    f"{ENV_PREFIX}MCP_SERVERS: server {name!r} names unknown agents "
                    f"{', '.join(unknown)}; the agents are: {', '.join(AGENTS)}"
                )
        return self

    @model_validator(mode="after")
    def _webhook_is_signed(self) -> Settings:
        if self.approval_webhook_url and not self.approval_webhook_secret:
            raise ValueError(
                f"{ENV_PREFIX}APPROVAL_WEBHOOK_URL needs {ENV_PREFIX}APPROVAL_WEBHOOK_SECRET "
                "(16+ characters): it signs the body and the approval links"
            )
        return self

    @model_validator(mode="after")
    def _workers_share_a_bus(self) -> Settings:
        if self.workers > 1 and self.bus_url is None:
            raise ValueError(
                f"{self.workers} workers share sessions over the cluster bus: set "
                f"{ENV_PREFIX}BUS_URL=redis://host:6379 (one process, the default, needs none)"
            )
        return self


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [
            what.removeprefix("Value error, ")
            if where == ""
            else f"{ENV_PREFIX}{where.split('.')[0].upper()}: {what}"
            for where, what in problems(exc, whole="")
        ]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
