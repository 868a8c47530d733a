"""Probe configuration as kubelet sees it: Kubernetes Probe objects with the API defaults applied, read from a
vllmgen values file (`<role>.probes.{startup,readiness,liveness}`) or from Kubernetes manifests (Pod,
Deployment, StatefulSet, ReplicaSet, DaemonSet, Job, LeaderWorkerSet; several documents per file).

Defaults and validation follow `SetDefaults_Probe` and `validateProbe`
(docs/upstream-facts.md#probe-fields-and-defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vllmgen import yamlio
from vllmgen.emulator.lifecycle import PreStop
from vllmgen.emulator import lifecycle
from vllmgen.errors import InputError

PROBE_KINDS = ("startup", "readiness", "liveness")
#: Kubernetes field names of the three probes on a container.
CONTAINER_FIELDS = {"startup": "startupProbe", "readiness": "readinessProbe", "liveness": "livenessProbe"}
#: Roles a vllmgen values file may hold (docs/architecture.md).
ROLES = ("standalone", "prefill", "decode")

#: SetDefaults_Probe: a field left at 0 (or absent) takes these values.
DEFAULT_TIMEOUT_S = 1
DEFAULT_PERIOD_S = 10
DEFAULT_SUCCESS_THRESHOLD = 1
DEFAULT_FAILURE_THRESHOLD = 3
#: Pod-level terminationGracePeriodSeconds when unset (Kubernetes API default).
DEFAULT_POD_GRACE_S = 30
#: Supervisor health port when a values file has no `supervisor.port` (docs/architecture.md).
DEFAULT_HEALTH_PORT = 8090
#: Routing sidecar port (decode role; never a probe target, but a valid port name).
DEFAULT_PROXY_PORT = 8000

#: Workload kinds whose pod template sits at spec.template.
TEMPLATE_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job", "ReplicationController")
INT_FIELDS = ("initialDelaySeconds", "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold",
              "terminationGracePeriodSeconds")


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
    pod_grace: int = DEFAULT_POD_GRACE_S
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
    handlers = [h for h in ("httpGet", "tcpSocket", "exec", "grpc") if h in data]
    if handlers != ["httpGet"]:
        if not handlers:
            raise doc.error(path, "probe has no handler; the emulator needs an httpGet probe")
        if len(handlers) > 1:
            raise doc.error(path, f"probe has several handlers ({', '.join(handlers)}); Kubernetes allows one")
        raise doc.error(path + (handlers[0],), f"only httpGet probes can be emulated, not {handlers[0]}")
    values: dict[str, int] = {}
    for name in INT_FIELDS:
        value = data.get(name, 0)
        if name == "terminationGracePeriodSeconds" and value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise doc.error(path + (name,), f"must be an integer number of seconds, not {value!r}")
        if value < 0:
            raise doc.error(path + (name,), "must be non-negative")
        values[name] = value
    if kind in ("startup", "liveness") and values["successThreshold"] not in (0, 1):
        raise doc.error(path + ("successThreshold",), f"must be 1 for {kind} probes (Kubernetes validation)")
    grace = data.get("terminationGracePeriodSeconds")
    if kind == "readiness" and grace is not None:
        raise doc.error(path + ("terminationGracePeriodSeconds",), "must not be set for readiness probes")
    if grace is not None and grace < 1:
        raise doc.error(path + ("terminationGracePeriodSeconds",), "minimum value is 1")

    http = data["httpGet"]
    hpath = path + ("httpGet",)
    if not isinstance(http, dict):
        raise doc.error(hpath, "httpGet must be a mapping")
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
        initial_delay=values["initialDelaySeconds"],
        period=values["periodSeconds"] or DEFAULT_PERIOD_S,
        timeout=values["timeoutSeconds"] or DEFAULT_TIMEOUT_S,
        success_threshold=values["successThreshold"] or DEFAULT_SUCCESS_THRESHOLD,
        failure_threshold=values["failureThreshold"] or DEFAULT_FAILURE_THRESHOLD,
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


def _grace(value: Any, doc: yamlio.Document, path: tuple) -> int:
    if value is None:
        return DEFAULT_POD_GRACE_S
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise doc.error(path, f"terminationGracePeriodSeconds must be a non-negative integer, not {value!r}")
    return value


# --- vllmgen values files --------------------------------------------------------------------------------

def is_values(data: Any) -> bool:
    return isinstance(data, dict) and "kind" not in data and any(isinstance(data.get(r), dict) for r in ROLES)


def from_values(doc: yamlio.Document, role: str | None = None) -> PodProbes:
    data = doc.data
    present = [r for r in ROLES if isinstance(data.get(r), dict)]
    if role is None:
        if len(present) > 1:
            raise doc.error((), f"this values file has several roles ({', '.join(present)}); choose one with --role")
        role = present[0]
    elif role not in present:
        raise doc.error((role,), f"no role {role!r} in this values file (roles here: {', '.join(present)})")
    block = data[role]
    probes = block.get("probes")
    if not isinstance(probes, dict) or not any(probes.get(k) for k in PROBE_KINDS):
        raise doc.error((role, "probes"), "no probes here: expected probes.startup / probes.readiness / "
                        "probes.liveness (Kubernetes Probe objects)")
    ports = {}
    port = block.get("port")
    if isinstance(port, int) and not isinstance(port, bool):
        ports["vllm"] = port
    supervisor = data.get("supervisor") if isinstance(data.get("supervisor"), dict) else {}
    hport = supervisor.get("port", DEFAULT_HEALTH_PORT)
    ports["health"] = hport if isinstance(hport, int) and not isinstance(hport, bool) else DEFAULT_HEALTH_PORT
    routing = data.get("routing") if isinstance(data.get("routing"), dict) else {}
    proxy = routing.get("proxy") if isinstance(routing.get("proxy"), dict) else {}
    if proxy.get("enabled") and role == "decode":
        sport = routing.get("servicePort", DEFAULT_PROXY_PORT)
        ports["proxy"] = sport if isinstance(sport, int) else DEFAULT_PROXY_PORT
    found = _probes_from(probes, doc, (role, "probes"), {k: k for k in PROBE_KINDS}, ports)
    return PodProbes(name=f"{Path(doc.file).name} ({role})", pod_grace=_grace(
        block.get("terminationGracePeriodSeconds"), doc, (role, "terminationGracePeriodSeconds")),
        ports=ports, pre_stop=lifecycle.from_values(block, doc, (role,)), **found)


# --- Kubernetes manifests --------------------------------------------------------------------------------

@dataclass
class _Candidate:
    doc: yamlio.Document
    kind: str
    name: str
    labels: dict
    pod_path: tuple  # path of the PodSpec in the document
    pod: dict
    container_path: tuple
    container: dict
    template: str = ""  # "leader" / "worker" for LeaderWorkerSets

    def label(self, file: str) -> str:
        extra = f" {self.template}" if self.template else ""
        return f"{Path(file).name} ({self.kind}/{self.name}{extra}, container {self.container.get('name')})"


def _pod_specs(data: dict) -> list[tuple[tuple, dict, dict, str]]:
    """(path, PodSpec, template labels, template name) for every pod template in one object."""
    kind = data.get("kind")
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    out = []
    if kind == "Pod":
        out.append((("spec",), spec, meta.get("labels") or {}, ""))
    elif kind in TEMPLATE_KINDS:
        tpl = spec.get("template") if isinstance(spec.get("template"), dict) else {}
        if isinstance(tpl.get("spec"), dict):
            tmeta = tpl.get("metadata") if isinstance(tpl.get("metadata"), dict) else {}
            out.append((("spec", "template", "spec"), tpl["spec"], tmeta.get("labels") or {}, ""))
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        tpl = job.get("template") or {}
        if isinstance(tpl.get("spec"), dict):
            out.append((("spec", "jobTemplate", "spec", "template", "spec"), tpl["spec"],
                        (tpl.get("metadata") or {}).get("labels") or {}, ""))
    elif kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") if isinstance(spec.get("leaderWorkerTemplate"), dict) else {}
        for key, name in (("leaderTemplate", "leader"), ("workerTemplate", "worker")):
            tpl = lwt.get(key)
            if isinstance(tpl, dict) and isinstance(tpl.get("spec"), dict):
                out.append((("spec", "leaderWorkerTemplate", key, "spec"), tpl["spec"],
                            (tpl.get("metadata") or {}).get("labels") or {}, name))
    return out


def _candidates(docs: list[yamlio.Document]) -> list[_Candidate]:
    out = []
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            continue
        if data.get("kind") == "List" and isinstance(data.get("items"), list):
            # kubectl's List: treat each item as its own object, keeping the line map of the whole file
            for i, item in enumerate(data["items"]):
                sub = yamlio.Document(item, doc.file, {k[2:]: v for k, v in doc._lines.items()
                                                      if k[:2] == ("items", i)})
                out.extend(_candidates([sub]))
            continue
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        for pod_path, pod, labels, template in _pod_specs(data):
            for field_name in ("initContainers", "containers"):
                containers = pod.get(field_name)
                if not isinstance(containers, list):
                    continue
                for i, c in enumerate(containers):
                    if not isinstance(c, dict):
                        continue
                    if field_name == "initContainers" and c.get("restartPolicy") != "Always":
                        continue  # only native sidecars keep running and are probed
                    out.append(_Candidate(doc, data.get("kind"), str(meta.get("name", "?")),
                                          {**(meta.get("labels") or {}), **labels}, pod_path, pod,
                                          pod_path + (field_name, i), c, template))
    return out


def _matches_role(c: _Candidate, role: str) -> bool:
    return (c.name == role or c.name.endswith("-" + role) or c.template == role
            or role in [str(v) for v in c.labels.values()])


def _container_ports(c: _Candidate) -> dict[str, int]:
    ports = {}
    for p in c.container.get("ports") or []:
        if isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("containerPort"), int):
            ports[p["name"]] = p["containerPort"]
    return ports


def from_manifest(docs: list[yamlio.Document], file: str, role: str | None = None,
                  container: str | None = None) -> PodProbes:
    cands = _candidates(docs)
    if not cands:
        raise InputError(file, "", "no pod templates with containers found (expected a Pod, Deployment, "
                         "StatefulSet, LeaderWorkerSet, ... or a vllmgen values file)")
    if role is not None:
        cands = [c for c in cands if _matches_role(c, role)]
        if not cands:
            raise InputError(file, "", f"no object matches --role {role!r} (by name, label value or LWS template)")
    if container is not None:
        named = [c for c in cands if c.container.get("name") == container]
        if not named:
            names = sorted({str(c.container.get("name")) for c in cands})
            raise InputError(file, "", f"no container named {container!r} (containers: {', '.join(names)})")
        cands = named
    probed = [c for c in cands if any(c.container.get(f) for f in CONTAINER_FIELDS.values())]
    if not probed:
        c = cands[0]
        raise c.doc.error(c.container_path, "this container has no startupProbe, readinessProbe or livenessProbe")
    if len(probed) > 1:
        listing = "; ".join(c.label(file) for c in probed)
        raise InputError(file, "", f"several containers have probes ({listing}); choose with --role/--container")
    c = probed[0]
    ports = _container_ports(c)
    found = _probes_from(c.container, c.doc, c.container_path, CONTAINER_FIELDS, ports)
    restart = c.pod.get("restartPolicy", "Always")
    if c.container.get("restartPolicy") == "Always":
        restart = "Always"
    return PodProbes(name=c.label(file), pod_grace=_grace(c.pod.get("terminationGracePeriodSeconds"), c.doc,
                                                          c.pod_path + ("terminationGracePeriodSeconds",)),
                     restart_policy=str(restart), ports=ports,
                     pre_stop=lifecycle.from_container(c.container, c.doc, c.container_path), **found)


def load(path: str | Path, role: str | None = None, container: str | None = None) -> PodProbes:
    """Read a values file or a manifest file and return the probes of the selected container."""
    name = "<stdin>" if str(path) == "-" else str(path)
    docs = [d for d in yamlio.parse_documents(yamlio.read_text(path), name) if d.data is not None]
    if not docs:
        raise InputError(name, "", "file is empty")
    if len(docs) == 1 and is_values(docs[0].data):
        if container is not None:
            raise InputError(name, "", "--container applies to manifests; a values file has one vLLM container "
                             "per role (use --role)")
        return from_values(docs[0], role)
    if len(docs) == 1 and isinstance(docs[0].data, dict) and "kind" not in docs[0].data:
        raise InputError(name, "", "neither a vllmgen values file (no standalone/prefill/decode block) nor a "
                         "Kubernetes manifest (no `kind`)")
    return from_manifest(docs, name, role, container)
