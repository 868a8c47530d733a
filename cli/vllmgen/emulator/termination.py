"""What a pod deletion means for traffic: when the pod left the Service's ready endpoints compared with SIGTERM,
and whether the server's drain fit in the grace period.

Kubelet and the endpoint controllers act on a deletion in parallel: kubelet runs preStop, then SIGTERM, then
SIGKILL at the end of the grace period (`killContainer` in pkg/kubelet/kuberuntime/kuberuntime_container.go),
while the EndpointSlice controller marks the endpoint `ready: false` because the pod is terminating and keeps it
`serving` while the pod is Ready (`podToEndpoint` in staging/src/k8s.io/endpointslice/utils.go); proxies follow
after `endpoint_delay`. Proxies route to serving-but-terminating endpoints only when a Service has no ready one
(kube-proxy's terminating-endpoint fallback), so `serving_until` matters to a Service with a single replica."""

from __future__ import annotations

from dataclasses import dataclass

from vllmgen.emulator.kubelet import Kubelet


@dataclass(frozen=True)
class Deletion:
    deleted_at: float
    grace: int  # the grace period the kill was given
    pre_stop: float  # seconds the preStop hook ran
    sigterm_at: float
    sigkill_at: float  # when SIGKILL was due
    exit_at: float
    drain_fit: bool | None  # the container exited before SIGKILL; None: unknown (SIGKILL assumed)
    out_of_endpoints_at: float | None  # proxies stop sending new connections (None: it was never in them)
    in_endpoints_after_sigterm: float | None  # seconds it still got new connections after SIGTERM
    serving_until: float | None  # end of the single-replica fallback traffic (None: not serving at deletion)


def _ready_at(k: Kubelet, t: float) -> tuple[bool, float | None]:
    """(Ready at `t`, when Ready last changed to False at or before `t`)."""
    ready, last_off = False, None
    for e in k.events:
        if e.time > t:
            break
        if e.what == "ready":
            ready = True
        elif e.what == "not-ready":
            ready, last_off = False, e.time
    return ready, last_off


def deletion(k: Kubelet, deleted_at: float | None, endpoint_delay: float) -> Deletion | None:
    """The deletion's course from a finished run (None: no deletion, or the run ended before the container
    exited)."""
    if deleted_at is None or k.first("terminated") is None:
        return None
    plan = k.container.kill
    if plan is None or plan.exit <= deleted_at:  # nothing ran at the deletion (a restart was backing off)
        return None
    ready, last_off = _ready_at(k, deleted_at)
    ever_ready = k.first("ready") is not None and k.first("ready") <= deleted_at
    if ready:
        out = deleted_at + endpoint_delay  # terminating: ready=false
        off = next(e.time for e in k.events if e.what == "not-ready" and e.time >= deleted_at)
        serving = off + endpoint_delay
    else:
        out = last_off + endpoint_delay if ever_ready else None
        serving = None
    after = None if out is None else max(0.0, out - plan.sigterm)
    return Deletion(deleted_at, plan.grace, plan.pre_stop, plan.sigterm, plan.sigkill, plan.exit, plan.graceful,
                    out, after, serving)
