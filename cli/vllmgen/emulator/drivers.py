"""Drivers of the kubelet rules: replay (a recorded timeline answers, deterministic) and live (real HTTP
requests on kubelet's schedule, optionally recording every endpoint densely as it goes)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from vllmgen.emulator import httpprobe
from vllmgen.emulator.kubelet import Kubelet, KubeletModel, ProbeStart
from vllmgen.emulator.model import PodProbes
from vllmgen.emulator.timeline import HELD_MIN_S, Observation, Timeline, from_observations, is_long_poll
from vllmgen.errors import InputError

#: Seconds between two recording requests to one endpoint: transitions land within 0.1 s in the timeline.
RECORD_INTERVAL_S = 0.1
#: Observation kinds that mean something answered at the address (as opposed to refused or silent).
ANSWERED_KINDS = ("status", "error", "stall")


@dataclass
class Run:
    """One configuration's emulated run: the kubelet state after it, plus what it ran against."""

    pod: PodProbes
    kubelet: Kubelet
    mode: str  # "replay" or "live"
    duration: float
    lead: float
    source: str  # timeline file or URL
    model_ready_at: float | None = None  # when the model was truly ready (from the timeline), if known
    notes: list[str] = field(default_factory=list)
    wall_start: float | None = None  # live: Unix time of t = 0, to match the timeline with server logs
    model: KubeletModel = KubeletModel()
    delete_at: float | None = None


def deletion_horizon(pod: PodProbes, model: KubeletModel, delete_at: float) -> float:
    """A time by which a pod deleted at `delete_at` has surely exited: a kill already under way may have started
    up to one kill earlier, and a kill lasts at most its preStop, its grace period and the 2 s floor."""
    grace = max([pod.pod_grace] + [p.termination_grace or 0 for p in pod.probes()])
    return delete_at + 2 * (grace + pod.pre_stop.seconds + model.min_grace) + model.pleg_delay + 1.0


def _notes(pod: PodProbes) -> list[str]:
    return [pod.pre_stop.note] if pod.pre_stop.note else []


# --- replay ----------------------------------------------------------------------------------------------

def outcome(timeline: Timeline, s: ProbeStart, port: int | None = None) -> tuple[bool | None, float, str]:
    """(success, answer time, detail) of a probe against a recorded timeline, as kubelet's http prober: a body
    that stalls after the headers is a prober error, tried again at once (up to 3 attempts, each its full
    timeout) and then thrown away (success None)."""
    timeout = float(s.spec.timeout)
    if not s.container_alive:
        return False, s.start + 0.001, "refused (container exited)"
    ep = timeline.find(s.spec.port if port is None else port, s.spec.path)
    start = s.start
    for _ in range(httpprobe.PROBE_ATTEMPTS):
        resp = ep.respond(s.container_time + (start - s.start))
        latency = resp.end - resp.start
        if resp.kind == "timeout" or latency >= timeout:
            return False, start + timeout, f"timeout after {timeout:g} s"
        if resp.kind == "refused":
            return False, start + latency, "refused"
        if resp.kind == "error":
            return False, start + latency, "error (no valid HTTP answer)"
        if resp.kind == "status":
            ok = 200 <= resp.status < 400
            detail = str(resp.status) + (f" (held {latency:.2f} s)" if resp.held else "")
            return ok, start + latency, detail
        start += timeout  # a stall: the body read ends with the client's timeout
    return None, start, f"discarded: the body stalled after the headers {httpprobe.PROBE_ATTEMPTS} times"


def check_endpoints(pod: PodProbes, timeline: Timeline, port_map: dict[int, int] | None = None) -> None:
    for p in pod.probes():
        port = (port_map or {}).get(p.port, p.port)
        if timeline.find(port, p.path) is None:
            mapped = f" (--port-map {p.port}={port})" if port != p.port else ""
            raise InputError(timeline.source, "/endpoints", f"no answers recorded for GET :{port}{p.path}{mapped} "
                             f"(the {p.kind} probe of {pod.name}); recorded: {timeline.describe()}")


def replay(pod: PodProbes, timeline: Timeline, *, lead: float = 0.0, wall_offset: float = 0.0,
           model: KubeletModel = KubeletModel(), until: float | None = None,
           port_map: dict[int, int] | None = None, delete_at: float | None = None) -> Run:
    """Run the kubelet rules against a recorded timeline (deterministic for given lead and wall_offset). A probe
    on port P reads the timeline's endpoint on `port_map[P]` when mapped. With `delete_at` the run goes on until
    the deleted pod's container has exited."""
    ports = port_map or {}
    check_endpoints(pod, timeline, ports)
    end = timeline.duration if until is None else until
    horizon = end if delete_at is None else max(end, deletion_horizon(pod, model, delete_at))
    k = Kubelet(pod, model, lead=lead, wall_offset=wall_offset, sigterm_exit=timeline.sigterm_exit,
                delete_at=delete_at, self_exit=timeline.exit_at)
    while True:
        t = k.next_time()
        if t > horizon:
            break
        for s in k.run_until(t):
            ok, answered, detail = outcome(timeline, s, ports.get(s.spec.port, s.spec.port))
            k.complete(s.id, ok, answered, detail)
    if delete_at is not None:
        end = max(end, k.first("terminated") or horizon)
    k.run_until(end)
    return Run(pod, k, "replay", end, lead, timeline.source, timeline.ready_at, _notes(pod),
               model=model, delete_at=delete_at)


# --- live ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Where live requests go: the pod's address (from --url) and how probe ports map to real ports."""

    scheme: str
    host: str
    port_map: dict[int, int]

    def url(self, spec_port: int, path: str, scheme: str = "HTTP") -> str:
        port = self.port_map.get(spec_port, spec_port)
        s = "https" if scheme == "HTTPS" else self.scheme
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{s}://{host}:{port}{path}"


def parse_target(url: str, pods: list[PodProbes], port_map: dict[int, int] | None = None) -> Target:
    """--url http://HOST (each probe on its own port, as kubelet on the pod IP) or http://HOST:PORT (every probe
    port mapped there, when the probes use one port); --port-map entries take precedence."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("--url", "", f"{url!r} is not an http(s)://HOST[:PORT] URL")
    if parts.path not in ("", "/"):
        raise InputError("--url", "", f"give the pod's address without a path (probe paths come from the "
                         f"configuration), not {url!r}")
    try:
        socket.getaddrinfo(parts.hostname, None)
    except socket.gaierror as exc:
        raise InputError("--url", "", f"cannot resolve host {parts.hostname!r}: {exc.strerror}") from None
    mapping = dict(port_map or {})
    ports = sorted({p.port for pod in pods for p in pod.probes()} - set(mapping))
    try:
        url_port = parts.port
    except ValueError:
        raise InputError("--url", "", f"bad port in {url!r}") from None
    if url_port is not None and ports:
        if len(ports) > 1:
            raise InputError("--url", "", f"the probes use ports {', '.join(map(str, ports))}: give --url "
                             f"without a port (pod-IP style) or map them with --port-map FROM=TO")
        mapping[ports[0]] = url_port
    return Target(parts.scheme, parts.hostname, mapping)


@dataclass
class LiveResult:
    run: Run
    timeline: Timeline | None  # what the endpoints answered (when recording)
    answered: bool = False  # something at the address gave an answer (even a broken one) to some request


#: How often a live run reports its progress (once a second: the elapsed time moves on screen).
PROGRESS_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Progress:
    """Where a live run stands: seconds elapsed of the run's horizon, each probe's last answer, and the pod's
    kubelet state."""

    elapsed: float
    horizon: float
    probes: dict[str, str]  # probe kind -> its last answer (`200`, `503`, `refused`, ...; `-` before the first)
    started: bool
    ready: bool


def progress_line(p: Progress) -> str:
    """`probe-check 42 s / 180 s | startup 503 | readiness - | liveness - | not started`."""
    states = " | ".join(f"{kind} {answer}" for kind, answer in p.probes.items())
    pod = "Ready" if p.ready else "started, not Ready" if p.started else "not started"
    return f"probe-check {p.elapsed:.0f} s / {p.horizon:.0f} s | {states} | {pod}"


def _with_probe_answers(polled: dict, probed: dict) -> dict:
    """The pollers' samples with the probes' own answers merged in: a poller a busy machine delayed may have sampled
    an endpoint after the probe that turned the pod Ready, and a replay must see what that probe saw. A long-poll
    endpoint keeps its poller's series alone: held requests overlap, and its answers are stamped when they came."""
    out = {}
    for key in set(polled) | set(probed):
        series = polled.get(key, [])
        if series and is_long_poll(series):
            out[key] = series
        else:
            out[key] = sorted(series + probed.get(key, []), key=lambda o: o.start)
    return out


def live(pods: list[PodProbes], target: Target, duration: float, *, lead: float = 0.0,
         record_interval: float | None = RECORD_INTERVAL_S, record: bool = False,
         truth: tuple[int, str] | None = None, truth_interval: float | None = None,
         stop_after_ready: float | None = None, model: KubeletModel = KubeletModel(),
         delete_at: float | None = None, on_progress: Callable[[Progress], None] | None = None) -> LiveResult:
    """Probe a real server with the first configuration's probes on kubelet's schedule for `duration` s
    (t = 0 is now: the container is taken to start now). With `record`, every endpoint any configuration
    probes is also polled every `record_interval` s (None: only the probes' own requests are recorded) and
    the answers are returned as a Timeline. `truth` (port, path): an endpoint whose first success marks the
    model as truly ready (e.g. vLLM's /health), polled every `truth_interval` s (default: record_interval).
    `stop_after_ready`: end the run that many seconds after the pod turned Ready. `delete_at`: the pod is
    deleted then (modelled: the server gets no signal) and the run lasts until its container would have exited.
    `on_progress` is called with a Progress at least every PROGRESS_INTERVAL_S and after every probe answer."""
    return asyncio.run(_live(pods, target, duration, lead, record_interval, record, truth,
                             truth_interval or record_interval, stop_after_ready, model, delete_at, on_progress))


async def _live(pods, target, duration, lead, record_interval, record, truth, truth_interval, stop_after_ready,
                model, delete_at, on_progress=None) -> LiveResult:
    pod = pods[0]
    loop = asyncio.get_running_loop()
    t0 = loop.time()  # the event loop's clock is time.monotonic, as the prober's
    wall0 = time.time()

    def now() -> float:
        return loop.time() - t0

    k = Kubelet(pod, model, lead=lead, wall_offset=wall0, delete_at=delete_at)
    horizon = duration if delete_at is None else max(duration, deletion_horizon(pod, model, delete_at))
    prober = httpprobe.Prober()
    observations: dict[tuple[int, str], list[Observation]] = {}
    probe_obs: dict[tuple[int, str], list[Observation]] = {}
    kinds: set[str] = set()
    pollers = []
    stop = asyncio.Event()
    answers = {p.kind: "-" for p in pod.probes()}

    def report_progress() -> None:
        if on_progress is not None:
            on_progress(Progress(max(now(), 0.0), horizon, dict(answers), k.started, k.ready))

    def observe(into: dict, key: tuple[int, str], tried) -> None:
        for started, o in tried:
            begin = started - t0
            into.setdefault(key, []).append(Observation(begin, begin + o.latency, o.kind, o.status))
            kinds.add(o.kind)

    async def probe(s: ProbeStart) -> None:
        start = now()
        got, tried = await prober.probe(target.url(s.spec.port, s.spec.path, s.spec.scheme), s.spec.headers,
                                        float(s.spec.timeout))
        end = now()
        observe(probe_obs, (s.spec.port, s.spec.path.split("?")[0]), tried)
        detail = got.detail
        if got.kind == "status" and end - start >= HELD_MIN_S:
            detail += f" (held {end - start:.2f} s)"
        elif got.kind == "stall":
            detail = f"discarded: {got.detail}, {len(tried)} attempts"
        k.complete(s.id, got.success, end, detail)
        answers[s.kind] = str(got.status) if got.kind == "status" else got.kind
        report_progress()

    async def poll(port: int, path: str, scheme: str, headers, timeout: float, interval: float) -> None:
        key = (port, path.split("?")[0])
        while not stop.is_set():
            start = now()
            _, tried = await prober.probe(target.url(port, path, scheme), headers, timeout, attempts=1)
            observe(observations, key, tried)
            try:
                await asyncio.wait_for(stop.wait(), max(start + interval - now(), 0.0))
            except asyncio.TimeoutError:
                pass

    endpoints: dict[tuple[int, str], tuple[str, tuple, float]] = {}
    for p in (p for cfg in pods for p in cfg.probes()):
        key = (p.port, p.path)
        old = endpoints.get(key, (p.scheme, p.headers, 0.0))
        endpoints[key] = (old[0], old[1], max(old[2], float(p.timeout)))
    if truth is not None and truth not in endpoints:
        endpoints[truth] = ("HTTP", (), 5.0)
    if truth is not None:
        pollers.append(asyncio.create_task(poll(*truth, *endpoints.pop(truth), truth_interval or 0.1)))
    if record and record_interval:
        for (port, path), (scheme, headers, timeout) in endpoints.items():
            pollers.append(asyncio.create_task(poll(port, path, scheme, headers, timeout, record_interval)))

    pending: set = set()
    notes = _notes(pod)
    if delete_at is not None:
        notes.append("live mode does not signal the server: after the modelled SIGTERM it keeps running, and "
                     "its exit is taken at SIGKILL (how fast it would drain is not known)")
    try:
        while True:
            t = now()
            if t >= horizon or k.terminated:
                break
            ready_at = k.first("ready")
            if stop_after_ready is not None and ready_at is not None and t >= ready_at + stop_after_ready:
                break
            if k.kills:
                notes.append("live mode cannot restart the target: stopped at the first kill")
                break
            for s in k.run_until(t):
                pending.add(asyncio.create_task(probe(s)))
            if k.terminated:
                break
            wake = min(k.next_time(), horizon) - now()
            if on_progress is not None:
                report_progress()
                wake = min(wake, PROGRESS_INTERVAL_S)
            if stop_after_ready is not None and k.first("ready") is not None:
                wake = min(wake, k.first("ready") + stop_after_ready - now())
            if pending:
                _, pending = await asyncio.wait(pending, timeout=max(wake, 0.0),
                                                return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(max(wake, 0.0))
        end = min(now(), horizon)
        k.run_until(end)
    finally:
        stop.set()
        for task in pending:
            task.cancel()
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pending, *pollers, return_exceptions=True)
        await prober.aclose()

    source = f"{target.scheme}://{target.host}"
    truth_at = None
    if truth is not None:
        series = observations.get((truth[0], truth[1].split("?")[0]), [])
        truth_at = next((o.start for o in series if o.kind == "status" and 200 <= o.status < 400), None)
    timeline = None
    if record:
        obs = _with_probe_answers(observations, probe_obs) if record_interval else probe_obs
        timeline = from_observations(obs, end, truth_at, recorded={
            "url": source, "interval": record_interval or "probes only"})
    run = Run(pod, k, "live", end, lead, source, truth_at, notes, wall0, model=model, delete_at=delete_at)
    return LiveResult(run, timeline, answered=bool(kinds & set(ANSWERED_KINDS)))
