"""The one shape in which anything reaches a session: a client frame and who sent it, and
the one answer it gets. Socket, SSE, REST and the cluster bus all speak these."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator

from agents.vocab import ClientRole, ErrorCode
from hub import protocol as p


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class Sender(_Value):
    role: ClientRole
    name: str  # in the audit trail: `ide:3f2a…`, `console:…`, `sse`, `rest`, + ` (user)`
    user: str | None = None  # the token's user; None: the internal key

    @classmethod
    def of(cls, role: ClientRole, client: str, user: str | None) -> Sender:
        return cls(role=role, name=client if user is None else f"{client} ({user})", user=user)


class Command(_Value):
    frame: p.ClientFrame
    sender: Sender


class Accepted(_Value):
    kind: Literal["accepted"] = "accepted"
    run_id: str | None = None  # the run this command started or continued
    stopped: bool = False  # a cancel stopped a turn


class Refused(_Value):
    kind: Literal["refused"] = "refused"
    code: ErrorCode
    message: str


Outcome = Annotated[Accepted | Refused, Discriminator("kind")]
