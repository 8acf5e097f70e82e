"""The protocol as one JSON Schema document (served at /protocol/schema.json)."""

from __future__ import annotations

from typing import Any

from hub.protocol.base import PROTOCOL_VERSION
from hub.protocol.client import client_frame_adapter
from hub.protocol.hub import hub_frame_adapter


def json_schema() -> dict[str, Any]:
    """One JSON Schema document; validate against `#/$defs/ClientFrame` or `HubFrame`."""
    defs: dict[str, Any] = {}
    for name, adapter, mode in (
        ("ClientFrame", client_frame_adapter, "validation"),
        ("HubFrame", hub_frame_adapter, "serialization"),
    ):
        union = adapter.json_schema(mode=mode)  # type: ignore[arg-type]
        defs.update(union.pop("$defs"))
        defs[name] = union
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "agent-hub/protocol.schema.json",
        "title": "agent hub socket protocol",
        "x-protocol-version": PROTOCOL_VERSION,
        "$defs": defs,
        "anyOf": [{"$ref": "#/$defs/ClientFrame"}, {"$ref": "#/$defs/HubFrame"}],
    }
