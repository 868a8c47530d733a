"""The chart's escape hatches (extra volumes and mounts, env and envFrom, per-role scheduling, pod labels and
annotations, DRA claims and templates, extraObjects), through the real Helm engine: what a user adds reaches the
pods, combined top level + role as documented, and renders objects that pass Kubernetes' strict schemas (1.30 and
the newest; DRA from 1.34, the first with resource.k8s.io/v1). A misspelled hatch is refused by Helm, naming it."""

from __future__ import annotations

import copy

import pytest

from tests import chartcheck as cc
from tests.chartcheck import container, pod_spec, role_of, workloads
from tests.helm_unittest import merge_values

MODEL = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"
PD = "roles: {prefill: {replicas: 1}, decode: {replicas: 2}}\n"
#: Values `vllmgen values` emits for each layout and probe mode (the hatches go on top, as `helm -f a -f b`).
BASES = {
    "single-node:supervised": (MODEL + PD, {}),
    "single-node:plain": (MODEL + PD + "probes: {mode: plain}\n", {}),
    "wide-ep:supervised": (MODEL, {"layout": "wide-ep"}),
    "simulated:plain": (MODEL, {"layout": "simulated"}),
}

HATCHES = {
    "extraVolumes": [{"name": "ca", "configMap": {"name": "ca-bundle", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                     {"name": "models", "persistentVolumeClaim": {"claimName": "shared-models", "readOnly": True}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/custom", "readOnly": True},
                          {"name": "models", "mountPath": "/shared-models", "readOnly": True}],
    "extraEnv": [{"name": "SSL_CERT_FILE", "value": "/etc/ssl/custom/ca.crt"},
                 {"name": "S3_KEY", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "key"}}}],
    "extraEnvFrom": [{"secretRef": {"name": "vllm-extra"}}, {"configMapRef": {"name": "vllm-tuning"}, "prefix": "T_"}],
    "nodeSelector": {"pool": "gpu"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["H100"]}]}]}}},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                   "whenUnsatisfiable": "ScheduleAnyway",
                                   "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "rel"}}}],
    "priorityClassName": "inference", "runtimeClassName": "nvidia", "schedulerName": "volcano",
    "podLabels": {"team": "ml"}, "podAnnotations": {"owner": "ml-platform"},
    "extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-extra"},
                      "data": {"note": "rendered with {{ .Release.Name }}"}}],
}
#: A role's hatches on top of the top-level ones (applied to every role present).
ROLE_HATCHES = {
    "nodeSelector": {"pool": "gpu-ROLE"}, "podLabels": {"tier": "ROLE"}, "podAnnotations": {"owner": "ROLE-team"},
    "tolerations": [{"key": "ROLE", "operator": "Exists"}],
    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50,
        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "ROLE"}}}}]}},
    "topologySpreadConstraints": [{"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone",
                                   "whenUnsatisfiable": "DoNotSchedule"}],
    "priorityClassName": "ROLE-critical",
    "extraVolumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
    "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    "extraEnvFrom": [{"secretRef": {"name": "ROLE-secrets", "optional": True}}],
}


def _base(key: str) -> dict:
    import helm_python as helm

    from vllmgen import spec as specmod, values

    text, overrides = BASES[key]
    return helm.values_from_yaml(values.render(specmod.parse_spec(text, f"<{key}>", **overrides)))


def _roles(values: dict) -> list[str]:
    return [r for r in ("standalone", "prefill", "decode") if values.get(r)]


def _with_hatches(base: dict) -> dict:
    role_hatches = {r: eval_role(ROLE_HATCHES, r) for r in _roles(base)}
    return merge_values(merge_values(base, HATCHES), role_hatches)


def eval_role(node, role):
    if isinstance(node, dict):
        return {k: eval_role(v, role) for k, v in node.items()}
    if isinstance(node, list):
        return [eval_role(v, role) for v in node]
    return node.replace("ROLE", role) if isinstance(node, str) else node


@pytest.fixture(scope="module")
def validators() -> cc.Validators:
    return cc.Validators()


@pytest.mark.parametrize("key", sorted(BASES))
def test_every_hatch_reaches_the_pods_and_passes_strict_kubernetes_schemas(key, validators):
    values = _with_hatches(_base(key))
    objs = cc.render_objects(values)
    assert cc.lint(values) == []
    assert validators.check(objs, cc.kube_versions()) == []
    extra = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "rel-extra"]
    assert extra == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rel-extra"},
                      "data": {"note": "rendered with rel"}}]
    for wl in workloads(objs):
        role = role_of(wl)
        template = wl["spec"]["template"] if wl["kind"] == "Deployment" else \
            wl["spec"]["leaderWorkerTemplate"]["workerTemplate"]
        spec = pod_spec(wl)
        server = container(spec, "vllm")
        # maps: the role's keys over the top level's
        assert spec["nodeSelector"] == {"pool": f"gpu-{role}"}
        assert {"team": "ml", "tier": role}.items() <= template["metadata"]["labels"].items()
        assert template["metadata"]["annotations"]["owner"] == f"{role}-team"
        # lists: top level first, then the role's
        assert spec["tolerations"] == HATCHES["tolerations"] + [{"key": role, "operator": "Exists"}]
        assert spec["topologySpreadConstraints"] == HATCHES["topologySpreadConstraints"] + \
            eval_role(ROLE_HATCHES["topologySpreadConstraints"], role)
        assert server["envFrom"] == HATCHES["extraEnvFrom"] + [{"secretRef": {"name": f"{role}-secrets",
                                                                              "optional": True}}]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["ca"] == HATCHES["extraVolumes"][0] and volumes["scratch"]["emptyDir"] == {"sizeLimit": "1Gi"}
        mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
        assert {"/etc/ssl/custom": "ca", "/shared-models": "models", "/scratch": "scratch"}.items() <= mounts.items()
        assert set(mounts.values()) <= set(volumes), "every mount has its volume"
        # single values and affinity: the role's replace the top level's
        assert spec["affinity"] == eval_role(ROLE_HATCHES["affinity"], role)
        assert (spec["priorityClassName"], spec["runtimeClassName"], spec["schedulerName"]) == \
            (f"{role}-critical", "nvidia", "volcano")
        env = [e["name"] for e in server["env"]]
        assert env[-2:] == ["SSL_CERT_FILE", "S3_KEY"], "extraEnv comes after the role's env"


def test_without_hatches_the_pods_are_as_before():
    values = _base("single-node:supervised")
    for wl in workloads(cc.render_objects(values)):
        spec = pod_spec(wl)
        assert not {"nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName",
                    "runtimeClassName", "schedulerName", "resourceClaims"} & set(spec)
        assert "envFrom" not in container(spec, "vllm") and "claims" not in container(spec, "vllm")["resources"]


# --- DRA: accelerators through a ResourceClaimTemplate instead of an extended resource --------------------------

DRA_KUBE = "1.34.0"


@pytest.mark.parametrize("layout", ["single-node", "wide-ep"])
def test_accelerators_through_dra(layout, validators):
    import helm_python as helm

    from vllmgen import spec as specmod, values as valuesmod

    spec = specmod.parse_spec(MODEL + "accelerator: {deviceClassName: gpu.nvidia.com}\nengine: {tensorParallelSize: 2}\n",
                              "dra.yaml", layout=layout)
    values = helm.values_from_yaml(valuesmod.render(spec))
    objs = cc.render_objects(values)
    assert cc.lint(values) == []
    assert validators.check(objs, (DRA_KUBE, cc.newest_kube())) == []
    (template,) = [o for o in objs if o["kind"] == "ResourceClaimTemplate"]
    assert template["apiVersion"] == "resource.k8s.io/v1" and template["metadata"]["name"] == "rel-vllm-accelerators"
    assert template["spec"]["spec"]["devices"]["requests"] == [
        {"name": "accelerators", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 2}}]
    for wl in workloads(objs):
        spec_ = pod_spec(wl)
        server = container(spec_, "vllm")
        assert spec_["resourceClaims"] == [{"name": "accelerators", "resourceClaimTemplateName": "rel-vllm-accelerators"}]
        assert server["resources"]["claims"] == [{"name": "accelerators"}]
        assert not [k for side in ("limits", "requests") for k in server["resources"][side] if "/" in k], \
            "no extended resource beside the claim"
        assert not [a for a in server["args"] if a.startswith("--pod-accelerators")]


def test_user_claims_join_the_pods_and_name_the_charts_templates(validators):
    values = merge_values(_base("single-node:supervised"), {
        "resourceClaimTemplates": {"imex": {"spec": {"devices": {"requests": [
            {"name": "channel", "exactly": {"deviceClassName": "compute-domain-default-channel.nvidia.com"}}]}}}},
        "resourceClaims": [{"name": "imex", "resourceClaimTemplateName": "imex"},
                           {"name": "nic", "resourceClaimName": "shared-rdma"}],
    })
    objs = cc.render_objects(values)
    assert validators.check(objs, (DRA_KUBE, cc.newest_kube())) == []
    for wl in workloads(objs):
        spec = pod_spec(wl)
        assert spec["resourceClaims"] == [{"name": "imex", "resourceClaimTemplateName": "rel-vllm-imex"},
                                          {"name": "nic", "resourceClaimName": "shared-rdma"}]
        assert container(spec, "vllm")["resources"]["claims"] == [{"name": "imex"}, {"name": "nic"}]


# --- a misspelled hatch is named by Helm ------------------------------------------------------------------------

MISSPELLED = [
    (lambda v: v["extraVolumes"][0]["configMap"].update(nmae="x"), "nmae"),
    (lambda v: v["extraVolumes"][0].update(emptyDir={}), "extraVolumes/0"),  # two sources in one volume
    (lambda v: v["extraVolumeMounts"][0].update(mountpath="/x"), "mountpath"),
    (lambda v: v["extraEnv"][1]["valueFrom"].update(secretKeyRf={"name": "a", "key": "b"}), "secretKeyRf"),
    (lambda v: v["extraEnvFrom"][0].update(secretref={"name": "a"}), "secretref"),
    (lambda v: v["tolerations"][0].update(operater="Exists"), "operater"),
    (lambda v: v["affinity"].update(nodeAfinity={}), "nodeAfinity"),
    (lambda v: v["topologySpreadConstraints"][0].update(maxskew=1), "maxskew"),
    (lambda v: v.update(priorityClassName="Not_A_Name"), "priorityClassName"),
    (lambda v: v.update(extraVolume=[]), "extraVolume"),
    (lambda v: v["decode"].update(nodeSelectr={"a": "b"}), "nodeSelectr"),
    (lambda v: v["decode"]["tolerations"][0].update(efect="NoSchedule"), "efect"),
    (lambda v: v.update(resourceClaims=[{"name": "a", "resourceClaimTemplate": "x"}]), "resourceClaimTemplate"),
    (lambda v: v.update(resourceClaimTemplates={"x": {"spec": {"devices": {"requests": [
        {"name": "r", "exactly": {"deviceClass": "gpu.nvidia.com"}}]}}}}), "deviceClass"),
    (lambda v: v["extraObjects"][0].pop("kind"), "kind"),
]


@pytest.mark.parametrize("mutate,field", MISSPELLED, ids=[f for _, f in MISSPELLED])
def test_a_misspelled_hatch_is_refused_by_helm_naming_it(mutate, field):
    import helm_python as helm

    values = copy.deepcopy(_with_hatches(_base("single-node:supervised")))
    cc.render_objects(values)  # valid before the mistake
    mutate(values)
    with pytest.raises(helm.HelmValuesError) as err:
        cc.render_objects(values)
    assert field in str(err.value)


#: Specs whose pods carry every volume the chart renders (model storage, shm, the spec and supervisor, caches,
#: LoRA adapters on claims, Triton's model repository).
VOLUME_SPECS = [
    "caches: {claim: model-cache}\nmodel: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2, loras: "
            "[{name: a, source: pvc://adapters/a}, {name: b, source: pvc://adapters/b}]}\n",
    "model: {source: pvc://models/qwen, weightsGiB: 1.2}\ncaches: {claim: pvc://cache/x}\n",
    MODEL + "layout: wide-ep\n",
    MODEL + "server: triton\nprobes: {mode: plain}\n",
]


@pytest.mark.parametrize("text", VOLUME_SPECS, ids=["hf-loras-cache", "pvc", "wide-ep", "triton"])
def test_an_extra_volume_named_like_one_of_the_charts_is_refused(text):
    """Two pod volumes of one name pass the JSON schemas and are refused by the API server at install: the values
    schema refuses every name the chart renders."""
    import helm_python as helm

    from vllmgen import spec as specmod, values as valuesmod

    base = helm.values_from_yaml(valuesmod.render(specmod.parse_spec(text, "<spec>")))
    names = {v["name"] for obj in workloads(cc.render_objects(base)) for v in pod_spec(obj).get("volumes", [])}
    assert names
    for name in sorted(names):
        values = merge_values(base, {"extraVolumes": [{"name": name, "emptyDir": {}}]})
        with pytest.raises(helm.HelmValuesError) as err:
            cc.render_objects(values)
        assert "extraVolumes" in str(err.value), name


@pytest.mark.parametrize("key", sorted(BASES))
def test_an_extra_object_with_the_kind_and_name_of_one_of_the_charts_is_refused(key):
    """At install the later of two objects of one kind and name silently replaces the other: the chart refuses an
    extraObject that would replace one of its own (its ConfigMaps, workloads, Services, autoscalers...)."""
    import helm_python as helm

    values = _with_hatches(_base(key))
    own = [o for o in cc.render_objects(values) if (o["kind"], o["metadata"]["name"]) not in {
        (e["kind"], e["metadata"]["name"].replace("{{ .Release.Name }}", "rel")) for e in values["extraObjects"]}]
    assert own
    for obj in own:
        clash = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {"name": obj["metadata"]["name"]}}
        with pytest.raises(helm.HelmRenderError) as err:
            cc.render_objects(merge_values(values, {"extraObjects": [*values["extraObjects"], clash]}))
        assert f"{obj['kind']} {obj['metadata']['name']} is an object the chart renders" in str(err.value)


def test_the_chart_knows_every_template_of_its_objects():
    from pathlib import Path

    templates = Path(cc.CHART) / "templates"
    text = (templates / "extra-objects.yaml").read_text()
    listed = text.split('define "vllm.ownTemplates" -}}')[1].split("{{- end }}")[0].split()
    assert sorted(listed) == sorted(p.name for p in templates.glob("*.yaml") if p.name != "extra-objects.yaml")
