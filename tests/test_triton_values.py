"""`vllmgen values --server triton` through the real CLI, the real Helm engine and Kubernetes' strict schemas:
the pod mounts exactly the generated model repository, runs the generated tritonserver command, exposes
Triton's three ports, and probes the model's own ready endpoint."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from tests import chartcheck as cc
from tests.chartcheck import container, pod_spec, port_number, workloads
from vllmgen.servers import triton
from vllmgen.cli import app
from vllmgen.spec import parse_spec

SPECS = {
    "hub": "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n"
           "engine: {maxModelLen: 8192, gpuMemoryUtilization: 0.9}\n",
    "pvc-tp4": "model: {source: pvc://models/Llama-3.1-70B, name: llama-70b, weightsGiB: 131}\n"
               "engine: {tensorParallelSize: 4, extraArgs: [--enable-prefix-caching]}\n",
    "path-org-name": "model: {source: /models/tiny, name: acme/tiny-chat, weightsGiB: 0.001, dtype: float32}\n"
                     "startup: {budgetSeconds: 120}\nroles: {standalone: {replicas: 2}}\n",
}


def emit(tmp_path, key: str, *extra: str):
    spec_file = tmp_path / f"{key}.yaml"
    spec_file.write_text(SPECS[key])
    out = tmp_path / f"{key}-values.yaml"
    result = CliRunner().invoke(app, ["values", "--spec", str(spec_file), "--server", "triton", "-o", str(out),
                                      *extra])
    return result, out


@pytest.fixture(scope="module")
def validators():
    return cc.Validators()


@pytest.mark.parametrize("key", SPECS)
def test_triton_values_render_and_pass_strict_kubernetes_validation(key, tmp_path, validators):
    import helm_python as helm

    result, out = emit(tmp_path, key)
    assert result.exit_code == 0, result.output
    values = helm.values_from_yaml(out.read_text())
    objs = cc.render_objects(values)
    assert cc.lint(values) == []
    assert validators.check(objs, cc.kube_versions()) == []

    spec = parse_spec(SPECS[key], f"{key}.yaml", server="triton")
    name = triton.model_name(spec)
    (wl,) = workloads(objs)
    pod = pod_spec(wl)
    server = container(pod, "vllm")
    assert server["image"] == f"{triton.NGC_REPOSITORY}:{triton.NGC_TAG}"
    assert server["command"] == ["tritonserver"] and server["args"] == triton.args(spec)
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {"vllm": 8000, "grpc": 8001, "metrics": 8002}
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in server["env"]

    # the ConfigMap holds exactly the generated repository, mounted back at the paths Triton reads
    (cm,) = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-triton-models")]
    volume = next(v for v in pod["volumes"] if v["name"] == "triton-models")
    mounted = {item["path"]: cm["data"][item["key"]] for item in volume["configMap"]["items"]}
    assert mounted == triton.repository_files(spec)
    mount = next(m for m in server["volumeMounts"] if m["name"] == "triton-models")
    assert mount == {"name": "triton-models", "mountPath": "/models", "readOnly": True}
    assert f"--model-repository={mount['mountPath']}" in server["args"]
    assert json.loads(mounted[f"{name}/1/model.json"]) == triton.engine_args(spec)

    # probes: the model's ready endpoint on the HTTP port, liveness on /v2/health/live
    for probe in ("startupProbe", "readinessProbe"):
        assert server[probe]["httpGet"]["path"] == f"/v2/models/{name}/ready"
        assert port_number(server, server[probe]["httpGet"]["port"]) == 8000
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]["medium"] == "Memory"


def test_monitors_scrape_tritons_metrics_port(tmp_path):
    import helm_python as helm

    _, out = emit(tmp_path, "hub")
    values = helm.values_from_yaml(out.read_text())
    values["monitoring"] = {"podMonitor": {"enabled": True}, "serviceMonitor": {"enabled": True},
                            "scrapeAnnotations": True}
    objs = cc.render_objects(values)
    (pm,) = [o for o in objs if o["kind"] == "PodMonitor"]
    (sm,) = [o for o in objs if o["kind"] == "ServiceMonitor"]
    (svc,) = [o for o in objs if o["kind"] == "Service"]
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert {"name": "metrics", "port": 8002, "targetPort": "metrics", "protocol": "TCP"} in svc["spec"]["ports"]
    (wl,) = workloads(objs)
    assert wl["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8002"


def test_values_file_is_readable_and_explains_the_repository(tmp_path):
    _, out = emit(tmp_path, "hub")
    text = out.read_text()
    assert "qwen3-8b/config.pbtxt: |" in text  # the files stay readable blocks, not escaped strings
    assert 'backend: "vllm"' in text
    assert "# Triton's name for the model" in text
    assert yaml.safe_load(text)["triton"]["modelRepository"]["files"]["qwen3-8b/1/model.json"].startswith("{")


def test_prefill_decode_roles_are_refused_with_exit_2(tmp_path):
    result, out = emit(tmp_path, "hub", "--role", "decode")
    assert result.exit_code == 2
    assert "--role decode" in result.output and "KV transfer" in result.output
    assert not out.exists()


def test_chart_refuses_a_triton_server_without_its_repository(tmp_path):
    import helm_python as helm

    _, out = emit(tmp_path, "hub")
    values = helm.values_from_yaml(out.read_text())
    del values["triton"]
    with pytest.raises(helm.HelmValuesError, match="triton"):
        cc.render_objects(values)
