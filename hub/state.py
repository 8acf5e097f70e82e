"""What the endpoints need, built once in the lifespan and kept on `app.state.hub`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from db.plans import PlanBook
from db.store import Store
from db.usage import UsageLedger
from hub.auth import TicketBook
from hub.config import Settings
from hub.llm_probe import LlmProbe
from hub.metrics import HubMetrics
from hub.registry import SessionRegistry
from hub.users import UserLimits
from hub.watchdog import SocketWatchdog
from hub.webhooks import ApprovalNotifier
from tools.mcp import McpServers
from tools.workspace import Checkpoints


@dataclass(frozen=True, slots=True)
class HubState:
    settings: Settings
    store: Store
    registry: SessionRegistry
    tickets: TicketBook
    users: UserLimits
    usage: UsageLedger
    watchdog: SocketWatchdog
    mcp: McpServers
    checkpoints: Checkpoints | None  # None: no workspace, or checkpoints are off
    plans: PlanBook
    metrics: HubMetrics
    approval_notifier: ApprovalNotifier | None
    llm_probe: LlmProbe


def hub_state(connection: HTTPConnection) -> HubState:
    state: HubState = connection.app.state.hub
    return state
