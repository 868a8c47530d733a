"""The "container under review": one normalized view of a container, whatever file it came from.

Every container met is viewed and identified (`identify`): what it runs and why. Rules (rules.py) only ever
see the views of containers that run a model server, so the same rule covers a Deployment, a Pod, a
LeaderWorkerSet, KServe, Dynamo and KubeRay objects, a bare pod-spec fragment from a guide,
llm-d-modelservice values and vllmgen values. Building a view is pure: it takes a classified document (and
what else its file holds: ConfigMaps a container mounts, DRA claim templates) and returns views with JSON paths
for line numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Optional

from vllmgen import layouts, workloads
from vllmgen.accelerators import (ACCELERATOR_RESOURCES, DRA_DEVICE_CLASSES, MODELSERVICE_RESOURCES,
                                  NOT_ACCELERATOR_SHAPE, is_accelerator, may_be_accelerator)
from vllmgen.lint import identify
from vllmgen.lint.commandline import (command_text, evaluate, flag_value, has_flag, positional_model, to_float,
                                      to_int)
from vllmgen.lint.identify import Identity
from vllmgen.lint.loader import KUBERNETES, MODELSERVICE, POD_SPEC, LoadedDoc
from vllmgen.roles import DECODE_VLLM_PORT, HEALTH_PORT_NAME, ROLES, SERVICE_PORT, VLLM_PORT_NAME
from vllmgen import servers
from vllmgen.workloads import Container, EnvVar, PodTemplate, PreStop, Probe, Problem

#: vLLM's `--data-parallel-multi-port-external-lb` mode: a supervisor starts one API server per local
#: data-parallel rank (ports --port + rank) and answers /health, /ready and /readyz for all of them on its own
#: port, 9256 unless --data-parallel-supervisor-port says otherwise (vllm/entrypoints/launchers/dp_supervisor.py,
#: cli_args.py; docs/upstream-facts.md#vllm-endpoints).
DP_SUPERVISOR_FLAGS = ("--data-parallel-multi-port-external-lb", "-dpm")
DP_SUPERVISOR_DEFAULT_PORT = 9256
#: vLLM's `--shutdown-timeout` default: in-flight requests are aborted at once (docs/upstream-facts.md#vllm-shutdown-and-drain).
DEFAULT_SHUTDOWN_TIMEOUT_S = 0


@dataclass
class ContainerView:
    ld: LoadedDoc
    where: str                              # human label: "Deployment vllm-decode, container vllm"
    base: tuple                             # JSON path of the container (or role block) in the document
    role: str                               # standalone | prefill | decode (standalone when unknown)
    identity: Identity = identify.NONE
    name: Optional[str] = None
    image: str = ""
    text: str = ""                          # command + args (+ scripts it runs), as commandline reads them
    args_path: tuple = ()
    ports: dict[str, int] = field(default_factory=dict)      # named container ports
    port_numbers: set[int] = field(default_factory=set)      # every declared container port
    vllm_port: Optional[int] = None
    vllm_port_reason: str = ""
    vllm_port_guessed: bool = False                          # only vLLM's default: the entrypoint may differ
    health_port: Optional[int] = None                        # supervisor health server (port name `health`)
    dp_supervisor_port: Optional[int] = None                 # vLLM's data-parallel supervisor (multi-port mode)
    rank_ports: set[int] = field(default_factory=set)        # one API server per local rank in that mode
    sidecar_ports: set[int] = field(default_factory=set)
    probes: dict[str, Probe] = field(default_factory=dict)
    env: list[EnvVar] = field(default_factory=list)
    api_key: Optional[str] = None                            # how the API key is switched on, if it is
    accelerator_resource: Optional[str] = None
    accelerator_count: Optional[int] = None
    accelerators_unknown: bool = False                       # DRA claims whose templates are not in view
    resources_path: tuple = ()
    tensor: Optional[int] = None
    pipeline: Optional[int] = None
    data_parallel: Optional[int] = None
    data_parallel_local: Optional[int] = None
    expert_parallel: bool = False
    dp_expression: Optional[str] = None                      # e.g. "$((LWS_GROUP_SIZE * DP_SIZE_LOCAL))"
    parallelism_path: tuple = ()
    group_size: Optional[int] = None                         # LeaderWorkerSet size / values workers
    group_restart: Optional[str] = None                      # LeaderWorkerSet restartPolicy, where written
    group_restart_path: tuple = ()
    group_accelerators: Optional[int] = None                 # every pod of the group together
    group_label: str = ""                                    # how the group's total is made up
    spans_pods: bool = False                                 # one vLLM instance's ranks span the group's pods
    multinode: bool = False
    simulator: bool = False
    spec: Optional[dict] = None                              # effective model spec carried by values
    model: Optional[str] = None                              # the model it serves, when named
    model_size: Optional[tuple[float, str]] = None           # (bytes, where the size comes from), set by the runner
    adapter_ranks: dict[str, int] = field(default_factory=dict)  # LoRA ranks from specs in the run, set by the runner
    triton: bool = False                                     # runs tritonserver (Triton's vLLM backend)
    server_ports: dict[str, int] = field(default_factory=dict)  # other ports its server listens on (servers/)
    triton_configs: list[str] = field(default_factory=list)  # config.pbtxt texts of its model repository, if seen
    pre_stop: PreStop = PreStop()
    grace: Optional[int] = None                              # terminationGracePeriodSeconds of its pod
    grace_path: tuple = ()
    shutdown_timeout: Optional[float] = DEFAULT_SHUTDOWN_TIMEOUT_S  # None: written but not readable
    cuda_visible: Optional[str] = None
    cuda_visible_path: tuple = ()
    overlay: bool = False                                    # a partial values file (layered by Helm)
    hub_cache_kept: Optional[bool] = None                    # a volume holds the hub cache across restarts (None:
                                                             # not known)

    @property
    def file(self) -> str:
        return self.ld.doc.file

    @property
    def engine_only(self) -> bool:
        """vLLM's engine without its HTTP server (Dynamo's worker): port and path rules do not apply."""
        return self.identity.server == identify.DYNAMO

    def line(self, path: tuple) -> Optional[int]:
        return self.ld.doc.line(path)

    def resolve_port(self, port) -> Optional[int]:
        return workloads.resolve_port(port, self.ports)

    def env_value(self, name: str) -> Optional[str]:
        for e in self.env:
            if e.name == name:
                return e.value
        return None

    @property
    def world(self) -> Optional[int]:
        """Accelerators one vLLM instance (one data-parallel rank) uses: tensor x pipeline."""
        if self.tensor is None:
            return None
        return self.tensor * (self.pipeline or 1)


@dataclass
class FileContext:
    """What the rest of a file holds that a container may use: ConfigMaps (name -> data) and DRA
    ResourceClaimTemplates (name -> accelerator devices requested, None when it requests none it knows)."""

    configmaps: dict[str, dict] = field(default_factory=dict)
    claim_templates: dict[str, tuple[Optional[int], bool]] = field(default_factory=dict)  # name -> _claim_devices

    def model_configs(self) -> tuple[str, ...]:
        """Triton model configurations (`*.pbtxt` keys) the file's ConfigMaps hold."""
        return tuple(t for data in self.configmaps.values() for k, t in data.items()
                     if isinstance(t, str) and str(k).endswith(".pbtxt"))


def file_context(datas) -> FileContext:
    ctx = FileContext()
    for data in datas:
        for _, obj in workloads.objects(data):
            kind = obj.get("kind")
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            name = meta.get("name")
            if not isinstance(name, str):
                continue
            if kind == "ConfigMap" and isinstance(obj.get("data"), dict):
                ctx.configmaps[name] = obj["data"]
            elif kind == "ResourceClaimTemplate":
                ctx.claim_templates[name] = _claim_devices(obj.get("spec"))
    return ctx


def _claim_devices(spec) -> tuple[Optional[int], bool]:
    """Accelerators a ResourceClaimTemplate requests: devices of an accelerator device class (resource.k8s.io v1
    `exactly`, or v1beta1 requests), `count` defaulting to 1 (allocationMode ExactCount); and whether it asks for a
    device class vllmgen does not know, which may be accelerators of a DRA driver of its own."""
    inner = spec.get("spec") if isinstance(spec, dict) else None
    devices = inner.get("devices") if isinstance(inner, dict) else None
    requests = devices.get("requests") if isinstance(devices, dict) else None
    if not isinstance(requests, list):
        return None, False
    total, seen, other = 0, False, False
    for r in requests:
        if not isinstance(r, dict):
            continue
        exact = r.get("exactly") if isinstance(r.get("exactly"), dict) else r
        cls = exact.get("deviceClassName")
        if isinstance(cls, str) and cls in DRA_DEVICE_CLASSES:
            seen = True
            total += to_int(exact.get("count")) or 1
        elif isinstance(cls, str) and not NOT_ACCELERATOR_SHAPE.fullmatch(cls):
            other = True
    return (total if seen else None), other


# --- pieces shared by every source --------------------------------------------------------------------

def _accelerator(resources, names) -> tuple[Optional[str], Optional[int]]:
    """The first of `names` (or a resource of an accelerator's shape) the container requests, and how many."""
    if not isinstance(resources, dict):
        return None, None
    for section in ("limits", "requests"):
        block = resources.get(section)
        if isinstance(block, dict):
            for name in names:
                if name in block and name:
                    return name, to_int(block[name])
            for name in block:
                if isinstance(name, str) and is_accelerator(name):
                    return name, to_int(block[name])
    return None, None


def _unknown_devices(resources) -> bool:
    """The container requests an extended resource that may be an accelerator vllmgen does not know by name (a
    custom device plugin's): how many accelerators it has cannot be told."""
    if not isinstance(resources, dict):
        return False
    return any(isinstance(name, str) and may_be_accelerator(name)
               for section in ("limits", "requests") if isinstance(resources.get(section), dict)
               for name in resources[section])


def _parallel_from_args(view: ContainerView, variables: dict[str, Optional[int]], runs_vllm: bool) -> None:
    text = view.text
    default = 1 if runs_vllm else None  # vLLM's default for the sizes it is not given

    def size(*names: str) -> Optional[int]:
        raw = flag_value(text, *names)
        return default if raw is None else evaluate(raw, variables)

    view.tensor = size("--tensor-parallel-size", "-tp")
    view.pipeline = size("--pipeline-parallel-size", "-pp")
    dp_raw = flag_value(text, "--data-parallel-size", "-dp")
    view.dp_expression = dp_raw
    view.data_parallel = evaluate(dp_raw, variables)
    local_raw = flag_value(text, "--data-parallel-size-local", "-dpl")
    view.data_parallel_local = evaluate(local_raw, variables) if local_raw is not None else None
    view.expert_parallel = has_flag(text, "--enable-expert-parallel", "-ep")


def _api_key(view: ContainerView) -> None:
    if has_flag(view.text, "--api-key"):
        view.api_key = "--api-key"
    elif any(e.name == "VLLM_API_KEY" and (e.value or e.from_secret) for e in view.env):
        view.api_key = "VLLM_API_KEY"


def _server_container(view: ContainerView) -> None:
    """Ask each server of servers/ whether the container runs it: the ports it listens on besides HTTP, by
    their conventional names (numbers only: a name the container does not declare is no port to kubelet). Its
    model repository's config.pbtxt is looked up file-wide by the runner (triton_rules.triton_configs)."""
    for name in servers.NAMES:
        server = servers.get(name)
        if server.runs_in(view.text, view.image):
            view.server_ports = server.listen_ports(view.text)
            view.port_numbers |= set(view.server_ports.values())
            view.triton = view.triton or bool(view.server_ports)
            return


def _sidecar_port(c: Container) -> int:
    port = to_int(flag_value(command_text(c.command, c.args), "--port", "-port"))
    if port is None and c.port_numbers:
        port = c.port_numbers[0]
    return port or SERVICE_PORT


def _view(ld: LoadedDoc, c: Container, where: str, role: str, scripts: str = "") -> ContainerView:
    """What every container source shares: image, command line, env, ports and probes as written."""
    v = ContainerView(ld, where, c.path, role, name=c.name, image=c.image)
    v.text = command_text(c.command, c.args, scripts)
    v.env = list(c.env)
    v.ports = dict(c.ports)
    v.port_numbers = set(c.port_numbers)
    v.health_port = v.ports.get(HEALTH_PORT_NAME)
    v.probes = dict(c.probes)
    v.simulator = identify.SIMULATOR_NAME_FRAGMENT in v.image
    v.resources_path = c.resources_path or c.path + ("resources",)
    v.pre_stop = c.pre_stop
    for e in c.env:
        if e.name == "CUDA_VISIBLE_DEVICES" and e.value is not None:
            v.cuda_visible, v.cuda_visible_path = e.value, e.path + ("value",)
    raw = flag_value(v.text, "--shutdown-timeout")
    v.shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT_S if raw is None else to_float(raw)
    return v


def _vllm_port_from_container(view: ContainerView, default: int, default_reason: str) -> None:
    port = evaluate(flag_value(view.text, "--port"), {e.name: to_int(e.value) for e in view.env})
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


def _dp_supervisor(view: ContainerView) -> None:
    """vLLM's data-parallel supervisor: its health port, and one API server port per local rank."""
    if not has_flag(view.text, *DP_SUPERVISOR_FLAGS):
        return
    view.dp_supervisor_port = to_int(flag_value(view.text, "--data-parallel-supervisor-port")) \
        or DP_SUPERVISOR_DEFAULT_PORT
    if view.vllm_port is not None:
        view.rank_ports = {view.vllm_port + i for i in range(max(1, view.data_parallel_local or 1))}


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


def _scripts(c: Container, pod: PodTemplate, ctx: FileContext) -> str:
    """Texts of ConfigMap keys the container mounts and names in its command (a start script kept in a
    ConfigMap of the same file)."""
    text = " ".join(c.command + c.args)
    out = []
    for mount, volume in c.volume_mounts.items():
        if mount not in text:
            continue
        source = pod.volumes.get(volume, {}).get("configMap")
        data = ctx.configmaps.get(source.get("name")) if isinstance(source, dict) else None
        if isinstance(data, dict):
            out += [v for k, v in data.items() if isinstance(v, str) and f"{mount.rstrip('/')}/{k}" in text]
    return "\n".join(out)


def _dra(c: Container, pod: PodTemplate, ctx: FileContext) -> tuple[Optional[int], bool]:
    """Accelerators the container's DRA claims give it, and whether some claim's template is not in view."""
    total, unknown, seen = 0, False, False
    for claim in c.claims:
        template = pod.resource_claims.get(claim)
        if template is None or template not in ctx.claim_templates:
            unknown = True
            continue
        devices, other = ctx.claim_templates[template]
        if devices is not None:
            total, seen = total + devices, True
        unknown = unknown or (other and devices is None)
    return (total if seen else None), unknown


def _container_view(ld: LoadedDoc, pod: PodTemplate, c: Container, label: str, role: str, ctx: FileContext,
                    ident: Identity, sidecar_ports: set[int]) -> ContainerView:
    v = _view(ld, c, f"{label}, container {c.data.get('name', c.path[-1])}", role, _scripts(c, pod, ctx))
    v.identity = ident
    v.accelerator_resource, v.accelerator_count = _accelerator(c.resources, ACCELERATOR_RESOURCES)
    devices, unknown = _dra(c, pod, ctx)
    if devices is not None:
        v.accelerator_resource = v.accelerator_resource or "DRA devices"
        v.accelerator_count = (v.accelerator_count or 0) + devices
    v.accelerators_unknown = unknown or (v.accelerator_resource is None and _unknown_devices(c.resources))
    if not ident.reviewed:
        return v
    v.args_path = c.path + (("args",) if "args" in c.data else ("command",) if "command" in c.data else ())
    v.sidecar_ports = sidecar_ports
    _vllm_port_from_container(v, SERVICE_PORT, f"vLLM's default port {SERVICE_PORT} (no --port, no `vllm` port)")
    _api_key(v)
    _server_container(v)
    v.group_size = pod.group_size
    v.multinode = pod.group_size is not None
    v.group_restart, v.group_restart_path = pod.group_restart, pod.group_restart_path
    variables = {e.name: to_int(e.value) for e in v.env}
    if pod.group_size is not None:
        variables["LWS_GROUP_SIZE"] = pod.group_size
    _parallel_from_args(v, variables, ident.server in (identify.VLLM, identify.DYNAMO))
    if pod.parallelism and ident.server == identify.VLLM and not flag_value(v.text, "--tensor-parallel-size"):
        par = pod.parallelism  # KServe passes spec.parallelism to vllm serve itself
        v.tensor = to_int(par.get("tensor")) or 1
        v.pipeline = to_int(par.get("pipeline")) or 1
        v.data_parallel = to_int(par.get("data"))
        v.data_parallel_local = to_int(par.get("dataLocal"))
        v.expert_parallel = par.get("expert") is True
        v.parallelism_path = pod.object_path + pod.site.parallelism
    v.parallelism_path = v.parallelism_path or v.args_path
    _dp_supervisor(v)
    if ident.server == identify.SUPERVISOR:
        _supervised(v, c, pod, ctx)
    v.model = v.model or (positional_model(v.text) if ident.server in (identify.VLLM, identify.DYNAMO) else None)
    if v.model is None or v.model.startswith("$") or "{{" in v.model:
        v.model = pod.model
    v.grace = pod.termination_grace
    v.grace_path = pod.spec_path + ("terminationGracePeriodSeconds",)
    v.hub_cache_kept = _hub_cache_kept(c)
    return v


#: Files of the ConfigMap `vllmgen serve --spec` reads (the chart mounts the spec as both).
SPEC_FILES = ("spec.json", "spec.yaml")


def _mounted_spec(c: Container, pod: PodTemplate, ctx: FileContext) -> Optional[dict]:
    """The model spec `vllmgen serve --spec PATH` reads, when PATH is a ConfigMap of the file mounted into the
    container (as charts/vllm mounts it)."""
    spec_arg = flag_value(command_text(c.command, c.args), "--spec", "-s")
    if not spec_arg:
        return None
    for mount, volume in c.volume_mounts.items():
        if not spec_arg.startswith(mount.rstrip("/") + "/"):
            continue
        source = pod.volumes.get(volume, {}).get("configMap")
        data = ctx.configmaps.get(source.get("name")) if isinstance(source, dict) else None
        key = spec_arg[len(mount.rstrip("/")) + 1:]
        for item in (source.get("items") or []) if isinstance(source, dict) else []:
            if isinstance(item, dict) and item.get("path") == key:
                key = item.get("key", key)
        text = data.get(key) if isinstance(data, dict) else None
        if isinstance(text, str):
            try:
                spec = json.loads(text) if key.endswith(".json") else None
            except ValueError:
                spec = None
            if spec is None:
                try:
                    from vllmgen.yamlio import parse_document
                    spec = parse_document(text, key).data
                except Exception:  # a spec the supervisor itself would refuse: read nothing from it
                    spec = None
            return spec if isinstance(spec, dict) else None
    return None


def _supervised(v: ContainerView, c: Container, pod: PodTemplate, ctx: FileContext) -> None:
    """`vllmgen serve`: vLLM's parallelism, model and drain come from the spec it is given, not its command line."""
    spec = _mounted_spec(c, pod, ctx)
    if spec is None:
        return
    v.spec = spec
    v.spans_pods = _spec_spans_pods(spec)
    engine = spec.get("engine") if isinstance(spec.get("engine"), dict) else {}
    v.tensor = to_int(engine.get("tensorParallelSize")) or 1
    v.pipeline = to_int(engine.get("pipelineParallelSize")) or 1  # multi-node: stages over the group's pods
    v.data_parallel = to_int(engine.get("dataParallelSize"))
    v.data_parallel_local = to_int(engine.get("dataParallelSizeLocal")) or 1
    model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
    v.model = model.get("source") if isinstance(model.get("source"), str) else None
    if engine.get("shutdownTimeoutSeconds") is not None:
        v.shutdown_timeout = to_float(engine.get("shutdownTimeoutSeconds"))


#: Where the Hugging Face hub client keeps downloads when nothing says otherwise (huggingface_hub constants:
#: HF_HOME defaults to ~/.cache/huggingface, the hub cache is HF_HOME/hub); vLLM's images run as root.
DEFAULT_HF_HOME = "/root/.cache/huggingface"


def _hub_cache_kept(c: Container) -> bool:
    """The hub cache directory is on a volume (any volume outlives a container restart), not in the container's
    own filesystem, which a restart throws away with a half-done download."""
    env = {e.name: e.value for e in c.env if e.value}
    home = env.get("HF_HOME") or (f"{env['HOME'].rstrip('/')}/.cache/huggingface" if env.get("HOME")
                                  else DEFAULT_HF_HOME)
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or f"{home.rstrip('/')}/hub"
    return any(cache == m.rstrip("/") or cache.startswith(m.rstrip("/") + "/") for m in c.volume_mounts)


def _pod_views(ld: LoadedDoc, pod: PodTemplate, label: str, role: Optional[str], ctx: FileContext,
               ray_vllm: bool = False) -> list[ContainerView]:
    sidecars = [c for c in pod.containers + pod.init_containers if identify.is_sidecar(c.name, c.image)]
    sidecar_ports = {_sidecar_port(c) for c in sidecars}
    if role is None:
        role = "decode" if sidecars else "standalone"
    first = pod.containers[0] if pod.containers else None
    configs = ctx.model_configs()
    views = []
    for c in pod.init_containers + pod.containers:
        ident = identify.identify(
            name=c.name, image=c.image, command=c.command, args=c.args, scripts=_scripts(c, pod, ctx),
            server_container=pod.site.server_container, launcher=pod.site.launcher, first=c is first,
            group_runs_vllm_on_ray=ray_vllm, configs=configs)
        if c.init and not c.native_sidecar and ident.reviewed:
            ident = Identity(None, f"init container ({ident.evidence}): runs to completion before the pod starts")
        views.append(_container_view(ld, pod, c, label, role, ctx, ident, sidecar_ports))
    return views


def _pod_accelerators(views: list[ContainerView]) -> Optional[int]:
    counts = [v.accelerator_count for v in views if v.identity.runs_vllm and v.accelerator_count is not None]
    return max(counts) if counts else None


def _group(reading_templates: list[PodTemplate], per_template: list[list[ContainerView]]) -> None:
    """Accelerators of a whole group (a LeaderWorkerSet group, a KubeRay cluster, a Dynamo multi-node
    service), set on the views whose vLLM spans the group's pods."""
    if not reading_templates:
        return
    kind = reading_templates[0].kind
    counts = [_pod_accelerators(vs) for vs in per_template]
    total, parts = 0, []
    if kind == "LeaderWorkerSet":
        by_name = {t.template: (t, n) for t, n in zip(reading_templates, counts)}
        size = next((t.group_size for t in reading_templates if t.group_size), None)
        if size is None:
            return
        leader = by_name.get("leader", by_name.get("worker"))
        worker = by_name.get("worker", leader)
        if leader is None or leader[1] is None or worker[1] is None:
            return
        total = leader[1] + (size - 1) * worker[1]
        parts = [f"leader {leader[1]} + {size - 1} worker{'s' if size != 2 else ''} x {worker[1]}"]
    elif reading_templates[0].site.launcher == "ray":
        for t, n in zip(reading_templates, counts):
            if n is None:
                continue
            pods = (t.replicas if t.replicas is not None else 1) * (t.group_size or 1)
            total += pods * n
            parts.append(f"{t.template} {pods} x {n}")
    else:
        for t, vs, n in zip(reading_templates, per_template, counts):
            if t.group_size and t.group_size > 1 and n is not None:
                for v in vs:
                    v.group_accelerators, v.group_label = t.group_size * n, f"{t.group_size} pods x {n}"
                    v.spans_pods = _spans(v, n, t.group_size)
        return
    for vs in per_template:
        for v in vs:
            v.group_accelerators, v.group_label = total, " + ".join(parts)
            v.spans_pods = _spans(v, v.accelerator_count, 2)


def _spans(v: ContainerView, per_pod: Optional[int], pods: int) -> bool:
    """One vLLM instance's ranks span several pods: Ray across the group, or more ranks than the pod has."""
    if pods < 2 or not v.identity.runs_vllm:
        return False
    if flag_value(v.text, "--distributed-executor-backend") == "ray" or (to_int(flag_value(v.text, "--nnodes")) or 1) > 1:
        return True
    if _spec_spans_pods(v.spec):  # `vllmgen serve`: its spec's layout says so, whatever the pod's devices are called
        return True
    return v.world is not None and per_pod is not None and v.world > per_pod


def _spec_spans_pods(spec: Optional[dict]) -> bool:
    """A mounted spec whose layout runs one model's ranks over the group's pods (multi-node)."""
    if not isinstance(spec, dict) or spec.get("layout") not in layouts.LAYOUT_TABLE:
        return False
    return layouts.of(spec).group_launch == "node-ranks"


def _kubernetes_views(ld: LoadedDoc, problems: list[Problem], ctx: FileContext) -> list[ContainerView]:
    reading = workloads.read(ld.doc)
    problems.extend(reading.all_problems())
    views = []
    for w in reading.workloads:
        per_template, ray_vllm = [], False
        for t in w.templates:
            label = f"{t.kind} {t.name}" + (f" ({t.template})" if t.template else "")
            vs = _pod_views(ld, t, label, _role_from_meta(t.template_meta, t.object_meta), ctx, ray_vllm)
            if t.site.launcher == "ray":
                ray_vllm = ray_vllm or any(v.identity.server == identify.VLLM for v in vs)
            per_template.append(vs)
            views.extend(vs)
        _group(w.templates, per_template)
    return views


def _pod_spec_views(ld: LoadedDoc, problems: list[Problem], ctx: FileContext) -> list[ContainerView]:
    pod = workloads.read_pod_spec(ld.data, (), ld.doc)
    problems.extend(pod.all_problems())
    meta = workloads.read_meta(ld.data.get("metadata"), ("metadata",), problems)
    return _pod_views(ld, pod, "pod spec", _role_from_meta(meta), ctx)


# --- llm-d-modelservice values ------------------------------------------------------------------------

#: llm-d-modelservice's default accelerator type (charts/llm-d-modelservice/values.yaml).
MODELSERVICE_DEFAULT_ACCELERATOR = "nvidia"
#: How its containers are started (`modelCommand`): `vllmServe` makes the chart write `vllm serve MODEL`.
MODELSERVICE_VLLM_SERVE = "vllmServe"


def _modelservice_identity(item: dict, c: Container) -> Identity:
    """llm-d-modelservice runs the model server in its roles' containers: vLLM unless the command or image says
    otherwise (its simulator, a custom command)."""
    command = item.get("modelCommand")
    if command == MODELSERVICE_VLLM_SERVE:
        return Identity(identify.VLLM, "modelCommand: vllmServe (the chart runs `vllm serve`)")
    said = identify.identify(name=c.name, image=c.image, command=c.command if command == "custom" else [],
                             args=c.args)
    if said.server is not None or command == "custom" or identify.is_sidecar(c.name, c.image):
        return said
    return Identity(identify.VLLM, "llm-d-modelservice runs the model server (vLLM) in its roles' containers")


def _modelservice_views(ld: LoadedDoc, problems: list[Problem], ctx: FileContext) -> list[ContainerView]:
    data = ld.data
    routing = data.get("routing") if isinstance(data.get("routing"), dict) else {}
    proxy = routing.get("proxy") if isinstance(routing.get("proxy"), dict) else {}
    service_port = to_int(routing.get("servicePort")) or SERVICE_PORT
    proxy_on = proxy.get("enabled", True) is not False
    target_port = to_int(proxy.get("targetPort")) or DECODE_VLLM_PORT
    accel = data.get("accelerator") if isinstance(data.get("accelerator"), dict) else {}
    kind = accel.get("type", MODELSERVICE_DEFAULT_ACCELERATOR)
    resources = dict(MODELSERVICE_RESOURCES)
    if isinstance(accel.get("resources"), dict):
        resources.update({k: str(v) for k, v in accel["resources"].items()})
    names = [resources[kind]] if kind in resources else []
    names += [n for n in list(resources.values()) + list(ACCELERATOR_RESOURCES) if n not in names]
    dra = accel.get("dra") is True
    multinode = data.get("multinode") is True
    art = data.get("modelArtifacts") if isinstance(data.get("modelArtifacts"), dict) else {}
    model = art.get("name") if isinstance(art.get("name"), str) else None
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
            ident = _modelservice_identity(item, c)
            v = _view(ld, c, f"{role} values, container {item.get('name', i)}", role)
            v.identity = ident
            views.append(v)
            if not ident.reviewed:
                continue
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
            v.tensor = to_int(par.get("tensor")) or 1
            v.data_parallel_local = to_int(par.get("dataLocal")) or 1
            v.data_parallel = to_int(par.get("data"))
            v.pipeline = 1
            v.group_size = to_int(par.get("workers")) if multinode else None
            v.multinode = multinode
            v.parallelism_path = (role, "parallelism")
            v.model = model
            if v.accelerator_count is None and not v.simulator and (dra or kind in resources):
                # the chart requests tensor x dataLocal accelerators itself (a DRA claim, or the type's resource)
                v.accelerator_resource = "DRA devices" if dra else resources[kind]
                v.accelerator_count = v.tensor * v.data_parallel_local
            grace = to_int(block.get("terminationGracePeriodSeconds"))
            v.grace = grace if grace is not None else workloads.DEFAULT_TERMINATION_GRACE_S
            v.grace_path = (role, "terminationGracePeriodSeconds")
    return views


def views_of(ld: LoadedDoc, problems: Optional[list[Problem]] = None, ctx: Optional[FileContext] = None
             ) -> list[ContainerView]:
    """Every container in one document, identified; wrong shapes met on the way are added to `problems`.
    vllmgen values are not read here: they are rendered with the chart first (lint.rendered)."""
    problems = [] if problems is None else problems
    ctx = ctx or FileContext()
    builder = {KUBERNETES: _kubernetes_views, POD_SPEC: _pod_spec_views, MODELSERVICE: _modelservice_views}.get(ld.kind)
    return builder(ld, problems, ctx) if builder else []
