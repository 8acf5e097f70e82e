"""`GET /metrics`: the process's metrics in Prometheus's text format, for the internal key only
(they count every user's sessions)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.auth import principal_of
from hub.errors import ApiError
from hub.state import hub_state


async def metrics(request: Request) -> Response:
    if not principal_of(request).admin:
        raise ApiError(403, "metrics need the internal key (X-Internal-Auth)")
    body = generate_latest(hub_state(request).metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics)]
