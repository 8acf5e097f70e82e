"""The Starlette application: routes, auth, and the objects built once in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import openai
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from tortoise.contrib.starlette import RegisterTortoise

from agents.demo import DemoModel
from agents.llm import OpenAIChatModel
from agents.ports import ChatModel
from agents.routing import Router
from agents.run.accounting import Accounting
from agents.run.engine import TurnEngine
from agents.run.mounted import MountedCalls
from agents.run.plans import PlanRunner
from agents.run.tools import ToolRunner
from agents.tokenizer import ServerTokenizer
from db.config import tortoise_config
from db.migrate import apply_migrations
from db.plans import PlanBook
from db.store import Store
from db.usage import UsageLedger
from hub import (
    agui,
    approvals_api,
    approve_page,
    checkpoints_api,
    errors,
    metrics_api,
    plans_api,
    rest,
    sse,
    ws,
)
from hub.auth import Authenticate, TicketBook
from hub.cluster.bus import RedisBus
from hub.cluster.owner import Cluster
from hub.config import Settings
from hub.fanout import Retention
from hub.identity import TokenVerifier
from hub.llm_probe import LlmProbe
from hub.metrics import HubMetrics
from hub.model_calls import ObservedModel
from hub.registry import INTERRUPTED_NOTE, SessionRegistry
from hub.state import HubState
from hub.tracing import Tracing
from hub.users import UserLimits
from hub.watchdog import SocketWatchdog
from hub.webhooks import ApprovalNotifier
from tools.mcp import McpServers
from tools.workspace import Checkpoints, CommandSandbox, WorkspaceExecutor

log = logging.getLogger(__name__)
CONSOLE_DIR = Path(__file__).parent / "console"
LLM_CONNECTIONS = httpx2.Limits(max_connections=2000, max_keepalive_connections=2000)


def create_app(settings: Settings) -> Starlette:
    """The hub as an ASGI app; `settings.internal_api_key` must be set."""
    if not settings.internal_api_key:
        raise ValueError("AGENT_RUNTIME__INTERNAL_API_KEY is required")
    tickets = TicketBook(settings.ws_ticket_ttl_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Each part is closed, last made first, even if closing another fails: a skipped
        # `mcp.aclose` would leave its servers' processes behind.
        async with contextlib.AsyncExitStack() as closing:
            await apply_migrations(settings.database_url)
            llm = openai.AsyncOpenAI(
                base_url=settings.llm_proxy_url,
                api_key=settings.llm_api_key,
                timeout=settings.llm_timeout_seconds,
                max_retries=settings.llm_max_retries,
                # The SDK keeps 100 idle connections: with more sessions streaming at once, each
                # turn past the hundredth paid for a new TCP connection to the model.
                http_client=openai.DefaultAsyncHttpxClient(limits=LLM_CONNECTIONS),
            )
            closing.push_async_callback(llm.close)
            metrics = HubMetrics()
            tracing = Tracing(os.environ)  # the OTEL_* variables are the SDK's own
            # The last spans are sent after the sessions and servers are closed; by HTTP, blocking.
            closing.push_async_callback(asyncio.to_thread, tracing.shutdown)
            model: ChatModel = (
                DemoModel()
                if settings.demo_llm
                else OpenAIChatModel(
                    llm, settings.llm_model, settings.llm_temperature, settings.llm_stream_usage
                )
            )
            name = "demo" if settings.demo_llm else settings.llm_model
            model = ObservedModel(model, name, metrics, tracing.tracer)
            workspace = None
            if settings.workspace_root is not None:
                workspace = WorkspaceExecutor(
                    settings.workspace_root,
                    sandbox=_command_sandbox(settings),
                    checkpoints=_checkpoints(settings, settings.workspace_root),
                )
            mcp = McpServers(settings.mcp_servers)
            closing.push_async_callback(mcp.aclose)  # also a start that failed half-way
            await mcp.start()
            mounted = MountedCalls(mcp, settings.approval_policy) if settings.mcp_servers else None
            probe = LlmProbe(settings.llm_proxy_url, settings.llm_api_key, settings.demo_llm)
            closing.push_async_callback(probe.aclose)
            notifier = _approval_notifier(settings)
            if notifier is not None:
                closing.push_async_callback(notifier.aclose)
            plan_book = PlanBook()
            plans = PlanRunner(plan_book, workspace.checkpoints if workspace is not None else None)
            tools = ToolRunner(
                settings.approval_policy, settings.tool_timeout_seconds, workspace, mounted, plans
            )
            # Only a budget needs counting; the server's tokenizer checks what it estimated.
            counted = settings.llm_context_tokens and not settings.demo_llm
            tokenizer = ServerTokenizer(settings.llm_proxy_url) if counted else None
            if tokenizer is not None:
                closing.push_async_callback(tokenizer.close)
            ledger = UsageLedger()
            engine = TurnEngine(
                model,
                Router(model, settings.routing_timeout_seconds),
                tools,
                max_steps=settings.max_model_calls,
                model_call_seconds=settings.llm_timeout_seconds,
                checkpoint_seconds=settings.checkpoint_seconds or None,
                max_tokens=settings.llm_max_tokens,
                tool_format=settings.tool_call_format,
                context_tokens=settings.llm_context_tokens,
                tokens=tokenizer,
                accounting=Accounting(ledger, settings.llm_prices, settings.llm_context_tokens),
                plans=plans,
            )
            store = Store(settings.database_url)
            retention = Retention(
                settings.resume_frames, settings.resume_seconds, settings.resume_max_frames
            )
            cluster = await _join_cluster(settings, metrics)
            if cluster is not None:
                closing.push_async_callback(cluster.bus.close)
            users = UserLimits(
                settings.max_connections_per_user,
                settings.max_messages_per_second_per_user,
                settings.max_running_sessions_per_user,
            )
            registry = SessionRegistry(
                engine,
                store,
                settings.approval_warning_seconds,
                retention,
                settings.max_messages_per_second,
                cluster,
                # A replay must fit the client's send queue beside the greeting and open calls.
                max_replay_frames=max(1, settings.send_queue_max_frames // 2),
                users=users,
                metrics=metrics,
                notifier=notifier,
                tracer=tracing.tracer,
            )
            metrics.watch(registry.counts)
            watchdog = SocketWatchdog(
                settings.idle_timeout_seconds, settings.slow_client_timeout_seconds
            )
            checkpoints = workspace.checkpoints if workspace is not None else None
            app.state.hub = HubState(
                settings,
                store,
                registry,
                tickets,
                users,
                ledger,
                watchdog,
                mcp,
                checkpoints,
                plan_book,
                metrics,
                notifier,
                probe,
            )
            async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
                interrupted = await _close_interrupted_runs(store, cluster)
                await _run_what_waited(store, registry, interrupted)
                for session_id in await plan_book.in_progress():  # a stop cut their plans short
                    await registry.open(session_id)
                serving = asyncio.create_task(cluster.serve(registry)) if cluster else None
                watching = asyncio.create_task(watchdog.run())
                log.info("agent hub %s ready: %s", settings.version, _startup_line(settings))
                # What start-up made (modules, schemas, ~130k objects) lives as long as the process:
                # out of the collector's full passes, which otherwise took ~100 ms each and stalled
                # every stream of the process at once.
                gc.collect()
                gc.freeze()
                try:
                    yield
                finally:
                    watching.cancel()
                    if serving is not None:
                        serving.cancel()
                    await registry.close_all()  # runs store their ends while the database is open

    return Starlette(
        routes=[
            *rest.routes,
            *approvals_api.routes,
            *checkpoints_api.routes,
            *plans_api.routes,
            *metrics_api.routes,
            *approve_page.routes,
            *sse.routes,
            *agui.routes,
            *ws.routes,
            Mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console"),
        ],
        middleware=[
            Middleware(
                Authenticate,
                api_key=settings.internal_api_key,
                tickets=tickets,
                tokens=TokenVerifier(
                    settings.auth_jwt_secret,
                    settings.auth_jwks_url,
                    settings.auth_jwt_issuer,
                    settings.auth_jwt_audience,
                ),
            )
        ],
        exception_handlers={HTTPException: errors.http_error, Exception: errors.server_error},
        lifespan=lifespan,
    )


def _startup_line(settings: Settings) -> str:
    """What an operator checks first: which model, which files, which database."""
    workspace = settings.workspace_root or "none (tools run in the IDE)"
    database = settings.database_url.split("@")[-1]  # never a password
    model = (
        "the built-in demo model (--demo-llm)"
        if settings.demo_llm
        else f"model {settings.llm_model} at {settings.llm_proxy_url}"
    )
    return (
        f"{model}, "
        f"tool calls {settings.tool_call_format}, workspace {workspace}, database {database}"
    )


async def _join_cluster(settings: Settings, metrics: HubMetrics) -> Cluster | None:
    if settings.bus_url is None:
        return None
    bus = RedisBus(
        settings.bus_url,
        settings.bus_prefix,
        lease_seconds=settings.bus_lease_seconds,
        keep_frames=settings.resume_max_frames,
        keep_seconds=settings.resume_seconds,
        on_lag=metrics.bus_lag,
    )
    await bus.start()
    log.info("hub process %s joined the cluster at %s", bus.instance_id, settings.bus_url)
    return Cluster(bus)


async def _close_interrupted_runs(store: Store, cluster: Cluster | None) -> list[str]:
    """Runs still marked running died with their process; in a cluster, only those whose
    owner's lease has lapsed (another process may be running the rest right now)."""
    interrupted = []
    for session_id in await store.running_sessions():
        if cluster is None or await cluster.bus.claim(session_id) == cluster.bus.instance_id:
            interrupted.append(session_id)
            log.warning("session %s: its run was interrupted by a stop of the hub", session_id)
    await store.mark_interrupted(interrupted, INTERRUPTED_NOTE)
    if cluster is not None:
        for session_id in interrupted:
            await cluster.bus.release(session_id)
    return interrupted


async def _run_what_waited(store: Store, registry: SessionRegistry, sessions: list[str]) -> None:
    """Messages that were queued behind an interrupted run run now, not at the next visit."""
    for session_id in sessions:
        if await store.queued_messages(session_id):
            await registry.open(session_id)


def _command_sandbox(settings: Settings) -> CommandSandbox:
    sandbox = CommandSandbox.choose(settings.command_sandbox)
    if sandbox.mode == "none":
        log.warning("AGENT_RUNTIME__COMMAND_SANDBOX=none: commands run unsandboxed on this host")
    elif sandbox.mode is None:
        log.warning("bubblewrap (bwrap) is not installed: execute_command will be refused")
    return sandbox


def _checkpoints(settings: Settings, root: Path) -> Checkpoints | None:
    if not settings.workspace_checkpoints:
        return None
    if shutil.which("git") is None:
        log.warning("git is not installed: the workspace's changes are not checkpointed")
        return None
    # One repository per root: a checkpoint of one tree must never be restored into another.
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return Checkpoints(root, settings.workspace_checkpoint_dir / key)


def _approval_notifier(settings: Settings) -> ApprovalNotifier | None:
    if settings.approval_webhook_url is None or settings.approval_webhook_secret is None:
        return None
    public = settings.public_url or f"http://{settings.host}:{settings.port}"
    if settings.public_url is None and settings.host in ("0.0.0.0", "::"):
        log.warning(
            "approval links will point at %s, which no phone can open: set "
            "AGENT_RUNTIME__PUBLIC_URL to how people reach this hub",
            public,
        )
    return ApprovalNotifier(
        settings.approval_webhook_url,
        settings.approval_webhook_secret,
        public,
        settings.internal_api_key or settings.approval_webhook_secret,
    )
