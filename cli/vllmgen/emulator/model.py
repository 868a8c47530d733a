"""Probe configuration as kubelet sees it: Kubernetes Probe objects with the API defaults applied, read from
Kubernetes manifests (every kind `vllmgen.workloads` reads, lists included; several documents per file) or from
a vllmgen values file, which is first rendered with the chart by the real Helm engine (vllmgen.render) and then
read as the manifests it becomes.

Defaults come from `vllmgen.workloads` (SetDefaults_Probe); on top of them this module refuses what the emulator
cannot emulate and what Kubernetes' validateProbe refuses (docs/upstream-facts.md#probe-fields-and-defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vllmgen import render, workloads, yamlio
from vllmgen.emulator import lifecycle
from vllmgen.emulator.lifecycle import PreStop
from vllmgen.errors import InputError
from vllmgen.roles import ROLES
from vllmgen.workloads import (DEFAULT_FAILURE_THRESHOLD, DEFAULT_PERIOD_S, DEFAULT_SUCCESS_THRESHOLD,
                               DEFAULT_TERMINATION_GRACE_S, DEFAULT_TIMEOUT_S, PROBE_FIELDS, PROBE_KINDS)


@dataclass(frozen=True)
class ProbeSpec:
    """One httpGet probe with defaults applied. Times are whole seconds, as in the API."""

    kind: str  # startup | readiness | liveness
    path: str
    port: int
    scheme: str = "HTTP"
    host: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay: int = 0
    period: int = DEFAULT_PERIOD_S
    timeout: int = DEFAULT_TIMEOUT_S
    success_threshold: int = DEFAULT_SUCCESS_THRESHOLD
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    termination_grace: int | None = None  # probe-level terminationGracePeriodSeconds (liveness/startup only)
    port_name: str | None = None  # the named port it was resolved from, for display

    @property
    def endpoint(self) -> str:
        return f":{self.port}{self.path}"


@dataclass(frozen=True)
class PodProbes:
    """The probes of one container, plus the pod settings kubelet's kill path reads."""

    name: str  # what this configuration is called in reports (file + role/container)
    startup: ProbeSpec | None = None
    readiness: ProbeSpec | None = None
    liveness: ProbeSpec | None = None
    pod_grace: int = DEFAULT_TERMINATION_GRACE_S
    restart_policy: str = "Always"
    ports: dict[str, int] = field(default_factory=dict)
    pre_stop: PreStop = PreStop()  # the container's preStop hook (runs on every kill)

    def probes(self) -> list[ProbeSpec]:
        return [p for p in (self.startup, self.readiness, self.liveness) if p is not None]

    def get(self, kind: str) -> ProbeSpec | None:
        return getattr(self, kind)


def parse_probe(kind: str, data: Any, doc: yamlio.Document, path: tuple, ports: dict[str, int]) -> ProbeSpec:
    """A Kubernetes Probe object -> ProbeSpec with defaults; every problem is an InputError at its field."""
    if not isinstance(data, dict):
        raise doc.error(path, "a probe must be a mapping (a Kubernetes Probe object)")
    probe = workloads.read_probe(kind, data, path)
    handlers = probe.handlers
    if handlers != ("httpGet",):
        if not handlers:
            raise doc.error(path, "probe has no handler; the emulator needs an httpGet probe")
        if len(handlers) > 1:
            raise doc.error(path, f"probe has several handlers ({', '.join(handlers)}); Kubernetes allows one")
        raise doc.error(path + (handlers[0],), f"only httpGet probes can be emulated, not {handlers[0]}")
    if probe.problems:
        raise doc.error(probe.problems[0].path, probe.problems[0].message)
    if kind in ("startup", "liveness") and probe.get("successThreshold") != 1:
        raise doc.error(path + ("successThreshold",), f"must be 1 for {kind} probes (Kubernetes validation)")
    grace = probe.termination_grace
    if kind == "readiness" and grace is not None:
        raise doc.error(path + ("terminationGracePeriodSeconds",), "must not be set for readiness probes")
    if grace is not None and grace < 1:
        raise doc.error(path + ("terminationGracePeriodSeconds",), "minimum value is 1")

    http = data["httpGet"]
    hpath = path + ("httpGet",)
    url_path = http.get("path", "/")
    if not isinstance(url_path, str) or (url_path and not url_path.startswith("/")):
        raise doc.error(hpath + ("path",), f"path must be a string starting with '/', not {url_path!r}")
    port, port_name = _resolve_port(http.get("port"), doc, hpath + ("port",), ports)
    scheme = http.get("scheme", "HTTP")
    if scheme not in ("HTTP", "HTTPS"):
        raise doc.error(hpath + ("scheme",), f"scheme must be HTTP or HTTPS, not {scheme!r}")
    host = http.get("host", "") or ""
    if not isinstance(host, str):
        raise doc.error(hpath + ("host",), "host must be a string")
    headers = []
    raw_headers = http.get("httpHeaders") or []
    if not isinstance(raw_headers, list):
        raise doc.error(hpath + ("httpHeaders",), "httpHeaders must be a list of {name, value}")
    for i, h in enumerate(raw_headers):
        if not isinstance(h, dict) or not isinstance(h.get("name"), str) or not isinstance(h.get("value", ""), str):
            raise doc.error(hpath + ("httpHeaders", i), "each header needs a string `name` and `value`")
        headers.append((h["name"], h.get("value", "")))
    return ProbeSpec(
        kind=kind,
        path=url_path or "/",
        port=port,
        scheme=scheme,
        host=host,
        headers=tuple(headers),
        initial_delay=probe.get("initialDelaySeconds"),
        period=probe.get("periodSeconds"),
        timeout=probe.get("timeoutSeconds"),
        success_threshold=probe.get("successThreshold"),
        failure_threshold=probe.get("failureThreshold"),
        termination_grace=grace,
        port_name=port_name,
    )


def _resolve_port(value: Any, doc: yamlio.Document, path: tuple, ports: dict[str, int]) -> tuple[int, str | None]:
    if value is None:
        raise doc.error(path, "httpGet.port is required")
    if isinstance(value, bool):
        raise doc.error(path, f"port must be a number or a port name, not {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise doc.error(path, f"port {value} is outside 1-65535")
        return value, None
    if isinstance(value, str):
        if value in ports:
            return ports[value], value
        number = workloads.resolve_port(value, ports)  # digits: the kubelet's last try (prober.go, extractPort)
        if number is not None:
            return _resolve_port(number, doc, path, ports)[0], None
        known = ", ".join(f"{k}={v}" for k, v in sorted(ports.items())) or "none"
        raise doc.error(path, f"unknown named port {value!r} (named ports here: {known})")
    raise doc.error(path, f"port must be a number or a port name, not {value!r}")


def _probes_from(block: dict, doc: yamlio.Document, path: tuple, fields: dict[str, str],
                 ports: dict[str, int]) -> dict[str, ProbeSpec]:
    out = {}
    for kind in PROBE_KINDS:
        key = fields[kind]
        if block.get(key) is not None:
            out[kind] = parse_probe(kind, block[key], doc, path + (key,), ports)
    return out


# --- vllmgen values files: rendered with the chart, then read as manifests -------------------------------

def is_values(data: Any) -> bool:
    return isinstance(data, dict) and "kind" not in data and any(isinstance(data.get(r), dict) for r in ROLES)


@dataclass(frozen=True)
class Rendering:
    """How a values file is rendered: `-f` files layered on top of it, --set/--set-string, the chart."""

    overlays: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    set_strings: tuple[str, ...] = ()
    chart: str | None = None


#: The engine that rendered the last values file read (the command says which).
ENGINES: list[str] = []


def from_values(layers: list[yamlio.Document], role: str | None = None, container: str | None = None,
                how: Rendering = Rendering()) -> PodProbes:
    """The pod the chart renders from these values (the real Helm engine), read as a manifest; a problem in a
    rendered field is reported at the values line it comes from where the chart copies it from the values."""
    stack = render.ValuesStack(layers)
    try:
        out = render.render([d.data for d in layers], list(how.sets), list(how.set_strings), how.chart)
    except render.RenderError as exc:
        raise render.refusal(exc, stack) from None
    ENGINES.append(out.engine)
    present = [r for r in ROLES if isinstance(stack.data.get(r), dict)]
    if role is None:
        if len(present) > 1:
            raise InputError(stack.file, "", f"this values file has several roles ({', '.join(present)}); choose one "
                             "with --role")
        role = present[0] if present else None
    elif role not in present:
        raise InputError(stack.file, "", f"no role {role!r} in these values (roles here: {', '.join(present)})")
    # the role's own pods: the chart labels them with their role (the endpoint picker's pods are not a role's)
    docs = [d for d in render.rendered_documents(out, stack) if render.role_of(d.data) == role]
    pod = from_manifest(docs, stack.file, None, container)
    return replace(pod, name=f"{Path(stack.layers[0].file).name} ({role})")


# --- Kubernetes manifests --------------------------------------------------------------------------------

@dataclass
class _Candidate:
    workload: workloads.Workload
    template: workloads.PodTemplate
    container: workloads.Container

    @property
    def doc(self) -> yamlio.Document:
        return self.template.doc

    def label(self, file: str) -> str:
        t = self.template
        extra = f" {t.template}" if t.template else ""
        return f"{Path(file).name} ({t.kind}/{t.name}{extra}, container {self.container.data.get('name')})"

    def problems(self) -> list[workloads.Problem]:
        """What the API server would refuse in this container's object: the emulation would be of nothing."""
        return self.workload.problems + self.template.all_problems()


def _candidates(readings: list[workloads.Reading]) -> list[_Candidate]:
    """Every container that keeps running (native sidecars, then containers) of every pod template."""
    return [_Candidate(w, t, c) for r in readings for w in r.workloads for t in w.templates for c in t.running]


def _matches_role(c: _Candidate, role: str) -> bool:
    t = c.template
    return (t.name == role or t.name.endswith("-" + role) or t.template == role
            or role in [str(v) for v in t.labels.values()])


def from_manifest(docs: list[yamlio.Document], file: str, role: str | None = None,
                  container: str | None = None) -> PodProbes:
    readings = workloads.read_all(docs)
    cands = _candidates(readings)
    if not cands:
        problems = [(r.doc, p) for r in readings for p in r.all_problems()]
        if problems:
            doc, p = problems[0]
            raise doc.error(p.path, p.message)
        raise InputError(file, "", "no pod templates with containers found (expected a Pod, Deployment, "
                         "StatefulSet, LeaderWorkerSet, ... or a vllmgen values file)")
    if role is not None:
        cands = [c for c in cands if _matches_role(c, role)]
        if not cands:
            raise InputError(file, "", f"no object matches --role {role!r} (by name, label value or LWS template)")
    if container is not None:
        named = [c for c in cands if c.container.data.get("name") == container]
        if not named:
            names = sorted({str(c.container.data.get("name")) for c in cands})
            raise InputError(file, "", f"no container named {container!r} (containers: {', '.join(names)})")
        cands = named
    probed = [c for c in cands if any(c.container.data.get(f) for f in PROBE_FIELDS.values())]
    if not probed:
        c = cands[0]
        raise c.doc.error(c.container.path, "this container has no startupProbe, readinessProbe or livenessProbe")
    if len(probed) > 1:
        listing = "; ".join(c.label(file) for c in probed)
        raise InputError(file, "", f"several containers have probes ({listing}); choose with --role/--container")
    c = probed[0]
    for p in c.problems():
        raise c.doc.error(p.path, p.message)
    t = c.template
    ports = dict(c.container.ports)
    found = _probes_from(c.container.data, c.doc, c.container.path, PROBE_FIELDS, ports)
    restart = "Always" if c.container.data.get("restartPolicy") == "Always" else t.restart_policy
    return PodProbes(name=c.label(file), pod_grace=t.termination_grace, restart_policy=restart, ports=ports,
                     pre_stop=lifecycle.from_container(c.container.data, c.doc, c.container.path), **found)


def load(path: str | Path, role: str | None = None, container: str | None = None,
         how: Rendering = Rendering()) -> PodProbes:
    """Read a values file (rendered with the chart) or a manifest file and return the probes of the selected
    container."""
    name = "<stdin>" if str(path) == "-" else str(path)
    docs = [d for d in yamlio.parse_documents(yamlio.read_text(path), name) if d.data is not None]
    if not docs:
        raise InputError(name, "", "file is empty")
    if len(docs) == 1 and is_values(docs[0].data):
        layers = [docs[0]] + [yamlio.load_document(f) for f in how.overlays]
        return from_values(layers, role, container, how)
    if len(docs) == 1 and isinstance(docs[0].data, dict) and "kind" not in docs[0].data:
        raise InputError(name, "", "neither a vllmgen values file (no standalone/prefill/decode block) nor a "
                         "Kubernetes manifest (no `kind`)")
    return from_manifest(docs, name, role, container)
