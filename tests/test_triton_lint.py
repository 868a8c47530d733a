"""`vllmgen lint` knows Triton: generated Triton values (and the chart's rendering of them) lint clean, and each
mistake the Triton rules exist for is caught in them, at the line of the field."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from vllmgen import spec as specmod, values
from vllmgen.cli import app
from vllmgen.lint.runner import Linter

SPEC = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n"


def generated() -> dict:
    return yaml.safe_load(values.render(specmod.parse_spec(SPEC, "s.yaml", server="triton")))


def lint_values(tmp_path, vals: dict):
    """Lint values edited by hand. The edits also drift from the embedded spec (VG017, which
    tests/test_values_runtime_agree.py covers); here only the Triton rules are under test."""
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(vals, sort_keys=False))
    return Linter(disabled=["VG017"]).lint_paths([str(path)]), path


def without_explicit(v):
    v["standalone"]["args"] = [a for a in v["standalone"]["args"] if not a.startswith(("--model-control-mode",
                                                                                      "--load-model"))]


def readiness_server_wide(v):
    v["standalone"]["probes"]["readiness"]["httpGet"]["path"] = "/v2/health/ready"


def liveness_on_model(v):
    v["standalone"]["probes"]["liveness"]["httpGet"]["path"] = "/v2/models/qwen3-8b/ready"


def startup_on_grpc(v):
    v["standalone"]["probes"]["startup"]["httpGet"]["port"] = "grpc"


def readiness_on_metrics_port(v):
    v["standalone"]["probes"]["readiness"]["httpGet"]["port"] = 8002


@pytest.mark.parametrize("mutate, rule", [
    (without_explicit, "VG013"), (readiness_server_wide, "VG014"), (liveness_on_model, "VG015"),
    (startup_on_grpc, "VG016"), (readiness_on_metrics_port, "VG016"),
])
def test_each_triton_mistake_is_caught_in_generated_values(tmp_path, mutate, rule):
    clean, _ = lint_values(tmp_path, generated())
    assert clean.findings == []
    v = generated()
    mutate(v)
    result, path = lint_values(tmp_path, v)
    assert [f.rule for f in result.findings] == [rule], result.findings
    (finding,) = result.findings
    lines = path.read_text().splitlines()
    assert finding.line is not None and lines[finding.line - 1].strip(), finding


def test_health_check_off_needs_no_explicit_mode(tmp_path):
    v = generated()
    without_explicit(v)
    files = v["triton"]["modelRepository"]["files"]
    files["qwen3-8b/config.pbtxt"] = files["qwen3-8b/config.pbtxt"].replace(
        'key: "ENABLE_VLLM_HEALTH_CHECK"\n  value: { string_value: "true" }',
        'key: "ENABLE_VLLM_HEALTH_CHECK"\n  value: { string_value: "false" }')
    result, _ = lint_values(tmp_path, v)
    assert result.findings == []


def test_lint_cli_lists_the_triton_rules():
    out = CliRunner().invoke(app, ["lint", "--list-rules"]).stdout
    for rule in ("VG013 triton-health-check-not-explicit", "VG014 triton-server-readiness",
                 "VG015 triton-liveness-model-ready", "VG016 triton-probe-grpc-or-metrics-port"):
        assert rule in out


def test_a_port_name_the_triton_container_does_not_declare_is_no_port(tmp_path):
    """tritonserver listens on 8002 whatever the pod says, but a probe on the name `metrics` resolves only when
    the container declares it: lint says the kubelet cannot resolve it, as probe-check refuses it."""
    import pytest as _pytest

    from vllmgen.emulator import model
    from vllmgen.errors import InputError

    manifest = tmp_path / "triton.yaml"
    manifest.write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: triton}
spec:
  selector: {matchLabels: {app: triton}}
  template:
    metadata: {labels: {app: triton}}
    spec:
      containers:
      - name: triton
        image: nvcr.io/nvidia/tritonserver:25.01-vllm-python-py3
        command: [tritonserver, --model-repository=/models, --http-port=8000]
        ports: [{name: vllm, containerPort: 8000}]
        startupProbe: {httpGet: {path: /v2/health/live, port: vllm}, failureThreshold: 60}
        livenessProbe: {httpGet: {path: /v2/health/live, port: metrics}}
""")
    findings = Linter().lint_paths([str(manifest)]).findings
    assert [(f.rule, f.line) for f in findings] == [("VG001", 15)]
    assert "'metrics', which the container does not declare" in findings[0].message
    with _pytest.raises(InputError, match="unknown named port 'metrics'"):
        model.load(manifest)
