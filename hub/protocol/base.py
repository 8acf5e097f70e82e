"""What every frame shares: frozen, extra keys ignored, `type` required on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

PROTOCOL_VERSION = "1.0"


def _type_is_required(schema: dict[str, Any]) -> None:
    # `type` has a default for building frames in code, but it is required on the wire.
    schema["required"] = ["type", *[f for f in schema.get("required", []) if f != "type"]]


class Frame(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra=_type_is_required,
        # The hub always sends every field, so the HubFrame schema lists them all as required.
        json_schema_serialization_defaults_required=True,
    )
