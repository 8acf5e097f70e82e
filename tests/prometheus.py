"""A hub's `GET /metrics`, read with prometheus_client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.hub_process import HubProcess
from tests.socket_client import AUTH

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(hub: HubProcess) -> Samples:
    async with httpx.AsyncClient(base_url=hub.http_url, headers=AUTH) as client:
        reply = await client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
