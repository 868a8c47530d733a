"""How long a container's preStop hook runs, read from a values file or a container spec: kubelet runs it on
every kill (probe kills and pod deletion alike) inside the grace period (`killContainer` in
pkg/kubelet/kuberuntime/kuberuntime_container.go).

A `sleep` action lasts its seconds; an `exec` of a plain `sleep N` (directly or through `sh -c`) lasts N s; any
other hook's duration cannot be known from the spec and is taken as 0 s, with a note saying so."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from vllmgen import yamlio

#: Shells whose `-c "sleep N"` is read as a sleep of N s.
SHELLS = ("sh", "bash", "ash", "dash")
_SLEEP = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*;?\s*$")


@dataclass(frozen=True)
class PreStop:
    seconds: float = 0.0
    note: str = ""  # set when the hook's duration is unknown (then `seconds` is 0)


def _exec_sleep(command: Any) -> float | None:
    if not isinstance(command, list) or not all(isinstance(a, str) for a in command) or not command:
        return None
    name = PurePosixPath(command[0]).name
    if name == "sleep" and len(command) == 2 and re.fullmatch(r"\d+(?:\.\d+)?", command[1]):
        return float(command[1])
    if name in SHELLS and len(command) == 3 and command[1] == "-c":
        m = _SLEEP.match(command[2])
        return float(m.group(1)) if m else None
    return None


def from_container(container: dict, doc: yamlio.Document, path: tuple) -> PreStop:
    """`lifecycle.preStop` of a Kubernetes container."""
    lifecycle = container.get("lifecycle")
    hook = lifecycle.get("preStop") if isinstance(lifecycle, dict) else None
    if not isinstance(hook, dict):
        return PreStop()
    hpath = path + ("lifecycle", "preStop")
    if "sleep" in hook:
        seconds = hook["sleep"].get("seconds") if isinstance(hook["sleep"], dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise doc.error(hpath + ("sleep", "seconds"), f"must be a non-negative integer, not {seconds!r}")
        return PreStop(float(seconds))
    if "exec" in hook:
        slept = _exec_sleep(hook["exec"].get("command") if isinstance(hook["exec"], dict) else None)
        if slept is not None:
            return PreStop(slept)
        return PreStop(0.0, "the preStop exec hook's duration cannot be read from its command: taken as 0 s")
    handler = next(iter(hook), "?")
    return PreStop(0.0, f"the preStop {handler} hook's duration cannot be known: taken as 0 s")


def from_values(block: dict, doc: yamlio.Document, path: tuple) -> PreStop:
    """`<role>.preStopSleepSeconds` of a vllmgen values file (the chart renders it as a preStop sleep action)."""
    seconds = block.get("preStopSleepSeconds", 0)
    if seconds is None:
        return PreStop()
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise doc.error(path + ("preStopSleepSeconds",), f"must be a non-negative integer, not {seconds!r}")
    return PreStop(float(seconds))
