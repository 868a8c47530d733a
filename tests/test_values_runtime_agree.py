"""What was generated, what was deployed and what runs agree, also for values edited after generation.

Through the real CLI and the real Helm engine: the chart passes what it rendered (the port `vllm`, the port
`health`, the accelerators) to `vllmgen serve`, which exits 2 naming the spec field and both values when the
mounted spec implies another pod; `vllmgen lint` reports the same edits (VG017); Triton's HTTP port follows the
role's port.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from tests import chartcheck as cc
from tests.chartcheck import container, pod_spec, port_number, workloads

REPO = cc.REPO


def _vllmgen(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vllmgen", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def _values(tmp_path, spec_text: str, *extra: str) -> dict:
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text)
    out = tmp_path / "values.yaml"
    res = _vllmgen("values", "--spec", spec, "-o", out, *extra)
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(out.read_text())


def _render(values: dict, role: str) -> tuple[dict, dict, dict]:
    """The role's pod spec, its server container and the files the chart mounts ({path in the pod: bytes})."""
    objs = cc.render_objects(values)
    (wl,) = [w for w in workloads(objs) if cc.role_of(w) == role]
    pod = pod_spec(wl)
    server = container(pod, "vllm")
    return pod, server, cc.mounted_files(objs, pod, server)


def _serve_as_rendered(tmp_path, server: dict, mounted: dict, *extra: str, env: dict | None = None):
    """Run the container's command line as the kubelet would (the image's python3 running the zipapp the chart
    mounts), with every mounted file where the chart puts it."""
    assert server["command"][:1] == ["python3"] and server["command"][2:] == ["serve"]
    local = {}
    for path, data in mounted.items():
        local[path] = tmp_path / "pod" / path.lstrip("/")
        local[path].parent.mkdir(parents=True, exist_ok=True)
        local[path].write_bytes(data)
    argv = [sys.executable, *(str(local.get(a, a)) for a in server["command"][1:] + server["args"]), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


def _lint(tmp_path, values: dict):
    f = tmp_path / "edited-values.yaml"
    f.write_text(yaml.safe_dump(values, sort_keys=False))
    return _vllmgen("lint", f)


SPEC = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n"


def test_unedited_values_pass_the_pod_to_the_supervisor(tmp_path):
    values = _values(tmp_path, SPEC)
    _, server, _ = _render(values, "standalone")
    assert server["args"][-3:] == ["--pod-port=8000", "--pod-health-port=8090", "--pod-accelerators=1"]
    assert _lint(tmp_path, values).returncode == 0


@pytest.mark.parametrize("edit, field, numbers, rule", [
    (lambda v: v["standalone"].__setitem__("port", 8300), "/routing/servicePort", ("8000", "8300"), "VG017"),
    (lambda v: v["supervisor"].__setitem__("port", 9090), "/probes/healthPort", ("8090", "9090"), "VG017"),
    (lambda v: (v["spec"]["engine"].__setitem__("tensorParallelSize", 2),
                v["spec"]["accelerator"].pop("countPerPod")), "/engine/tensorParallelSize", ("2", "1"), "VG017"),
    # the spec filled countPerPod when the values were generated: the edited spec contradicts itself
    (lambda v: v["spec"]["engine"].__setitem__("tensorParallelSize", 2), "/accelerator/countPerPod", ("1", "2"),
     "VG000"),
], ids=["set standalone.port=8300", "set supervisor.port=9090", "set spec.engine.tensorParallelSize=2",
        "set spec.engine.tensorParallelSize=2 keeping the filled countPerPod"])
def test_edited_values_stop_the_supervisor_and_fail_lint(tmp_path, edit, field, numbers, rule):
    values = _values(tmp_path, SPEC)
    edited = copy.deepcopy(values)
    edit(edited)
    _, server, mounted = _render(edited, "standalone")
    res = _serve_as_rendered(tmp_path, server, mounted)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert f": {field}: " in lines[0] and all(n in lines[0] for n in numbers), lines[0]

    linted = _lint(tmp_path, edited)
    assert linted.returncode == 1 and rule in linted.stdout, linted.stdout + linted.stderr


def test_decode_port_edit_names_the_target_port(tmp_path):
    values = _values(tmp_path, SPEC, "--role", "decode")
    values["decode"]["port"] = 8300
    _, server, mounted = _render(values, "decode")
    res = _serve_as_rendered(tmp_path, server, mounted)
    assert res.returncode == 2
    assert ": /routing/targetPort: " in res.stderr and "8200" in res.stderr and "8300" in res.stderr


TRITON_SPEC = ("model: {source: pvc://models/Llama-3.1-8B, name: llama, weightsGiB: 15}\n"
               "routing: {servicePort: 9000}\n")


def test_triton_listens_on_the_role_port_every_probe_targets(tmp_path):
    values = _values(tmp_path, TRITON_SPEC, "--server", "triton")
    pod, server, _ = _render(values, "standalone")
    http = [a for a in server["args"] if a.startswith("--http-port=")]
    assert http == ["--http-port=9000"]
    listening = {9000, values["triton"]["grpcPort"], values["triton"]["metricsPort"]}
    assert {p["containerPort"] for p in server["ports"]} == listening
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert port_number(server, server[probe]["httpGet"]["port"]) == 9000, probe
    assert _lint(tmp_path, values).returncode == 0


def test_lint_reports_a_triton_http_port_that_disagrees_with_the_role_port(tmp_path):
    values = _values(tmp_path, TRITON_SPEC, "--server", "triton")
    values["standalone"]["args"] = [a.replace("--http-port=9000", "--http-port=8000")
                                    for a in values["standalone"]["args"]]
    res = _lint(tmp_path, values)
    assert res.returncode == 1 and "VG017" in res.stdout and "--http-port=8000" in res.stdout, res.stdout


def _image_running_vllm(tmp_path, release: str) -> dict:
    """An environment whose installed vLLM says it is `release` (package metadata first on the path)."""
    site = tmp_path / f"vllm-{release}-site"
    dist = site / f"vllm-{release}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {release}\n")
    (dist / "top_level.txt").write_text("vllm\n")
    return {**os.environ, "PYTHONPATH": str(site)}


def test_an_image_running_an_older_vllm_than_the_spec_stops_the_supervisor(tmp_path):
    """values made for the default image (vLLM 0.32.0, which takes --shutdown-timeout) on an image whose vLLM is
    0.10.0 (e.g. image.tag edited): exit 2 before vLLM starts, naming the field, both releases and the flag,
    instead of a pod crash-looping on vLLM's usage error."""
    values = _values(tmp_path, SPEC)
    _, server, mounted = _render(values, "standalone")
    res = _serve_as_rendered(tmp_path, server, mounted, "--print-command", env=_image_running_vllm(tmp_path, "0.10.0"))
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert ": /engine/vllmVersion: " in lines[0] and "0.32.0" in lines[0] and "0.10.0" in lines[0], lines[0]
    assert "`--shutdown-timeout` (since 0.18.0)" in lines[0], lines[0]
    # the release the spec was made for, or a newer one, starts
    for release in ("0.32.0", "0.33.1"):
        ok = _serve_as_rendered(tmp_path, server, mounted, "--print-command", env=_image_running_vllm(tmp_path, release))
        assert ok.returncode == 0 and "--shutdown-timeout" in ok.stdout, ok.stderr
