"""Spec -> Helm values for charts/vllm. `build` is pure: it returns the data and, beside it, a comment for
every computed number; `render` turns both into commented YAML with ruamel."""

from __future__ import annotations

import copy
import math
import textwrap
from dataclasses import dataclass, field

from vllmgen import __version__, autoscaling, caches, gateway, images, layouts, loras, resources, servers, sources
from vllmgen.accelerators import DRA_CLAIM
from vllmgen.budget import GIB, IMAGE_PULL_SECONDS, weights_bytes
from vllmgen.engine import has_sidecar, vllm_port
from vllmgen.errors import InputError
from vllmgen.mounts import CACHE_MOUNT_PATH, LORA_MOUNT_PATH, MODEL_MOUNT_PATH, SPEC_PATH, SUPERVISOR_ZIPAPP_PATH
from vllmgen.probes import (HELM_DEFAULT_TIMEOUT_S, Drain, RoleProbes, drain_window, install_command, install_timeout,
                             rollout_deadline)
from vllmgen.resources import DOWNLOAD_HEADROOM, UNKNOWN_WEIGHTS_BYTES
from vllmgen.roles import ROLES, SIDECAR_ROLE
from vllmgen.sidecar import generation, sidecar_args
from vllmgen.spec import active_roles, ordered, role_replicas
from vllmgen.yamlio import flow_word
#: The simulator reads no weights: a token emptyDir, as llm-d's simulated guide (`size: 5Mi`).
SIMULATED_CACHE_SIZE = "5Mi"
#: Comment lines wrap here, so the values file reads well in an 120-column editor.
COMMENT_WIDTH = 110


@dataclass
class Values:
    data: dict
    comments: dict = field(default_factory=dict)  # path tuple -> comment shown above that key
    header: str = ""


def _gi(nbytes: float) -> str:
    return f"{max(1, math.ceil(nbytes / GIB))}Gi"


def build(spec: dict, roles: list[str] | None = None, *, source: str = "") -> Values:
    """Values for `roles` (default: the spec's roles with replicas). `spec` is an effective spec."""
    roles = list(roles) if roles else active_roles(spec)
    server = servers.of(spec)
    for role in roles:
        if role not in server.roles:
            raise InputError("<command line>", "", f"--role {role}: {server.role_error(role)}")
    if roles and not any(r not in spec["roles"] or autoscaling.deployed(spec["roles"][r]) for r in roles):
        raise InputError("<command line>", "", f"--role {','.join(roles)}: the spec gives "
                         f"{'this role' if len(roles) == 1 else 'these roles'} 0 replicas: nothing would be deployed")
    if gateway.roles_error(spec, roles):
        raise InputError("<command line>", "/roles", gateway.roles_error(spec, roles))
    lay = layouts.of(spec)
    c: dict[tuple, str] = {}
    v: dict = {}
    mode = spec["probes"]["mode"]

    v["layout"] = spec["layout"]
    v["server"] = spec["server"]
    v["probeMode"] = mode
    c[("probeMode",)] = server.probe_mode_note(mode)
    if loras.of(spec) and mode == "supervised":
        c[("probeMode",)] += "; LoRA adapters: /readyz stays 503 until every one is listed in /v1/models"
        if loras.runtime_updates(spec):
            c[("probeMode",)] += f", and again while one unloaded at runtime ({loras.RUNTIME_UPDATES_ENV}) is missing"
    elif loras.of(spec):
        c[("probeMode",)] += ("; LoRA adapters: the probes only see the base model (vLLM fails its start on an "
                              "adapter it cannot load, but an adapter unloaded later leaves the pod Ready); "
                              "supervised probes check each adapter")
    v["multinode"] = lay.multinode
    if lay.multinode:
        c[("multinode",)] = f"{lay.name}: each role is a LeaderWorkerSet of parallelism.workers pods"
    if lay.multinode:
        v["groupServing"] = "leader" if lay.group_launch == "node-ranks" else "all"
        c[("groupServing",)] = ("only the group's leader serves the API (workers run headless ranks): the Service "
                                "selects leaders" if lay.group_launch == "node-ranks" else
                                "every pod of a group serves its own data-parallel ranks")

    timeout, slowest = _install_timeout(spec, roles)
    v["installTimeoutSeconds"] = timeout
    c[("installTimeoutSeconds",)] = (
        f"`helm install --wait --timeout {timeout}s`: the slowest role, {slowest[0]}, may take {slowest[1]} s to "
        f"start + {IMAGE_PULL_SECONDS} s to schedule and pull the image; Helm's default "
        f"{HELM_DEFAULT_TIMEOUT_S} s would fail (or roll back) an install whose model is still loading")
    v["modelArtifacts"] = _model_artifacts(spec, c)
    repo, tag = (spec["image"]["repository"], spec["image"]["tag"]) if "image" in spec else \
        server.default_image(spec)
    v["image"] = {"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"}
    dra = lay.accelerators and "deviceClassName" in spec["accelerator"]
    v["accelerator"] = {"type": spec["accelerator"]["type"],
                        "resource": spec["accelerator"]["resource"] if lay.accelerators and not dra else ""}
    if not lay.accelerators:
        c[("accelerator",)] = "simulated layout: no accelerator is requested"
    elif dra:
        c[("accelerator",)] = (f"accelerators through DRA (DeviceClass {spec['accelerator']['deviceClassName']}), "
                               f"not the extended resource: see resourceClaimTemplates")
    v["routing"] = _routing(spec, roles, c)
    from_chart = servers.of(spec).supervisor_from_chart(spec)
    v["supervisor"] = {"port": spec["probes"]["healthPort"], "specPath": SPEC_PATH,
                       "zipappPath": SUPERVISOR_ZIPAPP_PATH if from_chart else ""}
    if from_chart:
        c[("supervisor", "zipappPath")] = ("the chart mounts the supervisor it carries here; the image needs nothing "
                                           "but vLLM")
    v["apiKey"] = {"secretName": spec["engine"].get("apiKeySecretName", ""),
                   "secretKey": spec["engine"]["apiKeySecretKey"]}
    c[("apiKey",)] = "VLLM_API_KEY from an existing Secret (never a literal key); empty = no key"
    if not lay.simulator:
        v["caches"], c[("caches",)] = _caches(spec)
        if v["caches"]["modelCache"]:
            v["modelCache"] = {"create": True}
            c[("modelCache",)] = ("caches.claim is model-cache: the claim keeps vLLM's caches (and hf:// downloads); "
                                  "size, storageClassName and accessModes keep the chart's defaults unless set")
    v["spec"] = _mounted_spec(spec, roles)
    c[("spec",)] = f"the model spec these values came from; mounted at {SPEC_PATH} for the supervisor"
    block = server.values_block(spec)
    if block is not None:
        v[server.name], notes = block
        c.update(notes)
    if dra:
        v["resourceClaimTemplates"] = {DRA_CLAIM: {"spec": {"devices": {"requests": [{
            "name": DRA_CLAIM, "exactly": {"deviceClassName": spec["accelerator"]["deviceClassName"],
                                           "count": spec["accelerator"]["countPerPod"]}}]}}}}
        c[("resourceClaimTemplates",)] = (f"each pod claims {spec['accelerator']['countPerPod']} device(s) = tensor x "
                                          f"dataLocal (resource.k8s.io/v1, Kubernetes 1.34+)")
    for role in ROLES:
        if role in roles:
            v[role] = _role(spec, role, c)
    header = (f"Helm values for charts/vllm, generated by vllmgen {__version__}"
              f"{' from ' + source if source else ''}.\n"
              f"layout {spec['layout']}, server {spec['server']}, probes {mode}; roles: {', '.join(roles)}.\n"
              f"Install and wait until every pod is Ready: {install_command(timeout)}\n"
              f"Regenerate rather than edit: every number below is computed from the spec.")
    return Values(v, c, header)


def _install_timeout(spec: dict, roles: list[str]) -> tuple[int, tuple[str, int]]:
    """The install timeout and (the slowest role, the seconds kubelet allows its start)."""
    server = servers.of(spec)
    allowed = {role: server.probes(spec, role).startup_seconds for role in roles}
    slowest = max(allowed.items(), key=lambda item: (item[1], item[0]))
    return install_timeout(list(allowed.values())), slowest


def _caches(spec: dict) -> tuple[dict, str]:
    vol = caches.volume(spec)
    compile_s = spec["startup"]["compileSeconds"]
    if vol is None:
        return ({"claimName": "", "modelCache": False, "subPath": "", "mountPath": CACHE_MOUNT_PATH},
                f"the startup budget's compile term ({compile_s:g} s): {caches.note(spec)}")
    return ({"claimName": vol.claim, "modelCache": vol.model_cache, "subPath": vol.sub_path,
             "mountPath": CACHE_MOUNT_PATH},
            f"the startup budget's compile term ({compile_s:g} s, still budgeted for the first start): "
            f"{caches.note(spec)}; the folder name hashes the model, dtype, parallel sizes, context length, image "
            f"and vLLM release")


def _mounted_spec(spec: dict, roles: list[str]) -> dict:
    """The effective spec in schema order, its roles exactly the ones rendered, so what is deployed and what
    the supervisor reads agree."""
    mounted = copy.deepcopy(spec)
    mounted["roles"] = {r: _mounted_role(spec, r) for r in ROLES if r in roles}
    return ordered(mounted)


def _mounted_role(spec: dict, role: str) -> dict:
    auto = _autoscaling_spec(spec, role)
    return {"autoscaling": copy.deepcopy(auto)} if auto else {"replicas": _replicas(spec, role)}


def _autoscaling_spec(spec: dict, role: str) -> dict | None:
    return spec["roles"].get(role, {}).get("autoscaling")


def _replicas(spec: dict, role: str) -> int:
    """Replicas of a role asked for: the spec's (or the layout default's); 1 when neither names the role."""
    return role_replicas(spec, role) if role in spec["roles"] else 1


def _model_artifacts(spec: dict, c: dict) -> dict:
    source = spec["model"]["source"]
    src = sources.parse(source)
    art: dict = {"uri": source, "name": spec["model"]["name"], "mountPath": MODEL_MOUNT_PATH}
    if layouts.of(spec).simulator:
        art["size"] = SIMULATED_CACHE_SIZE
        c[("modelArtifacts", "size")] = "the simulator reads no weights"
    elif src.downloads:
        size = weights_bytes(spec) or 0
        art["size"] = _gi((size or UNKNOWN_WEIGHTS_BYTES) * DOWNLOAD_HEADROOM)
        c[("modelArtifacts", "size")] = (f"download emptyDir: weights x {DOWNLOAD_HEADROOM:g}, rounded up to GiB"
                                         if size else "weights size unknown: a generous download emptyDir")
        advice = caches.download_advice(spec, size)
        if advice:
            c[("modelArtifacts", "size")] += f". {advice}"
    if src.claim:
        c[("modelArtifacts", "pvc")] = "weights on a PersistentVolumeClaim, mounted read-only"
    art["pvc"] = {"claimName": src.claim, "subPath": src.subpath}
    mounted = loras.mounts(spec)
    if mounted:
        art["loras"] = mounted
        c[("modelArtifacts", "loras")] = (f"pvc:// LoRA adapters, each claim's folder mounted read-only at "
                                          f"{LORA_MOUNT_PATH}/NAME (the path in --lora-modules)")
    art["authSecretName"] = spec["model"].get("authSecretName", "")
    art["authSecretKey"] = spec["model"]["authSecretKey"]
    c[("modelArtifacts", "authSecretName")] = "HF_TOKEN comes from this existing Secret; empty = no token"
    return art


def _routing(spec: dict, roles: list[str], c: dict) -> dict:
    r = spec["routing"]
    out: dict = {"servicePort": r["servicePort"]}
    c[("routing", "servicePort")] = ("the Service port: the routing sidecar on decode pods, vLLM itself on "
                                     "prefill and standalone pods")
    if SIDECAR_ROLE in roles and has_sidecar(spec, SIDECAR_ROLE):
        image = r["sidecar"]["image"] if "image" in r["sidecar"] else images.ref(layouts.of(spec).sidecar_image)
        out["proxy"] = {
            "enabled": True,
            "image": image,
            "targetPort": r["targetPort"],
            "connector": r["sidecar"]["connector"],
            "args": sidecar_args(image, r["servicePort"], r["targetPort"], r["sidecar"]["connector"]),
        }
        c[("routing", "proxy")] = (f"decode pods: the sidecar listens on {r['servicePort']} and forwards to vLLM "
                                   f"on {r['targetPort']}; it answers /health itself, so no probe targets it")
        c[("routing", "proxy", "args")] = f"flags of the `{generation(image)}` generation of the sidecar image"
        out["proxy"]["resources"] = resources.sidecar().as_dict()
        c[("routing", "proxy", "resources")] = resources.sidecar().why
    else:
        out["proxy"] = {"enabled": False}
    blocks, notes = gateway.routing_blocks(spec, roles, drain_window(spec).total)
    out.update(blocks)
    c.update({("routing",) + path: note for path, note in notes.items()})
    return out


def _env(spec: dict, role: str) -> list[dict]:
    env: list[dict] = servers.of(spec).env(spec, role)
    if sources.parse(spec["model"]["source"]).downloads:
        env.insert(0, {"name": "HF_HOME", "value": MODEL_MOUNT_PATH})
    env += caches.env(spec)
    env += [{"name": k, "value": val} for k, val in spec["engine"]["env"].items()]
    return env


def _role(spec: dict, role: str, c: dict) -> dict:
    lay, server = layouts.of(spec), servers.of(spec)
    engine = spec["engine"]
    p = (role,)
    block: dict = {}
    probes = server.probes(spec, role)
    drain = drain_window(spec)
    auto = _autoscaling_spec(spec, role)
    if auto:
        block["autoscaling"] = _autoscaling(spec, auto, probes, drain, p + ("autoscaling",), c)
    else:
        block["replicas"] = _replicas(spec, role)
        if lay.multinode:
            c[p + ("replicas",)] = "LeaderWorkerSet groups"
    tp, local = engine["tensorParallelSize"], engine["dataParallelSizeLocal"]
    workers = layouts.group_size(spec)
    block["parallelism"] = {"tensor": tp, "data": engine["dataParallelSize"], "dataLocal": local,
                            "workers": workers}
    if lay.group_launch == "node-ranks":
        block["parallelism"]["pipeline"] = engine["pipelineParallelSize"]
        c[p + ("parallelism",)] = (f"one model over workers = {workers} nodes: tensor x pipeline = "
                                   f"{tp} x {engine['pipelineParallelSize']} ranks, "
                                   f"{spec['accelerator']['countPerPod']} per node")
    elif lay.multinode:
        c[p + ("parallelism",)] = (f"data = workers x dataLocal = {workers} x {local}; workers = pods per "
                                   f"LeaderWorkerSet group")
    port = vllm_port(spec, role)
    block["port"] = port
    c[p + ("port",)] = server.port_note(spec, role, port)
    command = server.command(spec, role)
    block["command"] = command.command
    block["args"] = command.args
    c[p + ("command",)] = command.why
    block["env"] = _env(spec, role)
    for name, note in server.env_notes(spec, role).items():
        c[p + ("env", next(i for i, e in enumerate(block["env"]) if e["name"] == name), "value")] = note
    gpus = spec["accelerator"]["countPerPod"]
    dshm = _dshm(spec)
    sizing = resources.server(spec, dshm[0] if dshm else None)
    res = sizing.as_dict()
    notes = [sizing.why]
    if lay.accelerators and "deviceClassName" in spec["accelerator"]:
        block["resourceClaims"] = [{"name": DRA_CLAIM, "resourceClaimTemplateName": DRA_CLAIM}]
        c[p + ("resourceClaims",)] = f"{gpus} accelerator(s) = tensor {tp} x dataLocal {local}, claimed through DRA"
    elif lay.accelerators and spec["accelerator"]["resource"]:
        for side in ("limits", "requests"):
            res[side][spec["accelerator"]["resource"]] = gpus
        notes.insert(0, f"{gpus} accelerator(s) = tensor {tp} x dataLocal {local}")
    rdma = spec["wideEP"].get("rdmaResource") if lay.group_launch == "data-parallel" else None
    if rdma:
        res["limits"][rdma] = 1
        res["requests"][rdma] = 1
    block["resources"] = res
    c[p + ("resources",)] = "; ".join(notes) + ("; override with a second values file (helm -f values.yaml -f "
                                                "mine.yaml): requests must not exceed limits")
    block["probes"] = probes.as_dict()
    for name, note in probes.notes.items():
        c[p + ("probes", name)] = note
    if not lay.multinode:
        block["progressDeadlineSeconds"] = rollout_deadline(probes.startup_seconds)
        allowed = ("startup budget" if probes.ceiling is None or probes.ceiling == probes.budget.seconds
                   else "startup ceiling")
        c[p + ("progressDeadlineSeconds",)] = (
            f"a rollout waits the {allowed} ({probes.startup_seconds} s) + {IMAGE_PULL_SECONDS} s to schedule and "
            f"pull the image; the default 600 s would fail `kubectl rollout status` on a healthy, loading pod")
    block["preStopSleepSeconds"] = drain.pre_stop_sleep_s
    c[p + ("preStopSleepSeconds",)] = (
        "the supervisor turns /readyz 503 and keeps vLLM serving while endpoints drop the pod"
        if spec["probes"]["mode"] == "supervised" else
        "keep serving while endpoints drop the terminating pod, before vLLM gets SIGTERM")
    block["terminationGracePeriodSeconds"] = drain.total
    c[p + ("terminationGracePeriodSeconds",)] = f"drain window: {drain.arithmetic()}"
    if dshm:
        block["dshm"] = {"sizeLimit": dshm[0]}
        c[p + ("dshm",)] = dshm[1]
    if rdma:
        block["rdma"] = {"resource": rdma, "count": 1}
        c[p + ("rdma",)] = "RDMA NIC for the all-to-all; the chart adds IPC_LOCK only with it"
    return block


def _dshm(spec: dict) -> tuple[str, str] | None:
    """The in-memory /dev/shm size limit of a role's pods and why; None: the runtime default."""
    lay = layouts.of(spec)
    # wide-ep and pods with several GPUs: NCCL and data-parallel ranks exchange through /dev/shm, and the container
    # runtime's default is 64 MiB
    if lay.multinode or (lay.accelerators and spec["accelerator"]["countPerPod"] > 1):
        return spec["wideEP"]["dshmSizeLimit"], "/dev/shm in memory: ranks exchange through it (the runtime default is 64 MiB)"
    return servers.of(spec).shm_size(spec)


def _autoscaling(spec: dict, auto: dict, probes: RoleProbes, drain: Drain, p: tuple, c: dict) -> dict:
    """The role's autoscaler: the spec's bounds, metric and target, and the behaviour derived from the startup
    budget (how long a new pod is expected to load) and the drain window (how long a removed one drains)."""
    multinode = layouts.of(spec).multinode
    unit, workload = ("group", "LeaderWorkerSet") if multinode else ("pod", "Deployment")
    keda = auto["autoscaler"] == "keda"
    out: dict = {"autoscaler": auto["autoscaler"], "minReplicas": auto["minReplicas"],
                 "maxReplicas": auto["maxReplicas"], "metric": auto["metric"],
                 "target": autoscaling.format_target(auto["target"])}
    c[p] = (f"{'a KEDA ScaledObject' if keda else 'an autoscaling/v2 HorizontalPodAutoscaler'} scales the "
            f"{workload}, which renders no replicas: the autoscaler owns the count, helm upgrade keeps it")
    c[p + ("target",)] = (f"average {auto['metric']} per {'group leader' if multinode else 'pod'} to keep: "
                          f"{autoscaling.METRICS[auto['metric']].meaning}")
    if keda:
        out["prometheusAddress"] = auto["prometheusAddress"]
    else:
        out["adapterMetric"] = auto["adapterMetric"]
        c[p + ("adapterMetric",)] = f"the metrics adapter serves {auto['metric']} to the HPA under this name"
    loading = probes.budget.seconds
    out["behavior"] = autoscaling.behavior(loading, drain.total)
    for direction, note in autoscaling.notes(loading, drain.total, drain.arithmetic(), unit).items():
        c[p + ("behavior", direction)] = note
    return out


def values_dict(spec: dict, roles: list[str] | None = None) -> dict:
    return build(spec, roles).data


def build_values(spec: dict, roles: list[str] | None = None, *, source: str = ""):
    """The values as a ruamel CommentedMap (comments attached), ready to dump."""
    return to_commented(build(spec, roles, source=source))


def to_commented(values: Values):
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def conv(node, path: tuple, depth: int):
        if isinstance(node, dict):
            cm = CommentedMap()
            for key, val in node.items():
                cm[key] = conv(val, path + (key,), depth + 1)
                note = values.comments.get(path + (key,))
                if note:
                    text = "\n".join(textwrap.wrap(note, COMMENT_WIDTH - 2 * depth))
                    cm.yaml_set_comment_before_after_key(key, before=text, indent=2 * depth)
            return cm
        if isinstance(node, list):
            seq = CommentedSeq(conv(x, path + (i,), depth + 1) for i, x in enumerate(node))
            if node and all(isinstance(x, str) and flow_word(x) for x in node) and sum(len(x) for x in node) < 80 \
                    and path[-1:] != ("args",):
                seq.fa.set_flow_style()
            return seq
        if isinstance(node, str) and path[1:3] == ("modelRepository", "files"):  # a server's generated files
            from ruamel.yaml.scalarstring import LiteralScalarString

            return LiteralScalarString(node)  # Triton's model repository files stay readable (generated text)
        return node

    root = conv(values.data, (), 0)
    if values.header:
        root.yaml_set_start_comment(values.header)
    return root


def render(spec: dict, roles: list[str] | None = None, *, source: str = "") -> str:
    from vllmgen.yamlio import dump

    return dump(build_values(spec, roles, source=source))
