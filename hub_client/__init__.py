"""A typed Python client of the hub's session socket: `HubClient`.

Frames are the hub's own pydantic models (`hub.protocol`), so a client written with it is
checked by the type checker against the protocol the hub speaks.
"""

from hub_client.connection import HubClient, HubRefused

__all__ = ["HubClient", "HubRefused"]
