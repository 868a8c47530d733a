"""Kubelet's probe rules as a pure discrete-event state machine, one method per kubelet function
(docs/upstream-facts.md#kubelet-probes):

- `_do_probe`: `doProbe` in pkg/kubelet/prober/worker.go, a straight list of early returns (no container in the
  status yet, a new container stores the initial result, on hold, not running, initial delay, startup gating),
  then the count against the thresholds; `Worker` holds what `worker.run` keeps (a ticker anchored at pod sync,
  the manual-trigger channel of one);
- `_set_result`: `Set` in pkg/kubelet/prober/results/results_manager.go (an update only on change) and the probe
  cases of `syncLoopIteration` in pkg/kubelet/kubelet.go: a readiness update sets Ready at once
  (`statusManager.SetContainerReadiness`, even while the pod worker waits in a kill), a startup update sets
  Started (`SetContainerStartup`), then the pod is synced; liveness syncs it only on Failure;
- `_sync`: one pod-worker sync. `podWorkerLoop` in pkg/kubelet/pod_workers.go first waits in
  `podCache.GetNewerThan(uid, lastSyncTime)` for a PLEG relist that started after the previous sync ended (relists
  every `pleg_delay`, genericPlegRelistPeriod = 1 s in pkg/kubelet/kubelet.go); requests that arrive meanwhile
  join the waiting one. Then `UpdatePodStatus` in pkg/kubelet/prober/prober_manager.go (Started, Ready, the manual
  readiness trigger while started but not Ready), then `computePodActions`/`SyncPod` in
  pkg/kubelet/kuberuntime/kuberuntime_manager.go: a container whose liveness or startup failed is killed and
  started again, behind `doBackOff`; a container that exited under restartPolicy Never ends the pod (Ready false
  at this sync, the one PLEG's ContainerDied event causes, not at the exit);
- `_on_delete`: the pod's deletion (`SyncTerminatingPod` in kubelet.go): `StopLivenessAndStartup`, then `killPod`
  with the deletion grace period while the readiness worker keeps probing.
How a kill runs (grace period, preStop, SIGTERM, SIGKILL) and the crash-loop back-off are in `runtime`.

No I/O and no clock: a driver asks `run_until(t)` for the probes to start, executes them (against a recorded
timeline or a real server) and reports each answer with `complete(...)`. Times are seconds; t = 0 is when the
first container started.

Worker tickers are Go's `time.Ticker`: a tick that finds the worker busy waits in the channel and later ones are
dropped, and a probe that ends at a tick's instant ended just after it (it started just after its own trigger),
so that tick is one of the dropped ones.

Versions (`KubeletModel.version`): 1.35 to 1.37 give a restarted container the Started value of the one it
replaced (`convertToAPIContainerStatuses` in pkg/kubelet/kubelet_pods.go with the 1.35 KEP-4781 gate
ChangeContainerStatusOnKubeletRestart off, its default; kubernetes/kubernetes#141155), until the startup worker's
next run sees the new container: liveness and readiness may probe it before its startup probe ran. Fixed in 1.38
(kubernetes/kubernetes#141342).

Left out on purpose: the start-up jitter of a kubelet younger than one period; the jitter of PLEG, of the resync
and of the pod worker's requeues (KubeletModel fixes them at their usual values); the relists' phase after a
restart (a later container's start and exit are seen `pleg_delay` after them, between the 1 s relists from t =
0); the phase of kubelet's 2 s housekeeping (taken as ticking at even seconds); kubelet restarts (what KEP-4781
is about); exec/tcpSocket/grpc handlers."""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass

from vllmgen.emulator import runtime
from vllmgen.emulator.model import PodProbes, ProbeSpec

SUCCESS, FAILURE, UNKNOWN = "Success", "Failure", "Unknown"
#: A probe that errored (a body that stalled after the headers, three times): doProbe throws it away.
DISCARDED = "Error"
#: The value a worker publishes when it first sees a container (worker.go `initialValue`).
INITIAL_RESULT = {"readiness": FAILURE, "liveness": SUCCESS, "startup": UNKNOWN}


#: The newest Kubernetes release the project validates against (kubernetes-validate's schemas in pyproject.toml).
DEFAULT_KUBELET_VERSION = "1.37"
#: The oldest release modelled: the manual readiness run after startup success exists since 1.21
#: (kubernetes/kubernetes#98376).
OLDEST_KUBELET_MINOR = 21
#: 1.35 added the ChangeContainerStatusOnKubeletRestart gate (KEP-4781, default off), whose Started inheritance by
#: container name also reached restarted containers (kubernetes/kubernetes#141155) ...
INHERITS_STARTED_FROM = 35
#: ... until kubernetes/kubernetes#141342 (merged 2026-08, first in 1.38) kept it to the same container ID.
INHERITS_STARTED_UNTIL = 38


def minor(version: str) -> int:
    """The N of a "1.N" kubelet version (checked by `parse_version`)."""
    return int(version.split(".")[1])


def parse_version(text: str) -> str | None:
    """"1.N" (a patch "1.N.P" or a leading "v" is accepted and dropped) or None when it is not one modelled."""
    parts = text.strip().lstrip("v").split(".")
    if len(parts) not in (2, 3) or parts[0] != "1" or not all(p.isdigit() for p in parts[1:]):
        return None
    if int(parts[1]) < OLDEST_KUBELET_MINOR:
        return None
    return f"1.{int(parts[1])}"


@dataclass(frozen=True)
class KubeletModel:
    """Timing constants of the emulated kubelet and cluster (defaults: a long-running kubelet of the newest
    release the project validates against)."""

    #: PLEG relists every second: a container that starts or exits is seen (and the pod synced) up to 1 s later.
    pleg_delay: float = 1.0
    #: Pod workers resync every --sync-frequency (1 min; kubelet adds up to 50 % jitter, left out here).
    resync_period: float = 60.0
    #: From a Ready change or a deletion to proxies routing accordingly (EndpointSlice controller, then
    #: kube-proxy): about a second in a healthy cluster.
    endpoint_delay: float = 1.0
    #: Since about 1.32 (kubernetes/kubernetes#119089) a manual readiness run restarts the ticker from then.
    ticker_reset_on_trigger: bool = True
    min_grace: float = runtime.MIN_GRACE_S
    backoff_initial: float = runtime.BACKOFF_INITIAL_S
    backoff_max: float = runtime.BACKOFF_MAX_S
    #: The kubelet's minor release (1.N), for the behaviour that changed between releases.
    version: str = DEFAULT_KUBELET_VERSION

    @property
    def inherits_started(self) -> bool:
        """A restarted container inherits Started from the one it replaced (kubernetes/kubernetes#141155)."""
        return INHERITS_STARTED_FROM <= minor(self.version) < INHERITS_STARTED_UNTIL

    def shown(self) -> dict:
        """The constants a user may want to change (each has a probe-check option), for the report."""
        return {"pleg_delay": self.pleg_delay, "resync_period": self.resync_period,
                "endpoint_delay": self.endpoint_delay, "kubelet_version": self.version}


@dataclass(frozen=True)
class ProbeStart:
    """A probe request the driver must make now."""

    id: int
    kind: str
    spec: ProbeSpec
    start: float
    container: int  # 0 = the first container, 1 after the first restart, ...
    container_time: float  # seconds since that container started (where to read a recorded timeline)
    container_alive: bool  # False once the container has exited: the request can only be refused
    cause: str  # "tick", "trigger" (manual readiness run), "initial" (worker start)


@dataclass
class ProbeRecord:
    id: int
    kind: str
    start: float
    cause: str
    container: int
    path: str
    port: int
    end: float | None = None
    result: str | None = None  # Success / Failure / Error (discarded)
    detail: str = ""  # "200", "503", "refused", "timeout after 5 s", ...


@dataclass(frozen=True)
class Event:
    time: float
    what: str  # container-start, started, ready, not-ready, kill, deleted, sigterm, container-exit, back-off,
    #            terminated
    detail: str = ""


@dataclass
class Worker:
    spec: ProbeSpec
    next_tick: float
    tick_pending: bool = False
    trigger_pending: bool = False
    busy: bool = False
    stopped: bool = False
    container: int | None = None
    on_hold: bool = False
    last_result: str | None = None
    result_run: int = 0

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass
class Container:
    index: int
    start: float
    visible_at: float  # when the pod sync after PLEG's relist puts it in the status cache
    floor_start: float  # startedAt as the status manager keeps it: truncated to whole seconds
    exit_at: float = math.inf
    kill: runtime.KillPlan | None = None


def first_tick(lead: float, period: float) -> float:
    """The first tick of a ticker started at -lead that can matter: ticks fall at -lead + k * period (k >= 1) and
    any before -period finds no container. math.fmod is exact, so a huge lead costs nothing and keeps its phase."""
    if lead < period:
        return -lead + period
    return -math.fmod(lead, period)


class Kubelet:
    """The prober of one container. Drive with `run_until` / `complete`; read `records`, `events`."""

    def __init__(self, pod: PodProbes, model: KubeletModel = KubeletModel(), *, lead: float = 0.0,
                 wall_offset: float = 0.0, sigterm_exit: float | None = None, delete_at: float | None = None,
                 self_exit: float | None = None):
        """`lead`: seconds the pod was synced (workers started) before the container started; it fixes every
        ticker's phase. `wall_offset`: the wall-clock time at t = 0 (its fraction matters: startedAt is
        truncated to the second). `sigterm_exit`: seconds the server needs to exit after SIGTERM (None: it
        uses the whole grace period). `delete_at`: when the pod is deleted (None: never). `self_exit`: seconds
        after each start when the container exits by itself (None: never)."""
        self.pod = pod
        self.model = model
        self.wall_offset = wall_offset
        self.sigterm_exit = sigterm_exit
        self.self_exit = self_exit
        self.now = -min(lead, max((p.period for p in pod.probes()), default=0.0))
        self._queue: list = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self.records: list[ProbeRecord] = []
        self.events: list[Event] = []
        self._inflight: dict[int, tuple[Worker, ProbeRecord]] = {}
        self._starts: list[ProbeStart] = []
        self.results: dict[str, tuple[int, str]] = {}  # probe kind -> (container, result) as resultsManager
        self.started = False  # status-manager cache: container Started
        self._inherited: int | None = None  # the container that inherited Started (1.35-1.37)
        self.ready = False  # pod Ready
        self.terminated = False  # the pod is over: restartPolicy Never and the container exited, or deleted
        self.deleting = False  # deletionTimestamp set
        self.restarts = 0
        self.kills = 0  # liveness and startup kills (a deletion's kill is not one)
        self.backoff = runtime.CrashBackoff(model.backoff_initial, model.backoff_max)
        self._killing = False  # the pod worker is inside killContainer / killPod
        self._requeue_at: tuple[float, str] | None = None  # the pod worker's work-queue entry (one per pod)
        self._last_sync = -math.inf  # podWorkerLoop's lastSyncTime: when the previous sync ended
        self._waiting: str | None = None  # a sync waiting in GetNewerThan for a fresh relist (its reason)
        self.containers: list[Container] = []
        self.workers = {p.kind: Worker(p, next_tick=first_tick(lead, p.period)) for p in pod.probes()}
        self._new_container(0.0)
        for w in self.workers.values():  # worker.run(): doProbe once at once, then on every tick
            self._push(self.now, "probe", (w, "initial"))
            self._push(w.next_tick, "tick", w)
        if delete_at is not None:
            self._push(delete_at, "delete", None)

    # --- event queue -------------------------------------------------------------------------------------
    def _push(self, t: float, action: str, arg=None) -> None:
        """Events due at the same instant run in the order pushed, except a probe's answer, which runs last: the
        probe started just after whatever triggered it, so a tick or a relist at its nominal end came first."""
        heapq.heappush(self._queue, (t, action == "done", next(self._seq), action, arg))

    def next_time(self) -> float:
        return self._queue[0][0] if self._queue and not self.terminated else math.inf

    def run_until(self, t: float) -> list[ProbeStart]:
        """Process every event due by `t`; return the probe requests to start (in time order)."""
        while self._queue and self._queue[0][0] <= t and not self.terminated:
            when, _, _, action, arg = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            getattr(self, "_on_" + action)(arg)
        self.now = max(self.now, t)
        starts, self._starts = self._starts, []
        return starts

    def complete(self, probe_id: int, success: bool | None, end: float, detail: str = "") -> None:
        """The answer to probe `probe_id` arrived at `end` (>= its start); `success` None: the prober errored
        (kubelet retried it and threw the result away)."""
        self._push(end, "done", (probe_id, success, detail, end))

    def _event(self, what: str, detail: str = "") -> None:
        self.events.append(Event(self.now, what, detail))

    def _on_event(self, arg) -> None:
        self._event(*arg)

    # --- containers and the status cache -----------------------------------------------------------------
    @property
    def container(self) -> Container:
        return self.containers[-1]

    def _new_container(self, t: float) -> None:
        wall = self.wall_offset + t
        c = Container(len(self.containers), t, t + self.model.pleg_delay, math.floor(wall) - self.wall_offset)
        self.containers.append(c)
        self._push(t, "event", ("container-start", "first start" if c.index == 0 else f"restart {c.index}"))
        self._push(c.visible_at, "sync", "PLEG: container started")
        if self.self_exit is not None:
            self._push(t + self.self_exit, "self_exit", c)

    def _status(self) -> tuple[Container | None, bool]:
        """The container the status cache shows (the newest one a PLEG relist has seen) and whether it shows it
        running (an exit, too, is seen one relist later)."""
        for c in reversed(self.containers):
            if self.now >= c.visible_at:
                return c, self.now < c.exit_at + self.model.pleg_delay
        return None, False

    # --- worker loop (worker.run) ------------------------------------------------------------------------
    def _on_tick(self, w: Worker) -> None:
        if w.stopped:
            return
        w.next_tick += w.spec.period
        self._push(w.next_tick, "tick", w)
        if w.busy:
            w.tick_pending = True  # a ticker holds at most one missed tick
        else:
            self._do_probe(w, "tick")

    def _trigger(self, w: Worker) -> None:
        """Non-blocking send on manualTriggerCh (buffer 1)."""
        if w.busy:
            w.trigger_pending = True
        else:
            self._on_probe((w, "trigger"))

    def _on_probe(self, arg) -> None:
        w, cause = arg
        if w.stopped:
            return
        if w.busy:
            if cause == "trigger":
                w.trigger_pending = True
            return
        if cause == "trigger" and self.model.ticker_reset_on_trigger:
            self._reset_ticker(w)
        self._do_probe(w, cause)

    def _reset_ticker(self, w: Worker) -> None:
        w.tick_pending = False  # Go 1.23 timers: Reset drops a tick not yet received
        w.next_tick = self.now + w.spec.period
        self._queue = [e for e in self._queue if not (e[3] == "tick" and e[4] is w)]
        heapq.heapify(self._queue)
        self._push(w.next_tick, "tick", w)

    def _loop_again(self, w: Worker) -> None:
        """After doProbe returns, the select takes what is waiting (a trigger first; Go picks at random)."""
        if w.trigger_pending:
            w.trigger_pending = False
            self._on_probe((w, "trigger"))
        elif w.tick_pending:
            w.tick_pending = False
            self._do_probe(w, "tick")

    # --- doProbe ------------------------------------------------------------------------------------------
    def _do_probe(self, w: Worker, cause: str) -> None:
        w.busy = True  # a trigger sent while doProbe runs waits in the channel
        if not self._probe_body(w, cause):
            w.busy = False
            self._loop_again(w)

    def _probe_body(self, w: Worker, cause: str) -> bool:
        """worker.doProbe up to sending the request; True when a request was sent."""
        c, running = self._status()
        if c is None:
            return False  # "Probe target container not found": the status cache has no container yet
        if w.container != c.index:  # a new container: store the initial result, clear onHold
            w.container = c.index
            w.on_hold = False  # (lastResult and resultRun are kept, as in worker.go)
            self._set_result(w.kind, INITIAL_RESULT[w.kind], c.index)
        if w.on_hold:
            return False
        if not running:
            self._set_result(w.kind, FAILURE, c.index)  # "Non-running container probed"
            return False
        if self.now - c.floor_start < w.spec.initial_delay:
            return False  # int32(time.Since(startedAt).Seconds()) < initialDelaySeconds; startedAt in whole s
        if self.started and w.kind == "startup":
            return False  # startup stops probing once the container has started
        if not self.started and w.kind != "startup":
            return False  # readiness and liveness wait for startup
        pid = next(self._ids)
        rec = ProbeRecord(pid, w.kind, self.now, cause, c.index, w.spec.path, w.spec.port)
        self.records.append(rec)
        self._inflight[pid] = (w, rec)
        self._starts.append(ProbeStart(pid, w.kind, w.spec, self.now, c.index, self.now - c.start,
                                       self.now < c.exit_at, cause))
        return True

    def _on_done(self, arg) -> None:
        pid, success, detail, end = arg
        w, rec = self._inflight.pop(pid)
        rec.end, rec.detail = end, detail
        rec.result = DISCARDED if success is None else SUCCESS if success else FAILURE
        w.busy = False
        if success is not None and rec.container == w.container and not w.stopped:
            self._count(w, rec.result, rec.container)  # a prober error: "throw away the result"
        self._loop_again(w)

    def _count(self, w: Worker, result: str, container: int) -> None:
        if w.last_result == result:
            w.result_run += 1
        else:
            w.last_result, w.result_run = result, 1
        if (result == FAILURE and w.result_run < w.spec.failure_threshold) or \
                (result == SUCCESS and w.result_run < w.spec.success_threshold):
            return
        self._set_result(w.kind, result, container)
        if (w.kind == "liveness" and result == FAILURE) or w.kind == "startup":
            w.on_hold = True
            w.result_run = 0

    # --- results manager and the kubelet sync loop -------------------------------------------------------
    def _set_result(self, kind: str, value: str, container: int) -> None:
        key = (container, value)
        if self.results.get(kind) == key:
            return  # resultsManager.Set emits an update only on change
        self.results[kind] = key
        # syncLoopIteration (another goroutine) takes the update at this instant
        shown, _ = self._status()
        if kind == "readiness":
            if shown is not None and shown.index == container:
                self._set_ready(value == SUCCESS)  # statusManager.SetContainerReadiness, pod worker or not
            self._push(self.now, "sync", f"readiness {value}")
        elif kind == "startup":
            if shown is not None and shown.index == container:
                self._set_started(value == SUCCESS)  # statusManager.SetContainerStartup
            self._push(self.now, "sync", f"startup {value}")
        elif value == FAILURE:  # liveness: only Failure syncs the pod
            self._push(self.now, "sync", "liveness Failure")

    def _result(self, kind: str, c: Container) -> str | None:
        got = self.results.get(kind)
        return got[1] if got and got[0] == c.index else None

    def _set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            self._event("ready" if ready else "not-ready")

    def _set_started(self, started: bool, inherited: bool = False) -> None:
        if started and not self.started:
            self._event("started", f"container {self.container.index}")
        elif inherited and self._inherited != self.container.index:
            self._event("started", f"container {self.container.index} (inherited from the container it replaced, "
                        f"before its startup probe ran: kubelet {self.model.version}, kubernetes#141155)")
        if inherited:
            self._inherited = self.container.index
        self.started = started

    def _requeue(self, at: float, reason: str) -> None:
        """podWorkers.completeWork: the pod's one work-queue entry, replaced by every completed sync."""
        self._requeue_at = (at, reason)
        self._push(at, "requeue", (at, reason))

    def _on_requeue(self, entry) -> None:
        if self._requeue_at == entry:
            self._sync(entry[1])

    def _on_sync(self, reason: str) -> None:
        self._sync(reason)

    def _relist_after(self, t: float) -> float:
        """When the first PLEG relist that starts after `t` starts: relists run every `pleg_delay` from t = 0, and
        the relists that see a container start or exit (`pleg_delay` after it) are relists too."""
        period = self.model.pleg_delay
        if period <= 0 or t == -math.inf:
            return t
        candidates = [(math.floor(t / period) + 1) * period]
        for c in self.containers:
            candidates += [x for x in (c.visible_at, c.exit_at + period) if t < x < math.inf]
        return min(candidates)

    def _on_fresh(self, reason: str) -> None:
        self._waiting = None
        self._sync(reason)

    def _sync(self, reason: str) -> None:
        """One pod-worker sync: podCache.GetNewerThan(lastSyncTime) first (the status must come from a relist that
        started after the previous sync ended; a request while one waits joins it), then generateAPIPodStatus
        (UpdatePodStatus), then computePodActions / SyncPod."""
        if self.terminated or self.deleting or self._killing:
            return  # the pod worker is inside a kill, or terminating; the sync after it sees everything
        if self._waiting is not None:
            return  # the pod worker is already waiting for a relist; the waiting sync sees this too
        fresh = self._relist_after(self._last_sync)
        if fresh > self.now:
            self._waiting = reason
            self._push(fresh, "fresh", reason)
            return
        self._last_sync = self.now
        c, running = self._status()
        if c is None:
            return
        startup = self._result("startup", c)
        if not running:
            started = False
        elif startup is not None:
            started = startup == SUCCESS
        elif "startup" not in self.workers:
            started = True
        else:  # no result for this container yet: 1.35-1.37 keep the API status's Started of the container name
            started = self.started and c.index > 0 and self.model.inherits_started
        self._set_started(started, inherited=started and startup is None and "startup" in self.workers)
        ready = False
        if started:
            if self._result("readiness", c) == SUCCESS or "readiness" not in self.workers:
                ready = True
            else:  # "Trigger an immediate run of the readinessProbe to update ready state"
                self._trigger(self.workers["readiness"])
        self._set_ready(ready)
        if running:
            for kind in ("liveness", "startup"):
                if self._result(kind, c) == FAILURE:
                    self._kill(c, kind)
                    return
        elif self.pod.restart_policy == "Never":
            self._terminate("restartPolicy Never")  # the sync after PLEG's ContainerDied event
            return
        elif c is self.container:
            if not self._start_again(c.exit_at):
                return
        self._requeue(self.now + self.model.resync_period, "periodic resync")

    # --- kill, restart, deletion -------------------------------------------------------------------------
    def _kill(self, c: Container, reason: str, deletion: bool = False) -> None:
        """killContainer (a probe kill) or killPod (deletion): the pod worker waits until the container exits."""
        spec = self.workers[reason].spec if reason in self.workers else None
        grace = runtime.grace_period(spec.termination_grace if spec else None, self.pod.pod_grace,
                                     self.pod.pod_grace if deletion else None)
        plan = runtime.plan_kill(self.now, grace, self.pod.pre_stop.seconds, self.sigterm_exit, self.model.min_grace)
        c.kill, c.exit_at = plan, plan.exit
        self._killing = True
        self.kills += 0 if deletion else 1
        why = "pod deleted" if deletion else f"{reason} probe failed {spec.failure_threshold}x"
        stop = ("SIGKILL at the end of the grace period" if plan.graceful is not True
                else f"exits {plan.exit - plan.sigterm:g} s after SIGTERM")
        pre = f", preStop {plan.pre_stop:g} s" if plan.pre_stop else ""
        self._event("kill", f"{why}; grace {grace:g} s{pre}, {stop}")
        self._push(plan.sigterm, "event", ("sigterm", f"SIGKILL due at {plan.sigkill:.3f} s"))
        last_exit = self.containers[c.index - 1].exit_at if c.index > 0 else None  # the status SyncPod began with
        self._push(plan.exit, "exit", (c, last_exit))

    def _on_exit(self, arg) -> None:
        c, last_exit = arg
        plan = c.kill
        how = (f"{plan.exit - plan.sigterm:g} s after SIGTERM" if plan.graceful
               else "killed by SIGKILL at the end of the grace period")
        self._event("container-exit", f"container {c.index}, {how}")
        self._killing = False
        self._last_sync = self.now  # SyncPod returns once killContainer has (and the start, if any)
        if self.deleting:
            self._terminate("pod deleted")
            return
        if self.pod.restart_policy == "Never":
            self._push(self.now + self.model.pleg_delay, "sync", "PLEG: container died")
            return
        if self._start_again(last_exit):
            self._requeue(self.now + self.model.resync_period, "periodic resync")
        else:
            self._push(self.now + self.model.pleg_delay, "sync", "PLEG: container died")

    def _on_self_exit(self, c: Container) -> None:
        """The container's process exits by itself: PLEG's next relist sees it and the pod worker syncs (a start
        behind doBackOff, or the end of a restartPolicy Never pod). A container being killed already is left to
        its kill."""
        if c.kill is not None or self.now >= c.exit_at:
            return
        c.exit_at = self.now
        self._event("container-exit", f"container {c.index} exited by itself")
        self._push(self.now + self.model.pleg_delay, "sync", "PLEG: container exited")

    def _start_again(self, last_exit: float | None) -> bool:
        """SyncPod's start step behind doBackOff; False when the back-off holds it (the pod worker then retries at
        the back-off's expiry)."""
        expiry = runtime.do_backoff(self.backoff, last_exit, self.now)
        if expiry is None:
            self.restarts += 1
            self._new_container(self.now)
            return True
        if self._requeue_at is None or self._requeue_at[1] != "back-off expired":
            # the retries move the expiry to the back-off counted from this container's exit (the status a
            # later sync sees), which is when the next container starts
            self._event("back-off", f"crash-loop back-off {self.backoff.backoff:g} s: the next start waits until "
                        f"{self.container.exit_at + self.backoff.backoff:.3f} s")
        self._requeue(expiry, "back-off expired")
        return False

    def _terminate(self, why: str) -> None:
        self._set_started(False)
        self._set_ready(False)
        self._event("terminated", why)
        self.terminated = True

    def _on_delete(self, _arg) -> None:
        """The pod got a deletionTimestamp: SyncTerminatingPod stops liveness and startup at once (their results
        go with their workers), kills the container with the deletion grace period (preStop first), and the
        readiness worker keeps probing until the container has exited."""
        self.deleting = True
        self._event("deleted", f"grace {self.pod.pod_grace:g} s")
        for kind in ("liveness", "startup"):
            if kind in self.workers:
                self.workers[kind].stopped = True
                self.results.pop(kind, None)
        c = self.container
        if self.now >= c.exit_at:
            self._terminate("pod deleted")  # nothing runs (a restart was waiting for its back-off)
        elif c.kill is None:
            self._kill(c, "deletion", deletion=True)
        # else: a probe kill is stopping the container already; the exit ends the pod

    # --- summary -----------------------------------------------------------------------------------------
    def first(self, what: str) -> float | None:
        return next((e.time for e in self.events if e.what == what), None)

    def requests(self, until: float) -> list[ProbeRecord]:
        return [r for r in self.records if r.start <= until]
