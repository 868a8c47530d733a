"""The "container under review": one normalized view of a vLLM container, whatever file it came from.

Rules (rules.py) only ever see a `ContainerView`, so the same rule covers a Deployment, a Pod, a
LeaderWorkerSet, a bare pod-spec fragment from a guide, llm-d-modelservice values and vllmgen values.
Building a view is pure: it takes a classified document and returns views with JSON paths for line numbers.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Optional

from vllmgen.lint.loader import KUBERNETES, MODELSERVICE, POD_SPEC, POD_SPEC_PATHS, ROLES, VALUES, LoadedDoc

#: vLLM's own default `--port` (and the llm-d inference simulator's).
VLLM_DEFAULT_PORT = 8000
#: llm-d's decode layout: the routing sidecar listens on the Service port and forwards to vLLM on 8200.
LLMD_SERVICE_PORT = 8000
LLMD_DECODE_VLLM_PORT = 8200
#: Kubernetes probe defaults (SetDefaults_Probe) for fields left out.
PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3,
                  "successThreshold": 1}
#: Extended resources that are accelerators (llm-d-modelservice's `accelerator.resources` plus Gaudi).
ACCELERATOR_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi",
                         "gpu.intel.com/i915", "gpu.intel.com/xe")
#: Image name fragments of the llm-d routing sidecar, old and new generations.
SIDECAR_IMAGES = ("routing-sidecar", "disagg-sidecar")
SIDECAR_NAMES = ("routing-proxy", "routing-sidecar")
#: Image name fragment of the llm-d inference simulator (starts in well under a second, no model to load).
SIMULATOR_IMAGE = "llm-d-inference-sim"
#: What marks a container as the model server when a pod has several.
SERVER_HINTS = re.compile(r"vllm|llm-d|inference-sim|tritonserver")

PROBE_KINDS = ("startup", "readiness", "liveness")


@dataclass
class Probe:
    kind: str                 # startup | readiness | liveness
    data: dict
    path: tuple               # JSON path of the probe object inside its document

    def get(self, key: str) -> int:
        """A probe field with Kubernetes' defaulting: 0 or absent means the default (initialDelay keeps 0)."""
        value = self.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if value > 0 or (key == "initialDelaySeconds" and value == 0):
                return value
        return PROBE_DEFAULTS[key]

    @property
    def http_path(self) -> Optional[str]:
        http = self.data.get("httpGet")
        if isinstance(http, dict):
            path = http.get("path", "/")
            return path.split("?")[0] if isinstance(path, str) else None
        return None

    @property
    def port(self):
        for handler in ("httpGet", "tcpSocket", "grpc"):
            h = self.data.get(handler)
            if isinstance(h, dict) and "port" in h:
                return h["port"]
        return None

    @property
    def port_path(self) -> tuple:
        for handler in ("httpGet", "tcpSocket", "grpc"):
            if isinstance(self.data.get(handler), dict):
                return self.path + (handler, "port")
        return self.path

    def has_auth_header(self) -> bool:
        http = self.data.get("httpGet")
        headers = http.get("httpHeaders") if isinstance(http, dict) else None
        return isinstance(headers, list) and any(
            isinstance(h, dict) and str(h.get("name", "")).lower() == "authorization" for h in headers)

    def budget(self) -> int:
        """Time the probe allows before it gives up: initialDelay + failureThreshold x period."""
        return self.get("initialDelaySeconds") + self.get("failureThreshold") * self.get("periodSeconds")


@dataclass
class EnvVar:
    name: str
    value: Optional[str]       # literal value (None when valueFrom or absent)
    from_secret: bool
    path: tuple


@dataclass
class ContainerView:
    ld: LoadedDoc
    where: str                              # human label: "Deployment vllm-decode, container vllm"
    base: tuple                             # JSON path of the container (or role block) in the document
    role: str                               # standalone | prefill | decode (standalone when unknown)
    image: str = ""
    args: list[str] = field(default_factory=list)   # command + args, flattened (shell scripts split)
    args_path: tuple = ()
    ports: dict[str, int] = field(default_factory=dict)      # named container ports
    port_numbers: set[int] = field(default_factory=set)      # every declared container port
    vllm_port: Optional[int] = None
    vllm_port_reason: str = ""
    vllm_port_guessed: bool = False                          # only vLLM's default: the entrypoint may differ
    health_port: Optional[int] = None                        # supervisor health server (port name `health`)
    sidecar_ports: set[int] = field(default_factory=set)
    probes: dict[str, Probe] = field(default_factory=dict)
    env: list[EnvVar] = field(default_factory=list)
    api_key: Optional[str] = None                            # how the API key is switched on, if it is
    accelerator_resource: Optional[str] = None
    accelerator_count: Optional[int] = None
    resources_path: tuple = ()
    tensor: Optional[int] = None
    data_parallel: Optional[int] = None
    data_parallel_local: Optional[int] = None
    dp_expression: Optional[str] = None                      # e.g. "$((LWS_GROUP_SIZE * DP_SIZE_LOCAL))"
    parallelism_path: tuple = ()
    group_size: Optional[int] = None                         # LeaderWorkerSet size / values workers
    multinode: bool = False
    simulator: bool = False
    spec: Optional[dict] = None                              # effective model spec carried by values
    triton: bool = False                                     # runs tritonserver (Triton's vLLM backend)
    triton_configs: list[str] = field(default_factory=list)  # config.pbtxt texts of its model repository, if seen

    @property
    def file(self) -> str:
        return self.ld.doc.file

    def line(self, path: tuple) -> Optional[int]:
        return self.ld.doc.line(path)

    def resolve_port(self, port) -> Optional[int]:
        if isinstance(port, bool):
            return None
        if isinstance(port, int):
            return port
        if isinstance(port, str):
            if port.isdigit():
                return int(port)
            return self.ports.get(port)
        return None

    def env_value(self, name: str) -> Optional[str]:
        for e in self.env:
            if e.name == name:
                return e.value
        return None


# --- argument parsing ---------------------------------------------------------------------------------

def flatten_command(command, args) -> list[str]:
    """command + args as one token list; `sh -c "script"` scripts are split into their words."""
    tokens: list[str] = []
    parts = [x for x in (command, args) if isinstance(x, list)]  # anything else is a schema error, reported there
    for part in [p for x in parts for p in x]:
        if not isinstance(part, (str, int, float)) or isinstance(part, bool):
            continue
        part = str(part)
        if "\n" in part or (" " in part and part.strip().startswith(("exec", "vllm", "python", "set ", "find "))):
            try:
                tokens.extend(shlex.split(part, comments=True))
            except ValueError:
                tokens.extend(part.split())
        else:
            tokens.append(part)
    return tokens


_FLAG_RE_CACHE: dict[str, re.Pattern] = {}


def flag_value(text: str, *names: str) -> Optional[str]:
    """Value of the last `--name V` / `--name=V` in a joined command line (shell arithmetic kept whole)."""
    found = None
    for name in names:
        pat = _FLAG_RE_CACHE.get(name)
        if pat is None:
            pat = re.compile(rf"(?:^|\s){re.escape(name)}(?:=|\s+)(\$\(\([^)]*\)\)|\"[^\"]*\"|'[^']*'|\S+)")
            _FLAG_RE_CACHE[name] = pat
        for m in pat.finditer(text):
            found = m.group(1).strip("\"'")
    return found


def has_flag(text: str, name: str) -> bool:
    return re.search(rf"(?:^|\s){re.escape(name)}(?:=|\s|$)", text) is not None


def evaluate(value: Optional[str], variables: dict[str, Optional[int]]) -> Optional[int]:
    """An integer flag value: a literal, `$VAR`/`${VAR}`/`$(VAR)`, or shell arithmetic `$((A * B))`."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    m = re.fullmatch(r"\$\{?\(?([A-Za-z_][A-Za-z0-9_]*)\)?\}?", value)
    if m:
        return variables.get(m.group(1))
    m = re.fullmatch(r"\$\(\((.*)\)\)", value)
    if not m:
        return None
    expr = m.group(1)
    for name in set(re.findall(r"\$?\{?([A-Za-z_][A-Za-z0-9_]*)\}?", expr)):
        v = variables.get(name)
        if v is None:
            return None
        expr = re.sub(rf"\$?\{{?\b{name}\b\}}?", str(v), expr)
    if not re.fullmatch(r"[\d\s*+\-()]+", expr):
        return None
    try:
        node = ast.parse(expr, mode="eval")
        return int(eval(compile(node, "<expr>", "eval"), {"__builtins__": {}}, {}))  # digits and + - * only
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError):
        return None


def _int(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# --- pieces shared by every source --------------------------------------------------------------------

def _env_list(env, path: tuple) -> list[EnvVar]:
    out = []
    if not isinstance(env, list):
        return out
    for i, e in enumerate(env):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            continue
        value_from = e.get("valueFrom")
        from_secret = isinstance(value_from, dict) and "secretKeyRef" in value_from
        value = e.get("value")
        out.append(EnvVar(e["name"], None if value is None else str(value), from_secret, path + (i,)))
    return out


def _probes(container: dict, base: tuple, keys: dict[str, str]) -> dict[str, Probe]:
    out = {}
    for kind, key in keys.items():
        p = container.get(key)
        if isinstance(p, dict):
            out[kind] = Probe(kind, p, base + (key,))
    return out


def _accelerator(resources, names) -> tuple[Optional[str], Optional[int]]:
    if not isinstance(resources, dict):
        return None, None
    for section in ("limits", "requests"):
        block = resources.get(section)
        if isinstance(block, dict):
            for name in names:
                if name in block and name:
                    return name, _int(block[name])
    return None, None


def _runs_vllm(view: ContainerView) -> bool:
    """The container starts vLLM itself (so vLLM's defaults apply to flags it leaves out)."""
    if any("vllmgen" in t for t in view.args[:2]) or "tritonserver" in " ".join(view.args):
        return False  # the supervisor or Triton reads the parallel sizes from elsewhere (spec, model.json)
    return "vllm-openai" in view.image or any(
        t == "vllm" or t.endswith("/vllm") or t.startswith("vllm.entrypoints") for t in view.args)


def _parallel_from_args(view: ContainerView, variables: dict[str, Optional[int]]) -> None:
    text = " ".join(view.args)
    default = 1 if _runs_vllm(view) else None  # vLLM's default for both sizes

    def size(*names: str) -> Optional[int]:
        raw = flag_value(text, *names)
        return default if raw is None else evaluate(raw, variables)

    view.tensor = size("--tensor-parallel-size", "-tp")
    dp_raw = flag_value(text, "--data-parallel-size", "-dp")
    view.dp_expression = dp_raw
    view.data_parallel = evaluate(dp_raw, variables)
    local_raw = flag_value(text, "--data-parallel-size-local", "-dpl")
    view.data_parallel_local = evaluate(local_raw, variables) if local_raw is not None else None


def _api_key(view: ContainerView) -> None:
    text = " ".join(view.args)
    if has_flag(text, "--api-key"):
        view.api_key = "--api-key"
    elif any(e.name == "VLLM_API_KEY" and (e.value or e.from_secret) for e in view.env):
        view.api_key = "VLLM_API_KEY"


#: Triton's default ports besides HTTP (8000): gRPC and Prometheus metrics
#: (docs/upstream-facts.md#backend-configuration).
TRITON_GRPC_PORT = 8001
TRITON_METRICS_PORT = 8002


def _triton_container(view: ContainerView) -> None:
    """Mark a tritonserver container and name its gRPC/metrics ports (--grpc-port/--metrics-port or Triton's
    defaults). Its model repository's config.pbtxt is looked up file-wide by the runner (rules.triton_configs)."""
    text = " ".join(view.args)
    if "tritonserver" not in text and "tritonserver" not in view.image:
        return
    view.triton = True
    for name, flag, default in (("grpc", "--grpc-port", TRITON_GRPC_PORT),
                                ("metrics", "--metrics-port", TRITON_METRICS_PORT)):
        port = _int(flag_value(text, flag)) or default
        view.ports.setdefault(name, port)
        view.port_numbers.add(port)


def _is_sidecar(c: dict) -> bool:
    name = str(c.get("name", ""))
    image = str(c.get("image", ""))
    return name in SIDECAR_NAMES or any(s in image for s in SIDECAR_IMAGES)


def _sidecar_port(c: dict) -> int:
    text = " ".join(flatten_command(c.get("command"), c.get("args")))
    port = _int(flag_value(text, "--port", "-port"))
    if port is None:
        ports = [p.get("containerPort") for p in c.get("ports") or [] if isinstance(p, dict)]
        port = _int(ports[0]) if ports else None
    return port or LLMD_SERVICE_PORT


def _container_ports(view: ContainerView, c: dict) -> None:
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            n = _int(p.get("containerPort"))
            if n is None:
                continue
            view.port_numbers.add(n)
            if isinstance(p.get("name"), str):
                view.ports[p["name"]] = n


def _vllm_port_from_container(view: ContainerView, default: int, default_reason: str) -> None:
    text = " ".join(view.args)
    port = evaluate(flag_value(text, "--port"), {e.name: _int(e.value) for e in view.env})
    if port is not None:
        view.vllm_port, view.vllm_port_reason = port, "its --port argument"
    elif "vllm" in view.ports:
        view.vllm_port, view.vllm_port_reason = view.ports["vllm"], "the container port named `vllm`"
    elif len(view.port_numbers - {view.health_port}) == 1:
        view.vllm_port = next(iter(view.port_numbers - {view.health_port}))
        view.vllm_port_reason = "its only container port"
    else:
        view.vllm_port, view.vllm_port_reason = default, default_reason
        view.vllm_port_guessed = True


# --- Kubernetes objects and pod-spec fragments --------------------------------------------------------

def _role_from_meta(*metas) -> Optional[str]:
    for meta in metas:
        if not isinstance(meta, dict):
            continue
        labels = meta.get("labels")
        if isinstance(labels, dict):
            for key in ("llm-d.ai/role", "vllmgen.dev/role", "app.kubernetes.io/component"):
                if labels.get(key) in ROLES:
                    return labels[key]
    for meta in metas:
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            words = re.split(r"[-_.]", meta["name"])
            for role in ("decode", "prefill"):
                if role in words:
                    return role
    return None


def _pod_views(ld: LoadedDoc, pod: dict, base: tuple, label: str, role: Optional[str],
               group_size: Optional[int]) -> list[ContainerView]:
    containers = pod.get("containers") if isinstance(pod.get("containers"), list) else []
    inits = pod.get("initContainers") if isinstance(pod.get("initContainers"), list) else []
    sidecars = [c for c in containers + inits if isinstance(c, dict) and _is_sidecar(c)]
    sidecar_ports = {_sidecar_port(c) for c in sidecars}
    if role is None:
        role = "decode" if sidecars else "standalone"
    candidates = [(i, c) for i, c in enumerate(containers) if isinstance(c, dict) and not _is_sidecar(c)]
    servers = [(i, c) for i, c in candidates
               if c.get("name") == "vllm" or SERVER_HINTS.search(str(c.get("image", "")))
               or SERVER_HINTS.search(" ".join(map(str, (c.get("command") or []) + (c.get("args") or []))))]
    if not servers and len(candidates) == 1:
        servers = candidates
    views = []
    for i, c in servers:
        cbase = base + ("containers", i)
        v = ContainerView(ld, f"{label}, container {c.get('name', i)}", cbase, role,
                          image=str(c.get("image", "")))
        v.args = flatten_command(c.get("command"), c.get("args"))
        v.args_path = cbase + (("args",) if "args" in c else ("command",) if "command" in c else ())
        v.env = _env_list(c.get("env"), cbase + ("env",))
        _container_ports(v, c)
        v.health_port = v.ports.get("health")
        v.sidecar_ports = sidecar_ports
        v.simulator = SIMULATOR_IMAGE in v.image
        default = VLLM_DEFAULT_PORT
        _vllm_port_from_container(v, default, f"vLLM's default port {default} (no --port, no `vllm` port)")
        v.probes = _probes(c, cbase, {"startup": "startupProbe", "readiness": "readinessProbe",
                                      "liveness": "livenessProbe"})
        _api_key(v)
        _triton_container(v)
        v.resources_path = cbase + ("resources",)
        v.accelerator_resource, v.accelerator_count = _accelerator(c.get("resources"), ACCELERATOR_RESOURCES)
        v.group_size = group_size
        v.multinode = group_size is not None
        variables = {e.name: _int(e.value) for e in v.env}
        if group_size is not None:
            variables["LWS_GROUP_SIZE"] = group_size
        _parallel_from_args(v, variables)
        v.parallelism_path = v.args_path
        views.append(v)
    return views


def _kubernetes_views(ld: LoadedDoc) -> list[ContainerView]:
    data = ld.data
    kind = data["kind"]
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    name = meta.get("name", "?")
    views = []
    templates = [POD_SPEC_PATHS[kind]]
    group_size = None
    if kind == "LeaderWorkerSet":
        lwt = (data.get("spec") or {}).get("leaderWorkerTemplate") or {}
        group_size = _int(lwt.get("size")) if isinstance(lwt, dict) and "size" in lwt else 1
        if isinstance(lwt, dict) and isinstance(lwt.get("leaderTemplate"), dict):
            templates.append(("spec", "leaderWorkerTemplate", "leaderTemplate", "spec"))
    for path in templates:
        node = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        template_meta = None
        if len(path) > 1:
            parent = data
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            template_meta = parent.get("metadata") if isinstance(parent, dict) else None
        role = _role_from_meta(template_meta, meta)
        label = f"{kind} {name}" + (" (leader)" if "leaderTemplate" in path else "")
        views.extend(_pod_views(ld, node, path, label, role, group_size))
    return views


def _pod_spec_views(ld: LoadedDoc) -> list[ContainerView]:
    return _pod_views(ld, ld.data, (), "pod spec", _role_from_meta(ld.data.get("metadata")), None)


# --- llm-d-modelservice values ------------------------------------------------------------------------

def _modelservice_views(ld: LoadedDoc) -> list[ContainerView]:
    data = ld.data
    routing = data.get("routing") if isinstance(data.get("routing"), dict) else {}
    proxy = routing.get("proxy") if isinstance(routing.get("proxy"), dict) else {}
    service_port = _int(routing.get("servicePort")) or LLMD_SERVICE_PORT
    proxy_on = proxy.get("enabled", True) is not False
    target_port = _int(proxy.get("targetPort")) or LLMD_DECODE_VLLM_PORT
    accel = data.get("accelerator") if isinstance(data.get("accelerator"), dict) else {}
    names = list(ACCELERATOR_RESOURCES)
    if isinstance(accel.get("resources"), dict):
        names = [str(v) for v in accel["resources"].values()] + names
    multinode = data.get("multinode") is True
    views = []
    for role in ROLES:
        block = data.get(role)
        if not isinstance(block, dict) or not isinstance(block.get("containers"), list):
            continue
        par = block.get("parallelism") if isinstance(block.get("parallelism"), dict) else {}
        for i, c in enumerate(block["containers"]):
            if not isinstance(c, dict) or _is_sidecar(c):
                continue
            cbase = (role, "containers", i)
            v = ContainerView(ld, f"{role} values, container {c.get('name', i)}", cbase, role,
                              image=str(c.get("image", "")))
            v.args = flatten_command(c.get("command"), c.get("args"))
            v.args_path = cbase + ("args",)
            v.env = _env_list(c.get("env"), cbase + ("env",))
            _container_ports(v, c)
            v.health_port = v.ports.get("health")
            if role == "decode" and proxy_on:
                v.sidecar_ports = {service_port}
                default, why = target_port, f"routing.proxy.targetPort ({target_port}): decode vLLM behind the sidecar"
            else:
                default, why = service_port, f"routing.servicePort ({service_port})"
            # the chart passes --port itself unless modelCommand is custom; a declared port only documents it
            if c.get("modelCommand") == "custom":
                _vllm_port_from_container(v, default, why)
            else:
                v.vllm_port, v.vllm_port_reason = default, why + " (the chart passes it as --port)"
            v.simulator = SIMULATOR_IMAGE in v.image
            v.probes = _probes(c, cbase, {"startup": "startupProbe", "readiness": "readinessProbe",
                                          "liveness": "livenessProbe"})
            _api_key(v)
            v.resources_path = cbase + ("resources",)
            v.accelerator_resource, v.accelerator_count = _accelerator(c.get("resources"), names)
            v.tensor = _int(par.get("tensor")) or 1
            v.data_parallel_local = _int(par.get("dataLocal")) or 1
            v.data_parallel = _int(par.get("data"))
            v.group_size = _int(par.get("workers")) if multinode else None
            v.multinode = multinode
            v.parallelism_path = (role, "parallelism")
            if v.accelerator_count is None and not v.simulator and accel.get("type") not in (None, "cpu"):
                v.accelerator_count = v.tensor * v.data_parallel_local  # the chart fills it in itself
            views.append(v)
    return views


# --- vllmgen values -----------------------------------------------------------------------------------

def _values_views(ld: LoadedDoc) -> list[ContainerView]:
    data = ld.data
    routing = data.get("routing") if isinstance(data.get("routing"), dict) else {}
    proxy = routing.get("proxy") if isinstance(routing.get("proxy"), dict) else {}
    service_port = _int(routing.get("servicePort")) or LLMD_SERVICE_PORT
    supervisor = data.get("supervisor") if isinstance(data.get("supervisor"), dict) else {}
    health_port = _int(supervisor.get("port"))
    accel = data.get("accelerator") if isinstance(data.get("accelerator"), dict) else {}
    resource = accel.get("resource") if isinstance(accel.get("resource"), str) else None
    api = data.get("apiKey") if isinstance(data.get("apiKey"), dict) else {}
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else None
    engine = spec.get("engine") if spec and isinstance(spec.get("engine"), dict) else {}
    layout = data.get("layout")
    image = data.get("image") if isinstance(data.get("image"), dict) else {}
    views = []
    for role in ROLES:
        block = data.get(role)
        if not isinstance(block, dict):
            continue
        v = ContainerView(ld, f"{role} values", (role,), role,
                          image=f"{image.get('repository', '')}:{image.get('tag', '')}")
        v.args = flatten_command(block.get("command"), block.get("args"))
        v.args_path = (role, "args")
        v.env = _env_list(block.get("env"), (role, "env"))
        if isinstance(engine.get("env"), dict):
            v.env += [EnvVar(k, str(val), False, ("spec", "engine", "env", k)) for k, val in engine["env"].items()]
        port = _int(block.get("port"))
        v.vllm_port = port if port is not None else VLLM_DEFAULT_PORT
        v.vllm_port_reason = f"{role}.port" if port is not None else f"vLLM's default port {VLLM_DEFAULT_PORT}"
        v.ports = {"vllm": v.vllm_port}
        v.port_numbers = {v.vllm_port}
        if health_port is not None:
            v.health_port = health_port
            v.ports["health"] = health_port
            v.port_numbers.add(health_port)
        if role == "decode" and proxy.get("enabled") is True:
            v.sidecar_ports = {service_port}
            v.ports["proxy"] = service_port
        probes = block.get("probes") if isinstance(block.get("probes"), dict) else {}
        v.probes = {k: Probe(k, probes[k], (role, "probes", k)) for k in PROBE_KINDS if isinstance(probes.get(k), dict)}
        _api_key(v)
        triton = data.get("triton") if isinstance(data.get("triton"), dict) else None
        if data.get("server") == "triton" or triton is not None:
            _triton_container(v)
            v.triton = True
            if triton is not None:
                for name, key in (("grpc", "grpcPort"), ("metrics", "metricsPort")):
                    if _int(triton.get(key)) is not None:
                        v.ports[name] = _int(triton[key])
                        v.port_numbers.add(v.ports[name])
                repo = triton.get("modelRepository") if isinstance(triton.get("modelRepository"), dict) else {}
                files = repo.get("files") if isinstance(repo.get("files"), dict) else {}
                v.triton_configs = [t for p, t in files.items() if str(p).endswith(".pbtxt") and isinstance(t, str)]
        if not v.api_key and (api.get("secretName") or engine.get("apiKeySecretName")):
            v.api_key = "apiKey.secretName" if api.get("secretName") else "spec.engine.apiKeySecretName"
        v.resources_path = (role, "resources")
        if resource:
            v.accelerator_resource, v.accelerator_count = _accelerator(block.get("resources"), [resource])
            if v.accelerator_resource is None:
                v.accelerator_resource, v.accelerator_count = resource, 0
        par = block.get("parallelism") if isinstance(block.get("parallelism"), dict) else {}
        v.tensor = _int(par.get("tensor")) or 1
        v.data_parallel_local = _int(par.get("dataLocal")) or 1
        v.data_parallel = _int(par.get("data"))
        v.multinode = data.get("multinode") is True or layout == "wide-ep"
        v.group_size = _int(par.get("workers")) if v.multinode else None
        v.parallelism_path = (role, "parallelism")
        v.simulator = layout == "simulated"
        v.spec = spec
        views.append(v)
    return views


def views_of(ld: LoadedDoc) -> list[ContainerView]:
    builder = {KUBERNETES: _kubernetes_views, POD_SPEC: _pod_spec_views, MODELSERVICE: _modelservice_views,
               VALUES: _values_views}.get(ld.kind)
    return builder(ld) if builder else []
