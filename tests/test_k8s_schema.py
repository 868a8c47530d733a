"""schemas/k8s.schema.json is vllmgen's own strict schema of the Kubernetes structures the chart's escape hatches
accept. Held here to Kubernetes' definitions (kubernetes-validate's, strict): every key it allows exists in
Kubernetes' structure with a compatible type, and every key Kubernetes requires it requires too, at the oldest
Kubernetes the chart supports and the newest shipped (DRA at 1.34, the first with resource.k8s.io/v1)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from tests import chartcheck as cc
from vllmgen import schemas

CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
#: Our definition -> Kubernetes' definition, and the versions it must agree with.
DEFINITIONS = {
    "labelSelector": META + "LabelSelector",
    "labelSelectorRequirement": META + "LabelSelectorRequirement",
    "nodeSelectorRequirement": CORE + "NodeSelectorRequirement",
    "nodeSelectorTerm": CORE + "NodeSelectorTerm",
    "nodeAffinity": CORE + "NodeAffinity",
    "podAffinityTerm": CORE + "PodAffinityTerm",
    "podAffinity": CORE + "PodAffinity",
    "podAntiAffinity": CORE + "PodAntiAffinity",
    "affinity": CORE + "Affinity",
    "toleration": CORE + "Toleration",
    "topologySpreadConstraint": CORE + "TopologySpreadConstraint",
    "envVar": CORE + "EnvVar",
    "envFromSource": CORE + "EnvFromSource",
    "volumeMount": CORE + "VolumeMount",
    "keyToPath": CORE + "KeyToPath",
    "volume": CORE + "Volume",
    "pvcSpec": CORE + "PersistentVolumeClaimSpec",
    "podResourceClaim": CORE + "PodResourceClaim",
    "resourceClaimTemplateSpec": "io.k8s.api.resource.v1.ResourceClaimTemplateSpec",
    "container": CORE + "Container",
    "containerPort": CORE + "ContainerPort",
    "containerResources": CORE + "ResourceRequirements",
}
#: DRA's shapes: resource.k8s.io/v1 and the pod's resourceClaimTemplateName arrived after 1.30.
DRA = {"podResourceClaim", "resourceClaimTemplateSpec"}
DRA_OLDEST = "1.34.0"


def versions_for(name: str) -> tuple[str, ...]:
    return (DRA_OLDEST, cc.newest_kube()) if name in DRA else cc.kube_versions()


@lru_cache(maxsize=None)
def kube_defs(version: str) -> dict:
    import kubernetes_validate

    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / \
        f"v{'.'.join(version.split('.')[:2])}.0-local-strict"
    return json.loads((folder / "_definitions.json").read_text())["$defs"]


def _ours(node: dict, root: dict) -> dict:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _theirs(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _types(node: dict) -> set[str]:
    t = node.get("type")
    return set(t) if isinstance(t, list) else {t} if t else set()


def disagreements(ours: dict, theirs: dict, root: dict, defs: dict, where: str) -> list[str]:
    ours, theirs = _ours(ours, root), _theirs(theirs, defs)
    found = []
    if _types(ours) and _types(theirs) and not _types(ours) & (_types(theirs) | ({"number"} if "integer" in
                                                                                 _types(ours) else set())):
        found.append(f"{where}: type {_types(ours)} where Kubernetes has {_types(theirs)}")
    if "properties" in ours:
        if "properties" not in theirs:
            return found + [f"{where}: Kubernetes has no fields here"]
        if ours.get("additionalProperties") is not False:
            found.append(f"{where}: not strict (additionalProperties is not false)")
        for key, sub in ours["properties"].items():
            if key not in theirs["properties"]:
                found.append(f"{where}.{key}: not a Kubernetes field")
            else:
                found += disagreements(sub, theirs["properties"][key], root, defs, f"{where}.{key}")
        missing = set(theirs.get("required", [])) - set(ours.get("required", []))
        if missing:
            found.append(f"{where}: Kubernetes requires {sorted(missing)}")
    if "items" in ours and "items" in theirs:
        found += disagreements(ours["items"], theirs["items"], root, defs, f"{where}[]")
    return found


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_our_kubernetes_schemas_are_subsets_of_kubernetes(name):
    root = schemas.load("k8s")
    for version in versions_for(name):
        defs = kube_defs(version)
        found = disagreements(root["$defs"][name], defs[DEFINITIONS[name]], root, defs, f"{name}@{version}")
        assert found == []


def test_every_structure_the_escape_hatches_use_is_held_to_kubernetes():
    assert set(schemas.load("k8s")["$defs"]) - set(DEFINITIONS) == {"stringMap", "quantity", "extraObject"}


def test_the_comparison_catches_a_misspelled_field_a_wrong_type_and_a_missing_requirement():
    root = schemas.load("k8s")
    root["$defs"]["volume"]["properties"]["emptyDir"]["properties"]["sizeLimt"] = {"type": "string"}
    root["$defs"]["toleration"]["properties"]["tolerationSeconds"] = {"type": "string"}
    root["$defs"]["volumeMount"]["required"] = ["name"]
    defs = kube_defs(cc.OLDEST_KUBE)
    found = [f for name in ("volume", "toleration", "volumeMount")
             for f in disagreements(root["$defs"][name], defs[DEFINITIONS[name]], root, defs, name)]
    assert len(found) == 3
    assert found[0] == "volume.emptyDir.sizeLimt: not a Kubernetes field"
    assert found[1].startswith("toleration.tolerationSeconds: type {'string'} where Kubernetes has")
    assert found[2] == "volumeMount: Kubernetes requires ['mountPath']"
