"""Probe math: the startup, readiness and liveness probes of a role, and the drain window behind
terminationGracePeriodSeconds. Plain functions and named constants, one reason each.

Kubelet facts used (docs/upstream-facts.md#kubelet-probes): periods and timeouts are whole seconds (minimum
1); the readiness probe runs at once when the startup probe succeeds; liveness waits for its next tick; any HTTP
status outside 200-399, a refused connection or a timeout counts as a failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from vllmgen.budget import (CEILING_FACTOR, IMAGE_PULL_SECONDS, Budget, stall_window, startup_budget,
                            supervised_ceiling)
from vllmgen.roles import HEALTH_PORT_NAME, VLLM_PORT_NAME
from vllmgen.serving import note as watchdog_note, windows as watchdog_windows

# --- measured facts (docs/upstream-facts.md#vllm-under-load) ------------------------------------------------
#: Worst vLLM /health latency seen with 16 concurrent completions saturating the server (21.5 ms).
MEASURED_HEALTH_MAX_UNDER_LOAD_S = 0.0215

# --- plain mode: probes straight to vLLM ----------------------------------------------------------------------
#: Startup period: the pod turns Ready at most one period after the model (llm-d's readiness-probe guide uses
#: 30 s: up to 30 s of lag); 1 s is kubelet's minimum and a refused connection costs a loading vLLM nothing.
PLAIN_STARTUP_PERIOD_S = 1
#: Startup timeout: while loading, vLLM refuses connections at once; once it listens it answers in ms.
PLAIN_STARTUP_TIMEOUT_S = 1
#: Readiness timeout headroom over the worst measured latency under load: tokenization and detokenization
#: share the API server's event loop, so a busy pod must not look unready (50 x 21.5 ms -> 2 s).
READINESS_TIMEOUT_MARGIN = 50
#: Liveness is 4x more patient than readiness: a wrong restart costs a whole model load.
LIVENESS_TIMEOUT_MARGIN = 200
#: Readiness period: traffic stops reaching a broken pod within period x failureThreshold = 10 s.
PLAIN_READINESS_PERIOD_S = 5
#: Two consecutive failures before NotReady: one slow answer under a load spike does not drop the pod.
PLAIN_READINESS_FAILURES = 2
#: Liveness period: a dead engine is restarted within period x failureThreshold = 30 s.
LIVENESS_PERIOD_S = 10
#: Three consecutive failures before a restart: a restart is expensive, a false one more so.
LIVENESS_FAILURES = 3

# --- supervised mode: probes to the supervisor's `health` port -----------------------------------------------
#: /startupz long-poll: one request per 10 s (0.1 req/s) while loading; the held request answers 200 within
#: milliseconds of the model being ready, so the period no longer sets the lag.
STARTUP_LONGPOLL_PERIOD_S = 10
#: The supervisor answers a held /startupz this long before kubelet's timeout fires (a timed-out probe is a
#: failure and an event); long enough for the answer to cross the pod's loopback, short enough to keep the gap small.
STARTUP_HOLD_MARGIN_S = 0.25
#: Readiness period: /readyz folds vLLM's /health, the served-model check, sleep and drain into one answer at
#: 0.2 req/s. /readyz and /livez answer from memory in microseconds, but the supervisor shares the pod's CPUs
#: with a saturated vLLM: one answer took over 1 s on 2 cores at a load average of 8, so the timeouts use the
#: same margins as plain mode and readiness needs two failures (an exited vLLM fails the container at once).
SUPERVISED_READINESS_PERIOD_S = 5
SUPERVISED_READINESS_FAILURES = 2

# --- rollout ------------------------------------------------------------------------------------------------------
def rollout_deadline(startup_seconds: int) -> int:
    """Deployment progressDeadlineSeconds: Kubernetes' default 600 s makes `kubectl rollout status` fail for any
    model that loads longer, although the pod is healthy; give a new pod the whole time kubelet allows its start
    plus the image pull."""
    return startup_seconds + IMAGE_PULL_SECONDS


# --- install --------------------------------------------------------------------------------------------------
#: Helm's own default for `--timeout` (5m0s): `helm install --wait` (or `--rollback-on-failure`) fails, or rolls
#: back, a release whose model is still loading after it.
HELM_DEFAULT_TIMEOUT_S = 300


def install_timeout(startup_seconds: list[int]) -> int:
    """`helm install --wait --timeout`: as long as the rollout of the slowest role takes, its startup budget (the
    ceiling in supervised mode) plus the image pull (which alone is Helm's default)."""
    return rollout_deadline(max(startup_seconds, default=0))


def install_command(timeout_s: int, release: str = "NAME", chart: str = "charts/vllm") -> str:
    """The install line a user copies: waits for every pod to turn Ready, as long as the slowest may take."""
    return f"helm install {release} {chart} -f values.yaml --wait --timeout {timeout_s}s"


# --- drain window -----------------------------------------------------------------------------------------------
#: vLLM's own teardown after its drain (engine and worker exit): 8.3 s measured on CPU with --shutdown-timeout.
VLLM_TEARDOWN_S = 10
#: After vLLM's time is up the supervisor SIGKILLs its process group and exits; time for that and for logs.
SUPERVISOR_KILL_GRACE_S = 5


def http_probe(path: str, port, period: int, timeout: int, failures: int, *, initial_delay: int = 0,
               headers: list | None = None) -> dict:
    """A Kubernetes httpGet probe with every field explicit (no kubelet defaults left implicit)."""
    http = {"path": path, "port": port}
    if headers:
        http["httpHeaders"] = headers
    return {
        "httpGet": http,
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "successThreshold": 1,
        "failureThreshold": failures,
    }


def startup_failures(budget_s: int, period_s: int, initial_delay_s: int = 0) -> int:
    """failureThreshold so that initialDelay + period x failureThreshold covers the budget."""
    return max(1, math.ceil(max(0, budget_s - initial_delay_s) / period_s))


def timeout_for(margin: float) -> int:
    """Whole-second timeout with `margin` x the worst measured /health latency under load (kubelet min 1 s)."""
    return max(1, math.ceil(round(MEASURED_HEALTH_MAX_UNDER_LOAD_S * margin, 6)))


def startup_hold_seconds(timeout_s: float) -> float:
    """How long the supervisor holds a /startupz request whose probe times out after `timeout_s`."""
    return max(0.0, timeout_s - STARTUP_HOLD_MARGIN_S)


def model_aware_path(spec: dict) -> str:
    """Plain mode's startup/readiness path: /v1/models (the model-aware endpoint of llm-d's guide); with an API
    key it answers 401, so /health, which on current vLLM only answers once the model is loaded."""
    return "/health" if spec["engine"].get("apiKeySecretName") else "/v1/models"


@dataclass(frozen=True)
class RoleProbes:
    startup: dict
    readiness: dict
    liveness: dict
    budget: Budget
    notes: dict  # probe name -> one-line explanation of its numbers
    ceiling: int | None = None  # seconds kubelet allows the start when it is not the budget (supervised mode)

    @property
    def startup_seconds(self) -> int:
        """How long kubelet lets the container start before it restarts it."""
        return self.budget.seconds if self.ceiling is None else self.ceiling

    def as_dict(self) -> dict:
        return {"startup": self.startup, "readiness": self.readiness, "liveness": self.liveness}


def probes_for(spec: dict, role: str) -> RoleProbes:
    """The three probes of one role, with the reason for their numbers."""
    budget = startup_budget(spec)
    if spec["probes"]["mode"] == "supervised":
        return _supervised(spec, budget)
    return _plain(spec, budget)


@dataclass(frozen=True)
class PlainTiming:
    """The numbers every plain-mode probe set shares, whatever the server's paths."""

    startup_failures: int
    readiness_timeout: int
    liveness_timeout: int


def plain_probes(budget: Budget, ready_path: str, live_path: str,
                 notes: Callable[[PlainTiming], dict]) -> RoleProbes:
    """Plain mode: probes straight to the server's port `vllm`. Startup and readiness on `ready_path` (model-aware),
    liveness on `live_path`; `notes` explains them in the server's words."""
    t = PlainTiming(startup_failures(budget.seconds, PLAIN_STARTUP_PERIOD_S),
                    timeout_for(READINESS_TIMEOUT_MARGIN), timeout_for(LIVENESS_TIMEOUT_MARGIN))
    return RoleProbes(
        startup=http_probe(ready_path, VLLM_PORT_NAME, PLAIN_STARTUP_PERIOD_S, PLAIN_STARTUP_TIMEOUT_S,
                           t.startup_failures),
        readiness=http_probe(ready_path, VLLM_PORT_NAME, PLAIN_READINESS_PERIOD_S, t.readiness_timeout,
                             PLAIN_READINESS_FAILURES),
        liveness=http_probe(live_path, VLLM_PORT_NAME, LIVENESS_PERIOD_S, t.liveness_timeout, LIVENESS_FAILURES),
        budget=budget,
        notes=notes(t),
    )


def _plain(spec: dict, budget: Budget) -> RoleProbes:
    path = model_aware_path(spec)
    why_path = "401 under --api-key, so /health" if path == "/health" else "model-aware"
    return plain_probes(budget, path, "/health", lambda t: {
        "startup": f"{path} ({why_path}) every {PLAIN_STARTUP_PERIOD_S} s: Ready follows the model within "
                   f"~1 s; failureThreshold {t.startup_failures} x {PLAIN_STARTUP_PERIOD_S} s covers the startup "
                   f"budget {budget.arithmetic()}",
        "readiness": f"timeout {t.readiness_timeout} s = {READINESS_TIMEOUT_MARGIN} x the worst /health latency "
                     f"under load (21.5 ms), rounded up; NotReady after {PLAIN_READINESS_FAILURES} x "
                     f"{PLAIN_READINESS_PERIOD_S} s",
        "liveness": f"/health is 503 once the engine dies; timeout {t.liveness_timeout} s = "
                    f"{LIVENESS_TIMEOUT_MARGIN} x the worst latency under load; restart after {LIVENESS_FAILURES} x "
                    f"{LIVENESS_PERIOD_S} s",
    })


def _supervised(spec: dict, budget: Budget) -> RoleProbes:
    period = STARTUP_LONGPOLL_PERIOD_S
    r_timeout, l_timeout = timeout_for(READINESS_TIMEOUT_MARGIN), timeout_for(LIVENESS_TIMEOUT_MARGIN)
    ceiling = supervised_ceiling(budget)
    s_fail = startup_failures(ceiling, period)
    stall = stall_window(spec)
    covers = (f"the explicit budget {budget.seconds} s" if budget.explicit else
              f"the ceiling {ceiling} s = {CEILING_FACTOR} x the startup budget {budget.arithmetic()}")
    return RoleProbes(
        startup=http_probe("/startupz", HEALTH_PORT_NAME, period, period, s_fail),
        readiness=http_probe("/readyz", HEALTH_PORT_NAME, SUPERVISED_READINESS_PERIOD_S, r_timeout,
                             SUPERVISED_READINESS_FAILURES),
        liveness=http_probe("/livez", HEALTH_PORT_NAME, LIVENESS_PERIOD_S, l_timeout, LIVENESS_FAILURES),
        budget=budget,
        ceiling=ceiling,
        notes={
            "startup": f"long-poll: the supervisor holds each request up to {period - STARTUP_HOLD_MARGIN_S:g} s "
                       f"and answers 200 within ms of the model being ready; timeout = period = {period} s "
                       f"(0.1 req/s); failureThreshold {s_fail} x {period} s covers {covers}. The supervisor "
                       f"ends a start that shows no progress (no log line, no downloaded byte, no CPU time, no "
                       f"storage read) for the stall window {stall.arithmetic()}, so a stuck pod restarts then and "
                       f"one that progresses is never restarted before the ceiling",
            "readiness": f"/readyz: vLLM healthy, model served, engine awake and stepping, not draining; timeout "
                         f"{r_timeout} s tolerates a CPU-starved supervisor; NotReady after "
                         f"{SUPERVISED_READINESS_FAILURES} x {SUPERVISED_READINESS_PERIOD_S} s. "
                         f"{watchdog_note(watchdog_windows(spec))}",
            "liveness": f"/livez fails only when vLLM exited or its engine is dead or wedged, never while loading "
                        f"or busy; timeout {l_timeout} s; restart after {LIVENESS_FAILURES} x {LIVENESS_PERIOD_S} s",
        },
    )


@dataclass(frozen=True)
class Drain:
    endpoint_s: int  # keep serving while endpoints drop the pod
    shutdown_s: int  # vLLM --shutdown-timeout: in-flight requests finish
    teardown_s: int  # vLLM engine and workers exit
    kill_grace_s: int  # supervisor: SIGKILL of the group, exit
    pre_stop_sleep_s: int  # plain mode waits in a preStop sleep; the supervisor waits itself

    @property
    def total(self) -> int:
        return self.endpoint_s + self.shutdown_s + self.teardown_s + self.kill_grace_s

    def arithmetic(self) -> str:
        parts = [f"{self.endpoint_s} endpoint drain", f"{self.shutdown_s} vLLM drain",
                 f"{self.teardown_s} vLLM teardown"]
        if self.kill_grace_s:
            parts.append(f"{self.kill_grace_s} supervisor kill grace")
        return " + ".join(parts) + f" = {self.total} s"


def drain_window(spec: dict) -> Drain:
    """terminationGracePeriodSeconds = the time a terminating pod needs to lose no accepted request."""
    engine = spec["engine"]
    supervised = spec["probes"]["mode"] == "supervised"
    endpoint = engine["endpointDrainSeconds"]
    return Drain(
        endpoint_s=endpoint,
        shutdown_s=engine["shutdownTimeoutSeconds"],
        teardown_s=VLLM_TEARDOWN_S,
        kill_grace_s=SUPERVISOR_KILL_GRACE_S if supervised else 0,
        pre_stop_sleep_s=0 if supervised else endpoint,
    )
