"""`agent-hub`: start the hub, apply migrations, print the protocol schema, issue user tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from hub import logs
from hub.config import ENV_PREFIX, Settings, SettingsError, load_settings

TRANSPORT_MAX_FRAME = 16 * 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent-hub",
        description="WebSocket-first hub between IDEs and OpenAI-compatible LLMs. Settings come "
        f"from {ENV_PREFIX}* environment variables or ./.env (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the hub (applies database migrations first)",
        description="Run the hub. The database schema is migrated on start.",
    )
    serve.add_argument("--host", help=f"interface to bind (default: {ENV_PREFIX}HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"port (default: {ENV_PREFIX}PORT or 8001)")
    serve.add_argument(
        "--workers",
        type=int,
        help=f"processes on the one port, to use more cores (default: {ENV_PREFIX}WORKERS or 1); "
        f"more than one needs {ENV_PREFIX}BUS_URL (Redis), over which they share sessions",
    )
    serve.add_argument(
        "--demo-llm",
        action="store_true",
        help="answer with the built-in demo model instead of an LLM: it streams Markdown, routes "
        "by keywords, writes a file (after your approval), runs a command, asks a question and "
        "makes a plan when asked to, so everything can be tried with nothing else running",
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help=f"allow starting without {ENV_PREFIX}INTERNAL_API_KEY: a random key is generated "
        "and printed once, with a user token for the user 'dev' (and, without "
        f"{ENV_PREFIX}AUTH_JWT_SECRET, a random secret for this run)",
    )
    bridge = commands.add_parser(
        "acp",
        help="speak the Agent Client Protocol on stdio, for editors (Zed, JetBrains, Neovim)",
        description="An ACP agent over stdin/stdout backed by a hub: the editor launches it, "
        "each ACP session is a hub session. Logs go to stderr.",
    )
    bridge.add_argument(
        "--url",
        default=os.environ.get("AGENT_HUB_URL", "http://127.0.0.1:8001"),
        help="the hub (default: $AGENT_HUB_URL or http://127.0.0.1:8001)",
    )
    bridge.add_argument(
        "--token",
        default=os.environ.get("AGENT_HUB_TOKEN")
        or os.environ.get(f"{ENV_PREFIX}INTERNAL_API_KEY"),
        help="a user token or the internal key "
        f"(default: $AGENT_HUB_TOKEN or ${ENV_PREFIX}INTERNAL_API_KEY)",
    )
    chat = commands.add_parser(
        "chat",
        help="a session in the terminal: streaming answers, inline approvals",
        description="Chat with a hub session in the terminal. Approvals are asked inline; "
        "Ctrl-C stops a turn, Ctrl-D leaves. With --workspace the tools the hub sends to its "
        "IDE run here, inside that directory.",
    )
    chat.add_argument("--url", default=bridge.get_default("url"), help="the hub")
    chat.add_argument("--token", default=bridge.get_default("token"), help="as for acp")
    chat.add_argument("--session", help="the session id (default: a new one)")
    chat.add_argument("--workspace", type=Path, help="run IDE-side tools in this directory")
    chat.add_argument("--plain", action="store_true", help="plain text, lines from stdin")
    token = commands.add_parser(
        "token",
        help="print a user token signed with the hub's secret",
        description=f"Print a JWT for one user, signed with {ENV_PREFIX}AUTH_JWT_SECRET (HS256), "
        "for teams without an identity provider. Send it as 'Authorization: Bearer <token>'.",
    )
    token.add_argument("--user", required=True, help="the user id (the token's sub)")
    token.add_argument(
        "--ttl", default="12h", type=_duration, help="lifetime, e.g. 90m, 12h, 7d (default 12h)"
    )
    commands.add_parser(
        "migrate",
        help="apply database migrations and exit",
        description=f"Bring the schema of {ENV_PREFIX}DATABASE_URL up to date.",
    )
    commands.add_parser(
        "schema",
        help="print the JSON Schema of the socket protocol",
        description="Print the JSON Schema of all client and hub frames (also served at "
        "GET /protocol/schema.json).",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "acp":
        return _acp(args.url, args.token)
    if args.command == "chat":
        return _chat(args)
    if args.command == "schema":
        from hub.protocol import json_schema

        print(json.dumps(json_schema(), indent=2))
        return 0
    overrides = {
        k: v
        for k, v in ((k, getattr(args, k, None)) for k in ("host", "port", "workers"))
        if v is not None
    }
    if getattr(args, "demo_llm", False):
        overrides["demo_llm"] = True
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"agent-hub: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "token":
        return _print_token(settings, args.user, args.ttl)
    if args.command == "migrate":
        from db.migrate import apply_migrations

        asyncio.run(apply_migrations(settings.database_url))
        print(f"agent-hub: schema of {settings.database_url.split('@')[-1]} is up to date")
        return 0
    return serve(settings, dev=args.dev)


class _DenialIsNotAnError(logging.Filter):
    """uvicorn logs every socket refused with an HTTP response (401, 400) as an ASGI error,
    although the response went out as intended; keep the log clean for real errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def quiet_handshake_denials() -> None:
    logging.getLogger("uvicorn.error").addFilter(_DenialIsNotAnError())


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """`90m`, `12h`, `7d` or plain seconds, as seconds."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration like 90m, 12h or 7d"
        ) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the lifetime must be positive")
    return seconds


def _print_token(settings: Settings, user: str, ttl: float) -> int:
    from hub.identity import USER_MAX, issue_token

    if not settings.auth_jwt_secret:
        print(
            f"agent-hub: {ENV_PREFIX}AUTH_JWT_SECRET is not set (32+ characters)", file=sys.stderr
        )
        return 2
    if not 0 < len(user) <= USER_MAX:
        print(f"agent-hub: --user must be 1 to {USER_MAX} characters", file=sys.stderr)
        return 2
    secret, issuer, audience = (
        settings.auth_jwt_secret,
        settings.auth_jwt_issuer,
        settings.auth_jwt_audience,
    )
    print(issue_token(secret, user, ttl, issuer, audience))
    return 0


def _acp(url: str, token: str | None) -> int:
    if not token:
        print("agent-hub acp: pass --token (a user token or the internal key)", file=sys.stderr)
        return 2
    from hub_client.acp.agent import serve as serve_acp

    # stdout carries JSON-RPC: everything else goes to stderr.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve_acp(url, token))
    return 0


def _chat(args: argparse.Namespace) -> int:
    if not args.token:
        print("agent-hub chat: pass --token (a user token or the internal key)", file=sys.stderr)
        return 2
    from hub_client.chat import chat
    from hub_client.connection import HubRefused

    session = args.session or f"chat-{secrets.token_hex(6)}"
    try:
        return asyncio.run(chat(args.url, session, args.token, args.workspace, args.plain))
    except HubRefused as exc:
        print(f"agent-hub chat: {exc}", file=sys.stderr)
        return 1
    except (ConnectionError, OSError) as exc:
        print(f"agent-hub chat: cannot reach the hub at {args.url}: {exc}", file=sys.stderr)
        return 1


def _dev_key() -> str:
    """A random key that does not start with `-`, which shells would take for an option."""
    while (key := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return key


def _print_dev_token(settings: Settings) -> Settings:
    from hub.identity import issue_token

    if not settings.auth_jwt_secret:
        settings = settings.model_copy(update={"auth_jwt_secret": secrets.token_urlsafe(32)})
    assert settings.auth_jwt_secret is not None
    token = issue_token(
        settings.auth_jwt_secret,
        "dev",
        12 * 3600,
        settings.auth_jwt_issuer,
        settings.auth_jwt_audience,
    )
    print(f"agent-hub: --dev: user token for 'dev' (12 h): {token}", flush=True)
    return settings


def serve(settings: Settings, *, dev: bool) -> int:
    from hub.tracing import missing_sdk

    if (why := missing_sdk(os.environ)) is not None:
        print(f"agent-hub: {why}", file=sys.stderr)
        return 2
    if not settings.internal_api_key:
        if not dev:
            print(
                f"agent-hub: {ENV_PREFIX}INTERNAL_API_KEY is not set; set it (see .env.example) "
                "or pass --dev to run with a generated key",
                file=sys.stderr,
            )
            return 2
        settings = settings.model_copy(update={"internal_api_key": _dev_key()})
        print(
            f"agent-hub: --dev: X-Internal-Auth key for this run: {settings.internal_api_key}",
            flush=True,
        )
    if dev:
        settings = _print_dev_token(settings)
    import uvicorn

    from hub.app import create_app

    quiet_handshake_denials()
    options: dict[str, Any] = {
        "log_level": settings.log_level.lower(),
        "ws_max_size": max(TRANSPORT_MAX_FRAME, settings.max_frame_bytes * 4),
        "ws_per_message_deflate": settings.ws_compression,
        "ws_ping_interval": settings.ws_ping_interval_seconds,
        "ws_ping_timeout": settings.ws_ping_interval_seconds,
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
        "log_config": None,  # uvicorn logs through the hub's handler (hub/logs.py)
    }
    if settings.workers > 1:
        from db.migrate import apply_migrations
        from hub.workers import WorkerSupervisor

        asyncio.run(apply_migrations(settings.database_url))  # once, not raced by the workers
        print(
            f"agent-hub: {settings.workers} workers on http://{settings.host}:{settings.port}",
            flush=True,
        )
        return WorkerSupervisor(settings, options).run()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
