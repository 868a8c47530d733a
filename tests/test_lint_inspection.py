"""`vllmgen lint` over whole repositories: which containers it inspected and why it took them for vLLM or not,
layered values, disable comments scoped to what they annotate, model sizes (given, from a spec, from the hub
answered offline by a recording), SARIF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vllmgen.cli import app

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "lint"
GOOD = DATA / "good"
BAD = DATA / "bad"


def run(*args, env=None):
    if env is not None:
        full = dict(os.environ, PYTHONPATH=str(REPO / "cli"), **env)
        p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", *map(str, args)], capture_output=True,
                           text=True, env=full, timeout=300)
        assert "Traceback" not in p.stderr, p.stderr
        return p.returncode, p.stdout, p.stderr
    r = CliRunner().invoke(app, ["lint", *map(str, args)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def inspected(*paths) -> dict[tuple[str, str], tuple[bool, str]]:
    code, out, _ = run(*paths, "--format", "json")
    doc = json.loads(out)
    assert doc["summary"]["containers_inspected"] == len(doc["containers"])
    assert doc["summary"]["vllm_containers"] == sum(c["runs_vllm"] for c in doc["containers"])
    return {(Path(c["file"]).name, f"{c['document']}{c['pointer']}"): (c["runs_vllm"], c["server"])
            for c in doc["containers"]}


# --- what runs vLLM, and what does not ----------------------------------------------------------------------

def test_neighbours_of_vllm_are_listed_and_never_taken_for_it():
    seen = inspected(GOOD / "not-vllm-neighbours.yaml")
    f = "not-vllm-neighbours.yaml"
    assert seen == {
        (f, "0/spec/template/spec/containers/0"): (False, None),  # router, args only, its own image
        (f, "1/spec/template/spec/containers/0"): (False, None),  # lmcache_server in lmcache/vllm-openai
        (f, "2/spec/template/spec/containers/0"): (False, None),  # LoRA controller
        (f, "3/spec/template/spec/containers/0"): (False, None),  # nginx
        (f, "3/spec/template/spec/containers/1"): (False, None),  # redis
        (f, "4/spec/template/spec/containers/0"): (True, "vllm"),  # vllm serve in LMCache's image
    }


@pytest.mark.parametrize("name, expected", [
    ("kserve-llm-inference-service.yaml", {"0/spec/template/containers/0": (True, "vllm"),
                                           "0/spec/worker/containers/0": (True, "vllm"),
                                           "1/spec/router/scheduler/template/containers/0": (False, None)}),
    ("dynamo-graph.yaml", {"0/spec/services/Frontend/extraPodSpec/mainContainer": (False, None),
                           "0/spec/services/decode/extraPodSpec/mainContainer": (True, "dynamo")}),
    ("raycluster-pipeline.yaml", {"1/spec/headGroupSpec/template/spec/containers/0": (True, "vllm"),
                                  "1/spec/workerGroupSpecs/0/template/spec/containers/0": (True, "ray-worker")}),
    ("lws-ray-multinode.yaml", {"0/spec/leaderWorkerTemplate/leaderTemplate/spec/containers/0": (True, "vllm"),
                                "0/spec/leaderWorkerTemplate/workerTemplate/spec/containers/0": (True, "ray-worker")}),
    ("modelservice-filled-accelerators.yaml", {"0/decode/containers/0": (True, "vllm")}),
])
def test_every_workload_kind_is_looked_inside(name, expected):
    assert inspected(GOOD / name) == {(name, k): v for k, v in expected.items()}


def test_a_ray_worker_is_not_vllm_without_a_head_that_runs_it(tmp_path):
    text = (GOOD / "raycluster-pipeline.yaml").read_text()
    f = tmp_path / "ray.yaml"
    f.write_text(text.replace("cp /entrypoint/vllm-entrypoint.sh", "cp /entrypoint/other.sh"))
    seen = inspected(f)
    assert set(seen.values()) == {(False, None)}


def test_text_says_when_no_vllm_container_was_found(tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text((GOOD / "not-vllm-neighbours.yaml").read_text().split("---\napiVersion: apps/v1\nkind: Deployment"
                                                                      "\nmetadata: {name: stack-engine}")[0])
    code, out, err = run(f)
    assert code == 0 and out == ""
    assert err.strip() == "no findings; 1 file checked; 5 containers inspected, no vLLM container found"


def test_mutations_of_the_shapes_are_caught(tmp_path):
    """Each shape's own mistake: a Dynamo worker without its second GPU node, a DRA claim for one GPU under
    tensor parallel 2, a KServe group with too few GPUs."""
    cases = {
        "dynamo-graph.yaml": ("nodeCount: 2", "nodeCount: 1"),
        "dp-supervisor-dra.yaml": ("count: 2}", "count: 1}"),
        "kserve-llm-inference-service.yaml": ('dataLocal: 8', 'dataLocal: 4'),
    }
    for name, (old, new) in cases.items():
        f = tmp_path / name
        f.write_text((GOOD / name).read_text().replace(old, new))
        code, out, _ = run(f, "--format", "json")
        rules = [x["rule"] for x in json.loads(out)["findings"]]
        assert code == 1 and "VG009" in rules, (name, out)


# --- layered values and overlays ------------------------------------------------------------------------------

def _values(tmp_path, extra: str = "probes: {mode: plain}\n") -> Path:
    from vllmgen.spec import parse_spec
    from vllmgen.values import render

    spec = parse_spec("model: {source: hf://Qwen/Qwen3-8B, weightsGiB: 16}\n" + extra, "spec.yaml",
                      layout="single-node")
    out = tmp_path / "values.yaml"
    out.write_text(render(spec))
    return out


def test_layered_values_are_merged_as_helm_merges_them(tmp_path):
    base = _values(tmp_path)
    over = tmp_path / "overrides.yaml"
    over.write_text("standalone:\n  replicas: 3\n  probes:\n    startup:\n      periodSeconds: 30\n")
    code, out, _ = run("-f", base, "-f", over, "--format", "json")
    doc = json.loads(out)
    assert code == 1
    (finding,) = doc["findings"]
    assert finding["rule"] == "VG008" and finding["file"] == str(over) and finding["line"] == 5
    # the overlay alone is what `helm install -f overrides.yaml` renders: the chart's schema refuses it
    code, out, _ = run(over, "--format", "json")
    (finding,) = json.loads(out)["findings"]
    assert code == 1 and finding["rule"] == "VG000" and "missing properties 'parallelism', 'port'" in finding["message"]
    assert finding["line"] == 1 and finding["pointer"] == "/standalone"
    over.write_text("standalone:\n  replicas: three\n")
    code, out, _ = run(over, "--format", "json")
    (finding,) = json.loads(out)["findings"]
    assert code == 1 and finding["rule"] == "VG000" and "'three' is not of type 'integer'" in finding["message"]


def test_a_null_in_a_later_layer_is_what_helm_makes_of_it(tmp_path):
    """Helm's merge of -f files: maps merge, lists are replaced; a null is then checked by the chart's schema
    (Helm 4 refuses a null probe before coalescing it away), and lint says what Helm says, at the null's line."""
    from vllmgen.render import merge

    assert merge({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3], "d": None}}) == {"a": {"b": 1, "c": [3], "d": None}}
    base = _values(tmp_path)
    over = tmp_path / "drop.yaml"
    over.write_text("standalone:\n  probes:\n    startup: null\n")
    code, out, _ = run("-f", base, "-f", over, "--format", "json")
    (finding,) = json.loads(out)["findings"]
    assert finding["rule"] == "VG000" and "/standalone/probes/startup" in finding["message"]
    assert finding["file"] == str(over) and finding["line"] == 3


# --- disable comments are scoped ------------------------------------------------------------------------------

def test_a_disable_comment_silences_only_what_it_annotates(tmp_path):
    lag = (BAD / "VG008-ready-lag.yaml").read_text()
    f = tmp_path / "two.yaml"
    f.write_text("# vllmgen-lint: disable=ready-lag\n" + lag + "\n---\n" + lag)
    code, out, _ = run(f, "--format", "json")
    findings = json.loads(out)["findings"]
    assert code == 1 and [(x["rule"], x["document"]) for x in findings] == [("VG008", 1)]
    # a comment above one container silences that container only
    two = (GOOD / "not-vllm-neighbours.yaml").read_text().replace(
        "        - name: vllm\n          image: lmcache/vllm-openai:latest\n",
        "        # vllmgen-lint: disable=VG008\n        - name: vllm\n          image: lmcache/vllm-openai:latest\n"
    ).replace("periodSeconds: 1\n            failureThreshold: 900", "periodSeconds: 30\n            failureThreshold: 30")
    f.write_text(two + "\n---\n" + lag)
    code, out, _ = run(f, "--format", "json")
    findings = json.loads(out)["findings"]
    assert [(x["rule"], x["document"]) for x in findings] == [("VG008", 5)]


# --- model sizes ----------------------------------------------------------------------------------------------

R1 = "deepseek-ai/DeepSeek-R1-0528"
R1_MANIFEST = BAD / "VG006-model-size-from-spec.yaml"


def _manifest_only(tmp_path) -> Path:
    f = tmp_path / "r1.yaml"
    f.write_text(R1_MANIFEST.read_text().split("---\n", 1)[1])
    return f


def test_model_size_from_the_command_line(tmp_path):
    f = _manifest_only(tmp_path)
    assert run(f)[0] == 0  # without a size: only the floor every start takes, which 630 s covers
    code, out, _ = run(f, "--model-size", f"{R1}=641")
    assert code == 1 and ": VG006 error: startupProbe allows 630 s" in out and "(--model-size)" in out
    code, _, err = run(f, "--model-size", "no-size")
    assert code == 2 and "expected NAME=GiB" in err


#: What the hub answers for DeepSeek-R1-0528's safetensors metadata, written in the shape of its model API
#: (`GET /api/models/{repo}?expand[]=safetensors`): parameters per dtype and their total.
HUB_ANSWER = DATA / "hub" / "deepseek-r1-0528-safetensors.json"


class _Hub(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith(f"/api/models/{R1}"):
            body = HUB_ANSWER.read_bytes()
            self.send_response(200)
        else:
            body = b'{"error": "Repository not found"}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_model_size_from_the_hub_answered_offline(tmp_path):
    pytest.importorskip("huggingface_hub")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}", "HF_HUB_OFFLINE": "0",
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp_path / "hf")}
        f = _manifest_only(tmp_path)
        other = tmp_path / "other.yaml"
        other.write_text(f.read_text().replace(R1, "org/not-on-the-hub"))
        code, out, err = run(f, other, "--hub", env=env)
    finally:
        server.shutdown()
    assert code == 1 and "VG006 error: startupProbe allows 630 s" in out and "hub's safetensors metadata" in out
    assert "is 641." in out  # the recorded parameter counts x bytes per dtype
    assert "note: --hub: no size for org/not-on-the-hub" in err


def test_hub_without_huggingface_hub_is_one_clear_line(tmp_path):
    shadow = tmp_path / "shadow" / "huggingface_hub"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {"PYTHONPATH": f"{shadow.parent}{os.pathsep}{REPO / 'cli'}"}
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(_manifest_only(tmp_path)), "--hub"],
                       capture_output=True, text=True, env=dict(os.environ, **env), timeout=300)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == "error: --hub needs the huggingface_hub package (vLLM installs it; or " \
                               "`pip install huggingface_hub`); without it, give sizes with --model-size NAME=GiB"


# --- SARIF --------------------------------------------------------------------------------------------------

def test_sarif_has_what_code_scanning_reads(tmp_path):
    """SARIF 2.1.0's required members and GitHub's: version, one run with the tool's rules, each result with
    its rule (id and index), a level, a message and a file and line."""
    from vllmgen.lint.rules import R

    missing = tmp_path / "missing.yaml"
    code, out, _ = run(BAD / "VG001-wrong-port.yaml", BAD / "VG002-health-startup.yaml", missing,
                       "--format", "sarif")
    doc = json.loads(out)
    assert code == 2 and doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (sarif_run,) = doc["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] and [r["id"] for r in driver["rules"]] == list(R)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["defaultConfiguration"]["level"] in ("error", "warning",
                                                                                              "note")
    results = sarif_run["results"]
    assert {r["ruleId"] for r in results} == {"VG001", "VG002"}
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] in ("error", "warning", "note") and r["message"]["text"]
        (loc,) = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith(".yaml")
        assert loc["physicalLocation"]["region"]["startLine"] >= 1
    assert any(r["level"] == "note" for r in results)  # VG002 is info
    (invocation,) = sarif_run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert "no such file" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_sarif_survives_file_names_that_are_not_utf8(tmp_path):
    """A file name is bytes: b'\\xff' reached the URI encoder as a lone surrogate and SARIF output ended in a
    traceback. Now the URI percent-encodes the name's own bytes and every text is valid UTF-8 JSON."""
    from urllib.parse import unquote_to_bytes

    folder = os.fsencode(tmp_path)
    with open(folder + b"/lag\xff.yaml", "wb") as fh:
        fh.write((BAD / "VG001-wrong-port.yaml").read_bytes())
    with open(folder + b"/blob\xfe.yaml", "wb") as fh:  # unusable: its name is in a notification
        fh.write(b"\xff\xfe\x00binary")
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(tmp_path), "--format", "sarif"],
                       capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO / "cli"),
                                                     PYTHONIOENCODING="utf-8"), timeout=300)
    assert p.returncode == 2 and b"Traceback" not in p.stderr, p.stderr.decode(errors="replace")
    doc = json.loads(p.stdout.decode("utf-8"))  # strict UTF-8: no lone surrogate escaped into the text either
    json.dumps(doc).encode("utf-8")
    assert "\\ud" not in p.stdout.decode("utf-8").lower()
    (sarif_run,) = doc["runs"]
    (result,) = [r for r in sarif_run["results"] if r["ruleId"] == "VG001"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.endswith("/lag%FF.yaml") and unquote_to_bytes(uri) == folder + b"/lag\xff.yaml"
    (note,) = sarif_run["invocations"][0]["toolExecutionNotifications"]
    assert unquote_to_bytes(note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) == \
        folder + b"/blob\xfe.yaml"
