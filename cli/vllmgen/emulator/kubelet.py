"""Kubelet's probe rules as a pure discrete-event state machine (reference/kubelet-probes.md).

It reads like pkg/kubelet/prober/worker.go: one `Worker` per probe, started together at pod sync, each with a
ticker anchored there; `do_probe` is a straight list of early returns (container not visible yet, new container
-> seed the initial result, on hold, initial delay, startup gating); results count in runs against the
thresholds and are published only on change, which syncs the pod. The pod sync computes Started/Ready like
`UpdatePodStatus`, sends the readiness worker its manual trigger while started-but-not-ready, and kills the
container when liveness or startup has failed; the restart re-seeds every worker, so startup gates again.

No I/O and no clock: a driver asks `run_until(t)` for the probes to start, executes them (against a recorded
timeline or a real server) and reports each answer with `complete(...)`. Times are seconds; t = 0 is when the
first container started.

Left out on purpose: the start-up jitter of a kubelet younger than one period, PLEG's and the resync's jitter
(fixed at their usual values in KubeletModel), pod deletion (readiness during termination, preStop), probe
errors that kubelet discards (a body read failing after the status line), exec/tcpSocket/grpc handlers, and the
1.35-1.37 bug (#141155) where a restarted container skipped its startup probe."""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

from vllmgen.emulator.model import PodProbes, ProbeSpec

SUCCESS, FAILURE, UNKNOWN = "Success", "Failure", "Unknown"
#: The value a worker publishes when it first sees a container (worker.go `initialValue`).
INITIAL_RESULT = {"readiness": FAILURE, "liveness": SUCCESS, "startup": UNKNOWN}


@dataclass(frozen=True)
class KubeletModel:
    """Timing constants of the emulated kubelet (defaults: a current, long-running kubelet, 1.32+)."""

    #: PLEG relists every second: a started container is seen (and the pod synced) up to 1 s after it starts.
    pleg_delay: float = 1.0
    #: Pod workers resync every --sync-frequency (1 min; kubelet adds up to 50 % jitter, left out here).
    resync_period: float = 60.0
    #: Since about 1.32 (#119089) a manual readiness run restarts the ticker from that moment.
    ticker_reset_on_trigger: bool = True
    #: killContainer never gives less than minimumGracePeriodInSeconds.
    min_grace: float = 2.0
    #: CrashLoopBackOff: the first restart is immediate, then 10 s doubling to 5 min (reference: UNVERIFIED).
    backoff_initial: float = 10.0
    backoff_max: float = 300.0


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
    result: str | None = None  # Success / Failure
    detail: str = ""  # "200", "503", "refused", "timeout after 5 s", ...


@dataclass(frozen=True)
class Event:
    time: float
    what: str  # container-start, started, ready, not-ready, kill, container-exit, terminated
    detail: str = ""


@dataclass
class Worker:
    spec: ProbeSpec
    next_tick: float
    tick_pending: bool = False
    trigger_pending: bool = False
    busy: bool = False
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
    stop_at: float = math.inf
    killed: bool = False


class Kubelet:
    """The prober of one container. Drive with `run_until` / `complete`; read `records`, `events`."""

    def __init__(self, pod: PodProbes, model: KubeletModel = KubeletModel(), *, lead: float = 0.0,
                 wall_offset: float = 0.0, sigterm_exit: float | None = None):
        """`lead`: seconds the pod was synced (workers started) before the container started; it fixes every
        ticker's phase. `wall_offset`: the wall-clock time at t = 0 (its fraction matters: startedAt is
        truncated to the second). `sigterm_exit`: seconds the server needs to exit after SIGTERM (None: it
        uses the whole grace period)."""
        self.pod = pod
        self.model = model
        self.wall_offset = wall_offset
        self.sigterm_exit = sigterm_exit
        self.now = -lead
        self._queue: list = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self.records: list[ProbeRecord] = []
        self.events: list[Event] = []
        self._inflight: dict[int, tuple[Worker, ProbeRecord]] = {}
        self._starts: list[ProbeStart] = []
        self.results: dict[str, tuple[int, str]] = {}  # probe kind -> (container, result) as resultsManager
        self.started = False  # status-manager cache: container Started
        self.ready = False  # pod Ready
        self.terminated = False  # restartPolicy Never and the container exited
        self.restarts = 0
        self._resync_at: float | None = None
        self.containers: list[Container] = []
        self.workers = {p.kind: Worker(p, next_tick=-lead + p.period) for p in pod.probes()}
        self._new_container(0.0)
        for w in self.workers.values():  # worker.run(): doProbe once at once, then on every tick
            self._push(-lead, "probe", (w, "initial"))
            self._push(w.next_tick, "tick", w)

    # --- event queue -------------------------------------------------------------------------------------
    def _push(self, t: float, action: str, arg=None) -> None:
        heapq.heappush(self._queue, (t, next(self._seq), action, arg))

    def next_time(self) -> float:
        return self._queue[0][0] if self._queue else math.inf

    def run_until(self, t: float) -> list[ProbeStart]:
        """Process every event due by `t`; return the probe requests to start (in time order)."""
        while self._queue and self._queue[0][0] <= t and not self.terminated:
            when, _, action, arg = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            getattr(self, "_on_" + action)(arg)
        self.now = max(self.now, t)
        starts, self._starts = self._starts, []
        return starts

    def complete(self, probe_id: int, success: bool, end: float, detail: str = "") -> None:
        """The answer to probe `probe_id` arrived at `end` (>= its start)."""
        self._push(end, "done", (probe_id, success, detail, end))

    # --- containers --------------------------------------------------------------------------------------
    @property
    def container(self) -> Container:
        return self.containers[-1]

    def _new_container(self, t: float) -> None:
        wall = self.wall_offset + t
        c = Container(len(self.containers), t, t + self.model.pleg_delay, math.floor(wall) - self.wall_offset)
        self.containers.append(c)
        self._push(t, "event", ("container-start", "first start" if c.index == 0 else f"restart {c.index}"))
        self._push(c.visible_at, "sync", "PLEG: container started")

    def _visible(self) -> Container | None:
        """The container the status cache shows: the newest one whose start a sync has seen."""
        for c in reversed(self.containers):
            if self.now >= c.visible_at:
                return c
        return None

    def _on_event(self, arg) -> None:
        self.events.append(Event(self.now, *arg))

    # --- worker loop (worker.run) ------------------------------------------------------------------------
    def _on_tick(self, w: Worker) -> None:
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
        self._queue = [e for e in self._queue if not (e[2] == "tick" and e[3] is w)]
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
        c = self._visible()
        if c is None:
            return False  # "Probe target container not found": the status cache has no container yet
        if w.container != c.index:  # a new container: seed the initial result, clear onHold
            w.container = c.index
            w.on_hold = False  # (lastResult and resultRun are kept, as in worker.go)
            self._set_result(w.kind, INITIAL_RESULT[w.kind], c.index)
        if w.on_hold:
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
                                       self.now < c.stop_at, cause))
        return True

    def _on_done(self, arg) -> None:
        pid, success, detail, end = arg
        w, rec = self._inflight.pop(pid)
        result = SUCCESS if success else FAILURE
        rec.end, rec.result, rec.detail = end, result, detail
        w.busy = False
        if rec.container == w.container:
            self._count(w, result, rec.container)
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
        # The kubelet syncLoop (another goroutine) handles the update: a sync queued at this instant.
        if kind == "startup":
            if container == self._visible().index:
                self.started = value == SUCCESS  # statusManager.SetContainerStartup, then handleProbeSync
                if self.started:
                    self.events.append(Event(self.now, "started", f"container {container}"))
            self._push(self.now, "sync", f"startup {value}")
        elif kind == "readiness":
            self._push(self.now, "sync", f"readiness {value}")
        elif value == FAILURE:  # liveness: only Failure syncs the pod
            self._push(self.now, "sync", "liveness Failure")

    def _result(self, kind: str, c: Container) -> str | None:
        got = self.results.get(kind)
        return got[1] if got and got[0] == c.index else None

    def _on_sync(self, reason: str) -> None:
        self._sync(reason)

    def _on_resync(self, at: float) -> None:
        if self._resync_at == at:
            self._sync("periodic resync")

    def _sync(self, reason: str) -> None:
        """SyncPod: generateAPIPodStatus (UpdatePodStatus) then computePodActions."""
        c = self._visible()
        if c is None or self.terminated:
            return
        if c.killed:
            return  # the pod worker is blocked in killContainer; the sync after the restart catches up
        running = self.now < c.stop_at
        startup = self._result("startup", c)
        if not running:
            started = False
        elif startup is not None:
            started = startup == SUCCESS
        else:
            started = "startup" not in self.workers
        self.started = started
        ready = False
        if started:
            if self._result("readiness", c) == SUCCESS:
                ready = True
            elif "readiness" not in self.workers:
                ready = True
            else:  # "Trigger an immediate run of the readinessProbe to update ready state"
                self._trigger(self.workers["readiness"])
        self._set_ready(ready)
        self._resync_at = self.now + self.model.resync_period
        self._push(self._resync_at, "resync", self._resync_at)
        for kind in ("liveness", "startup"):
            if running and self._result(kind, c) == FAILURE:
                self._kill(c, kind)
                break

    def _set_ready(self, ready: bool) -> None:
        if ready != self.ready:
            self.ready = ready
            self.events.append(Event(self.now, "ready" if ready else "not-ready", ""))

    # --- kill and restart --------------------------------------------------------------------------------
    def _kill(self, c: Container, kind: str) -> None:
        spec = self.workers[kind].spec
        grace = spec.termination_grace if spec.termination_grace is not None else self.pod.pod_grace
        grace = max(float(grace), self.model.min_grace)
        stop = grace if self.sigterm_exit is None else min(grace, self.sigterm_exit)
        c.killed = True
        c.stop_at = self.now + stop
        self.events.append(Event(self.now, "kill", f"{kind} probe failed {spec.failure_threshold}x; "
                                 f"grace {grace:g} s, exits after {stop:g} s"))
        self._push(c.stop_at, "exit", c)

    def _on_exit(self, c: Container) -> None:
        self.events.append(Event(self.now, "container-exit", f"container {c.index}"))
        if self.pod.restart_policy == "Never":
            self.terminated = True
            self.started = False
            self._set_ready(False)
            self.events.append(Event(self.now, "terminated", "restartPolicy Never"))
            return
        self.restarts += 1
        n = self.restarts
        delay = 0.0 if n == 1 else min(self.model.backoff_initial * 2 ** (n - 2), self.model.backoff_max)
        self._push(self.now + delay, "restart", None)

    def _on_restart(self, _arg) -> None:
        self._new_container(self.now)

    # --- summary -----------------------------------------------------------------------------------------
    def first(self, what: str) -> float | None:
        return next((e.time for e in self.events if e.what == what), None)

    def requests(self, until: float) -> list[ProbeRecord]:
        return [r for r in self.records if r.start <= until]
