"""Pod templates inside Kubernetes objects, read one way for every command that looks at workloads
(`vllmgen lint`, `vllmgen probe-check`).

Pod templates are found by their shape in any object, known kind or not: a mapping holding a `containers` (or
`initContainers`) list of mappings with an image is a PodSpec, and one holding a single container under a key of
its own (OME's `runner`, Dynamo's `mainContainer`) is one too; a PodSpec under a `spec` key beside `metadata` is a
PodTemplateSpec; an object nested in another (an OpenShift Template's `objects`) is read as an object. So a new
custom resource needs nothing here to be read. What a kind adds to its templates (replicas, group size, roles, a
launcher, the container its controller runs the server in) is data (`KINDS`); a kind there is read from its
entry first, and what its entry does not cover is still found by shape. Lists (`kind: List`, what
`kubectl get -o yaml` prints, and any `*List`) are opened item by item, recursively. Paths are JSON paths from the root of the YAML document, so line numbers and
pointers stay right inside lists.

Reading is pure and never raises on a wrongly shaped object: whatever the API server would refuse (a `ports: 8000`,
`labels: oops`, `command: sleep`, a probe period beyond int32) comes back as a `Problem` beside what could still
be read, and each caller decides what a problem means (lint reports it, probe-check refuses the input).

Defaults are Kubernetes' own (kubernetes/kubernetes, pkg/apis/core/v1/defaults.go: SetDefaults_Probe,
SetDefaults_PodSpec); named ports resolve against the probed container's own ports, name first, as the kubelet
does (pkg/kubelet/prober/prober.go, extractPort).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Iterator, Optional

from vllmgen.errors import InputError, pointer
from vllmgen.trees import value_at
from vllmgen.yamlio import Document, parse_document

# --- what Kubernetes fills in -------------------------------------------------------------------------------

PROBE_KINDS = ("startup", "readiness", "liveness")
#: The container fields holding each probe.
PROBE_FIELDS = {"startup": "startupProbe", "readiness": "readinessProbe", "liveness": "livenessProbe"}
#: SetDefaults_Probe: a timing field left out, or 0, takes these values (initialDelaySeconds stays 0).
DEFAULT_INITIAL_DELAY_S = 0
DEFAULT_TIMEOUT_S = 1
DEFAULT_PERIOD_S = 10
DEFAULT_SUCCESS_THRESHOLD = 1
DEFAULT_FAILURE_THRESHOLD = 3
PROBE_DEFAULTS = {"initialDelaySeconds": DEFAULT_INITIAL_DELAY_S, "periodSeconds": DEFAULT_PERIOD_S,
                  "timeoutSeconds": DEFAULT_TIMEOUT_S, "successThreshold": DEFAULT_SUCCESS_THRESHOLD,
                  "failureThreshold": DEFAULT_FAILURE_THRESHOLD}
#: SetDefaults_PodSpec: terminationGracePeriodSeconds when unset, and the pod's restartPolicy.
DEFAULT_TERMINATION_GRACE_S = 30
DEFAULT_RESTART_POLICY = "Always"
#: The probe handlers a Probe may hold (exactly one).
PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")
#: Probe timing fields are int32 in the API; grace periods int64.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
#: Container ports are 1-65535.
MAX_PORT = 65535


# --- where each kind keeps its pod templates ----------------------------------------------------------------

@dataclass(frozen=True)
class TemplateSite:
    """One place a kind keeps a pod template.

    `path` leads from the object's root to the template; a `"*"` step takes every item of a list or every value
    of a mapping (KubeRay's worker groups, Dynamo's services). `pod_spec` leads from the template to its PodSpec:
    `("spec",)` for a PodTemplateSpec (its `metadata` then labels the pods), `()` where the template is a bare
    PodSpec. `containers` names PodSpec keys holding one more single container (Dynamo's `mainContainer`).
    `group_size` leads from the template's parent to the number of pods that form one group (LeaderWorkerSet's
    `size`); absent means 1. `replicas` leads from the template's parent to how many such groups run. `name` tells
    templates of one object apart ("leader", "worker"); `{}` in it is replaced by the key or index a `"*"` step
    took.

    What a controller adds to the pods it makes from the template: `server_container` names the container it
    runs the model server in (KServe's `main`, whose command comes from a config); `parallelism` leads from the
    object's root to the parallel sizes it passes (`tensor`, `data`, `dataLocal`, `pipeline`); `model` lists
    paths from the object's root to the model's name (the first one set counts); `launcher` says the controller
    starts the first container of each pod through its own launcher (KubeRay: `ray start`); `container_fields`
    pairs keys of the template's parent with the container fields they fill in every container that lacks them
    (Dynamo's service-level `envs`, `resources`, probes), `resource_names` renaming the resource keys found there.
    """

    path: tuple[str, ...]
    pod_spec: tuple[str, ...] = ("spec",)
    name: str = ""
    containers: tuple[str, ...] = ()
    group_size: Optional[tuple[str, ...]] = None
    replicas: Optional[tuple[str, ...]] = None
    server_container: Optional[str] = None
    parallelism: Optional[tuple[str, ...]] = None
    model: tuple[tuple[str, ...], ...] = ()
    launcher: Optional[str] = None
    container_fields: tuple[tuple[str, str], ...] = ()
    resource_names: tuple[tuple[str, str], ...] = ()
    group_restart: Optional[tuple[str, ...]] = None  # from the template's parent to the group's restart policy


_SPEC_TEMPLATE = (TemplateSite(("spec", "template")),)


def _kserve_llm(root: tuple[str, ...], name: str) -> tuple[TemplateSite, ...]:
    """KServe's LLMInferenceService (and its config): the pod template, and the worker template of a multi-pod
    group, both PodSpecs whose `main` container runs vLLM (kserve/kserve, pkg/apis/serving/v1alpha1)."""
    kw = dict(pod_spec=(), server_container="main", parallelism=root + ("parallelism",),
              model=(("spec", "model", "name"), ("spec", "model", "uri")))
    return (TemplateSite(root + ("template",), name=name, **kw),
            TemplateSite(root + ("worker",), name=f"{name} worker".strip(), **kw))


def _kuberay(root: tuple[str, ...]) -> tuple[TemplateSite, ...]:
    """KubeRay: a head group and worker groups (`replicas` groups of `numOfHosts` pods each); the first
    container of each pod is the Ray node, started with `ray start` after the user's command
    (ray-project/kuberay, ray-operator/controllers/ray/common/pod.go)."""
    return (TemplateSite(root + ("headGroupSpec", "template"), name="head", launcher="ray"),
            TemplateSite(root + ("workerGroupSpecs", "*", "template"), name="worker {}", launcher="ray",
                         group_size=("numOfHosts",), replicas=("replicas",)))


#: Kind -> where its pod templates are. Adding a kind (a custom resource that runs pods) is one entry here.
KINDS: dict[str, tuple[TemplateSite, ...]] = {
    "Pod": (TemplateSite(()),),
    "Deployment": _SPEC_TEMPLATE,
    "StatefulSet": _SPEC_TEMPLATE,
    "DaemonSet": _SPEC_TEMPLATE,
    "ReplicaSet": _SPEC_TEMPLATE,
    "ReplicationController": _SPEC_TEMPLATE,
    "Job": _SPEC_TEMPLATE,
    "CronJob": (TemplateSite(("spec", "jobTemplate", "spec", "template")),),
    # kubernetes-sigs/lws: one leader pod and size-1 workers per group; the leader uses the worker template
    # when it has none of its own
    "LeaderWorkerSet": (
        TemplateSite(("spec", "leaderWorkerTemplate", "leaderTemplate"), name="leader", group_size=("size",),
                     group_restart=("restartPolicy",)),
        TemplateSite(("spec", "leaderWorkerTemplate", "workerTemplate"), name="worker", group_size=("size",),
                     group_restart=("restartPolicy",)),
    ),
    # KServe: the LLM service (decode or whole-request pods, and a prefill pool of its own), its configs, and the
    # scheduler's pod (the endpoint picker, no model server)
    "LLMInferenceService": _kserve_llm(("spec",), "") + _kserve_llm(("spec", "prefill"), "prefill") + (
        TemplateSite(("spec", "router", "scheduler", "template"), pod_spec=(), name="scheduler"),),
    "LLMInferenceServiceConfig": _kserve_llm(("spec",), "") + _kserve_llm(("spec", "prefill"), "prefill") + (
        TemplateSite(("spec", "router", "scheduler", "template"), pod_spec=(), name="scheduler"),),
    # KServe's InferenceService: each component is a PodSpec; the predictor's `model` is one more container,
    # merged by the controller into its ServingRuntime's (kserve/kserve, pkg/apis/serving/v1beta1)
    "InferenceService": (
        TemplateSite(("spec", "predictor"), pod_spec=(), name="predictor", containers=("model",)),
        TemplateSite(("spec", "predictor", "workerSpec"), pod_spec=(), name="predictor worker"),
        TemplateSite(("spec", "transformer"), pod_spec=(), name="transformer"),
        TemplateSite(("spec", "explainer"), pod_spec=(), name="explainer"),
    ),
    "ServingRuntime": (TemplateSite(("spec",), pod_spec=(), name="runtime"),
                       TemplateSite(("spec", "workerSpec"), pod_spec=(), name="runtime worker")),
    "ClusterServingRuntime": (TemplateSite(("spec",), pod_spec=(), name="runtime"),
                              TemplateSite(("spec", "workerSpec"), pod_spec=(), name="runtime worker")),
    # ai-dynamo/dynamo: one service per component, its pod spec in `extraPodSpec` with the component's own
    # container as `mainContainer`; replicas, multi-node size, env, resources (`gpu` = NVIDIA GPUs) and probes
    # at the service's level (deploy/operator/api/v1alpha1)
    "DynamoGraphDeployment": (
        TemplateSite(("spec", "services", "*", "extraPodSpec"), pod_spec=(), name="{}",
                     containers=("mainContainer",), group_size=("multinode", "nodeCount"), replicas=("replicas",),
                     container_fields=(("envs", "env"), ("resources", "resources"), ("startupProbe", "startupProbe"),
                                       ("livenessProbe", "livenessProbe"), ("readinessProbe", "readinessProbe")),
                     resource_names=(("gpu", "nvidia.com/gpu"),)),),
    "RayCluster": _kuberay(("spec",)),
    # vllm-project/aibrix: a RayClusterFleet runs `replicas` KubeRay clusters from one RayCluster template
    # (api/orchestration/v1alpha1/rayclusterfleet_types.go)
    "RayClusterFleet": _kuberay(("spec", "template", "spec")),
    "RayService": _kuberay(("spec", "rayClusterConfig")),
    "RayJob": _kuberay(("spec", "rayClusterSpec")),
}


def is_list(data: Any) -> bool:
    """`kind: List` (kubectl's) or any typed list (`DeploymentList`, ...): objects under `items`."""
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"].endswith("List") \
        and "items" in data


def is_workload(data: Any) -> bool:
    """An object of a kind in KINDS."""
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"] in KINDS


def is_object(data: Any) -> bool:
    """A Kubernetes object: a mapping with a string `apiVersion` and `kind`."""
    return isinstance(data, dict) and isinstance(data.get("kind"), str) and isinstance(data.get("apiVersion"), str)


def holds_pods(data: Any) -> bool:
    """An object of a kind in KINDS, a list that may hold some, or any object with a pod template in it."""
    return is_workload(data) or is_list(data) or (is_object(data) and bool(
        _found_sites(data) or any(holds_pods(inner) for _, inner in _nested_objects(data))))


# --- strategic merge patches -------------------------------------------------------------------------------

#: Lists of a PodSpec merged item by item by a strategic merge patch, and the key that matches items
#: (k8s.io/api/core/v1 types.go, `patchMergeKey`); every other list is replaced.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort", "imagePullSecrets": "name"}


def strategic_merge(base: Any, patch: Any, key: Optional[str] = None) -> Any:
    """`patch` applied to `base` as a Kubernetes strategic merge patch of pod fields (`key`: the field `patch`
    sits under): mappings merge key by key, a null removes a key, MERGE_KEYS lists merge item by item."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = strategic_merge(out[k], v, k)
            else:
                out[k] = v
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        mk = MERGE_KEYS[key]
        out = list(base)
        for item in patch:
            i = next((j for j, b in enumerate(out) if isinstance(b, dict) and isinstance(item, dict)
                      and mk in item and b.get(mk) == item[mk]), None)
            if i is None:
                out.append(item)
            else:
                out[i] = strategic_merge(out[i], item)
        return out
    return patch


# --- llm-d's dual pods: the server-running pod a server-requesting pod's annotation describes ----------------

#: llm-d-incubation/llm-d-fast-model-actuation, pkg/api/interface.go: the server-running pod is the requesting
#: pod's spec and labels and annotations (without the `dual-pod.llm-d.ai/` ones) with this annotation's value
#: applied as a strategic merge patch; the value is a Go template (`{{ .NodeName }}`, `{{ .LocalVolume }}`).
SERVER_PATCH_ANNOTATION = "dual-pod.llm-d.ai/server-patch"
DUAL_POD_PREFIX = "dual-pod.llm-d.ai/"
_GO_TEMPLATE = re.compile(r"\{\{[^}]*\}\}")


def _server_patch(t: "PodTemplate", doc: Optional[Document], problems: list[Problem]) -> Optional["PodTemplate"]:
    """The server-running pod of a server-requesting template, at the annotation's path; None without one."""
    text = t.template_meta.annotations.get(SERVER_PATCH_ANNOTATION)
    if not isinstance(text, str):
        return None
    at = t.spec_path[:-1] + ("metadata", "annotations", SERVER_PATCH_ANNOTATION)
    try:
        patch = parse_document(_GO_TEMPLATE.sub("template-value", text), "server-patch").data
    except InputError as exc:
        problems.append(Problem(at, f"the server patch is not YAML: {exc.message}"))
        return None
    if not isinstance(patch, dict):
        problems.append(Problem(at, "the server patch must be a mapping (a strategic merge patch of the pod)"))
        return None
    annotations = {k: v for k, v in t.template_meta.annotations.items() if not str(k).startswith(DUAL_POD_PREFIX)}
    runner = strategic_merge({"metadata": {"labels": t.template_meta.labels, "annotations": annotations},
                              "spec": t.spec}, patch)
    spec = runner.get("spec")
    if not isinstance(spec, dict):
        return None
    if doc is not None and "\n" in text and at in doc._lines:  # a block scalar: the patch's lines follow its key
        inner = parse_document(_GO_TEMPLATE.sub("template-value", text), "server-patch")
        for path, n in inner._lines.items():
            merged_path = _merged_path(runner, patch, path)
            if merged_path is not None:
                doc._lines.setdefault(at + merged_path, doc._lines[at] + n)
    meta = read_meta(runner.get("metadata"), at + ("metadata",), problems)
    out = PodTemplate(doc, t.object_path, t.kind, t.object_meta, meta, "server-running pod", at + ("spec",), spec)
    out.replicas, out.site = t.replicas, t.site
    _fill_pod(out)
    return out


def _merged_path(merged: Any, patch: Any, path: tuple) -> Optional[tuple]:
    """Where a field of a strategic merge patch landed in the merged object (list items merged by key may move)."""
    out, key = [], None
    for step in path:
        if isinstance(step, int) and isinstance(patch, list) and isinstance(merged, list) and step < len(patch):
            item = patch[step]
            mk = MERGE_KEYS.get(key)
            if mk is not None and isinstance(item, dict) and mk in item:
                step = next((i for i, m in enumerate(merged) if isinstance(m, dict) and m.get(mk) == item[mk]), None)
                if step is None:
                    return None
            patch, merged = item, merged[step] if step < len(merged) else None
        elif isinstance(patch, dict) and isinstance(merged, dict) and step in patch:
            patch, merged = patch[step], merged.get(step)
        else:
            return None
        out.append(step)
        key = step
    return tuple(out)


# --- finding pod templates by their shape ---------------------------------------------------------------

#: The PodSpec keys holding container lists.
CONTAINER_LISTS = ("initContainers", "containers")
#: Fields only a container has beside its image (one of them, or a `name`, tells a container from any
#: mapping that names an image).
_CONTAINER_FIELDS = frozenset({"command", "args", "ports", "env", "envFrom", "resources", "volumeMounts",
                               "startupProbe", "readinessProbe", "livenessProbe", "lifecycle", "workingDir"})


def looks_like_container(data: Any) -> bool:
    """A mapping with an image (a string) and a name or a container's own field."""
    return isinstance(data, dict) and isinstance(data.get("image"), str) and bool(data["image"]) and (
        isinstance(data.get("name"), str) or bool(_CONTAINER_FIELDS.intersection(data)))


def _container_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and any(looks_like_container(x) for x in value)


def _single_containers(node: dict) -> tuple[str, ...]:
    """Keys of `node` holding one container of its own (OME's `runner`): a container with a name, or under a key
    that says it is one."""
    return tuple(k for k, v in node.items() if isinstance(k, str) and k not in CONTAINER_LISTS
                 and looks_like_container(v) and (isinstance(v.get("name"), str) or "container" in k.lower()))


def _found_sites(obj: dict, skip: tuple[tuple, ...] = ()) -> list[TemplateSite]:
    """Pod templates found by shape in one object (paths from its root), outside the paths in `skip` and outside
    objects nested in it (those are read as objects of their own)."""
    sites: list[TemplateSite] = []

    def visit(node: Any, rel: tuple, names: tuple) -> None:
        if any(_under(rel, s) for s in skip):
            return
        if isinstance(node, list):
            for i, item in enumerate(node):
                name = item.get("name") if isinstance(item, dict) and isinstance(item.get("name"), str) else None
                visit(item, rel + (i,), names + ((name,) if name else ()))
            return
        if not isinstance(node, dict) or (rel and is_object(node)) or looks_like_container(node):
            return
        singles = _single_containers(node)
        if singles or any(_container_list(node.get(k)) for k in CONTAINER_LISTS):
            name = names[-1] if names else next((str(k) for k in reversed(rel) if isinstance(k, str)
                                                 and k not in ("spec", "template")), "")
            template = rel[:-1] if rel and rel[-1] == "spec" else None
            holder = value_at(obj, template[:-1]) if template else None
            if template is not None and template and isinstance(value_at(obj, template), dict) and (
                    template[-1] == "template" or "metadata" in value_at(obj, template)):
                site_path, pod_spec = template, ("spec",)
            else:
                site_path, pod_spec, holder = rel, (), value_at(obj, rel[:-1]) if rel else None
            replicas = ("replicas",) if isinstance(holder, dict) and "replicas" in holder else None
            if site_path:  # the object itself as a bare PodSpec is a Pod, which KINDS reads
                sites.append(TemplateSite(site_path, pod_spec=pod_spec, name=name, containers=singles,
                                          replicas=replicas))
        for key, value in node.items():
            if key in CONTAINER_LISTS or key in singles:
                continue
            visit(value, rel + (key,), names)

    visit(obj, (), ())
    return sites


def _read_by_table(obj: dict, sites: tuple[TemplateSite, ...]) -> tuple[tuple, ...]:
    """Paths (from the object's root) of the templates a kind's table entry reads that hold containers: the
    search by shape leaves them alone. (OME's ClusterServingRuntime shares its kind with KServe's, whose spec is a
    PodSpec; where that spec holds no containers, OME's engine and router configs are still found by shape.)"""
    out = []
    for site in sites:
        for tpath, node, _, _ in _walk(obj, site.path, (), []):
            spec = value_at(node, site.pod_spec) if isinstance(node, dict) else None
            if isinstance(spec, dict) and (any(_container_list(spec.get(k)) for k in CONTAINER_LISTS)
                                           or any(spec.get(k) is not None for k in site.containers)):
                out.append(tpath)
    return tuple(out)


def _nested_objects(obj: Any, rel: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Objects written inside an object (an OpenShift Template's `objects`), with their paths from its root."""
    if isinstance(obj, dict):
        if rel and is_object(obj):
            yield rel, obj
            return
        for key, value in obj.items():
            yield from _nested_objects(value, rel + (key,))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _nested_objects(item, rel + (i,))


def _under(path: tuple, prefix: tuple) -> bool:
    """`path` lies at or under `prefix`, whose `"*"` steps match any key."""
    return len(path) >= len(prefix) and all(p == "*" or p == q for p, q in zip(prefix, path))


# --- what reading gives -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """A field the API server would refuse: where (JSON path from the document root) and why."""

    path: tuple
    message: str

    @property
    def pointer(self) -> str:
        return pointer(self.path)


@dataclass(frozen=True)
class Meta:
    """The parts of an ObjectMeta that are read: name, labels, annotations (empty when absent or wrong)."""

    name: Optional[str] = None
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """One probe with Kubernetes' defaults applied. `data` is the probe as written; a timing field of the wrong
    type or range reads as its default and is a problem."""

    kind: str  # startup | readiness | liveness
    data: dict
    path: tuple  # JSON path of the probe object
    timing: dict  # Kubernetes field name -> value with defaults (PROBE_DEFAULTS' keys)
    termination_grace: Optional[int] = None  # probe-level terminationGracePeriodSeconds, when set
    problems: tuple[Problem, ...] = ()

    def get(self, key: str) -> int:
        """A timing field as the kubelet uses it: 0 or absent means the default (initialDelaySeconds stays 0)."""
        return self.timing[key]

    @property
    def handlers(self) -> tuple[str, ...]:
        """The handlers written (Kubernetes allows exactly one)."""
        return tuple(h for h in PROBE_HANDLERS if h in self.data)

    @property
    def http_path(self) -> Optional[str]:
        """The httpGet path without its query, "/" when left out; None for other handlers."""
        http = self.data.get("httpGet")
        if isinstance(http, dict):
            path = http.get("path", "/")
            return path.split("?")[0] if isinstance(path, str) else None
        return None

    @property
    def port(self) -> Any:
        """The port as written (a number or a port name) of the httpGet, tcpSocket or grpc handler."""
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


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: Optional[str]  # the literal value (None with valueFrom or when absent)
    from_secret: bool  # valueFrom.secretKeyRef
    path: tuple


@dataclass(frozen=True)
class PreStop:
    """How long a container's preStop hook runs: kubelet runs it on every kill, inside the grace period
    (`killContainer` in pkg/kubelet/kuberuntime/kuberuntime_container.go). A `sleep` action lasts its seconds; an
    `exec` of a plain `sleep N` (directly or through `sh -c`) lasts N s; any other hook's duration cannot be known
    and is taken as 0 s, with a note saying so."""

    seconds: float = 0.0
    note: str = ""  # set when the hook's duration is unknown (then `seconds` is 0)
    path: tuple = ()  # JSON path of the hook (() when there is none)


@dataclass
class Container:
    """One container of a pod template."""

    path: tuple  # JSON path of the container
    data: dict
    name: Optional[str]
    init: bool = False  # listed under initContainers
    native_sidecar: bool = False  # an init container with restartPolicy Always: it keeps running and is probed
    image: str = ""
    command: list[str] = field(default_factory=list)  # scalars as strings; anything else is a problem
    args: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)  # named ports
    port_numbers: list[int] = field(default_factory=list)  # every declared containerPort, in order
    env: list[EnvVar] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)  # by kind, only those written
    resources: dict = field(default_factory=dict)
    resources_path: tuple = ()  # where `resources` was read (the container's own, or a controller's field)
    claims: list[str] = field(default_factory=list)  # resources.claims: names of the pod's resourceClaims it uses
    volume_mounts: dict[str, str] = field(default_factory=dict)  # mountPath -> volume name
    pre_stop: PreStop = PreStop()
    problems: list[Problem] = field(default_factory=list)  # this container's own, its probes' included

    def resolve_port(self, port: Any) -> Optional[int]:
        return resolve_port(port, self.ports)

    def env_value(self, name: str) -> Optional[str]:
        for e in self.env:
            if e.name == name:
                return e.value
        return None


@dataclass
class PodTemplate:
    """One pod template: where it is, whose it is, its pod spec and containers."""

    doc: Optional[Document]  # for line numbers (None when read from plain data)
    object_path: tuple  # JSON path of the object holding it: () or ("items", i, ...) inside a list
    kind: str  # the object's kind ("" for a bare pod spec)
    object_meta: Meta
    template_meta: Meta  # the template's own metadata (a Pod's is its object's)
    template: str  # TemplateSite.name, with what a "*" step took
    spec_path: tuple  # JSON path of the PodSpec
    spec: dict
    containers: list[Container] = field(default_factory=list)
    init_containers: list[Container] = field(default_factory=list)
    group_size: Optional[int] = None  # pods per group (None: the kind has no groups)
    group_restart: Optional[str] = None  # what the group does when one of its pods restarts, where written
    group_restart_path: tuple = ()  # JSON path of that field (its parent's, where not written)
    termination_grace: int = DEFAULT_TERMINATION_GRACE_S
    termination_grace_set: bool = False  # written in the pod spec (not Kubernetes' default)
    restart_policy: str = DEFAULT_RESTART_POLICY
    replicas: Optional[int] = None  # groups (or pods) the object runs from this template, when it says
    site: TemplateSite = TemplateSite(())  # where the template was found, and what its controller adds
    parallelism: dict = field(default_factory=dict)  # parallel sizes the controller passes (KServe's spec.parallelism)
    model: Optional[str] = None  # the model the object names (KServe's spec.model.name)
    volumes: dict[str, dict] = field(default_factory=dict)  # volume name -> its definition
    resource_claims: dict[str, Optional[str]] = field(default_factory=dict)  # pod resourceClaims: name -> template
    problems: list[Problem] = field(default_factory=list)  # the pod's own fields (not its containers')

    @property
    def name(self) -> str:
        return self.object_meta.name or "?"

    @property
    def labels(self) -> dict:
        """The object's labels overlaid with the template's."""
        return {**self.object_meta.labels, **self.template_meta.labels}

    @property
    def annotations(self) -> dict:
        return {**self.object_meta.annotations, **self.template_meta.annotations}

    @property
    def running(self) -> list[Container]:
        """The containers that keep running and get probed: native sidecars, then the regular containers."""
        return [c for c in self.init_containers if c.native_sidecar] + self.containers

    def all_problems(self) -> list[Problem]:
        return self.problems + [p for c in self.init_containers + self.containers for p in c.problems]


@dataclass
class Workload:
    """One object of a kind in KINDS and the pod templates found in it."""

    path: tuple  # JSON path of the object in its document
    kind: str
    meta: Meta
    templates: list[PodTemplate] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # on the way to its templates (metadata, spec, ...)

    def all_problems(self) -> list[Problem]:
        return self.problems + [p for t in self.templates for p in t.all_problems()]


@dataclass
class Reading:
    """Every workload of one document, and every problem met reading it."""

    doc: Optional[Document]
    workloads: list[Workload] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # of lists themselves (`items` not a list, ...)

    @property
    def templates(self) -> list[PodTemplate]:
        return [t for w in self.workloads for t in w.templates]

    def all_problems(self) -> list[Problem]:
        return self.problems + [p for w in self.workloads for p in w.all_problems()]


# --- reading ------------------------------------------------------------------------------------------------

def read(doc: Document) -> Reading:
    """Every pod template in one parsed YAML document."""
    return read_data(doc.data, doc)


def read_all(docs: list[Document]) -> list[Reading]:
    return [read(d) for d in docs]


def read_data(data: Any, doc: Optional[Document] = None) -> Reading:
    reading = Reading(doc)
    for path, obj in objects(data, problems=reading.problems):
        reading.workloads.extend(_workloads_of(obj, path, doc))
    return reading


def _workloads_of(obj: dict, path: tuple, doc: Optional[Document]) -> list[Workload]:
    """The workload of one object (its table entry's templates, then those found by shape) and of the objects
    nested in it."""
    out: list[Workload] = []
    if isinstance(obj.get("kind"), str):
        known = KINDS.get(obj["kind"], ())
        nested = list(_nested_objects(obj))
        found = _found_sites(obj, skip=_read_by_table(obj, known) + tuple(p for p, _ in nested))
        if known or found:
            out.append(_workload(obj, path, doc, known + tuple(found)))
        for rel, inner in nested:
            out.extend(_workloads_of(inner, path + rel, doc))
    return out


def objects(data: Any, path: tuple = (), problems: Optional[list[Problem]] = None) -> Iterator[tuple[tuple, dict]]:
    """(path, object) for every object in `data`, the items of lists (recursively) instead of the lists."""
    if not isinstance(data, dict):
        return
    if not is_list(data):
        yield path, data
        return
    items = data["items"]
    if items is None:
        return
    if not isinstance(items, list):
        _problem(problems, path + ("items",), "must be a list of objects", items)
        return
    for i, item in enumerate(items):
        if isinstance(item, dict):
            yield from objects(item, path + ("items", i), problems)
        else:
            _problem(problems, path + ("items", i), "must be an object (a mapping)", item)


def read_pod_spec(spec: dict, spec_path: tuple = (), doc: Optional[Document] = None) -> PodTemplate:
    """A bare PodSpec (a fragment with a `containers` list, as guides show them) read as a template."""
    t = PodTemplate(doc, (), "", Meta(), Meta(), "", spec_path, spec)
    _fill_pod(t)
    return t


def read_container(data: Any, path: tuple, *, init: bool = False) -> Optional[Container]:
    """One container mapping; None (with nothing to read) when it is not a mapping."""
    if not isinstance(data, dict):
        return None
    c = Container(path, data, data.get("name") if isinstance(data.get("name"), str) else None, init=init)
    c.native_sidecar = init and data.get("restartPolicy") == "Always"
    image = data.get("image")
    c.image = image if isinstance(image, str) else "" if image is None else _scalar(image) or ""
    c.command = _strings(data, "command", path, c.problems)
    c.args = _strings(data, "args", path, c.problems)
    c.env = read_env(data.get("env"), path + ("env",), c.problems)
    _ports(c)
    resources = data.get("resources")
    c.resources_path = path + ("resources",)
    if isinstance(resources, dict):
        c.resources = resources
        claims = resources.get("claims")
        if isinstance(claims, list):
            c.claims = [x["name"] for x in claims if isinstance(x, dict) and isinstance(x.get("name"), str)]
    elif resources is not None:
        _problem(c.problems, path + ("resources",), "must be a mapping (limits, requests)", resources)
    mounts = data.get("volumeMounts")
    if isinstance(mounts, list):
        c.volume_mounts = {m["mountPath"]: m["name"] for m in mounts if isinstance(m, dict)
                           and isinstance(m.get("mountPath"), str) and isinstance(m.get("name"), str)}
    c.pre_stop = read_pre_stop(data.get("lifecycle"), path + ("lifecycle",), c.problems)
    for kind, key in PROBE_FIELDS.items():
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            _problem(c.problems, path + (key,), "must be a mapping (a Probe)", value)
            continue
        probe = read_probe(kind, value, path + (key,))
        c.probes[kind] = probe
        c.problems.extend(probe.problems)
    return c


def read_probe(kind: str, data: dict, path: tuple) -> Probe:
    """A Probe object with SetDefaults_Probe applied; timing fields of the wrong type or range are problems and
    read as their defaults."""
    problems: list[Problem] = []
    timing = {}
    for key, default in PROBE_DEFAULTS.items():
        value = read_seconds(data.get(key), path + (key,), INT32_MAX, problems)
        timing[key] = value if value else default
    grace = read_seconds(data.get("terminationGracePeriodSeconds"), path + ("terminationGracePeriodSeconds",),
                     INT64_MAX, problems)
    for handler in PROBE_HANDLERS:
        if handler in data and not isinstance(data[handler], dict):
            _problem(problems, path + (handler,), f"{handler} must be a mapping", data[handler])
    return Probe(kind, data, path, timing, grace, tuple(problems))


def read_env(env: Any, path: tuple, problems: list[Problem]) -> list[EnvVar]:
    """An `env` list; entries without a string name are skipped."""
    if env is None:
        return []
    if not isinstance(env, list):
        _problem(problems, path, "must be a list of {name, value} entries", env)
        return []
    out = []
    for i, e in enumerate(env):
        if not isinstance(e, dict):
            _problem(problems, path + (i,), "must be a mapping {name, value}", e)
            continue
        if not isinstance(e.get("name"), str):
            continue
        value_from = e.get("valueFrom")
        from_secret = isinstance(value_from, dict) and "secretKeyRef" in value_from
        value = e.get("value")
        out.append(EnvVar(e["name"], None if value is None else _scalar(value), from_secret, path + (i,)))
    return out


#: Shells whose `-c "sleep N"` is read as a sleep of N s.
SHELLS = ("sh", "bash", "ash", "dash")
_SLEEP = re.compile(r"^\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*;?\s*$")


def read_pre_stop(lifecycle: Any, path: tuple, problems: list[Problem]) -> PreStop:
    """`lifecycle.preStop` of a container (`lifecycle` at `path`); a sleep of the wrong shape is a problem."""
    hook = lifecycle.get("preStop") if isinstance(lifecycle, dict) else None
    if not isinstance(hook, dict):
        return PreStop()
    hpath = path + ("preStop",)
    if "sleep" in hook:
        seconds = hook["sleep"].get("seconds") if isinstance(hook["sleep"], dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= INT64_MAX:
            problems.append(Problem(hpath + ("sleep", "seconds"),
                                    f"must be a non-negative integer, not {_show(seconds)}"))
            return PreStop(0.0, "", hpath)
        return PreStop(float(seconds), "", hpath)
    if "exec" in hook:
        slept = _exec_sleep(hook["exec"].get("command") if isinstance(hook["exec"], dict) else None)
        if slept is not None:
            return PreStop(slept, "", hpath)
        return PreStop(0.0, "the preStop exec hook's duration cannot be read from its command: taken as 0 s", hpath)
    handler = next(iter(hook), "?")
    return PreStop(0.0, f"the preStop {handler} hook's duration cannot be known: taken as 0 s", hpath)


def _exec_sleep(command: Any) -> Optional[float]:
    if not isinstance(command, list) or not all(isinstance(a, str) for a in command) or not command:
        return None
    name = PurePosixPath(command[0]).name
    if name == "sleep" and len(command) == 2 and re.fullmatch(r"\d+(?:\.\d+)?", command[1]):
        return float(command[1])
    if name in SHELLS and len(command) == 3 and command[1] == "-c":
        m = _SLEEP.match(command[2])
        return float(m.group(1)) if m else None
    return None


def resolve_port(port: Any, ports: dict[str, int]) -> Optional[int]:
    """A probe's port (number, name or digits) -> the number, as the kubelet resolves it; None if it cannot."""
    if isinstance(port, bool):
        return None
    if isinstance(port, int):
        return port
    if isinstance(port, str):
        if port in ports:
            return ports[port]
        if port.isdigit() and port.isascii():
            return int(port)
    return None


# --- the pieces ---------------------------------------------------------------------------------------------

def _workload(obj: dict, path: tuple, doc: Optional[Document], sites: tuple[TemplateSite, ...]) -> Workload:
    w = Workload(path, obj["kind"], Meta())
    w.meta = read_meta(obj.get("metadata"), path + ("metadata",), w.problems)
    for site in sites:
        for tpath, node, parent, wild in _walk(obj, site.path, path, w.problems):
            if node is None:
                continue
            if not isinstance(node, dict):
                _problem(w.problems, tpath, "must be a mapping (a pod template)", node)
                continue
            if site.pod_spec == ():
                tmeta, spec, spec_path = Meta(), node, tpath
            else:
                tmeta = w.meta if site.path == () else read_meta(node.get("metadata"), tpath + ("metadata",),
                                                             w.problems)
                found = list(_walk(node, site.pod_spec, tpath, w.problems))
                spec_path, spec = (found[0][0], found[0][1]) if found else (tpath, None)
                if spec is None:
                    continue
                if not isinstance(spec, dict):
                    _problem(w.problems, spec_path, "must be a mapping (a PodSpec)", spec)
                    continue
            t = PodTemplate(doc, path, w.kind, w.meta, tmeta, site.name.format(*wild) if wild else site.name,
                            spec_path, spec)
            if site.group_size is not None:
                t.group_size = _group_size(parent, site.group_size, tpath[:-1], w.problems)
            # one group, one restart policy: the first template read carries it (the leader's when it has one)
            if site.group_restart is not None and isinstance(parent, dict) and \
                    not any(o.group_restart_path for o in w.templates):
                value = parent.get(site.group_restart[0])
                t.group_restart = value if isinstance(value, str) else None
                t.group_restart_path = tpath[:-1] + (site.group_restart if value is not None else ())
            t.site = site
            if site.replicas is not None and isinstance(parent, dict):
                n = _count(parent.get(site.replicas[0])) if len(site.replicas) == 1 else None
                t.replicas = n
            if site.parallelism is not None:
                found = list(_walk(obj, site.parallelism, path, []))
                if found and isinstance(found[0][1], dict):
                    t.parallelism = found[0][1]
            for model_path in site.model:
                found = list(_walk(obj, model_path, path, []))
                if found and isinstance(found[0][1], str) and found[0][1]:
                    t.model = found[0][1]
                    break
            _fill_pod(t, site.containers)
            if site.container_fields and isinstance(parent, dict):
                _add_container_fields(t, site, parent, tpath[:-1])
            w.templates.append(t)
            runner = _server_patch(t, doc, w.problems)
            if runner is not None:
                w.templates.append(runner)
    # a problem met on the way to several templates (an LWS `spec: [1]`) is one problem
    w.problems = list(dict.fromkeys(w.problems))
    return w


def _add_container_fields(t: PodTemplate, site: TemplateSite, parent: dict, parent_path: tuple) -> None:
    """Fields a controller copies from the template's parent into every container that lacks them."""
    renames = dict(site.resource_names)
    for key, field_name in site.container_fields:
        value = parent.get(key)
        if value is None:
            continue
        for c in t.containers:
            if c.data.get(field_name) is not None:
                continue
            where = parent_path + (key,)
            if field_name == "env":
                c.env.extend(read_env(value, where, c.problems))
            elif field_name == "resources" and isinstance(value, dict):
                c.resources = {section: {renames.get(k, k): v for k, v in block.items()}
                               for section, block in value.items() if isinstance(block, dict)}
                c.resources_path = where
            elif field_name in PROBE_FIELDS.values() and isinstance(value, dict):
                kind = next(k for k, f in PROBE_FIELDS.items() if f == field_name)
                probe = read_probe(kind, value, where)
                c.probes[kind] = probe
                c.problems.extend(probe.problems)


def _walk(node: Any, steps: tuple, path: tuple, problems: list[Problem]):
    """(path, value, parent, wildcard keys) at the end of `steps` from `node`; value None when absent."""
    if not steps:
        yield path, node, None, ()
        return
    step, rest = steps[0], steps[1:]
    if step == "*":
        if isinstance(node, list):
            pairs = list(enumerate(node))
        elif isinstance(node, dict):
            pairs = list(node.items())
        else:
            _problem(problems, path, "must be a list or a mapping", node)
            return
        for key, child in pairs:
            for p, value, parent, wild in _walk(child, rest, path + (key,), problems):
                yield p, value, (node if parent is None else parent), (key,) + wild
        return
    if isinstance(step, int) and isinstance(node, list):  # a template found by shape inside a list
        child = node[step] if 0 <= step < len(node) else None
    elif not isinstance(node, dict):
        _problem(problems, path, "must be a mapping", node)
        return
    else:
        child = node.get(step)
    if child is None:
        yield path + (step,), None, node, ()
        return
    if not rest:
        yield path + (step,), child, node, ()
        return
    yield from _walk(child, rest, path + (step,), problems)


def _group_size(parent: Any, steps: tuple, parent_path: tuple, problems: list[Problem]) -> Optional[int]:
    node, path = parent, parent_path
    for step in steps:
        if not isinstance(node, dict) or node.get(step) is None:
            return 1
        node, path = node[step], path + (step,)
    n = _count(node)
    if n is None or not 1 <= n <= INT32_MAX:
        _problem(problems, path, f"must be a whole number from 1 to {INT32_MAX}", node)
        return None
    return n


def _fill_pod(t: PodTemplate, extra_containers: tuple[str, ...] = ()) -> None:
    spec, base = t.spec, t.spec_path
    for key, init, target in (("initContainers", True, t.init_containers), ("containers", False, t.containers)):
        items = spec.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            _problem(t.problems, base + (key,), "must be a list of containers", items)
            continue
        for i, item in enumerate(items):
            c = read_container(item, base + (key, i), init=init)
            if c is None:
                _problem(t.problems, base + (key, i), "must be a mapping (a Container)", item)
            else:
                target.append(c)
    for key in extra_containers:
        if spec.get(key) is not None:
            c = read_container(spec[key], base + (key,))
            if c is None:
                _problem(t.problems, base + (key,), "must be a mapping (a Container)", spec[key])
            else:
                t.containers.append(c)
    grace = read_seconds(spec.get("terminationGracePeriodSeconds"), base + ("terminationGracePeriodSeconds",),
                     INT64_MAX, t.problems)
    t.termination_grace = DEFAULT_TERMINATION_GRACE_S if grace is None else grace
    t.termination_grace_set = grace is not None
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        t.volumes = {v["name"]: v for v in volumes if isinstance(v, dict) and isinstance(v.get("name"), str)}
    claims = spec.get("resourceClaims")
    if isinstance(claims, list):
        t.resource_claims = {c["name"]: c.get("resourceClaimTemplateName") if isinstance(
            c.get("resourceClaimTemplateName"), str) else None
            for c in claims if isinstance(c, dict) and isinstance(c.get("name"), str)}
    policy = spec.get("restartPolicy")
    if isinstance(policy, str) and policy:
        t.restart_policy = policy
    elif policy is not None:
        _problem(t.problems, base + ("restartPolicy",), "must be Always, OnFailure or Never", policy)


def read_meta(data: Any, path: tuple, problems: list[Problem]) -> Meta:
    """An ObjectMeta's name, labels and annotations; labels or annotations that are not mappings are problems."""
    if data is None:
        return Meta()
    if not isinstance(data, dict):
        _problem(problems, path, "must be a mapping (ObjectMeta)", data)
        return Meta()
    out = {}
    for key in ("labels", "annotations"):
        value = data.get(key)
        if isinstance(value, dict):
            out[key] = value
        elif value is not None:
            _problem(problems, path + (key,), "must be a mapping of strings", value)
    name = data.get("name")
    return Meta(name if isinstance(name, str) else None, out.get("labels", {}), out.get("annotations", {}))


def _ports(c: Container) -> None:
    ports = c.data.get("ports")
    path = c.path + ("ports",)
    if ports is None:
        return
    if not isinstance(ports, list):
        _problem(c.problems, path, "must be a list of {containerPort, name}", ports)
        return
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            _problem(c.problems, path + (i,), "must be a mapping {containerPort, name}", p)
            continue
        n = _count(p.get("containerPort"))
        if n is None or not 1 <= n <= MAX_PORT:
            _problem(c.problems, path + (i, "containerPort"), f"must be a port number (1-{MAX_PORT})",
                     p.get("containerPort"))
            continue
        if n not in c.port_numbers:
            c.port_numbers.append(n)
        if isinstance(p.get("name"), str):
            c.ports[p["name"]] = n


def _strings(data: dict, key: str, path: tuple, problems: list[Problem]) -> list[str]:
    """`command` / `args`: a list; its scalars read as strings (the API server wants strings only)."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        hint = f" (write [{value}])" if isinstance(value, str) and len(value) <= 40 else ""
        _problem(problems, path + (key,), f"must be a list of strings{hint}", value)
        return []
    return [s for s in (_scalar(v) for v in value) if s is not None]


def read_seconds(value: Any, path: tuple, maximum: int, problems: list[Problem]) -> Optional[int]:
    """A non-negative whole number of seconds up to `maximum`, or None (unset, or a problem added)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        _problem(problems, path, "must be an integer number of seconds", value)
        return None
    if value < 0:
        problems.append(Problem(path, "must be non-negative"))
        return None
    if value > maximum:
        _problem(problems, path, f"must be at most {maximum}", value)
        return None
    return value


def _count(value: Any) -> Optional[int]:
    """A whole number written as a number or as digits (as Helm renders them either way); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii() and len(value) < 20:
        return int(value.strip())
    return None


def _scalar(value: Any) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return value if isinstance(value, str) else str(value)


#: Longest value quoted back in a problem message.
_SHOWN = 40


def _problem(problems: Optional[list[Problem]], path: tuple, message: str, value: Any) -> None:
    if problems is not None:
        problems.append(Problem(path, f"{message}, not {_show(value)}"))


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN:
        return f"a {len(str(abs(value)))}-digit number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
