"""Drivers of the kubelet rules: replay (a recorded timeline answers, deterministic) and live (real HTTP
requests on kubelet's schedule, optionally recording every endpoint densely as it goes)."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from vllmgen.emulator.kubelet import Kubelet, KubeletModel, ProbeStart
from vllmgen.emulator.model import PodProbes, ProbeSpec
from vllmgen.emulator.timeline import HELD_MIN_S, Observation, Timeline, from_observations
from vllmgen.errors import InputError

#: User-Agent kubelet sends when a probe sets no headers (request.go: kube-probe/<major>.<minor>).
KUBE_PROBE_AGENT = "kube-probe/1.34"
#: Seconds between two recording requests to one endpoint: transitions land within 0.1 s in the timeline.
RECORD_INTERVAL_S = 0.1
#: Kubelet reads at most this much of a probe's body (pkg/probe/http maxRespBodyLength).
MAX_BODY_BYTES = 10 * 1024


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


# --- replay ----------------------------------------------------------------------------------------------

def outcome(timeline: Timeline, s: ProbeStart) -> tuple[bool, float, str]:
    """(success, answer time, detail) of a probe against a recorded timeline, as kubelet's http prober."""
    timeout = float(s.spec.timeout)
    if not s.container_alive:
        return False, s.start + 0.001, "refused (container exited)"
    ep = timeline.find(s.spec.port, s.spec.path)
    resp = ep.respond(s.container_time)
    latency = resp.end - resp.start
    if resp.kind == "timeout" or latency >= timeout:
        return False, s.start + timeout, f"timeout after {timeout:g} s"
    if resp.kind == "refused":
        return False, s.start + latency, "refused"
    ok = 200 <= resp.status < 400
    detail = str(resp.status) + (f" (held {latency:.2f} s)" if resp.held else "")
    return ok, s.start + latency, detail


def check_endpoints(pod: PodProbes, timeline: Timeline) -> None:
    for p in pod.probes():
        if timeline.find(p.port, p.path) is None:
            raise InputError(timeline.source, "/endpoints", f"no answers recorded for GET :{p.port}{p.path} "
                             f"(the {p.kind} probe of {pod.name}); recorded: {timeline.describe()}")


def replay(pod: PodProbes, timeline: Timeline, *, lead: float = 0.0, wall_offset: float = 0.0,
           model: KubeletModel = KubeletModel(), until: float | None = None) -> Run:
    """Run the kubelet rules against a recorded timeline (deterministic for given lead and wall_offset)."""
    check_endpoints(pod, timeline)
    end = timeline.duration if until is None else until
    k = Kubelet(pod, model, lead=lead, wall_offset=wall_offset, sigterm_exit=timeline.sigterm_exit)
    while not k.terminated:
        t = k.next_time()
        if t > end:
            break
        for s in k.run_until(t):
            ok, answered, detail = outcome(timeline, s)
            k.complete(s.id, ok, answered, detail)
    k.run_until(end)
    return Run(pod, k, "replay", end, lead, timeline.source, timeline.ready_at)


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


async def _request(client, target: Target, spec_port: int, path: str, scheme: str, headers: dict,
                   timeout: float) -> tuple[str, int | None]:
    """One GET as kubelet makes it: a fresh connection, the whole exchange bounded by the timeout."""
    import httpx

    async def go():
        async with client.stream("GET", target.url(spec_port, path, scheme), headers=headers) as resp:
            got = 0
            async for chunk in resp.aiter_raw():
                got += len(chunk)
                if got >= MAX_BODY_BYTES:
                    break
            return resp.status_code

    try:
        status = await asyncio.wait_for(go(), timeout)
        return "status", status
    except (asyncio.TimeoutError, httpx.TimeoutException):
        return "timeout", None
    except httpx.ConnectError:
        return "refused", None
    except (httpx.HTTPError, OSError):
        return "refused", None  # reset, protocol error: kubelet counts any client error as Failure


def _headers(spec: ProbeSpec) -> dict:
    headers = {"User-Agent": KUBE_PROBE_AGENT, "Accept": "*/*"}
    for name, value in spec.headers:
        if name.lower() == "accept" and value == "":
            headers.pop("Accept", None)
        else:
            headers[name] = value
    return headers


@dataclass
class LiveResult:
    run: Run
    timeline: Timeline | None  # what the endpoints answered (when recording)


def live(pods: list[PodProbes], target: Target, duration: float, *, lead: float = 0.0,
         record_interval: float | None = RECORD_INTERVAL_S, record: bool = False,
         truth: tuple[int, str] | None = None, truth_interval: float | None = None,
         stop_after_ready: float | None = None, model: KubeletModel = KubeletModel()) -> LiveResult:
    """Probe a real server with the first configuration's probes on kubelet's schedule for `duration` s
    (t = 0 is now: the container is taken to start now). With `record`, every endpoint any configuration
    probes is also polled every `record_interval` s (None: only the probes' own requests are recorded) and
    the answers are returned as a Timeline. `truth` (port, path): an endpoint whose first success marks the
    model as truly ready (e.g. vLLM's /health), polled every `truth_interval` s (default: record_interval).
    `stop_after_ready`: end the run that many seconds after the pod turned Ready."""
    return asyncio.run(_live(pods, target, duration, lead, record_interval, record, truth,
                             truth_interval or record_interval, stop_after_ready, model))


async def _live(pods, target, duration, lead, record_interval, record, truth, truth_interval, stop_after_ready,
                model) -> LiveResult:
    import httpx

    pod = pods[0]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    wall0 = time.time()

    def now() -> float:
        return loop.time() - t0

    k = Kubelet(pod, model, lead=lead, wall_offset=wall0)
    transport = httpx.AsyncHTTPTransport(retries=0, verify=False)
    client = httpx.AsyncClient(transport=transport, timeout=None, follow_redirects=True, max_redirects=10,
                               limits=httpx.Limits(max_keepalive_connections=0, max_connections=None),
                               trust_env=False)
    observations: dict[tuple[int, str], list[Observation]] = {}
    probe_obs: dict[tuple[int, str], list[Observation]] = {}
    pollers = []
    stop = asyncio.Event()

    async def probe(s: ProbeStart) -> None:
        start = now()
        kind, status = await _request(client, target, s.spec.port, s.spec.path, s.spec.scheme, _headers(s.spec),
                                      float(s.spec.timeout))
        end = now()
        probe_obs.setdefault((s.spec.port, s.spec.path.split("?")[0]), []).append(
            Observation(start, end, kind, status))
        if kind == "status":
            ok, detail = 200 <= status < 400, str(status)
            if end - start >= HELD_MIN_S:
                detail += f" (held {end - start:.2f} s)"
        elif kind == "timeout":
            ok, detail = False, f"timeout after {s.spec.timeout:g} s"
        else:
            ok, detail = False, "refused"
        k.complete(s.id, ok, end, detail)

    async def poll(port: int, path: str, scheme: str, timeout: float, interval: float) -> None:
        series = observations.setdefault((port, path.split("?")[0]), [])
        while not stop.is_set():
            start = now()
            kind, status = await _request(client, target, port, path, scheme, {"User-Agent": KUBE_PROBE_AGENT},
                                          timeout)
            series.append(Observation(start, now(), kind, status))
            wait = start + interval - now()
            try:
                await asyncio.wait_for(stop.wait(), max(wait, 0.0))
            except asyncio.TimeoutError:
                pass

    endpoints: dict[tuple[int, str], tuple[str, float]] = {}
    for p in (p for cfg in pods for p in cfg.probes()):
        key = (p.port, p.path)
        old = endpoints.get(key, (p.scheme, 0.0))
        endpoints[key] = (p.scheme, max(old[1], float(p.timeout)))
    if truth is not None and truth not in endpoints:
        endpoints[truth] = ("HTTP", 5.0)
    if truth is not None:
        pollers.append(asyncio.create_task(poll(*truth, *endpoints.pop(truth), truth_interval or 0.1)))
    if record and record_interval:
        for (port, path), (scheme, timeout) in endpoints.items():
            pollers.append(asyncio.create_task(poll(port, path, scheme, timeout, record_interval)))

    pending: set = set()
    notes = []
    try:
        while True:
            t = now()
            if t >= duration or k.terminated:
                break
            ready_at = k.first("ready")
            if stop_after_ready is not None and ready_at is not None and t >= ready_at + stop_after_ready:
                break
            if any(e.what == "kill" for e in k.events):
                notes.append("live mode cannot restart the target: stopped at the first kill")
                break
            for s in k.run_until(t):
                pending.add(asyncio.create_task(probe(s)))
            wake = min(k.next_time(), duration) - now()
            if stop_after_ready is not None and k.first("ready") is not None:
                wake = min(wake, k.first("ready") + stop_after_ready - now())
            if pending:
                _, pending = await asyncio.wait(pending, timeout=max(wake, 0.0),
                                                return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(max(wake, 0.0))
        end = min(now(), duration)
        k.run_until(end)
    finally:
        stop.set()
        for task in pending:
            task.cancel()
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pending, *pollers, return_exceptions=True)
        await client.aclose()

    source = f"{target.scheme}://{target.host}"
    truth_at = None
    if truth is not None:
        series = observations.get((truth[0], truth[1].split("?")[0]), [])
        truth_at = next((o.start for o in series if o.kind == "status" and 200 <= o.status < 400), None)
    timeline = None
    if record:
        obs = observations if record_interval else probe_obs
        timeline = from_observations(obs, end, truth_at, recorded={
            "url": source, "interval": record_interval or "probes only"})
    run = Run(pod, k, "live", end, lead, source, truth_at, notes, wall0)
    return LiveResult(run, timeline)
