"""The servers a spec can run (`server:`), each a module of this package exposing `SERVER`, an instance of
`servers.base.Server`. Modules load on first use, so commands that never ask a server do not pay for them."""

from __future__ import annotations

from importlib import import_module

#: The spec's `server` values; each names the module that implements it (the schema's `server` enum matches).
NAMES = ("vllm", "triton")


def get(name: str):
    """The `Server` called `name` (one of NAMES)."""
    if name not in NAMES:
        raise KeyError(name)
    return import_module(f"vllmgen.servers.{name}").SERVER


def of(spec: dict):
    """The server of an effective spec."""
    return get(spec["server"])
