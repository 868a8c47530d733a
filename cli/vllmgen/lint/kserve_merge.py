"""KServe's LLMInferenceService as its controller sees it: merged with the LLMInferenceServiceConfigs it builds on.

The rules are KServe's (kserve/kserve, pkg/controller/v1alpha1/llmisvc/config_merge.go, combineBaseRefsConfig and
mergeSpecs): the well-known config of the service's pattern comes first (`kserve-config-llm-template` for one pod,
`kserve-config-llm-decode-template` and `kserve-config-llm-prefill-template` with a prefill pool,
`...-worker-data-parallel` / `...-worker-pipeline-parallel` with workers), then the configs named in
`spec.baseRefs` in their order, then the service's own spec; each is applied to what came before as a strategic
merge patch of the LLMInferenceServiceSpec: mappings merge key by key, a null removes a key, the PodSpec lists
with a merge key merge item by item (containers and initContainers by `name`, env by `name`, volumes by `name`,
volumeMounts by `mountPath`, ports by `containerPort`), every other list is replaced.

Configs are looked up by name among the LLMInferenceServiceConfigs of the lint run; a config not in the run is left
out (the cluster's own are not known here).
"""

from __future__ import annotations

from typing import Any, Optional

from vllmgen import workloads
from vllmgen.workloads import strategic_merge

SERVICE = "LLMInferenceService"
CONFIG = "LLMInferenceServiceConfig"
#: config_merge.go: the well-known configs, by pattern.
WELL_KNOWN_PREFIX = "kserve-config-llm-"
def _spec(obj: dict) -> dict:
    return obj["spec"] if isinstance(obj.get("spec"), dict) else {}


def _par(spec: dict) -> dict:
    return spec["parallelism"] if isinstance(spec.get("parallelism"), dict) else {}


def _pattern(spec: dict, prefix: str) -> str:
    """The well-known config for one pool of the service (decode or whole-request, or prefill)."""
    if not isinstance(spec.get("worker"), dict):
        return f"{prefix}template"
    par = _par(spec)
    if par.get("pipeline") is not None and par.get("data") is None:
        return f"{prefix}worker-pipeline-parallel"
    return f"{prefix}worker-data-parallel"


def _refs(spec: dict) -> list[str]:
    names = []
    if isinstance(spec.get("prefill"), dict):
        names += [WELL_KNOWN_PREFIX + _pattern(spec["prefill"], "prefill-"),
                  WELL_KNOWN_PREFIX + _pattern(spec, "decode-")]
    else:
        names.append(WELL_KNOWN_PREFIX + _pattern(spec, ""))
    return names


def _base_refs(spec: dict) -> list[str]:
    refs = spec.get("baseRefs")
    return [r["name"] for r in refs if isinstance(r, dict) and isinstance(r.get("name"), str)] \
        if isinstance(refs, list) else []


def configs_of(datas) -> dict[str, dict]:
    """The LLMInferenceServiceConfigs among parsed documents, by name."""
    out = {}
    for data in datas:
        for _, obj in workloads.objects(data):
            name = workloads.read_meta(obj.get("metadata"), (), []).name
            if obj.get("kind") == CONFIG and name:
                out[name] = obj
    return out


def merged(obj: dict, configs: dict[str, dict]) -> tuple[dict, list[str]]:
    """The service with the configs of the run merged under it, and the names of the configs used (none: the
    service as written)."""
    spec = _spec(obj)
    # what is enabled is decided on the service merged with its baseRefs first, as the controller does
    resolved = {}
    for name in _base_refs(spec):
        if name in configs:
            resolved = strategic_merge(resolved, _spec(configs[name]), "spec")
    resolved = strategic_merge(resolved, spec, "spec")
    used = [n for n in _refs(resolved) + _base_refs(spec) if n in configs]
    if not used:
        return obj, []
    out: dict = {}
    for name in used:
        out = strategic_merge(out, _spec(configs[name]), "spec")
    out = strategic_merge(out, spec, "spec")
    return {**obj, "spec": out}, used


def merged_data(data: Any, configs: dict[str, dict]) -> tuple[Any, list[str]]:
    """A parsed document with each LLMInferenceService in it (lists opened) merged with its configs."""
    if not configs or not isinstance(data, dict):
        return data, []
    if data.get("kind") == SERVICE:
        return merged(data, configs)
    if workloads.is_list(data) and isinstance(data.get("items"), list):
        items, used = [], []
        for item in data["items"]:
            m, u = merged(item, configs) if isinstance(item, dict) and item.get("kind") == SERVICE else (item, [])
            items.append(m)
            used += u
        return ({**data, "items": items}, used) if used else (data, [])
    return data, []
