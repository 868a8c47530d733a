"""Lint rules over a whole run that join InferencePools and the pods they route to: VG018 (a prefill role that no
InferencePool selects: it never receives work) and VG019 (a pool whose selector or target port matches no serving
container). A pool and its pods may sit in different files of one run; vllmgen values carry both sides at once.
A pool is judged against the pods it is meant to select (model servers in its own file, or in its folder with
some of its labels): a pool none of whose pods were linted is a note (VG051), not an error.

Facts: docs/upstream-facts.md#inferencepool (one set of target ports for every selected pod, selection by labels
within the pool's namespace) and #endpoint-picker (prefill pods get work only through the picker's prefill header).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterator, Optional

from vllmgen import workloads
from vllmgen.lint import identify
from vllmgen.lint.loader import VALUES, LoadedDoc
from vllmgen.lint.findings import Hit
from vllmgen.roles import ROLE_LABEL, SIDECAR_ROLE

#: The InferencePool kinds lint reads: the GA API and the older alpha one llm-d's earlier guides rendered.
POOL_API_GROUPS = ("inference.networking.k8s.io", "inference.networking.x-k8s.io")
PREFILL = "prefill"


@dataclass(frozen=True)
class Pool:
    ld: LoadedDoc
    name: str
    namespace: Optional[str]
    match_labels: dict
    target_ports: tuple[int, ...]
    selector_path: tuple
    ports_path: tuple


@dataclass(frozen=True)
class Pods:
    """One pod template: the labels its pods carry and the ports their running containers declare."""

    ld: LoadedDoc
    where: str
    namespace: Optional[str]
    labels: dict
    ports: frozenset[int]
    role: Optional[str]  # the pods' llm-d.ai/role label
    path: tuple  # where to report: the template's labels (or the nearest node that exists)
    serves: bool = False  # a running container is a model server (lint.identify)


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _namespace(obj: dict) -> Optional[str]:
    ns = _dict(obj.get("metadata")).get("namespace")
    return ns if isinstance(ns, str) else None


def pools_of(ld: LoadedDoc) -> list[Pool]:
    """The InferencePools in a document (items of lists included)."""
    out = []
    for path, obj in workloads.objects(ld.data):
        if obj.get("kind") != "InferencePool" or str(obj.get("apiVersion", "")).split("/")[0] not in POOL_API_GROUPS:
            continue
        spec = _dict(obj.get("spec"))
        selector = _dict(spec.get("selector"))
        if "matchLabels" in selector:  # v1
            match, selector_path = _dict(selector["matchLabels"]), path + ("spec", "selector", "matchLabels")
            ports = tuple(p["number"] for p in _list(spec.get("targetPorts"))
                          if isinstance(_dict(p).get("number"), int))
            ports_path = path + ("spec", "targetPorts")
        else:  # v1alpha2: the selector is the label map, one target port
            match, selector_path = selector, path + ("spec", "selector")
            number = spec.get("targetPortNumber")
            ports, ports_path = ((number,) if isinstance(number, int) else ()), path + ("spec", "targetPortNumber")
        name = _dict(obj.get("metadata")).get("name", "?")
        out.append(Pool(ld, str(name), _namespace(obj), match, ports, selector_path, ports_path))
    return out


def pods_of(ld: LoadedDoc) -> list[Pods]:
    """The pod templates of a document's workloads, as the pods they make see themselves."""
    out = []
    for workload in workloads.read(ld.doc).workloads:
        namespace = _namespace(_dict(_at(ld.data, workload.path)))
        has_leader = any(t.template == "leader" for t in workload.templates)
        for t in workload.templates:
            labels = {k: str(v) for k, v in t.template_meta.labels.items()}
            role = labels.get(ROLE_LABEL)  # what llm-d's prefill and decode filters read on the pod
            ports = frozenset(n for c in t.running for n in c.port_numbers)
            where = f"{t.kind} {t.name}" + (f" ({t.template})" if t.template else "")
            serves = any(identify.identify(name=c.name, image=c.image, command=c.command, args=c.args).server
                         is not None for c in t.running)
            for extra in _controller_labels(t, has_leader):
                out.append(Pods(ld, where, namespace, {**labels, **extra}, ports, role,
                                t.spec_path[:-1] + ("metadata", "labels"), serves))
    return out


#: The label the LeaderWorkerSet controller puts on each pod of a group: its index in the group, 0 on the leader
#: (kubernetes-sigs/lws, api/leaderworkerset/v1 `WorkerIndexLabelKey`).
LWS_WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"


def _controller_labels(t, has_leader: bool) -> list[dict]:
    """Labels the workload's controller adds to the pods it makes from template `t`, one dict per kind of pod: a
    LeaderWorkerSet's leader is index 0 (made from the worker template when there is no leader template)."""
    if t.kind != "LeaderWorkerSet":
        return [{}]
    if t.template == "leader":
        return [{LWS_WORKER_INDEX_LABEL: "0"}]
    workers = [{LWS_WORKER_INDEX_LABEL: "1"}] if (t.group_size or 1) > 1 else []
    return workers if has_leader else [{LWS_WORKER_INDEX_LABEL: "0"}, *workers]


def _worker_of_a_selected_leader(tmpl: Pods, pods: list[Pods], pools: list[Pool]) -> bool:
    """A LeaderWorkerSet worker (index > 0) whose group's leader some pool selects."""
    if tmpl.labels.get(LWS_WORKER_INDEX_LABEL, "0") == "0":
        return False
    workload = tmpl.where.split(" (")[0]
    return any(q.ld is tmpl.ld and q.where.split(" (")[0] == workload and q.labels.get(LWS_WORKER_INDEX_LABEL) == "0"
               and any(selects(pool, q) for pool in pools) for q in pods)


def _at(data, path: tuple):
    for key in path:
        data = data[key]
    return data


def _same_namespace(pool: Pool, pods: Pods) -> bool:
    """Both written for one namespace; a manifest that names none goes wherever it is applied (`kubectl -n`)."""
    return pool.namespace is None or pods.namespace is None or pool.namespace == pods.namespace


def selects(pool: Pool, pods: Pods) -> bool:
    """The pool's labels on the pods, in the namespace both are written for (one left out: the same one)."""
    if not _same_namespace(pool, pods):
        return False
    return bool(pool.match_labels) and all(pods.labels.get(k) == str(v) for k, v in pool.match_labels.items())


def meant_for(pool: Pool, pods: Pods) -> bool:
    """Pods the pool is meant to select: model servers written beside it, in its own file, or in its folder
    carrying some of its labels (a selector that misses them by a label or a value is a mistake). Pods of other
    folders belong to other deployments, even when they share a label such as `llm-d.ai/inference-serving`."""
    if not _same_namespace(pool, pods):
        return False
    if pods.ld.doc.file == pool.ld.doc.file:
        return pods.serves
    return PurePath(pods.ld.doc.file).parent == PurePath(pool.ld.doc.file).parent and \
        any(pods.labels.get(k) == str(v) for k, v in pool.match_labels.items())


def run_hits(docs: list[LoadedDoc]) -> Iterator[tuple[LoadedDoc, Hit]]:
    """VG018 and VG019 over the Kubernetes objects of one lint run."""
    pools = [p for ld in docs for p in pools_of(ld)]
    pods = [p for ld in docs for p in pods_of(ld)]
    for tmpl in pods:
        if _worker_of_a_selected_leader(tmpl, pods, pools):
            continue  # a multi-node worker runs headless ranks: its group's leader takes the work
        if tmpl.role == PREFILL and not any(selects(pool, tmpl) for pool in pools):
            yield tmpl.ld, Hit("VG018", tmpl.path, f"{tmpl.where}: prefill pods that no InferencePool in the "
                                                   f"linted files selects (labels {tmpl.labels or 'none'})")
    if not pods:
        return  # a pool linted without any workload: nothing to match it against
    for pool in pools:
        selected = [t for t in pods if selects(pool, t)]
        near = [t for t in pods if meant_for(pool, t)] if not selected else []
        if not selected and near:
            yield pool.ld, Hit("VG019", pool.selector_path,
                               f"InferencePool {pool.name} selects no pod of the linted workloads "
                               f"(matchLabels {pool.match_labels or 'empty'}); {_near(near)}")
        elif not selected:
            yield pool.ld, Hit("VG051", pool.selector_path,
                               f"InferencePool {pool.name} selects no pod of the linted files, and none of them "
                               f"is meant for it (no model server in its file, no pod of its folder with any of its "
                               f"labels {pool.match_labels or '{}'}): its model servers are in files not linted, so "
                               f"its selector and target ports are not checked")
        for tmpl in selected:
            # containers that declare no port at all may still listen on it (ports are informational)
            missing = [n for n in pool.target_ports if n not in tmpl.ports] if tmpl.ports else []
            where = tmpl.where if tmpl.ld.doc.file == pool.ld.doc.file else \
                f"{tmpl.where} ({PurePath(tmpl.ld.doc.file).name})"
            if missing:
                yield pool.ld, Hit("VG019", pool.ports_path,
                                   f"InferencePool {pool.name} sends {where} to port "
                                   f"{', '.join(map(str, missing))}, which its containers do not declare "
                                   f"(they declare {', '.join(map(str, sorted(tmpl.ports))) or 'none'})")


def _near(pods: list[Pods]) -> str:
    first = pods[0]
    return f"{first.where} ({PurePath(first.ld.doc.file).name}) carries {first.labels or 'no labels'}"


def values_hits(ld: LoadedDoc) -> Iterator[Hit]:
    """VG018 and VG019 in vllmgen values: the chart's pool selects every rendered role on routing.servicePort."""
    data = ld.data
    if ld.kind != VALUES or not isinstance(data, dict):
        return
    routing = _dict(data.get("routing"))
    pool = bool(_dict(routing.get("inferencePool")).get("create"))
    if isinstance(data.get(PREFILL), dict) and not pool:
        yield Hit("VG018", (PREFILL,), "prefill pods with no InferencePool (routing.inferencePool.create is not "
                                       "true): no endpoint picker sends them work",
                  fix="render prefill and decode with their pool: routing.inferencePool true in the spec (the "
                      "default with prefill and decode), then regenerate")
    if not pool:
        return
    target = routing.get("servicePort")
    for role in ("standalone", PREFILL, SIDECAR_ROLE):
        cfg = data.get(role)
        if not isinstance(cfg, dict):
            continue
        behind_sidecar = role == SIDECAR_ROLE and _dict(routing.get("proxy")).get("enabled")
        serving = target if behind_sidecar else cfg.get("port")
        if serving != target:
            yield Hit("VG019", (role, "port"), f"{role} serves on port {serving}, but the InferencePool sends every "
                                               f"pod it selects to routing.servicePort ({target})",
                      fix="regenerate the values: `vllmgen values` gives every role the pool's port")
