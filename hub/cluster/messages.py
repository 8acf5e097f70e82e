"""What hub processes send each other over the bus, as one discriminated union."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, TypeAdapter

from hub.session.commands import Accepted, Command, Outcome

__all__ = ["Accepted", "Command", "Outcome"]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class Attach(_Message):
    """A client on the asking process attaches to a session the receiver owns."""

    kind: Literal["attach"] = "attach"
    request_id: str
    reply_to: str
    session_id: str
    client: str
    resume: tuple[str, int] | None = None


class Detach(_Message):
    kind: Literal["detach"] = "detach"
    session_id: str
    client: str


class Submit(_Message):
    """A command for a session the receiver owns; `client`: the attached client that sent it."""

    kind: Literal["submit"] = "submit"
    request_id: str
    reply_to: str
    session_id: str
    command: Command
    client: str | None = None


class Result(_Message):
    """The answer to `Attach` or `Submit`, with the stream position to follow frames from."""

    kind: Literal["result"] = "result"
    request_id: str
    outcome: Outcome = Accepted()
    epoch: str = ""
    after: int = 0


class Reply(_Message):
    """A frame for one client attached through the receiver (a reply, not a broadcast)."""

    kind: Literal["reply"] = "reply"
    client: str
    text: str


BusMessage = Annotated[Attach | Detach | Submit | Result | Reply, Discriminator("kind")]
Request = Attach | Submit
_adapter: TypeAdapter[BusMessage] = TypeAdapter(BusMessage)


def encode(message: BusMessage) -> bytes:
    return message.model_dump_json().encode()


def decode(payload: bytes) -> BusMessage:
    return _adapter.validate_json(payload)
