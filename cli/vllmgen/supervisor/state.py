"""What the supervisor knows about vLLM, and the pure decisions made from it.

Like the kubelet's probe worker, the decisions are plain functions of one immutable snapshot (plus "now"), so
they are trivial to test and a probe costs microseconds: the background monitor keeps the snapshot current,
the health server only reads it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Callable

from vllmgen.supervisor import progress, watchdog

#: /health must stay 503 this long before liveness fails: readiness drops on the first 503 (stop traffic at
#: once), liveness waits for the engine death to be confirmed (vLLM then exits by itself within 2-5 s).
DEAD_CONFIRM_S = 1.0
#: No successful /health for this long after the model was ready means vLLM is wedged. Under saturation on
#: 2 CPU cores /health answered within 22 ms (docs/upstream-facts.md#vllm-under-load), so 20 s is a huge margin.
WEDGED_AFTER_S = 20.0
#: A snapshot older than this is not trusted for readiness (the monitor polls every 0.25 s when ready).
STALE_AFTER_S = 3.0


class Phase(str, Enum):
    STARTING = "starting"  # supervisor up, vLLM not spawned yet
    LOADING = "loading"  # vLLM spawned, model not served yet (vLLM refuses connections until loaded)
    READY = "ready"  # model was served at least once; readiness may still drop (engine death, sleep)
    DRAINING = "draining"  # SIGTERM received: NotReady, endpoints drop the pod, then vLLM drains and stops
    EXITED = "exited"  # vLLM is gone


@dataclass(frozen=True)
class Snapshot:
    """Everything the decisions look at. Times are `time.monotonic()` seconds."""

    phase: Phase = Phase.STARTING
    phase_since: float = 0.0
    started_at: float = 0.0
    process_alive: bool = False
    listening: bool = False  # vLLM accepted the last connection
    health: int | None = None  # last /health status code, None when no answer
    health_bad_since: float | None = None  # first of the current run of non-200 /health answers
    model_listed: bool | None = None  # served model present in /v1/models
    adapters: tuple[str, ...] = ()  # the spec's LoRA adapters: each must be listed in /v1/models for readiness
    adapters_listed: tuple[str, ...] | None = None  # adapters /v1/models listed last (None: no answer yet)
    models_status: int | None = None  # last /v1/models status code (401 = API key mismatch)
    sleeping: bool | None = None  # None = unknown (no metric), treated as awake
    last_ok: float | None = None  # last /health 200
    last_poll: float | None = None  # last completed poll round
    ever_ready: bool = False
    ready_at: float | None = None  # when the model was first served
    draining: bool = False
    exit_code: int | None = None
    reason: str | None = None  # why the supervisor is stopping (or stopped)
    info: dict = field(default_factory=dict)  # pid, ports, model name: for /status only
    startup: progress.Progress | None = None  # the start as measured so far (supervisor/watch.py keeps it)
    startup_expected: progress.Expected | None = None  # what the spec estimates for it
    watch: watchdog.Watch = field(default_factory=watchdog.Watch)  # the serving watchdog (monitor keeps it)
    watch_cfg: watchdog.Config | None = None  # its windows from the spec; None: no watchdog


def engine_dead(s: Snapshot, now: float, confirm_s: float = DEAD_CONFIRM_S) -> bool:
    """vLLM answers /health with an error (503 = EngineDeadError) and has done so for `confirm_s`."""
    return (
        s.health is not None
        and s.health != 200
        and s.health_bad_since is not None
        and now - s.health_bad_since >= confirm_s
    )


def watch_verdict(s: Snapshot, now: float) -> tuple[str, str | None]:
    """The serving watchdog's verdict at `now` (ok when there is none)."""
    if s.watch_cfg is None:
        return watchdog.OK, None
    return watchdog.judge(s.watch, s.watch_cfg, now)


def started(s: Snapshot) -> bool:
    """Startup probe: the model has been served once and vLLM still runs."""
    return s.ever_ready and s.process_alive and s.phase is not Phase.EXITED


def missing_adapters(s: Snapshot) -> list[str]:
    """The spec's adapters that /v1/models did not list last time (all of them before it first answered)."""
    listed = s.adapters_listed or ()
    return [a for a in s.adapters if a not in listed]


def readiness(s: Snapshot, now: float) -> tuple[bool, list[str]]:
    """Ready = vLLM answers, engine alive, model and every adapter listed, engine awake, not draining, snapshot
    fresh."""
    reasons: list[str] = []
    if s.draining or s.phase is Phase.DRAINING:
        reasons.append("draining: the pod is shutting down")
    if not s.process_alive or s.phase is Phase.EXITED:
        reasons.append("vLLM is not running" + (f" ({s.reason})" if s.reason else ""))
    elif not s.ever_ready:
        reasons.append("vLLM is still loading the model")
    else:
        if not s.listening:
            reasons.append("vLLM does not accept connections")
        elif s.health != 200:
            reasons.append(f"vLLM /health answered {s.health}" if s.health else "vLLM /health did not answer")
        if s.model_listed is False:
            reasons.append(
                "/v1/models refused the API key (401)" if s.models_status == 401
                else "the served model is not listed in /v1/models"
            )
        if s.sleeping:
            reasons.append("the engine is asleep")
        verdict, why = watch_verdict(s, now)
        if verdict in (watchdog.STALLED, watchdog.WEDGED) and not s.draining:
            reasons.append(why)
        if s.last_poll is None or now - s.last_poll > STALE_AFTER_S:
            reasons.append("no fresh answer from vLLM")
    missing = missing_adapters(s)
    if missing:
        reasons.append(f"LoRA adapters not listed in /v1/models: {', '.join(missing)}")
    return (not reasons, reasons)


def liveness(s: Snapshot, now: float) -> tuple[bool, list[str]]:
    """Live = vLLM runs and its engine is neither dead nor wedged. Loading, busy or draining is alive."""
    if s.phase is Phase.STARTING:
        return True, []
    if not s.process_alive or s.phase is Phase.EXITED:
        return False, ["vLLM is not running" + (f" ({s.reason})" if s.reason else "")]
    if engine_dead(s, now):
        return False, [f"engine dead: vLLM /health answered {s.health} for {now - s.health_bad_since:.1f} s"]
    if s.ever_ready and not s.draining and s.last_ok is not None and now - s.last_ok > WEDGED_AFTER_S:
        return False, [f"vLLM wedged: no /health 200 for {now - s.last_ok:.1f} s"]
    verdict, why = watch_verdict(s, now)
    if verdict == watchdog.WEDGED and not s.draining:
        return False, [why]
    return True, []


def status(s: Snapshot, now: float) -> dict:
    """The /status document: phase, seconds in phase, the three probe answers and their reasons, and the start's
    progress (phase, estimate of the time left, stall watch)."""
    ready, ready_why = readiness(s, now)
    live, live_why = liveness(s, now)
    return {
        "phase": s.phase.value,
        "secondsInPhase": round(now - s.phase_since, 3),
        "secondsSinceStart": round(now - s.started_at, 3),
        "started": started(s),
        "ready": ready,
        "live": live,
        "reasons": {"ready": ready_why, "live": live_why},
        "vllm": {
            "running": s.process_alive,
            "listening": s.listening,
            "health": s.health,
            "modelListed": s.model_listed,
            **({"adapters": {"expected": list(s.adapters), "served": list(s.adapters_listed or ()),
                             "missing": missing_adapters(s)}} if s.adapters or s.adapters_listed else {}),
            "sleeping": s.sleeping,
            "secondsSinceHealthy": None if s.last_ok is None else round(now - s.last_ok, 3),
            "exitCode": s.exit_code,
            **s.info,
        },
        "draining": s.draining,
        "reason": s.reason,
        **({"watchdog": watchdog.status(s.watch, s.watch_cfg, now)} if s.watch_cfg is not None else {}),
        **({"startup": progress.status(s.startup, s.startup_expected, now)}
           if s.startup is not None and s.startup_expected is not None else {}),
    }


class Store:
    """The one current snapshot. Writers replace it under a lock; readers just take the reference.

    `changed` is notified on every update, so a held /startupz wakes the moment the model is served.
    `on_phase(old, new, snapshot, seconds_in_old)` is called (outside the lock) for every phase change.
    """

    def __init__(self, on_phase: Callable[[Phase, Phase, Snapshot, float], None] | None = None):
        now = time.monotonic()
        self.snapshot = Snapshot(phase_since=now, started_at=now)
        self.changed = threading.Condition()
        self._on_phase = on_phase
        self.listeners: list[Callable[[], None]] = []  # called after every update (e.g. to wake an event loop)

    def update(self, only_if: Callable[[Snapshot], bool] | None = None, **changes) -> Snapshot:
        """Apply `changes` (if `only_if(current)` holds); a new `phase` resets `phase_since`."""
        with self.changed:
            old = self.snapshot
            if only_if is not None and not only_if(old):
                return old
            now = time.monotonic()
            if "phase" in changes and changes["phase"] is not old.phase:
                changes["phase_since"] = now
            new = replace(old, **changes)
            self.snapshot = new
            self.changed.notify_all()
        for listener in self.listeners:
            listener()
        if new.phase is not old.phase and self._on_phase:
            self._on_phase(old.phase, new.phase, new, now - old.phase_since)
        return new

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        """Block until `predicate(snapshot)` holds or `timeout` passes; return the snapshot either way."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.snapshot):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return self.snapshot
