"""The servers a spec can run (`server:`), each behind the `Server` interface of `servers.base`."""

from __future__ import annotations

from vllmgen.servers import triton, vllm
from vllmgen.servers.base import Command, Server

#: The spec's `server` value -> its implementation.
SERVERS: dict[str, Server] = {s.name: s for s in (vllm.SERVER, triton.SERVER)}


def of(spec: dict) -> Server:
    """The server of an effective spec."""
    return SERVERS[spec["server"]]


__all__ = ["SERVERS", "Command", "Server", "of"]
