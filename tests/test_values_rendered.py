"""Values are read by rendering them: `vllmgen lint` and `vllmgen probe-check` see the pod the chart renders.

Through the real Helm engine (the embedded one, as the other chart tests): the two disagreements that had four
readers of values work out four different pods, lint's and probe-check's views of random values overlays against
the rendered pod, `--set` in Helm's grammar, and the one line when no engine is there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings, strategies as st

from tests import chartcheck as cc
from vllmgen import render, spec as specmod, values, workloads
from vllmgen.emulator import model
from vllmgen.lint import loader, rendered
from vllmgen.lint.runner import Linter
from vllmgen.lint.view import file_context, views_of
from vllmgen.yamlio import load_document

QWEN = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n"


def generated(extra: str = "", **kw) -> dict:
    return yaml.safe_load(values.render(specmod.parse_spec(QWEN + extra, "s.yaml", **kw)))


def write(tmp_path, data: dict, name: str = "values.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def line_of(path: Path, pointer_path: tuple) -> int:
    return load_document(path).line(pointer_path)


def vllmgen(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vllmgen", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


# --- the two reproduced disagreements -------------------------------------------------------------------------

def test_plain_readiness_on_port_health_is_found_and_probe_check_agrees(tmp_path):
    """Plain probes declare no port `health` (only supervised pods have the supervisor's health server): a
    readiness probe moved there never succeeds. Lint used to say "no findings"."""
    v = generated("probes: {mode: plain}\n", layout="single-node")
    v["standalone"]["probes"]["readiness"]["httpGet"]["port"] = "health"
    path = write(tmp_path, v)
    result = Linter().lint_paths([str(path)])
    port_line = line_of(path, ("standalone", "probes", "readiness", "httpGet", "port"))
    assert [(f.rule, f.line) for f in result.findings] == [("VG001", port_line)]
    assert "'health', which the container does not declare" in result.findings[0].message
    with pytest.raises(Exception) as refused:
        model.load(path)
    err = refused.value
    assert err.file == str(path) and err.line == port_line and "unknown named port 'health'" in err.message
    assert err.pointer == "/standalone/probes/readiness/httpGet/port"


def test_triton_liveness_on_port_metrics_lint_and_probe_check_agree(tmp_path):
    """Triton values whose liveness probe moved to port `metrics`: the rendered pod declares it (8002); lint
    flags the metrics port (VG016) and probe-check reads the same port, with the ports the pod declares and no
    `health` port it does not have."""
    v = generated(server="triton")
    v["standalone"]["probes"]["liveness"]["httpGet"]["port"] = "metrics"
    path = write(tmp_path, v)
    result = Linter(disabled=["VG017"]).lint_paths([str(path)])
    port_line = line_of(path, ("standalone", "probes", "liveness", "httpGet", "port"))
    assert [(f.rule, f.line) for f in result.findings] == [("VG016", port_line)]
    assert "metrics port 8002" in result.findings[0].message
    pod = model.load(path)
    assert pod.liveness.port == 8002 and pod.liveness.port_name == "metrics"
    assert pod.ports == {"vllm": 8000, "grpc": 8001, "metrics": 8002}


# --- lint's and probe-check's view of each pod is the rendered pod ----------------------------------------------

def _rendered_pods(data: dict) -> dict[str, dict]:
    """{role: the role's server container as rendered}."""
    return {cc.role_of(w): cc.container(cc.pod_spec(w), "vllm") for w in cc.workloads(cc.render_objects(data))}


PROBE_PORTS = st.sampled_from(["vllm", "health", 8000, 8090, 8100])
OVERLAYS = st.fixed_dictionaries({
    "mode": st.sampled_from(["plain", "supervised"]),
    "server": st.sampled_from(["vllm", "triton"]),
    "port": st.sampled_from([8000, 8100]),
    "health": st.sampled_from([8090, 9000]),
    "probe": st.sampled_from(["startup", "readiness", "liveness"]),
    "probe_port": PROBE_PORTS,
    "period": st.integers(1, 30),
})


def _overlay(o: dict) -> tuple[dict, dict]:
    base = generated(f"probes: {{mode: {o['mode']}}}\n" if o["server"] == "vllm" else "", layout="single-node",
                     server=o["server"])
    over = {"supervisor": {"port": o["health"]},
            "standalone": {"port": o["port"], "probes": {o["probe"]: {"periodSeconds": o["period"],
                                                                        "httpGet": {"port": o["probe_port"]}}}}}
    return base, over


@settings(max_examples=20, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(OVERLAYS)
@example({"mode": "plain", "server": "vllm", "port": 8000, "health": 8090, "probe": "readiness",
          "probe_port": "health", "period": 5})
@example({"mode": "supervised", "server": "triton", "port": 8000, "health": 8090, "probe": "liveness",
          "probe_port": 8002, "period": 10})
def test_lint_and_probe_check_see_the_rendered_pod(tmp_path_factory, o):
    tmp = tmp_path_factory.mktemp("overlay")
    base, over = _overlay(o)
    base_path, over_path = write(tmp, base, "base.yaml"), write(tmp, over, "over.yaml")
    merged = render.merge(base, over)
    try:
        pods = _rendered_pods(merged)
    except Exception as exc:  # the chart refuses these values: both commands must say so too
        result = Linter().lint_paths([], [str(base_path), str(over_path)])
        assert any(f.rule == "VG000" and "the chart refuses" in f.message for f in result.findings), exc
        with pytest.raises(Exception, match="the chart refuses"):
            model.load(base_path, how=model.Rendering(overlays=(str(over_path),)))
        return
    server = pods["standalone"]
    declared = {p["name"]: p["containerPort"] for p in server.get("ports", [])}
    # lint's view
    stack_file = rendered.stack_file([str(base_path), str(over_path)])
    _, objects = rendered.render_stack(stack_file.docs[0].doc, [], [], None)
    docs = [loader.LoadedDoc(i, loader.classify(d.data), d) for i, d in enumerate(objects)]
    ctx = file_context(d.data for d in docs)
    views = [v for d in docs if d.kind == loader.KUBERNETES for v in views_of(d, [], ctx)]
    assert [v.name for v in views] == [c["name"] for c in cc.pod_spec(cc.workloads(cc.render_objects(merged))[0])
                                       ["containers"]]
    (view,) = [v for v in views if v.name == "vllm"]
    assert view.ports == declared
    for kind, field in workloads.PROBE_FIELDS.items():
        assert (kind in view.probes) == (field in server)
        if field in server:
            assert view.probes[kind].port == server[field]["httpGet"]["port"]
            assert view.probes[kind].get("periodSeconds") == server[field].get("periodSeconds", 10)
    # probe-check's view: the same ports, the same probes; a probe on a port the pod lacks is refused
    target = server.get(workloads.PROBE_FIELDS[o["probe"]], {}).get("httpGet", {}).get("port")
    try:
        pod = model.load(base_path, how=model.Rendering(overlays=(str(over_path),)))
    except Exception as exc:
        assert isinstance(target, str) and target not in declared, exc
        assert f"unknown named port {target!r}" in str(exc)
        return
    assert pod.ports == declared
    for kind, field in workloads.PROBE_FIELDS.items():
        spec = pod.get(kind)
        assert (spec is not None) == (field in server)
        if spec is not None:
            port = server[field]["httpGet"]["port"]
            assert spec.port == (declared[port] if isinstance(port, str) else port)
            assert spec.period == server[field].get("periodSeconds", 10)


# --- Helm's grammar and Helm's engine ---------------------------------------------------------------------------

def test_set_and_set_string_follow_helms_grammar(tmp_path):
    path = write(tmp_path, generated("probes: {mode: plain}\n", layout="single-node"))
    clean = vllmgen("lint", path)
    assert clean.returncode == 0 and "values rendered with embedded Helm engine" in clean.stderr
    res = vllmgen("lint", path, "--set", "standalone.probes.readiness.httpGet.port=health", "--format", "json")
    assert res.returncode == 1
    (finding,) = json.loads(res.stdout)["findings"]
    assert finding["rule"] == "VG001"
    # --set-string keeps 8000 a string: a named port "8000" the pod does not declare
    res = vllmgen("lint", path, "--set-string", "standalone.probes.readiness.timeoutSeconds=2")
    assert res.returncode == 1 and "VG000" in res.stdout and "timeoutSeconds" in res.stdout
    res = vllmgen("lint", path, "--set", "standalone.port")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and 'key "port" has no value' in res.stderr


#: Runs the CLI where neither the helm binary nor helm-python-sdk can be found.
NO_ENGINE = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "helm_python":
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
from vllmgen.cli import main
sys.argv = ["vllmgen"] + sys.argv[1:]
main()
"""


@pytest.mark.parametrize("command", [["lint"], ["probe-check", "--replay", "timeline.yaml"]])
def test_without_an_engine_the_commands_say_so_in_one_line(tmp_path, command):
    import os

    path = write(tmp_path, generated())
    env = dict(os.environ, PATH="/nonexistent")
    res = subprocess.run([sys.executable, "-c", NO_ENGINE, *command[:1], str(path), *command[1:]],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "no Helm engine" in res.stderr and "vllmgen[render]" in res.stderr
    assert "Traceback" not in res.stderr


# --- what the API server refuses, in what the chart renders ----------------------------------------------------

def test_an_overlay_raising_only_a_memory_request_is_refused_at_its_line(tmp_path):
    """`helm lint` and `--dry-run=client` pass a request above its limit; the API server refuses it (VG060)."""
    base = write(tmp_path, generated("probes: {mode: plain}\n", layout="single-node"), "base.yaml")
    over = tmp_path / "more-memory.yaml"
    over.write_text("standalone:\n  resources:\n    requests:\n      memory: 64Gi\n")
    findings = Linter().lint_paths([], [str(base), str(over)]).findings
    assert [(f.rule, f.file, f.line) for f in findings] == [("VG060", str(over), 4)]
    assert "container vllm: requests memory 64Gi above its limit 15Gi" in findings[0].message


def test_an_extra_object_colliding_with_a_chart_object_is_found_at_its_line(tmp_path):
    """The chart itself refuses an extraObject named like one of its own objects (templates/extra-objects.yaml):
    lint reports that refusal at the values line of the name."""
    data = generated("probes: {mode: plain}\n", layout="single-node")
    data["extraObjects"] = [{"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "{{ .Release.Name }}-vllm-spec"}, "data": {"a": "b"}}]
    path = write(tmp_path, data)
    findings = Linter().lint_paths([str(path)]).findings
    assert [f.rule for f in findings] == ["VG000"]
    assert "ConfigMap release-name-vllm-spec is an object the chart renders" in findings[0].message
    assert path.read_text().splitlines()[findings[0].line - 1].strip().startswith("name:")
    assert findings[0].pointer == "/extraObjects/0/metadata/name"


def test_two_extra_objects_colliding_with_each_other_are_found_at_the_second_ones_line(tmp_path):
    """Two extraObjects of one kind and name: the chart renders both, the API server keeps one (VG063)."""
    data = generated("probes: {mode: plain}\n", layout="single-node")
    data["extraObjects"] = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"}, "data": {"a": "b"}},
                            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mine"}, "data": {"c": "d"}}]
    path = write(tmp_path, data)
    findings = [f for f in Linter().lint_paths([str(path)]).findings if f.rule == "VG063"]
    assert len(findings) == 1 and "ConfigMap 'mine' is declared twice" in findings[0].message
    assert path.read_text().splitlines()[findings[0].line - 1].strip().startswith("name:")
    assert findings[0].pointer.startswith("/extraObjects/")
