"""What the API server refuses although the YAML is well formed and `helm lint` / `--dry-run=client` pass it.

Each check is Kubernetes' own validation (kubernetes/pkg/apis/core/validation/validation.go and
pkg/apis/apps/validation/validation.go), read on the objects of a document (a manifest, or what the chart
renders from values):
- VG060 a container's request above its limit (ValidateResourceRequirements: "must be less than or equal to
  ... limit"), as an overlay that raises only a memory request renders;
- VG061 two volumes, two containers, or two ports of one container of the same name (validateVolumes,
  validateContainers, validateContainerPorts: "Duplicate value");
- VG062 a workload whose selector does not select its own pod template ("`selector` does not match template
  `labels`");
- VG063 two objects of the same kind, namespace and name in what the chart renders from values (Helm's install
  refuses the release: an extraObject that collides with an object the chart renders). A manifest file may
  hold an object twice on purpose (`kubectl apply` keeps the last), so manifests are not checked for it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator, Optional

from vllmgen import quantities, workloads
from vllmgen.accelerators import is_native_resource
from vllmgen.trees import value_at
from vllmgen.lint.findings import Rule

R_REFUSALS = {r.id: r for r in (
    Rule("VG060", "request-over-limit", "error",
         "the API server refuses a container whose request of a resource is above its limit",
         "raise the limit with the request (or lower the request)"),
    Rule("VG061", "duplicate-name", "error",
         "the API server refuses two volumes, two containers or two ports of a container with the same name",
         "give each a name of its own (a later values file replaces lists, it does not merge them)"),
    Rule("VG062", "selector-misses-template", "error",
         "the API server refuses a workload whose selector does not match its pod template's labels",
         "make spec.selector.matchLabels a subset of spec.template.metadata.labels"),
    Rule("VG064", "extended-resource-request", "error",
         "the API server refuses an extended resource (an accelerator, an RDMA NIC) that is not a whole number, a "
         "request of one without a limit or with a different limit (they cannot be overcommitted), and a resource "
         "name with no domain that is not cpu, memory, ephemeral-storage or hugepages-*",
         "give the extended resource a whole-number limit only (the request defaults to it), under its device "
         "plugin's name (nvidia.com/gpu)"),
    Rule("VG063", "object-collision", "error",
         "two objects of the same kind, namespace and name: the second overwrites the first, and Helm refuses "
         "to install a release that renders both",
         "rename one of them (an extraObject must not reuse a name the chart renders)"),
)}

#: Kinds whose `spec.selector` must select `spec.template` (apps/v1 and batch/v1 with a manual selector).
SELECTING_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


def quantity(raw: Any) -> Optional[Decimal]:
    """A manifest's Kubernetes quantity as a number (None when it is not one)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)) or isinstance(raw, float) and raw != raw:
        return None
    try:
        return quantities.value(raw.strip() if isinstance(raw, str) else raw, signed=True)
    except ValueError:
        return None



def _names(items: Any, path: tuple, what: str) -> Iterator[tuple]:
    """(path, message) for every item of a list whose `name` an earlier item already has."""
    seen: set = set()
    for i, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if name is None:
            continue
        if name in seen:
            yield path + (i, "name"), f"{what} {name!r} is declared twice"
        seen.add(name)


def pod_hits(template: workloads.PodTemplate, data: Any) -> Iterator[tuple[str, tuple, str]]:
    """(rule, path, message) for one pod template of a document."""
    spec = value_at(data, template.spec_path)
    if not isinstance(spec, dict):
        return
    for path, message in _names(spec.get("volumes"), template.spec_path + ("volumes",), "volume"):
        yield "VG061", path, f"{template.kind} {template.name}: {message}"
    every = [(f, i, c) for f in ("initContainers", "containers")
             for i, c in enumerate(spec.get(f) if isinstance(spec.get(f), list) else []) if isinstance(c, dict)]
    seen: set = set()
    for field_name, i, c in every:
        where = template.spec_path + (field_name, i)
        if c.get("name") in seen:
            yield "VG061", where + ("name",), f"{template.kind} {template.name}: container {c['name']!r} is " \
                                              "declared twice"
        seen.add(c.get("name"))
        for path, message in _names(c.get("ports"), where + ("ports",), "port"):
            yield "VG061", path, f"{template.kind} {template.name}, container {c.get('name')}: {message}"
        res = c.get("resources") if isinstance(c.get("resources"), dict) else {}
        requests = res.get("requests") if isinstance(res.get("requests"), dict) else {}
        limits = res.get("limits") if isinstance(res.get("limits"), dict) else {}
        who = f"{template.kind} {template.name}, container {c.get('name')}"
        for name, raw in requests.items():
            want, cap = quantity(raw), quantity(limits.get(name))
            if want is not None and cap is not None and want > cap and _overcommit_allowed(name):
                yield ("VG060", where + ("resources", "requests", name),
                       f"{who}: requests {name} {raw} above its limit {limits[name]}")
        yield from _extended_hits(who, where + ("resources",), requests, limits)


#: Resource names a container may request without a domain (IsStandardContainerResourceName in
#: kubernetes/kubernetes pkg/apis/core/helper/helpers.go; hugepages-<size> too).
STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _overcommit_allowed(name: str) -> bool:
    """IsOvercommitAllowed: native resources but huge pages; an extended resource's request must equal its limit."""
    return is_native_resource(name) and not name.startswith("hugepages-")


def _extended_hits(who: str, path: tuple, requests: dict, limits: dict) -> Iterator[tuple[str, tuple, str]]:
    """What ValidateResourceRequirements (kubernetes/kubernetes pkg/apis/core/validation/validation.go) refuses of
    extended resources and resource names."""
    for section, block in (("limits", limits), ("requests", requests)):
        for name, raw in block.items():
            if not isinstance(name, str):
                continue
            at = path + (section, name)
            if "/" not in name and name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
                yield "VG064", at, f"{who}: {section} {name}: must be a standard resource for containers (cpu, " \
                                   "memory, ephemeral-storage, hugepages-*) or an extended resource DOMAIN/NAME"
            elif not is_native_resource(name):
                amount = quantity(raw)
                if amount is not None and amount != amount.to_integral_value():
                    yield "VG064", at, f"{who}: {section} {name} {raw}: an extended resource must be a whole number"
    for name, raw in requests.items():
        if not isinstance(name, str) or _overcommit_allowed(name):
            continue
        at = path + ("requests", name)
        if name not in limits:
            yield "VG064", at, f"{who}: requests {name} {raw} with no limit: Limit must be set for non " \
                               "overcommitable resources"
        else:
            want, cap = quantity(raw), quantity(limits[name])
            if want is not None and cap is not None and want != cap:
                yield "VG064", at, f"{who}: requests {name} {raw} must be equal to its limit {limits[name]} (it " \
                                   "cannot be overcommitted)"


def selector_hits(obj: dict, path: tuple) -> Iterator[tuple[str, tuple, str]]:
    if obj.get("kind") not in SELECTING_KINDS:
        return
    match = value_at(obj, ("spec", "selector", "matchLabels"))
    labels = value_at(obj, ("spec", "template", "metadata", "labels"))
    if not isinstance(match, dict) or not isinstance(labels, dict):
        return
    missing = {k: v for k, v in match.items() if labels.get(k) != v}
    if missing:
        name = value_at(obj, ("metadata", "name"))
        shown = ", ".join(f"{k}={v}" for k, v in missing.items())
        yield ("VG062", path + ("spec", "selector", "matchLabels"),
               f"{obj['kind']} {name}: the selector asks for {shown}, which its pod template's labels do not carry")


def document_hits(data: Any, doc) -> Iterator[tuple[str, tuple, str]]:
    """Every refusal in one document: its pod templates and its workloads' selectors."""
    reading = workloads.read_data(data, doc)
    for w in reading.workloads:
        for t in w.templates:
            yield from pod_hits(t, data)
    for path, obj in workloads.objects(data):
        yield from selector_hits(obj, path)


def identity(obj: Any) -> Optional[tuple]:
    """(apiVersion group, kind, namespace, name) of an object, None when it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    if not isinstance(meta.get("name"), str):
        return None
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, obj["kind"], meta.get("namespace") or "", meta["name"]


def collisions(documents: list) -> Iterator[tuple[int, tuple, str]]:
    """(document index, path, message) for each object whose kind, namespace and name an earlier one has."""
    seen: dict[tuple, int] = {}
    for index, data in enumerate(documents):
        for path, obj in workloads.objects(data):
            key = identity(obj)
            if key is None:
                continue
            if key in seen:
                yield index, path + ("metadata", "name"), (f"{key[1]} {key[3]!r} is declared twice (first in "
                                                           f"document {seen[key] + 1})")
            else:
                seen[key] = index
