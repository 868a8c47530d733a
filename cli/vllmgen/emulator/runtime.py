"""What kubelet's container runtime manager does around a kill, as pure functions of time.

- `grace_period`: `setTerminationGracePeriod` (pkg/kubelet/kuberuntime/kuberuntime_container.go);
- `plan_kill`: `killContainer` with `executePreStopHook` (same file): the preStop hook runs inside the grace
  period, its whole seconds are taken from it, the rest never drops below 2 s, then StopContainer sends SIGTERM
  and SIGKILL when the rest has run out;
- `CrashBackoff` and `do_backoff`: client-go's `flowcontrol.Backoff` (util/flowcontrol/backoff.go) as
  `doBackOff` in pkg/kubelet/kuberuntime/kuberuntime_manager.go consults it before starting a container again,
  and as `HandlePodCleanups` (pkg/kubelet/kubelet_pods.go) garbage-collects it with `backOff.GC()` on every
  housekeeping tick: an entry not updated for twice the maximum back-off is dropped, so the next restart starts
  over at the initial back-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: killContainer gives the stop signal at least this long (minimumGracePeriodInSeconds).
MIN_GRACE_S = 2.0
#: A container's first crash-loop back-off (kubelet.go backOffPeriod); it doubles on every later restart...
BACKOFF_INITIAL_S = 10.0
#: ... up to this cap (kuberuntime MaxContainerBackOff).
BACKOFF_MAX_S = 300.0
#: HandlePodCleanups (and with it backOff.GC) runs on every housekeeping tick (housekeepingPeriod in kubelet.go).
HOUSEKEEPING_S = 2.0


def grace_period(probe_grace: int | None, pod_grace: int, deletion_grace: int | None = None) -> int:
    """setTerminationGracePeriod: a deleted pod's deletionGracePeriodSeconds wins; a liveness or startup kill uses
    the probe's terminationGracePeriodSeconds when set (even above the pod's); else the pod's."""
    if deletion_grace is not None:
        return deletion_grace
    if probe_grace is not None:
        return probe_grace
    return pod_grace


@dataclass(frozen=True)
class KillPlan:
    """The course of one killContainer call started at `start` (seconds on the emulator's clock)."""

    start: float
    grace: int  # the grace period it was given
    pre_stop: float  # seconds the preStop hook ran (0: no hook)
    sigterm: float  # when StopContainer sent the stop signal
    sigkill: float  # when SIGKILL is due
    exit: float  # when the container exited
    graceful: bool | None  # exited before SIGKILL; None: unknown (how fast the server exits is not known)

    @property
    def left(self) -> float:
        """Seconds StopContainer waited for an exit after SIGTERM before SIGKILL."""
        return self.sigkill - self.sigterm


def plan_kill(start: float, grace: int, pre_stop: float, sigterm_exit: float | None,
              min_grace: float = MIN_GRACE_S) -> KillPlan:
    """killContainer: the preStop hook runs for at most the grace period (executePreStopHook waits that long, and
    only when the grace period is above 0); the grace period loses the hook's elapsed time in whole seconds and is
    floored at `min_grace`; the container exits `sigterm_exit` s after SIGTERM, or at SIGKILL when that is later
    or unknown."""
    ran = min(pre_stop, float(grace)) if pre_stop > 0 and grace > 0 else 0.0
    left = max(float(grace - math.floor(ran)), min_grace)
    sigterm = start + ran
    sigkill = sigterm + left
    if sigterm_exit is None:
        return KillPlan(start, grace, ran, sigterm, sigkill, sigkill, None)
    graceful = sigterm_exit < left
    return KillPlan(start, grace, ran, sigterm, sigkill, sigterm + sigterm_exit if graceful else sigkill, graceful)


@dataclass
class CrashBackoff:
    """flowcontrol.Backoff with the one key kubelet uses for this container (no jitter: kubelet builds it with
    NewBackOff). `backoff` is None until the first `next`."""

    initial: float = BACKOFF_INITIAL_S
    maximum: float = BACKOFF_MAX_S
    backoff: float | None = None
    last_update: float = -math.inf

    def _expired(self, event_time: float) -> bool:
        """hasExpired: an entry untouched for twice the cap is forgotten."""
        return event_time - self.last_update > 2 * self.maximum

    def in_backoff_since(self, event_time: float, now: float) -> bool:
        """IsInBackOffSince: `now - eventTime < backoff` (Go's exact nanoseconds), written as `now < expiry` so that
        a retry at the expiry (`do_backoff`'s answer, the same float) is never still in back-off."""
        if self.backoff is None or self._expired(event_time):
            return False
        return now < event_time + self.backoff

    def gc(self, now: float, housekeeping: float = HOUSEKEEPING_S) -> None:
        """Backoff.GC on the housekeeping ticks up to `now` (taken at multiples of `housekeeping`): the entry goes
        at the first tick more than twice the cap after its last update (`now.Sub(entry.lastUpdate) >
        p.maxDuration*2`)."""
        if self.backoff is None:
            return
        limit = self.last_update + 2 * self.maximum
        first_tick = (math.floor(limit / housekeeping) + 1) * housekeeping
        if first_tick <= now:
            self.backoff, self.last_update = None, -math.inf

    def next(self, event_time: float, now: float) -> None:
        """Next: start at `initial`, else double, capped at `maximum`."""
        if self.backoff is None or self._expired(event_time):
            self.backoff = self.initial
        else:
            self.backoff = min(self.backoff * 2, self.maximum)
        self.last_update = now


def do_backoff(backoff: CrashBackoff, last_exit: float | None, now: float) -> float | None:
    """doBackOff before a start at `now`, given the FinishedAt of the newest exited container in the pod status
    the sync started from (None: no exited container). Returns None to start now, else the back-off's expiry:
    the pod worker requeues the pod then (`completeWork` with the back-off error's expiry; its jitter of up to
    half the wait is left out)."""
    if last_exit is None:
        return None
    backoff.gc(now)
    if backoff.in_backoff_since(last_exit, now):
        return last_exit + backoff.backoff
    backoff.next(last_exit, now)
    return None
