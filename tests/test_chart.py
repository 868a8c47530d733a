"""charts/vllm through the real Helm engine: every values file renders, lints strictly and passes Kubernetes'
own schemas (strict, oldest supported and newest shipped version); the rendered pods give users what they rely
on (probe targets, sidecar, GPUs, LeaderWorkerSet groups, security defaults, secrets only by reference)."""

from __future__ import annotations

import base64
import copy
import json
import posixpath
import re

import pytest
import yaml

from tests import chartcheck as cc
from vllmgen import layouts, servers
from vllmgen.errors import InputError, InputErrors
from tests.chartcheck import container, pod_spec, port_number, role_of, workloads

VALUES_DIR = cc.CHART / "tests" / "values"
ZIPAPP = cc.CHART / "files" / "vllmgen.pyz"


def hand_written_cases() -> list[tuple[str, dict]]:
    return [(f"file:{f.stem}", yaml.safe_load(f.read_text())) for f in sorted(VALUES_DIR.glob("*.yaml"))]


ROLE_SETS = (("standalone",), ("prefill",), ("decode",), ("prefill", "decode"))
LAYOUTS = layouts.LAYOUTS  # every declared layout and server is rendered: a new one is covered at once
MODES = ("plain", "supervised")
SERVERS = servers.NAMES
#: Specs that vary what the chart must render differently (source kind, secrets, RDMA, parallel sizes).
VARIED_SPECS = {
    "pvc-source": "model: {source: pvc://model-cache/Qwen3-0.6B, weightsGiB: 1.2}\nroles: {prefill: {replicas: 1}, decode: {replicas: 2}}\n",
    "pvc-plain-wide-ep": "layout: wide-ep\nmodel: {source: pvc://models/org/Qwen3-0.6B, weightsGiB: 1.2}\nprobes: {mode: plain}\n",
    "api-key": "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nengine: {apiKeySecretName: vllm-api-key}\n",
    "hf-token": "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2, authSecretName: hf-token}\n",
    "rdma": "layout: wide-ep\nmodel: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nwideEP: {rdmaResource: rdma/ib}\n",
    "tp4": "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nengine: {tensorParallelSize: 4}\n",
    "dp-local-2": "layout: wide-ep\nmodel: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nengine: {dataParallelSizeLocal: 2}\n",
    # the supervisor from the project's image instead of the chart
    "supervisor-image": "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nprobes: {supervisor: image}\n",
    "supervisor-image-wide-ep": "layout: wide-ep\nmodel: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"
                                "probes: {supervisor: image}\n",
    "autoscale-keda": "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nroles: {prefill: {replicas: 1}, decode: {autoscaling: {maxReplicas: 4, target: 2, prometheusAddress: 'http://prometheus.monitoring:9090'}}}\n",
    "autoscale-hpa-wide-ep": "layout: wide-ep\nmodel: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nroles: {decode: {autoscaling: {autoscaler: hpa, maxReplicas: 3, metric: 'vllm:kv_cache_usage_perc', target: 0.7}}}\n",
    # LoRA adapters: two on one claim (one at its root), one from the hub, one in the image
    "loras": "model:\n  source: pvc://models/Qwen3-0.6B\n  weightsGiB: 1.2\n  loras:\n"
             "    - {name: sql, source: pvc://adapters/sql, rank: 8}\n    - {name: root, source: pvc://adapters}\n"
             "    - {name: chat, source: hf://org/chat-lora, rank: 64}\n    - {name: img, source: /adapters/img}\n",
    # one model over two nodes (tensor 2 x pipeline 2 = 2 nodes x 2 GPUs): leader serves, workers headless
    "multi-node": "layout: multi-node\nmodel: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"
                  "engine: {tensorParallelSize: 2, pipelineParallelSize: 2}\n",
    "multi-node-plain": "layout: multi-node\nmodel: {source: pvc://models/Qwen3-0.6B, weightsGiB: 1.2}\n"
                        "probes: {mode: plain}\nengine: {pipelineParallelSize: 3}\nmultiNode: {nodes: 3}\n",
    "loras-plain-wide-ep": "layout: wide-ep\nprobes: {mode: plain}\nmodel:\n  source: hf://Qwen/Qwen3-0.6B\n"
                           "  weightsGiB: 1.2\n  loras: [{name: sql, source: pvc://adapters/team-a/sql}]\n",
}


#: Combinations `vllmgen values` refuses (e.g. supervised probes on the simulator image).
REFUSED: list[str] = []


def _emit(spec_text: str, roles: list[str] | None, name: str, **overrides) -> dict:
    """What `vllmgen values` writes for this spec and roles, read back as `helm install -f` reads it."""
    import helm_python as helm
    from vllmgen import spec as specmod, values

    spec = specmod.parse_spec(spec_text, f"<{name}>", **overrides)
    return helm.values_from_yaml(values.render(spec, roles))


def generated_cases() -> list[tuple[str, dict]]:
    """Every values file `vllmgen values` can emit: role sets x layouts x probe modes x servers, the defaults
    (embedded spec, roles chosen by the spec), and varied specs."""
    import helm_python as helm
    from vllmgen import spec as specmod, values

    default = specmod.load_spec(None)
    cases = [("vllmgen:defaults", helm.values_from_yaml(values.render(default, None))),
             # the README's command: vllmgen values --role decode > values.yaml && helm install ...
             ("vllmgen:defaults:decode", helm.values_from_yaml(values.render(default, ["decode"])))]
    for layout in LAYOUTS:
        for server in SERVERS:
            for mode in MODES:
                text = f"model: {{source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}}\nprobes: {{mode: {mode}}}\n"
                for roles in ROLE_SETS:
                    name = f"vllmgen:{layout}:{server}:{mode}:{'+'.join(roles)}"
                    try:
                        cases.append((name, _emit(text, list(roles), name, layout=layout, server=server)))
                    except (InputError, InputErrors):  # a combination vllmgen refuses (exit 2) emits nothing
                        REFUSED.append(name)
    for name, text in VARIED_SPECS.items():
        cases.append((f"vllmgen:{name}", _emit(text, None, name)))
    return cases


CASES = hand_written_cases() + generated_cases()
CASE_IDS = [name for name, _ in CASES]


@pytest.fixture(scope="module")
def validators() -> cc.Validators:
    return cc.Validators()


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: cc.render_objects(values) for name, values in CASES}


def roles_in(values: dict) -> list[str]:
    return [r for r in ("standalone", "prefill", "decode") if values.get(r)]


def proxy_on(values: dict, role: str) -> bool:
    return role == "decode" and bool(((values.get("routing") or {}).get("proxy") or {}).get("enabled"))


# --- the schema: one source of truth ----------------------------------------------------------------------------

def test_chart_schema_is_generated_from_schemas():
    from vllmgen import schemas

    committed = (cc.CHART / "values.schema.json").read_text(encoding="utf-8")
    assert committed == schemas.chart_values_schema_text(), (
        "charts/vllm/values.schema.json is stale: regenerate it with "
        "`python -c 'from vllmgen import schemas; print(schemas.chart_values_schema_text(), end=\"\")' "
        "> charts/vllm/values.schema.json`")


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_chart_schema_is_self_contained():
    schema = json.loads((cc.CHART / "values.schema.json").read_text())
    refs = set(_refs(schema))
    assert refs and all(ref.startswith("#/") for ref in refs), sorted(r for r in refs if not r.startswith("#/"))
    # every local reference resolves
    for ref in refs:
        node = schema
        for part in ref[2:].split("/"):
            node = node[part]


def test_chart_schema_agrees_with_helm_in_python():
    """`vllmgen lint` validates values with chart_values_schema() in Python: it must accept what Helm accepts
    and name the same misspelled field."""
    from jsonschema import Draft202012Validator

    from vllmgen import schemas

    schema = schemas.chart_values_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for name, values in CASES:
        assert [e.message for e in validator.iter_errors(values)] == [], name
    bad = copy.deepcopy(CASES[0][1])
    bad[_first_role(bad)]["probes"]["readiness"]["periodSecond"] = 5
    (err,) = validator.iter_errors(bad)
    assert "periodSecond" in err.message and list(err.absolute_path) == [_first_role(bad), "probes", "readiness"]


def _undocumented(schema: dict, where: str = "") -> list[str]:
    missing = []
    for key, sub in (schema.get("properties") or {}).items():
        if "description" not in sub:
            missing.append(f"{where}.{key}")
        missing += _undocumented(sub, f"{where}.{key}")
    for name, sub in (schema.get("$defs") or {}).items():
        missing += _undocumented(sub, f"{where}$defs.{name}")
    return missing


@pytest.mark.parametrize("name", ["values", "lws-v1", "k8s"])
def test_every_schema_key_is_documented(name):
    from vllmgen import schemas

    assert _undocumented(schemas.load(name)) == []


def test_chart_defaults_are_valid_and_commented():
    from vllmgen import schemas

    text = (cc.CHART / "values.yaml").read_text()
    defaults = yaml.safe_load(text)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schemas.validator("values").iter_errors(defaults)]
    assert errors == []
    # cert-manager style: the comment right above a key is its documentation
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z][\w.-]*:", line):
            assert i > 0 and lines[i - 1].strip().startswith("#"), f"values.yaml:{i + 1}: no comment above {line.strip()!r}"


def test_chart_defaults_render_no_workload_and_explain_why():
    assert cc.render_objects({}) == []
    assert cc.lint({}) == []
    assert "vllmgen values > values.yaml" in cc.notes({})


# --- every values file: render, lint, Kubernetes schemas --------------------------------------------------------

@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_renders_lints_and_passes_kubernetes_schemas(name, values, rendered, validators):
    objs = rendered[name]
    assert workloads(objs), "no workload rendered"
    assert cc.lint(values) == []
    assert validators.check(objs, cc.kube_versions()) == []


# --- what users rely on -----------------------------------------------------------------------------------------

SUPERVISED_PATHS = {"startupProbe": "/startupz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_probes_target_vllm_or_health_never_the_sidecar(name, values, rendered):
    for wl in workloads(rendered[name]):
        role = role_of(wl)
        spec = pod_spec(wl)
        server = container(spec, "vllm")
        assert port_number(server, "vllm") == values[role]["port"]
        probes = {k: server[k] for k in SUPERVISED_PATHS if k in server}
        assert set(probes) == set(SUPERVISED_PATHS), f"{role}: probes missing: {set(SUPERVISED_PATHS) - set(probes)}"
        for kind, probe in probes.items():
            port = port_number(server, probe["httpGet"]["port"])
            if values["probeMode"] == "supervised":
                assert probe["httpGet"]["port"] == "health" and port == values["supervisor"]["port"]
                assert probe["httpGet"]["path"] == SUPERVISED_PATHS[kind]
            else:
                assert probe["httpGet"]["port"] == "vllm" and port == values[role]["port"]
            if proxy_on(values, role):
                assert port != values["routing"]["servicePort"], f"{role} {kind} probes the sidecar's port"
                assert port in (values["routing"]["proxy"]["targetPort"], values["supervisor"]["port"])
        # the probes are exactly what values asked for
        for key, kind in (("startup", "startupProbe"), ("readiness", "readinessProbe"), ("liveness", "livenessProbe")):
            assert server[kind] == values[role]["probes"][key]


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_decode_sidecar_and_services(name, values, rendered):
    services = {role_of(o): o for o in rendered[name] if o["kind"] == "Service" and cc.component(o) in cc.SERVER_ROLES}
    assert set(services) == set(roles_in(values))
    for wl in workloads(rendered[name]):
        role = role_of(wl)
        spec = pod_spec(wl)
        port = services[role]["spec"]["ports"]
        if proxy_on(values, role):
            sidecar = container(spec, "routing-proxy")
            assert sidecar in spec["initContainers"] and sidecar["restartPolicy"] == "Always"
            assert sidecar["ports"] == [{"name": "proxy", "containerPort": values["routing"]["servicePort"], "protocol": "TCP"}]
            assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(sidecar)
            assert sidecar["args"] == values["routing"]["proxy"]["args"]
            assert values[role]["port"] == values["routing"]["proxy"]["targetPort"] != values["routing"]["servicePort"]
            assert port == [{"name": "proxy", "port": values["routing"]["servicePort"], "targetPort": "proxy", "protocol": "TCP"}]
        else:
            assert "initContainers" not in spec
            metrics = [{"name": "metrics", "port": values["triton"]["metricsPort"], "targetPort": "metrics",
                        "protocol": "TCP"}] if values["server"] == "triton" else []
            assert port == [{"name": "vllm", "port": values[role]["port"], "targetPort": "vllm", "protocol": "TCP"}] + metrics


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_gpus_equal_tensor_times_data_local_and_none_when_simulated(name, values, rendered):
    for wl in workloads(rendered[name]):
        role = role_of(wl)
        res = container(pod_spec(wl), "vllm").get("resources") or {}
        if values["layout"] == "simulated":
            for side in ("limits", "requests"):
                assert not [k for k in res.get(side, {}) if "/" in k], f"{role}: extended resources in simulated: {res}"
            continue
        p = values[role]["parallelism"]
        gpu = values["accelerator"]["resource"]
        assert int(res["limits"][gpu]) == int(res["requests"][gpu]) == p["tensor"] * p["dataLocal"]


GENERATED = [(name, values) for name, values in CASES if name.startswith("vllmgen:")]


def _quantity(value) -> float:
    from vllmgen.resources import quantity_bytes

    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else quantity_bytes(text)


@pytest.mark.parametrize("name,values", GENERATED, ids=[n for n, _ in GENERATED])
def test_every_container_requests_and_limits_cpu_and_memory(name, values, rendered):
    """What checkov's CKV_K8S_10/11/12/13 check (scripts/render-layouts.py renders every layout for it): every
    container vllmgen renders has CPU and memory requests and limits, so no pod runs at BestEffort QoS, and no
    request exceeds its limit (the API server would refuse the pod)."""
    for wl in workloads(rendered[name]):
        spec = pod_spec(wl)
        for c in spec["containers"] + spec.get("initContainers", []):
            res = c.get("resources") or {}
            for side in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(side, {})), f"{role_of(wl)}/{c['name']}: {side} {res}"
            for key in ("cpu", "memory"):
                assert _quantity(res["requests"][key]) <= _quantity(res["limits"][key]), (c["name"], res)
        # /dev/shm in memory counts against the pod's memory: the request covers it
        dshm = [v["emptyDir"]["sizeLimit"] for v in spec.get("volumes", []) if v["name"] == "dshm"]
        if dshm:
            assert _quantity(container(spec, "vllm")["resources"]["requests"]["memory"]) > _quantity(dshm[0])


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_leaderworkerset_groups(name, values, rendered):
    kinds = {o["kind"] for o in workloads(rendered[name])}
    assert kinds == ({"LeaderWorkerSet"} if values["multinode"] else {"Deployment"})
    for wl in workloads(rendered[name]):
        role = role_of(wl)
        p = values[role]["parallelism"]
        if wl["kind"] == "LeaderWorkerSet":
            template = wl["spec"]["leaderWorkerTemplate"]
            assert template["size"] == p["workers"] and "leaderTemplate" not in template
            # a group that lost a rank serves nothing: it restarts as a whole
            assert template["restartPolicy"] == "RecreateGroupOnPodRestart"
            if values.get("groupServing") == "leader":  # multi-node: one model over the nodes, only the leader serves
                _check_node_ranks(values, role, p, wl, rendered[name])
                continue
            assert p["data"] == p["dataLocal"] * p["workers"]
            assert wl["spec"].get("replicas") == values[role].get("replicas")  # none when autoscaled
            for c in pod_spec(wl)["containers"] + pod_spec(wl).get("initContainers", []):
                declared = {e["name"] for e in c.get("env", [])}
                assert not {"LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX"} & declared, "the LWS controller injects these"
            # ranks: what the pod runs derives the same group from the LWS environment
            server = container(pod_spec(wl), "vllm")
            if values["probeMode"] == "supervised":  # the supervisor derives them from the mounted spec
                from vllmgen.spec import effective

                spec = effective(values["spec"])
                assert spec["wideEP"]["groupSize"] == p["workers"]
                assert spec["engine"]["dataParallelSizeLocal"] == p["dataLocal"]
                assert spec["engine"]["tensorParallelSize"] == p["tensor"]
                assert spec["engine"]["dataParallelSize"] == p["data"]
            else:
                line = " ".join(server["command"] + server["args"])
                local = p["dataLocal"]
                for expected in (f"--data-parallel-size $((LWS_GROUP_SIZE * {local}))",
                                 f"--data-parallel-size-local {local}",
                                 f"--data-parallel-start-rank $((LWS_WORKER_INDEX * {local}))",
                                 "${LWS_LEADER_ADDRESS}"):
                    assert expected in line, f"{role}: {expected!r} not in {line!r}"
            dshm = [v for v in pod_spec(wl)["volumes"] if v["name"] == "dshm"]
            assert dshm == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": values[role]["dshm"]["sizeLimit"]}}]
        else:
            assert wl["spec"].get("replicas") == values[role].get("replicas")  # none when autoscaled


def _check_node_ranks(values: dict, role: str, p: dict, wl: dict, objs: list[dict]) -> None:
    """multi-node: every accelerator of every node holds one rank; the Service reaches only leaders; the pods
    take their node rank and leader from the LWS environment (plain) or the supervisor does (supervised)."""
    from vllmgen.spec import effective

    gpus = int(values[role]["resources"]["limits"]["nvidia.com/gpu"])
    assert p["tensor"] * p["pipeline"] == p["workers"] * gpus
    service = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == wl["metadata"]["name"])
    assert service["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    server = container(pod_spec(wl), "vllm")
    if values["probeMode"] == "supervised":
        assert effective(values["spec"])["multiNode"]["nodes"] == p["workers"]
    else:
        line = " ".join(server["command"] + server["args"])
        for expected in (f"--nnodes {p['workers']}", '--node-rank "${LWS_WORKER_INDEX}"',
                         '--master-addr "${LWS_LEADER_ADDRESS}"', "HEADLESS=--headless",
                         f"--pipeline-parallel-size {p['pipeline']}"):
            assert expected in line, f"{role}: {expected!r} not in {line!r}"


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_security_defaults(name, values, rendered):
    for wl in workloads(rendered[name]):
        role = role_of(wl)
        spec = pod_spec(wl)
        assert spec["automountServiceAccountToken"] is False
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["seccompProfile"] == {"type": "RuntimeDefault"}
        if values["layout"] == "simulated":
            assert psc["runAsUser"] == 65532, "the simulator image runs as 65532"
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
            added = sc["capabilities"].get("add", [])
            if c["name"] == "vllm" and values[role].get("rdma"):
                assert added == ["IPC_LOCK"]
                rdma = values[role]["rdma"]
                assert c["resources"]["limits"][rdma["resource"]] == c["resources"]["requests"][rdma["resource"]] == rdma["count"]
            else:
                assert added == [], f"{role}/{c['name']}: capabilities added without RDMA: {added}"
        # the non-root user gets a writable HOME (vLLM, torch and Triton cache there)
        server = container(spec, "vllm")
        home = [e for e in server["env"] if e["name"] == "HOME"]
        assert len(home) == 1 and {"name": "home", "mountPath": home[0]["value"]} in server["volumeMounts"]


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_secrets_only_by_reference(name, values, rendered):
    for wl in workloads(rendered[name]):
        env = {e["name"]: e for e in container(pod_spec(wl), "vllm").get("env", [])}
        for var, secret, key in (
            ("HF_TOKEN", values["modelArtifacts"]["authSecretName"], values["modelArtifacts"]["authSecretKey"]),
            ("VLLM_API_KEY", values["apiKey"]["secretName"], values["apiKey"]["secretKey"]),
        ):
            if secret:
                assert env[var] == {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            else:
                assert var not in env


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_model_volume_and_spec_mount(name, values, rendered):
    objs = rendered[name]
    art = values["modelArtifacts"]
    configmaps = [o for o in objs if o["kind"] == "ConfigMap" and not o["metadata"]["name"].endswith("-triton-models")
                  and cc.component(o) != cc.ENDPOINT_PICKER]  # the picker's configuration: test_gateway.py
    for wl in workloads(objs):
        spec = pod_spec(wl)
        server = container(spec, "vllm")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = {m["name"]: m for m in server.get("volumeMounts", [])}
        if art["uri"].startswith("pvc://"):
            assert volumes["model-storage"]["persistentVolumeClaim"] == {"claimName": art["pvc"]["claimName"], "readOnly": True}
            assert mounts["model-storage"] == {"name": "model-storage", "mountPath": art["mountPath"], "readOnly": True}
            # what vLLM is told to load is where the claim puts the model
            in_pod = posixpath.join(art["mountPath"], art["pvc"]["subPath"]).rstrip("/")
            if values["probeMode"] == "supervised":
                from vllmgen.engine import model_arg
                from vllmgen.spec import effective

                assert model_arg(effective(values["spec"])) == in_pod
            elif values.get("triton"):  # Triton reads the model path from the generated model.json
                files = values["triton"]["modelRepository"]["files"]
                (model_json,) = [text for path, text in files.items() if path.endswith("/model.json")]
                assert json.loads(model_json)["model"] == in_pod
            elif values["layout"] != "simulated":
                assert in_pod in server["args"] or any(f" {in_pod} " in a for a in server["args"]), server["args"]
        elif art["uri"].startswith("hf://"):
            assert volumes["model-storage"]["emptyDir"] == ({"sizeLimit": art["size"]} if art["size"] else {})
        if "model-storage" in mounts:
            assert mounts["model-storage"]["mountPath"] == art["mountPath"]
        # the spec the values came from is in every pod, where the supervisor (or anything else) reads it
        path = values["supervisor"]["specPath"]
        assert mounts["spec"]["mountPath"] == posixpath.dirname(path)
        json_name = posixpath.splitext(posixpath.basename(path))[0] + ".json"
        assert volumes["spec"]["configMap"]["items"] == [{"key": "spec.yaml", "path": posixpath.basename(path)},
                                                         {"key": "spec.json", "path": json_name}]
        (cm,) = [c for c in configmaps if "spec.yaml" in c.get("data", {})]
        assert yaml.safe_load(cm["data"]["spec.yaml"]) == values["spec"], "the pod must run exactly the spec"
        assert json.loads(cm["data"]["spec.json"]) == values["spec"], "the JSON copy is the same spec"
        # the chart-delivered supervisor: its zipapp mounted where the command runs it, byte for byte
        zipapp = values["supervisor"].get("zipappPath", "")
        if values["probeMode"] == "supervised" and zipapp:
            assert server["command"][1] == zipapp
            assert mounts["supervisor"] == {"name": "supervisor", "mountPath": posixpath.dirname(zipapp),
                                            "readOnly": True}
            (sup,) = [c for c in configmaps if "binaryData" in c]
            assert volumes["supervisor"]["configMap"] == {
                "name": sup["metadata"]["name"], "items": [{"key": "vllmgen.pyz", "path": posixpath.basename(zipapp)}]}
            assert base64.b64decode(sup["binaryData"]["vllmgen.pyz"]) == ZIPAPP.read_bytes()
        else:
            assert "supervisor" not in mounts and not [c for c in configmaps if "binaryData" in c]
        # every file the command line names is mounted
        for arg in server.get("command", []) + server.get("args", []):
            for mount_path in re.findall(r"(/etc/\S+|/opt/\S+|/model-cache\S*)", arg):
                assert any(mount_path.startswith(m["mountPath"]) for m in mounts.values()), (arg, mounts)


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_grace_period_and_prestop_from_values(name, values, rendered):
    for wl in workloads(rendered[name]):
        role = role_of(wl)
        spec = pod_spec(wl)
        assert spec["terminationGracePeriodSeconds"] == values[role]["terminationGracePeriodSeconds"]
        lifecycle = container(spec, "vllm").get("lifecycle")
        sleep = values[role]["preStopSleepSeconds"]
        assert lifecycle == ({"preStop": {"sleep": {"seconds": sleep}}} if sleep else None)


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_notes_tell_how_to_watch_readiness(name, values):
    text = cc.notes(values)
    assert "kubectl get pods" in text and " -w" in text and "vllmgen probe-check" in text
    for role in roles_in(values):
        for probe in values[role]["probes"].values():
            assert probe["httpGet"]["path"] in text


ALL_OPTIONS = {
    "networkPolicy": {"enabled": True, "gatewayNamespace": "llm-d-gateway"},
    "podDisruptionBudget": {"enabled": True},
    "monitoring": {"scrapeAnnotations": True, "podMonitor": {"enabled": True}, "serviceMonitor": {"enabled": True}},
    "modelCache": {"create": True, "storageClassName": "fast"},
    "serviceAccount": {"create": True},
}


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_optional_objects_are_valid(name, values, validators):
    from tests.helm_unittest import merge_values

    merged = merge_values(values, ALL_OPTIONS)
    objs = cc.render_objects(merged)
    assert cc.lint(merged) == []
    assert validators.check(objs, cc.kube_versions()) == []
    kinds = [o["kind"] for o in objs if cc.component(o) != cc.ENDPOINT_PICKER]  # the picker's: test_gateway.py
    n = len(roles_in(values))
    for kind in ("NetworkPolicy", "PodDisruptionBudget", "PodMonitor", "ServiceMonitor"):
        assert kinds.count(kind) == n, kind
    assert kinds.count("ServiceAccount") == 1 and kinds.count("PersistentVolumeClaim") == 1
    for policy in (o for o in objs if o["kind"] == "NetworkPolicy"):
        role = role_of(policy)
        gateway_rule = policy["spec"]["ingress"][0]
        assert gateway_rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "llm-d-gateway"}}}]
        assert gateway_rule["ports"] == [{"port": "proxy" if proxy_on(values, role) else "vllm", "protocol": "TCP"}]
    for wl in workloads(objs):
        spec = pod_spec(wl)
        annotations = (wl["spec"]["template"] if wl["kind"] == "Deployment" else wl["spec"]["leaderWorkerTemplate"]["workerTemplate"])["metadata"]["annotations"]
        metrics_port = values["triton"]["metricsPort"] if values["server"] == "triton" else values[role_of(wl)]["port"]
        assert annotations["prometheus.io/port"] == str(metrics_port)
        assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"]
        if values["modelArtifacts"]["uri"].startswith("hf://"):
            volume = next(v for v in spec["volumes"] if v["name"] == "model-storage")
            assert "persistentVolumeClaim" in volume


# --- bad values are refused by Helm with a message naming the field ---------------------------------------------

def _first_role(values: dict) -> str:
    return roles_in(values)[0]


@pytest.mark.parametrize("name,values", CASES, ids=CASE_IDS)
def test_misspelled_probe_field_is_rejected_by_name(name, values):
    import helm_python as helm

    bad = copy.deepcopy(values)
    role = _first_role(bad)
    bad[role]["probes"]["readiness"]["periodSecond"] = 5
    with pytest.raises(helm.HelmValuesError) as err:
        cc.render_objects(bad)
    assert f"/{role}/probes/readiness" in str(err.value) and "periodSecond" in str(err.value)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda v, r: v[r]["probes"]["liveness"].update(timeoutSeconds="5"), "timeoutSeconds"),
        (lambda v, r: v[r]["probes"]["startup"]["httpGet"].update(pth="/x"), "pth"),
        (lambda v, r: v[r].update(replica=2), "replica"),
        (lambda v, r: v.update(probeMode="magic"), "probeMode"),
        (lambda v, r: v["spec"]["model"].update(sorce="hf://a/b"), "sorce"),
    ],
    ids=["mistyped-timeout", "misspelled-httpGet-path", "misspelled-role-key", "bad-enum", "misspelled-spec-field"],
)
def test_bad_values_are_rejected_by_name(mutate, field):
    import helm_python as helm

    values = copy.deepcopy(CASES[0][1])
    mutate(values, _first_role(values))
    with pytest.raises(helm.HelmValuesError) as err:
        cc.render_objects(values)
    assert field in str(err.value)


def test_decode_probe_on_the_sidecar_port_is_refused():
    import helm_python as helm

    values = next(v for _, v in CASES if proxy_on(v, "decode"))
    for port in ("proxy", values["routing"]["servicePort"]):
        bad = copy.deepcopy(values)
        bad["decode"]["probes"]["readiness"]["httpGet"]["port"] = port
        with pytest.raises(helm.HelmRenderError, match="routing sidecar"):
            cc.render_objects(bad)


def test_matrix_covers_every_combination_vllmgen_accepts():
    """Only combinations vllmgen itself refuses are left out: supervised probes where no supervisor runs (the
    simulator image, Triton), Triton outside single-node, and Triton in prefill/decode roles (no KV transfer)."""
    expected = {
        f"vllmgen:{layout}:{server}:{mode}:{'+'.join(roles)}"
        for layout in LAYOUTS for server in SERVERS for mode in MODES for roles in ROLE_SETS
        if (mode == "supervised" and (layout == "simulated" or server == "triton"))
        or (server == "triton" and (layout != "single-node" or roles != ("standalone",)))
    }
    assert set(REFUSED) == expected
    generated = [n for n in CASE_IDS if n.startswith("vllmgen:")]
    assert len(generated) == (2 + len(LAYOUTS) * len(SERVERS) * len(MODES) * len(ROLE_SETS) - len(expected)
                              + len(VARIED_SPECS))


def test_the_mounted_spec_survives_characters_yaml_cannot_carry_raw():
    """JSON passes DEL and the C1 controls through raw and toYaml gives up on them: both mounted copies of a spec
    whose engine.env holds them still load to the spec (found by the Triton property test)."""
    import json as jsonlib

    from vllmgen import spec as specmod, values as valuesmod

    spec = specmod.effective({"model": {"source": "hf://a/b", "weightsGiB": 1},
                              "engine": {"env": {"A": "\x85\t", "B": "x\u2028y \\u007f \"q\""}}})
    values = valuesmod.values_dict(spec)
    (cm,) = [o for o in cc.render_objects(values) if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-spec")]
    assert jsonlib.loads(cm["data"]["spec.json"]) == values["spec"]
    assert yaml.safe_load(cm["data"]["spec.yaml"]) == values["spec"]
