"""How long a container's preStop hook runs, read from a values file or a container spec: kubelet runs it on
every kill (probe kills and pod deletion alike) inside the grace period (`killContainer` in
pkg/kubelet/kuberuntime/kuberuntime_container.go).

A `sleep` action lasts its seconds; an `exec` of a plain `sleep N` (directly or through `sh -c`) lasts N s; any
other hook's duration cannot be known from the spec and is taken as 0 s, with a note saying so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vllmgen import workloads, yamlio

#: The largest preStopSleepSeconds read (int32 seconds, as the API's other seconds fields): beyond it, junk.
MAX_SECONDS = 2**31 - 1


@dataclass(frozen=True)
class PreStop:
    seconds: float = 0.0
    note: str = ""  # set when the hook's duration is unknown (then `seconds` is 0)


def from_container(container: dict, doc: yamlio.Document, path: tuple) -> PreStop:
    """`lifecycle.preStop` of a Kubernetes container, read by `workloads` (lint reads the same); a hook of the
    wrong shape is refused."""
    problems: list = []
    hook = workloads.read_pre_stop(container.get("lifecycle"), path + ("lifecycle",), problems)
    if problems:
        raise doc.error(problems[0].path, problems[0].message)
    return PreStop(hook.seconds, hook.note)


def _whole_seconds(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SECONDS
