"""The "container under review": one normalized view of a vLLM container, whatever file it came from.

Rules (rules.py) only ever see a `ContainerView`, so the same rule covers a Deployment, a Pod, a
LeaderWorkerSet, a bare pod-spec fragment from a guide, llm-d-modelservice values and vllmgen values.
Building a view is pure: it takes a classified document and returns views with JSON paths for line numbers.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Optional

from vllmgen import layouts, workloads
from vllmgen.accelerators import ACCELERATOR_RESOURCES
from vllmgen.images import SIDECAR_NAME_FRAGMENTS, SIMULATOR_NAME_FRAGMENT
from vllmgen.lint import arithmetic
from vllmgen.lint.loader import KUBERNETES, MODELSERVICE, POD_SPEC, VALUES, LoadedDoc
from vllmgen.roles import (DECODE_VLLM_PORT, HEALTH_PORT_NAME, PROXY_PORT_NAME, ROLES, SERVICE_PORT,
                           VLLM_PORT_NAME)
from vllmgen.servers.triton import GRPC_PORT, GRPC_PORT_NAME, METRICS_PORT, METRICS_PORT_NAME
from vllmgen.workloads import PROBE_KINDS, Container, EnvVar, PodTemplate, Probe, Problem

#: Container names the llm-d routing sidecar goes by (its image is matched by SIDECAR_NAME_FRAGMENTS).
SIDECAR_NAMES = ("routing-proxy", "routing-sidecar")
#: What marks a container as the model server when a pod has several.
SERVER_HINTS = re.compile(r"vllm|llm-d|inference-sim|tritonserver")


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
        return workloads.resolve_port(port, self.ports)

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
    if value.isdigit() and value.isascii():
        return _int(value)
    m = re.fullmatch(r"\$\{?\(?([A-Za-z_][A-Za-z0-9_]*)\)?\}?", value)
    if m:
        return variables.get(m.group(1))
    m = re.fullmatch(r"\$\(\((.*)\)\)", value, re.DOTALL)
    if not m:
        return None
    unknown = []

    def substitute(name: re.Match) -> str:
        v = variables.get(name.group(1))
        if v is None:
            unknown.append(name.group(1))
        return str(v)

    expr = re.sub(r"\$?\{?\b([A-Za-z_][A-Za-z0-9_]*)\b\}?", substitute, m.group(1))
    return None if unknown else _int(arithmetic.evaluate(expr))


#: Largest count read from a manifest (ports, sizes, parallel sizes): the API's int32 fields end there.
MAX_COUNT = workloads.INT32_MAX


def _int(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii() and len(value.strip()) <= 10:
        value = int(value.strip())
    if isinstance(value, int) and value <= MAX_COUNT:
        return value
    return None


# --- pieces shared by every source --------------------------------------------------------------------

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


def _triton_container(view: ContainerView) -> None:
    """Mark a tritonserver container and name its gRPC/metrics ports (--grpc-port/--metrics-port or Triton's
    defaults). Its model repository's config.pbtxt is looked up file-wide by the runner (rules.triton_configs)."""
    text = " ".join(view.args)
    if "tritonserver" not in text and "tritonserver" not in view.image:
        return
    view.triton = True
    for name, flag, default in ((GRPC_PORT_NAME, "--grpc-port", GRPC_PORT),
                                (METRICS_PORT_NAME, "--metrics-port", METRICS_PORT)):
        port = _int(flag_value(text, flag)) or default
        view.ports.setdefault(name, port)
        view.port_numbers.add(port)


def _is_sidecar(c: Container) -> bool:
    """The llm-d routing sidecar (by container name or image)."""
    return c.name in SIDECAR_NAMES or any(s in c.image for s in SIDECAR_NAME_FRAGMENTS)


def _sidecar_port(c: Container) -> int:
    port = _int(flag_value(" ".join(flatten_command(c.command, c.args)), "--port", "-port"))
    if port is None and c.port_numbers:
        port = c.port_numbers[0]
    return port or SERVICE_PORT


def _view(ld: LoadedDoc, c: Container, where: str, role: str) -> ContainerView:
    """What every container source shares: image, command line, env, ports and probes as written."""
    v = ContainerView(ld, where, c.path, role, image=c.image)
    v.args = flatten_command(c.command, c.args)
    v.env = list(c.env)
    v.ports = dict(c.ports)
    v.port_numbers = set(c.port_numbers)
    v.health_port = v.ports.get(HEALTH_PORT_NAME)
    v.probes = dict(c.probes)
    v.simulator = SIMULATOR_NAME_FRAGMENT in v.image
    v.resources_path = c.path + ("resources",)
    return v


def _vllm_port_from_container(view: ContainerView, default: int, default_reason: str) -> None:
    text = " ".join(view.args)
    port = evaluate(flag_value(text, "--port"), {e.name: _int(e.value) for e in view.env})
    if port is not None:
        view.vllm_port, view.vllm_port_reason = port, "its --port argument"
    elif VLLM_PORT_NAME in view.ports:
        view.vllm_port = view.ports[VLLM_PORT_NAME]
        view.vllm_port_reason = f"the container port named `{VLLM_PORT_NAME}`"
    elif len(view.port_numbers - {view.health_port}) == 1:
        view.vllm_port = next(iter(view.port_numbers - {view.health_port}))
        view.vllm_port_reason = "its only container port"
    else:
        view.vllm_port, view.vllm_port_reason = default, default_reason
        view.vllm_port_guessed = True


# --- Kubernetes objects and pod-spec fragments --------------------------------------------------------

def _role_from_meta(*metas: workloads.Meta) -> Optional[str]:
    for meta in metas:
        for key in ("llm-d.ai/role", "vllmgen.dev/role", "app.kubernetes.io/component"):
            if meta.labels.get(key) in ROLES:
                return meta.labels[key]
    for meta in metas:
        if meta.name is not None:
            words = re.split(r"[-_.]", meta.name)
            for role in ("decode", "prefill"):
                if role in words:
                    return role
    return None


def _pod_views(ld: LoadedDoc, pod: PodTemplate, label: str, role: Optional[str]) -> list[ContainerView]:
    sidecars = [c for c in pod.containers + pod.init_containers if _is_sidecar(c)]
    sidecar_ports = {_sidecar_port(c) for c in sidecars}
    if role is None:
        role = "decode" if sidecars else "standalone"
    candidates = [c for c in pod.containers if not _is_sidecar(c)]
    servers = [c for c in candidates
               if c.name == "vllm" or SERVER_HINTS.search(c.image) or SERVER_HINTS.search(" ".join(c.command + c.args))]
    if not servers and len(candidates) == 1:
        servers = candidates
    views = []
    for c in servers:
        v = _view(ld, c, f"{label}, container {c.data.get('name', c.path[-1])}", role)
        v.args_path = c.path + (("args",) if "args" in c.data else ("command",) if "command" in c.data else ())
        v.sidecar_ports = sidecar_ports
        default = SERVICE_PORT
        _vllm_port_from_container(v, default, f"vLLM's default port {default} (no --port, no `vllm` port)")
        _api_key(v)
        _triton_container(v)
        v.accelerator_resource, v.accelerator_count = _accelerator(c.resources, ACCELERATOR_RESOURCES)
        v.group_size = pod.group_size
        v.multinode = pod.group_size is not None
        variables = {e.name: _int(e.value) for e in v.env}
        if pod.group_size is not None:
            variables["LWS_GROUP_SIZE"] = pod.group_size
        _parallel_from_args(v, variables)
        v.parallelism_path = v.args_path
        views.append(v)
    return views


def _kubernetes_views(ld: LoadedDoc, problems: list[Problem]) -> list[ContainerView]:
    reading = workloads.read(ld.doc)
    problems.extend(reading.all_problems())
    views = []
    for t in reading.templates:
        label = f"{t.kind} {t.name}" + (f" ({t.template})" if t.template else "")
        views.extend(_pod_views(ld, t, label, _role_from_meta(t.template_meta, t.object_meta)))
    return views


def _pod_spec_views(ld: LoadedDoc, problems: list[Problem]) -> list[ContainerView]:
    pod = workloads.read_pod_spec(ld.data, (), ld.doc)
    problems.extend(pod.all_problems())
    meta = workloads.read_meta(ld.data.get("metadata"), ("metadata",), problems)
    return _pod_views(ld, pod, "pod spec", _role_from_meta(meta))


# --- llm-d-modelservice values ------------------------------------------------------------------------

def _modelservice_views(ld: LoadedDoc, problems: list[Problem]) -> list[ContainerView]:
    data = ld.data
    routing = data.get("routing") if isinstance(data.get("routing"), dict) else {}
    proxy = routing.get("proxy") if isinstance(routing.get("proxy"), dict) else {}
    service_port = _int(routing.get("servicePort")) or SERVICE_PORT
    proxy_on = proxy.get("enabled", True) is not False
    target_port = _int(proxy.get("targetPort")) or DECODE_VLLM_PORT
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
        for i, item in enumerate(block["containers"]):
            c = workloads.read_container(item, (role, "containers", i))
            if c is None:
                problems.append(workloads.Problem((role, "containers", i), "must be a mapping (a container)"))
                continue
            problems.extend(c.problems)
            if _is_sidecar(c):
                continue
            v = _view(ld, c, f"{role} values, container {item.get('name', i)}", role)
            v.args_path = c.path + ("args",)
            if role == "decode" and proxy_on:
                v.sidecar_ports = {service_port}
                default, why = target_port, f"routing.proxy.targetPort ({target_port}): decode vLLM behind the sidecar"
            else:
                default, why = service_port, f"routing.servicePort ({service_port})"
            # the chart passes --port itself unless modelCommand is custom; a declared port only documents it
            if item.get("modelCommand") == "custom":
                _vllm_port_from_container(v, default, why)
            else:
                v.vllm_port, v.vllm_port_reason = default, why + " (the chart passes it as --port)"
            _api_key(v)
            v.accelerator_resource, v.accelerator_count = _accelerator(c.resources, names)
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

def _values_views(ld: LoadedDoc, problems: list[Problem]) -> list[ContainerView]:
    """vllmgen values: the chart's values schema (VG000) already reports wrong shapes, so none are added here."""
    data = ld.data
    routing = data.get("routing") if isinstance(data.get("routing"), dict) else {}
    proxy = routing.get("proxy") if isinstance(routing.get("proxy"), dict) else {}
    service_port = _int(routing.get("servicePort")) or SERVICE_PORT
    supervisor = data.get("supervisor") if isinstance(data.get("supervisor"), dict) else {}
    health_port = _int(supervisor.get("port"))
    accel = data.get("accelerator") if isinstance(data.get("accelerator"), dict) else {}
    resource = accel.get("resource") if isinstance(accel.get("resource"), str) else None
    api = data.get("apiKey") if isinstance(data.get("apiKey"), dict) else {}
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else None
    engine = spec.get("engine") if spec and isinstance(spec.get("engine"), dict) else {}
    layout = layouts.LAYOUT_TABLE.get(data.get("layout")) if isinstance(data.get("layout"), str) else None
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
        v.env = workloads.read_env(block.get("env"), (role, "env"), [])
        if isinstance(engine.get("env"), dict):
            v.env += [EnvVar(k, str(val), False, ("spec", "engine", "env", k)) for k, val in engine["env"].items()]
        port = _int(block.get("port"))
        v.vllm_port = port if port is not None else SERVICE_PORT
        v.vllm_port_reason = f"{role}.port" if port is not None else f"vLLM's default port {SERVICE_PORT}"
        v.ports = {VLLM_PORT_NAME: v.vllm_port}
        v.port_numbers = {v.vllm_port}
        if health_port is not None:
            v.health_port = health_port
            v.ports[HEALTH_PORT_NAME] = health_port
            v.port_numbers.add(health_port)
        if role == "decode" and proxy.get("enabled") is True:
            v.sidecar_ports = {service_port}
            v.ports[PROXY_PORT_NAME] = service_port
        probes = block.get("probes") if isinstance(block.get("probes"), dict) else {}
        v.probes = {k: workloads.read_probe(k, probes[k], (role, "probes", k))
                    for k in PROBE_KINDS if isinstance(probes.get(k), dict)}
        _api_key(v)
        triton = data.get("triton") if isinstance(data.get("triton"), dict) else None
        if data.get("server") == "triton" or triton is not None:
            _triton_container(v)
            v.triton = True
            if triton is not None:
                for name, key in ((GRPC_PORT_NAME, "grpcPort"), (METRICS_PORT_NAME, "metricsPort")):
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
        v.multinode = data.get("multinode") is True or bool(layout and layout.multinode)
        v.group_size = _int(par.get("workers")) if v.multinode else None
        v.parallelism_path = (role, "parallelism")
        v.simulator = bool(layout and layout.simulator)
        v.spec = spec
        views.append(v)
    return views


def views_of(ld: LoadedDoc, problems: Optional[list[Problem]] = None) -> list[ContainerView]:
    """The containers under review in one document; wrong shapes met on the way are added to `problems`."""
    builder = {KUBERNETES: _kubernetes_views, POD_SPEC: _pod_spec_views, MODELSERVICE: _modelservice_views,
               VALUES: _values_views}.get(ld.kind)
    return builder(ld, [] if problems is None else problems) if builder else []
