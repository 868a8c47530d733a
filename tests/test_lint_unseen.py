"""`vllmgen lint` on projects it was never tried on: pod templates of kinds it has no table entry for, a file
with one document that is not YAML, YAML that kubectl accepts, another chart's values, Triton without the vLLM
backend, and an InferencePool whose pods are elsewhere. The fixtures are written here in the shapes those
projects use (AIBrix, OME, OpenShift templates, KubeAI's chart, GKE's samples)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from vllmgen.cli import app
from vllmgen.lint import identify
from vllmgen.lint.runner import Linter
from vllmgen.schemas import chart_values_schema

DATA = Path(__file__).resolve().parent / "data" / "lint"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: qwen}
spec:
  selector: {matchLabels: {app: qwen}}
  template:
    metadata: {labels: {app: qwen}}
    spec:
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          args: [%(args)s]
          resources: {limits: {%(limits)s}}
          startupProbe: {httpGet: {path: /health, port: 8000}, periodSeconds: 1, failureThreshold: 900}
"""
DEPLOYMENT_WITH_KEY = DEPLOYMENT % {"args": "Qwen/Qwen3-8B, --api-key, sk-0123456789abcdef0123456789abcdef",
                                    "limits": "nvidia.com/gpu: 1"}


def lint(tmp_path: Path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return Linter(schema=chart_values_schema()).lint_paths([str(tmp_path)])


def test_every_vllm_container_of_kinds_without_a_table_entry_is_inspected_at_its_pointer():
    result = Linter().lint_paths([str(DATA / "good" / "unknown-kinds.yaml")])
    assert [(c.document, c.pointer, c.server) for c in result.containers] == [
        (0, "/spec/template/spec/roles/0/template/spec/containers/0", "vllm"),
        (0, "/spec/template/spec/roles/1/template/spec/containers/0", "vllm"),
        (1, "/spec/engineConfig/runner", "vllm"),
        (2, "/objects/0/spec/containers/0", "vllm"),
        (3, "/spec/template/spec/containers/0", None),
    ]
    assert result.unusable == []


def test_a_document_that_is_not_yaml_is_reported_and_the_others_are_still_checked(tmp_path):
    # GKE's samples end with a Secret whose value is a `{{HF_TOKEN}}` placeholder: a flow mapping as a key
    secret = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: hf}\nstringData:\n  token: {{HF_TOKEN}}\n"
    result = lint(tmp_path, {"m.yaml": DEPLOYMENT_WITH_KEY + secret})
    (bad,) = result.unusable
    assert bad.line == DEPLOYMENT_WITH_KEY.count("\n") + 6 and "document 1 is not read" in bad.message
    assert [f.rule for f in result.findings if f.severity == "error"] == ["VG050"]
    assert [c.pointer for c in result.containers] == ["/spec/template/spec/containers/0"]
    # a file no document of which reads stays one unusable file
    result = lint(tmp_path / "only", {"bad.yaml": "a: [\n"})
    assert len(result.unusable) == 1 and result.files_checked == 0


def test_yaml_that_kubectl_accepts_is_accepted(tmp_path):
    # a tab after a value (GKE's vLLM-on-TPU sample): whitespace to go-yaml (libyaml's rules), so to kubectl
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  type: LoadBalancer\t\n  ports: []\n"
    result = lint(tmp_path, {"m.yaml": DEPLOYMENT_WITH_KEY + "---\n" + service})
    assert result.unusable == [] and [f.rule for f in result.findings if f.severity == "error"] == ["VG050"]
    # a tab that indents is refused by go-yaml too
    result = lint(tmp_path / "tab", {"t.yaml": "a:\n\tb: 1\n"})
    assert len(result.unusable) == 1 and "'\\t'" in result.unusable[0].message


def test_another_charts_values_are_not_checked_against_vllmgens_schema(tmp_path):
    kubeai = """\
        # the shape of KubeAI's chart values: `image`, `service` and keys of its own
        image: {repository: substratusai/kubeai, tag: "", pullPolicy: IfNotPresent}
        service: {type: ClusterIP, port: 80, nodePort: null}
        serviceAccount: {create: true, automount: true}
        modelServers:
          VLLM: {images: {default: "vllm/vllm-openai:v0.8.3"}}
        resourceProfiles: {nvidia-gpu-l4: {limits: {nvidia.com/gpu: "1"}}}
        modelAutoscaling: {interval: 10s}
        secrets: {huggingface: {create: true}}
        replicaCount: 1
        """
    assert lint(tmp_path, {"values.yaml": kubeai}).findings == []
    # vllmgen's own overlay that sets only the image is still vllmgen's values, and checked
    result = lint(tmp_path / "overlay", {"values.yaml": "image: {tga: v1}\n"})
    assert [f.rule for f in result.findings] == ["VG000"]


def test_triton_is_vllm_only_with_the_vllm_backend():
    def server(image: str, configs: tuple[str, ...] = ()) -> str | None:
        return identify.identify(name="triton", image=image, command=["tritonserver"],
                                 args=["--model-repository=/models"], configs=configs).server

    assert server("nvcr.io/nvidia/tritonserver:22.01-py3") is None  # TensorFlow / ONNX models
    assert server("nvcr.io/nvidia/tritonserver:25.12-vllm-python-py3") == identify.TRITON
    assert server("nvcr.io/nvidia/tritonserver:25.12-py3", ('name: "qwen"\nbackend: "vllm"\n',)) == identify.TRITON
    assert server("nvcr.io/nvidia/tritonserver:25.12-py3", ('platform: "onnxruntime_onnx"\n',)) is None


POOL = """\
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: llama, namespace: default}
spec:
  targetPorts: [{number: 8000}]
  selector:
    matchLabels: {model: llama, app: mock-llama}
  endpointPickerRef: {name: llama-epp, port: {number: 9002}}
"""


def _server(labels: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: llama}}
spec:
  selector: {{matchLabels: {labels}}}
  template:
    metadata: {{labels: {labels}}}
    spec:
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          args: [meta-llama/Llama-2-7b-hf]
          ports: [{{containerPort: 8000}}]
          resources: {{limits: {{nvidia.com/gpu: 1}}}}
          startupProbe: {{httpGet: {{path: /v1/models, port: 8000}}, periodSeconds: 1, failureThreshold: 900}}
"""


def test_a_pool_is_judged_against_the_pods_it_is_meant_to_select(tmp_path):
    def pool_rules(files):
        return [(f.rule, f.severity) for f in lint(tmp_path / str(len(list(tmp_path.iterdir()))), files).findings
                if f.rule in ("VG019", "VG051")]

    tmp_path.mkdir(exist_ok=True)
    # its pods in another file of its folder, written without a namespace: selected
    assert pool_rules({"gw/pool.yaml": POOL, "gw/llama.yaml": _server("{model: llama, app: mock-llama}")}) == []
    # pods of its folder that miss it by one label value: a mistake
    assert pool_rules({"gw/pool.yaml": POOL, "gw/llama.yaml": _server("{model: llama, app: llama}")}) == \
        [("VG019", "error")]
    # its pods are not linted; a model server of another folder shares a label: not what it selects
    assert pool_rules({"gw/pool.yaml": POOL, "other/llama.yaml": _server("{model: llama, app: llama}")}) == \
        [("VG051", "info")]


def test_json_output_lists_the_new_rules(tmp_path):
    (tmp_path / "m.yaml").write_text(DEPLOYMENT_WITH_KEY)
    out = CliRunner().invoke(app, ["lint", "--format", "json", str(tmp_path / "m.yaml")])
    report = json.loads(out.stdout)
    (finding,) = [f for f in report["findings"] if f["rule"] == "VG050"]
    assert finding["line"] == 12 and "sk-0123456789" not in finding["message"]


def test_a_probe_timing_finding_comes_with_probe_checks_course_in_text_and_json():
    fixture = str(DATA / "bad" / "VG006-short-budget.yaml")  # startup 10 x 5 s, a load of at least 90 s
    report = json.loads(CliRunner().invoke(app, ["lint", "--format", "json", fixture]).stdout)
    (finding,) = report["findings"]
    shown = finding["evidence"]
    kills = [e["t"] for e in shown["events"] if e["what"] == "kill"]
    assert shown["needs_s"] == 90 and shown["ready_at"] is None and kills and kills[0] < 90
    assert shown["summary"].startswith(f"killed at {kills[0]:.0f} s while loading (startup probe failed 10x)")
    text = CliRunner().invoke(app, ["lint", fixture]).stdout
    assert f"probe-check: killed at {kills[0]:.0f} s while loading" in text and "needs 90 s" in text


def test_a_start_the_probes_allow_has_no_finding_and_its_course_turns_ready():
    from vllmgen.lint import evidence, view
    from vllmgen.lint.loader import load_file

    lf = load_file(str(DATA / "bad" / "VG006-short-budget.yaml"))
    (v,) = view.views_of(lf.docs[0])
    assert evidence.course(v, 40).summary().startswith("Ready at 4")  # loaded within the 50 s allowed
    assert evidence.course(v, 40).kills == 0


def test_strategic_merge_follows_kserves_patch_rules():
    from vllmgen.lint.kserve_merge import strategic_merge

    base = {"template": {"containers": [{"name": "main", "image": "vllm", "args": ["a", "b"],
                                         "env": [{"name": "X", "value": "1"}]}], "volumes": [{"name": "v"}]}}
    patch = {"template": {"containers": [{"name": "main", "args": ["c"], "env": [{"name": "Y", "value": "2"}]},
                                         {"name": "extra", "image": "busybox"}], "volumes": None}}
    assert strategic_merge(base, patch, "spec") == {"template": {"containers": [
        {"name": "main", "image": "vllm", "args": ["c"],
         "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
        {"name": "extra", "image": "busybox"}]}}


KSERVE_CONFIG = """\
apiVersion: serving.kserve.io/v1alpha2
kind: LLMInferenceServiceConfig
metadata: {name: kserve-config-llm-decode-template}
spec:
  template:
    initContainers:
      - name: llm-d-routing-sidecar
        image: ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1
        restartPolicy: Always
        args: [--port=8000, --vllm-port=8001]
        ports: [{containerPort: 8000}]
    containers:
      - name: main
        image: ghcr.io/llm-d/llm-d-cuda:v0.9.0
        command: [vllm, serve, /mnt/models, --port, "8001"]
        ports: [{containerPort: 8001}]
"""
KSERVE_SERVICE = """\
apiVersion: serving.kserve.io/v1alpha2
kind: LLMInferenceService
metadata: {name: qwen-pd}
spec:
  model: {uri: "hf://Qwen/Qwen2.5-7B-Instruct", name: Qwen/Qwen2.5-7B-Instruct}
  template:
    containers:
      - name: main
        resources: {limits: {nvidia.com/gpu: "1"}}
        livenessProbe:
          httpGet: {path: /health, port: 8000}
  prefill:
    template:
      containers:
        - name: main
          resources: {limits: {nvidia.com/gpu: "1"}}
"""


def test_an_llminferenceservice_is_checked_merged_with_its_config(tmp_path):
    # the decode config runs vLLM on 8001 behind the routing sidecar on 8000: the service's own liveness probe on
    # 8000 asks the sidecar, which only the merged view shows
    result = lint(tmp_path, {"config.yaml": KSERVE_CONFIG, "service.yaml": KSERVE_SERVICE})
    (finding,) = [f for f in result.findings if f.file.endswith("service.yaml") and f.rule == "VG001"]
    assert finding.line == 11 and "vLLM on 8001" in finding.message
    assert any("merged with kserve-config-llm-decode-template" in n for n in result.notes)
    alone = lint(tmp_path / "alone", {"service.yaml": KSERVE_SERVICE})
    assert [f for f in alone.findings if f.rule == "VG001"] == []


def test_the_server_running_pod_of_a_dual_pod_requester_is_inspected():
    result = Linter().lint_paths([str(DATA / "bad" / "VG032-dual-pod-server-patch.yaml")])
    patch = "/spec/template/metadata/annotations/dual-pod.llm-d.ai~1server-patch/spec"
    assert [(c.pointer, c.server) for c in result.containers] == [
        ("/spec/template/spec/containers/0", None),  # the requester stub
        (f"{patch}/containers/0", None),  # the stub's container, kept by the merge
        (f"{patch}/containers/1", "vllm")]  # the patch's vLLM container, added by name


def test_accelerators_known_by_shape_are_counted_and_unknown_device_plugins_are_not_guessed(tmp_path):
    """A MIG slice (`nvidia.com/mig-3g.40gb`, k8s-device-plugin's mixed strategy) is an accelerator: one slice under
    tensor parallel 2 cannot start. A custom device plugin's resource may be an accelerator of any size: no
    "requests no accelerators" for it (that was a false error on vllmgen's own values with such a resource). An
    RDMA NIC beside no GPU is no accelerator."""
    def vg009(limits: str) -> list[str]:
        (tmp_path / "d.yaml").write_text(DEPLOYMENT % {"args": 'Qwen/Qwen3-8B, --tensor-parallel-size, "2"',
                                                        "limits": limits})
        return [f.message for f in Linter().lint_paths([str(tmp_path / "d.yaml")]).findings if f.rule == "VG009"]

    [mig] = vg009('"nvidia.com/mig-3g.40gb": 1')
    assert "requests 1 nvidia.com/mig-3g.40gb" in mig and "vLLM cannot start" in mig
    assert vg009('"nvidia.com/mig-3g.40gb": 2') == []
    assert vg009('"example.com/accel-80g": 1') == []
    [rdma] = vg009('"rdma/ib": 1')
    assert "requests no accelerators" in rdma


def test_vllmgens_own_values_with_a_custom_accelerator_resource_lint_clean(tmp_path):
    """Found by linting the values of generated specs: a multi-node spec whose accelerator.resource is a custom
    device plugin's got VG009 (no accelerators) and VG010 (data-parallel size) on values vllmgen itself wrote."""
    spec = tmp_path / "spec.yaml"
    spec.write_text("layout: multi-node\nmodel: {source: /models/x, weightsGiB: 10}\n"
                    "accelerator: {type: amd, resource: example.com/mi300x}\n")
    values = tmp_path / "values.yaml"
    res = CliRunner().invoke(app, ["values", "--spec", str(spec), "-o", str(values)])
    assert res.exit_code == 0, res.output
    assert [(f.rule, f.message) for f in Linter().lint_paths([str(values)]).findings] == []


CLAIMED = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: gpus}
spec:
  spec:
    devices:
      requests:
        - name: gpus
          exactly: {deviceClassName: %s, count: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: qwen}
spec:
  selector: {matchLabels: {app: qwen}}
  template:
    metadata: {labels: {app: qwen}}
    spec:
      resourceClaims: [{name: gpus, resourceClaimTemplateName: gpus}]
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          args: [Qwen/Qwen3-8B, --tensor-parallel-size, "2"]
          resources: {claims: [{name: gpus}]}
          startupProbe: {httpGet: {path: /health, port: 8000}, periodSeconds: 1, failureThreshold: 900}
"""


def test_devices_of_a_dra_class_lint_does_not_know_are_not_taken_for_no_accelerators(tmp_path):
    """A claim on a device class of a DRA driver vllmgen does not know may hold accelerators: no "requests no
    accelerators" (a false error on vllmgen's own multi-node values with a custom accelerator.deviceClassName, found
    by benchmarks/spec_space.py); one device of a known class under tensor parallel 2 is still found."""
    def vg009(cls: str) -> list[str]:
        (tmp_path / "d.yaml").write_text(CLAIMED % cls)
        return [f.message for f in Linter().lint_paths([str(tmp_path / "d.yaml")]).findings if f.rule == "VG009"]

    assert vg009("accelerators.example.com") == []
    [known] = vg009("gpu.nvidia.com")
    assert "requests 1 DRA devices" in known and "vLLM cannot start" in known
