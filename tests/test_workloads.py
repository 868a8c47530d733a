"""One reader of workloads (vllmgen.workloads) for lint and probe-check: every kind that holds a pod template,
lists opened, kubelet's defaults, named ports, and wrongly shaped objects as problems instead of tracebacks.

Through the command line: a `kind: List` (what `kubectl get -o yaml` prints) gets the same lint findings as its
items alone, and so does every Deployment fixture moved into a CronJob or a ReplicationController; probe-check
reads the same probes from each form."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from strategies import JUNK
from vllmgen import workloads, yamlio
from vllmgen.cli import app
from vllmgen.emulator import model
from vllmgen.errors import InputError

REPO = Path(__file__).resolve().parents[1]
LINT_DATA = REPO / "tests" / "data" / "lint"
TIMELINE = REPO / "tests" / "data" / "timelines" / "vllm-cpu-start.yaml"
FIXTURES = sorted((LINT_DATA / "good").glob("*.yaml")) + sorted((LINT_DATA / "bad").glob("*.yaml"))


def docs_of(text: str, name: str = "m.yaml") -> list[yamlio.Document]:
    return [d for d in yamlio.parse_documents(textwrap.dedent(text), name) if d.data is not None]


def read(text: str) -> workloads.Reading:
    (doc,) = docs_of(text)
    return workloads.read(doc)


POD_SPEC = {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.33.0"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}

# --- the reader ---------------------------------------------------------------------------------------------

KIND_CASES = {
    "Pod": ({"spec": POD_SPEC}, [("spec",)]),
    "Deployment": ({"spec": {"template": TEMPLATE}}, [("spec", "template", "spec")]),
    "StatefulSet": ({"spec": {"template": TEMPLATE}}, [("spec", "template", "spec")]),
    "DaemonSet": ({"spec": {"template": TEMPLATE}}, [("spec", "template", "spec")]),
    "ReplicaSet": ({"spec": {"template": TEMPLATE}}, [("spec", "template", "spec")]),
    "ReplicationController": ({"spec": {"template": TEMPLATE}}, [("spec", "template", "spec")]),
    "Job": ({"spec": {"template": TEMPLATE}}, [("spec", "template", "spec")]),
    "CronJob": ({"spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}},
                [("spec", "jobTemplate", "spec", "template", "spec")]),
    "LeaderWorkerSet": ({"spec": {"leaderWorkerTemplate": {"size": 4, "leaderTemplate": TEMPLATE,
                                                           "workerTemplate": TEMPLATE}}},
                        [("spec", "leaderWorkerTemplate", "leaderTemplate", "spec"),
                         ("spec", "leaderWorkerTemplate", "workerTemplate", "spec")]),
    # KServe: the templates are bare PodSpecs (decode or whole-request pods, a prefill pool, workers of a group)
    "LLMInferenceService": ({"spec": {"template": POD_SPEC, "worker": POD_SPEC, "prefill": {"template": POD_SPEC}}},
                            [("spec", "template"), ("spec", "worker"), ("spec", "prefill", "template")]),
    "LLMInferenceServiceConfig": ({"spec": {"template": POD_SPEC, "router": {"scheduler": {"template": POD_SPEC}}}},
                                  [("spec", "template"), ("spec", "router", "scheduler", "template")]),
    "InferenceService": ({"spec": {"predictor": POD_SPEC}}, [("spec", "predictor")]),
    "ServingRuntime": ({"spec": POD_SPEC}, [("spec",)]),
    "ClusterServingRuntime": ({"spec": {**POD_SPEC, "workerSpec": POD_SPEC}}, [("spec",), ("spec", "workerSpec")]),
    "DynamoGraphDeployment": ({"spec": {"services": {"decode": {"extraPodSpec": POD_SPEC}}}},
                              [("spec", "services", "decode", "extraPodSpec")]),
    "RayCluster": ({"spec": {"headGroupSpec": {"template": TEMPLATE}, "workerGroupSpecs": [{"template": TEMPLATE}]}},
                   [("spec", "headGroupSpec", "template", "spec"), ("spec", "workerGroupSpecs", 0, "template", "spec")]),
    "RayService": ({"spec": {"rayClusterConfig": {"headGroupSpec": {"template": TEMPLATE}}}},
                   [("spec", "rayClusterConfig", "headGroupSpec", "template", "spec")]),
    "RayJob": ({"spec": {"rayClusterSpec": {"headGroupSpec": {"template": TEMPLATE}}}},
               [("spec", "rayClusterSpec", "headGroupSpec", "template", "spec")]),
    "RayClusterFleet": ({"spec": {"replicas": 2, "template": {"spec": {"headGroupSpec": {"template": TEMPLATE}}}}},
                        [("spec", "template", "spec", "headGroupSpec", "template", "spec")]),
}


def test_every_kind_that_holds_a_pod_template_is_read():
    assert set(KIND_CASES) == set(workloads.KINDS)
    for kind, (body, spec_paths) in KIND_CASES.items():
        obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "qwen"}, **copy.deepcopy(body)}
        reading = workloads.read_data(obj)
        assert [t.spec_path for t in reading.templates] == spec_paths, kind
        assert all(t.kind == kind and t.name == "qwen" and [c.name for c in t.containers] == ["vllm"]
                   for t in reading.templates), kind
        assert reading.all_problems() == [], kind
    lws = workloads.read_data({"kind": "LeaderWorkerSet", **KIND_CASES["LeaderWorkerSet"][0]}).templates
    assert [(t.template, t.group_size) for t in lws] == [("leader", 4), ("worker", 4)]


# Objects of kinds the table does not name, in the shapes their projects write them (AIBrix's StormService,
# OME's ClusterServingRuntime, an OpenShift Template holding a KServe ServingRuntime, an unknown CRD).
SHAPES = {
    # vllm-project/aibrix StormService: roles, each with replicas and a PodTemplateSpec
    "StormService": ({"spec": {"template": {"spec": {"roles": [
        {"name": "prefill", "replicas": 2, "template": TEMPLATE},
        {"name": "decode", "replicas": 3, "template": TEMPLATE}]}}}},
        [(("spec", "template", "spec", "roles", 0, "template", "spec"), "prefill", 2, ("containers", 0)),
         (("spec", "template", "spec", "roles", 1, "template", "spec"), "decode", 3, ("containers", 0))]),
    # sgl-project/ome ClusterServingRuntime: one container of its own (`runner`) in each component's config,
    # beside pod-level fields (volumes); KServe's table entry (spec as a PodSpec) finds no containers there
    "ClusterServingRuntime": ({"spec": {"engineConfig": {"volumes": [], "runner": {
        "name": "ome-container", "image": "vllm/vllm-openai:v0.9.0"}}, "routerConfig": {"runner": {
            "name": "router", "image": "router:1"}}}},
        [(("spec", "engineConfig"), "engineConfig", None, ("runner",)),
         (("spec", "routerConfig"), "routerConfig", None, ("runner",))]),
    # a CRD nobody has met: a PodSpec under spec.workers.template, found by its shape alone
    "InferenceFleet": ({"spec": {"workers": {"replicas": 4, "template": TEMPLATE}}},
                       [(("spec", "workers", "template", "spec"), "workers", 4, ("containers", 0))]),
}


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_pod_templates_of_kinds_not_in_the_table_are_found_by_their_shape(kind):
    body, expected_templates = SHAPES[kind]
    obj = {"apiVersion": "x.io/v1", "kind": kind, "metadata": {"name": "qwen"}, **copy.deepcopy(body)}
    reading = workloads.read_data(obj)
    got = [(t.spec_path, t.template, t.replicas, t.containers[0].path[len(t.spec_path):])
           for t in reading.templates if t.containers]
    assert got == expected_templates
    assert reading.all_problems() == []


def test_objects_inside_an_openshift_template_are_read_as_objects():
    template = {"apiVersion": "template.openshift.io/v1", "kind": "Template", "metadata": {"name": "vllm"},
                "objects": [{"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
                             "metadata": {"name": "vllm-runtime"},
                             "spec": {**POD_SPEC, "workerSpec": POD_SPEC}}]}
    reading = workloads.read_data(template)
    assert [(w.kind, w.path) for w in reading.workloads] == [("ServingRuntime", ("objects", 0))]
    assert [t.spec_path for t in reading.templates] == [("objects", 0, "spec"), ("objects", 0, "spec", "workerSpec")]
    assert workloads.holds_pods(template)
    assert not workloads.holds_pods({"apiVersion": "v1", "kind": "ConfigMap", "data": {"image": "x"}})


def test_lists_are_opened_recursively_and_paths_start_at_the_document_root():
    reading = read("""\
        apiVersion: v1
        kind: List
        items:
          - {apiVersion: v1, kind: Service, metadata: {name: qwen}}
          - apiVersion: apps/v1
            kind: DeploymentList
            items:
              - apiVersion: apps/v1
                kind: Deployment
                metadata: {name: qwen, labels: {tier: model}}
                spec:
                  template:
                    metadata: {labels: {llm-d.ai/role: decode}}
                    spec:
                      containers:
                        - name: vllm
                          ports: [{name: vllm, containerPort: 8200}]
        """)
    (t,) = reading.templates
    (c,) = t.containers
    assert t.object_path == ("items", 1, "items", 0) and t.kind == "Deployment"
    assert c.path == ("items", 1, "items", 0, "spec", "template", "spec", "containers", 0)
    assert reading.doc.line(c.path + ("ports",)) == 17
    assert t.labels == {"tier": "model", "llm-d.ai/role": "decode"}


def test_kubelet_defaults_named_ports_and_native_sidecars():
    (t,) = read("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          initContainers:
            - {name: fetch, image: busybox}
            - name: routing-proxy
              restartPolicy: Always
              ports: [{name: proxy, containerPort: 8000}]
          containers:
            - name: vllm
              ports: [{name: vllm, containerPort: 8200}, {name: health, containerPort: 8090}]
              startupProbe: {httpGet: {path: /startupz, port: health}, periodSeconds: 0, failureThreshold: 60}
              livenessProbe: {httpGet: {port: vllm}, initialDelaySeconds: 5, terminationGracePeriodSeconds: 9}
        """).templates
    assert [c.name for c in t.running] == ["routing-proxy", "vllm"]  # the plain init container is gone by then
    assert (t.termination_grace, t.restart_policy) == (workloads.DEFAULT_TERMINATION_GRACE_S, "Always") == (30, "Always")
    vllm = t.containers[0]
    assert vllm.ports == {"vllm": 8200, "health": 8090}
    startup, liveness = vllm.probes["startup"], vllm.probes["liveness"]
    # SetDefaults_Probe: 0 or absent means the default
    assert startup.timing == {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1,
                              "successThreshold": 1, "failureThreshold": 60}
    assert (liveness.get("initialDelaySeconds"), liveness.termination_grace, liveness.http_path) == (5, 9, "/")
    assert vllm.resolve_port(startup.port) == 8090 and vllm.resolve_port("8200") == 8200
    assert t.running[0].resolve_port("vllm") is None  # named ports belong to their container


def test_a_new_kind_is_one_entry_in_the_table(monkeypatch):
    """Custom resources that run pods (KubeRay, Dynamo, KServe) need a table entry, not code: lists and
    mappings of templates (`*`), bare PodSpecs, single `mainContainer`s and group sizes are all data."""
    monkeypatch.setitem(workloads.KINDS, "RayCluster", (
        workloads.TemplateSite(("spec", "headGroupSpec", "template"), name="head"),
        workloads.TemplateSite(("spec", "workerGroupSpecs", "*", "template"), name="worker {}",
                               group_size=("numOfHosts",)),
    ))
    monkeypatch.setitem(workloads.KINDS, "DynamoGraphDeployment", (
        workloads.TemplateSite(("spec", "services", "*", "extraPodSpec"), pod_spec=(), name="{}",
                               containers=("mainContainer",), group_size=("multinode", "nodeCount")),
    ))
    ray = workloads.read_data({"kind": "RayCluster", "metadata": {"name": "r"}, "spec": {
        "headGroupSpec": {"template": TEMPLATE},
        "workerGroupSpecs": [{"numOfHosts": 2, "template": TEMPLATE}, {"template": TEMPLATE}]}})
    assert [(t.template, t.group_size, t.spec_path) for t in ray.templates] == [
        ("head", None, ("spec", "headGroupSpec", "template", "spec")),
        ("worker 0", 2, ("spec", "workerGroupSpecs", 0, "template", "spec")),
        ("worker 1", 1, ("spec", "workerGroupSpecs", 1, "template", "spec"))]
    dynamo = workloads.read_data({"kind": "DynamoGraphDeployment", "spec": {"services": {
        "decode": {"multinode": {"nodeCount": 2}, "extraPodSpec": {"mainContainer": {"name": "main"}}}}}})
    (t,) = dynamo.templates
    assert (t.template, t.group_size, [c.path for c in t.containers]) == (
        "decode", 2, [("spec", "services", "decode", "extraPodSpec", "mainContainer")])


@settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None,
          max_examples=400)
@given(st.sampled_from(sorted(KIND_CASES)), st.data())
def test_wrong_shapes_are_problems_never_exceptions(kind, data):
    """Any value anywhere in any kind: reading never raises, and every problem names a path of the object."""
    obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "labels": {"a": "b"}},
           **copy.deepcopy(KIND_CASES[kind][0])}
    container = {"name": "vllm", "ports": [{"name": "vllm", "containerPort": 8000}], "command": ["vllm"],
                 "env": [{"name": "A", "value": "1"}], "resources": {"limits": {"nvidia.com/gpu": 1}},
                 "livenessProbe": {"httpGet": {"port": 8000}, "periodSeconds": 10}}
    for t in workloads.read_data(obj).templates:
        t.spec["containers"] = [copy.deepcopy(container)]
    paths = _paths(obj)
    where = data.draw(st.sampled_from(paths))
    _set(obj, where, data.draw(JUNK | st.integers(min_value=2**31, max_value=10**400)))
    wrapped = data.draw(st.booleans())
    reading = workloads.read_data({"apiVersion": "v1", "kind": "List", "items": [obj]} if wrapped else obj)
    for p in reading.all_problems():
        assert p.message and p.path[:2 if wrapped else 0] == (("items", 0) if wrapped else ())


@pytest.mark.parametrize("data", [{"kind": ["Deployment"]}, {"kind": {"a": 1}, "items": []}, {"kind": "List"},
                                  {"kind": "List", "items": None}, [1, 2], "text", None, {"kind": "Pod", "spec": 5}])
def test_odd_objects_read_as_nothing(data):
    reading = workloads.read_data(data)
    assert reading.templates == []


def _paths(node, path=()):
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, path + (i,))
    return out


def _set(node, path, value):
    if not path:
        return
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


# --- lint and probe-check see the same workloads -------------------------------------------------------------

def _lint_json(*paths: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "cli"))
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", "--format", "json", *map(str, paths)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode in (0, 1), p.stdout + p.stderr
    return json.loads(p.stdout)


def _kinds_out(text: str, kinds: tuple[str, ...]) -> str:
    for kind in kinds:
        text = re.sub(rf"\b{kind}\b", "KIND", text)
    return text


def _from_pod_spec(pointer: str) -> str:
    """A JSON pointer from the pod spec on (where each kind keeps its template is what differs)."""
    return re.sub(r"^(/items/\d+)?(/spec(/jobTemplate/spec)?/template)?(/spec)?", "", pointer)


def _findings_by_file(report: dict, kinds: tuple[str, ...] = ()) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report["findings"]:
        message = _kinds_out(_from_pod_spec(f["message"]) if f["rule"] == "VG000" else f["message"], kinds)
        out.setdefault(Path(f["file"]).name, []).append((f["rule"], f["severity"], message))
    return {k: sorted(v) for k, v in out.items()}


def _as_list(docs: list[yamlio.Document]) -> str:
    return yamlio.dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                        "items": [d.data for d in docs]})


def _moved(docs: list[yamlio.Document], kind: str) -> str | None:
    """The file with every Deployment and Pod turned into `kind`: the pod template moved where `kind` keeps it
    (a Pod's labels go with it, its name stays the object's)."""
    out, moved = [], False
    for d in docs:
        data = copy.deepcopy(d.data)
        if isinstance(data, dict) and isinstance(data.get("spec"), dict) and "scaleTargetRef" in data["spec"]:
            # an autoscaler names its target by kind and name, looked up among every file of the run, where other
            # fixtures hold workloads of the same names: its findings are not the pod template's to compare
            return None
        if isinstance(data, dict) and data.get("kind") in ("Deployment", "Pod"):
            moved = True
            if data["kind"] == "Pod":
                meta = data.get("metadata", {})
                template = {"metadata": {"labels": meta.pop("labels", {})}, "spec": data.pop("spec")}
            else:
                template = data.pop("spec")["template"]
            data.update(kind=kind, apiVersion={"CronJob": "batch/v1", "ReplicationController": "v1"}[kind])
            if kind == "CronJob":
                data["spec"] = {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": template}}}
            else:
                data["spec"] = {"template": template}
        out.append(yamlio.dump(data))
    return "---\n".join(out) if moved else None


def _workload_fixtures() -> list[tuple[Path, list[yamlio.Document]]]:
    out = []
    for path in FIXTURES:
        duplicates: list = []
        docs = [d for d in yamlio.parse_documents(path.read_text(), str(path), duplicates=duplicates)
                if d.data is not None]
        if duplicates:
            continue  # a duplicate key does not survive the rewrite into another form
        if any(isinstance(d.data, dict) and d.data.get("apiVersion") == "vllmgen/v1" for d in docs):
            continue  # a model spec beside the manifest is no Kubernetes object: a List cannot hold it
        if any(isinstance(d.data, dict) and workloads.holds_pods(d.data) for d in docs):
            out.append((path, docs))
    return out


def test_a_list_gets_the_same_findings_as_its_items_alone(tmp_path):
    """Every lint fixture holding workloads, as a `kind: List`: the same findings (lines differ, not messages)."""
    fixtures = _workload_fixtures()
    assert len(fixtures) >= 20
    for path, docs in fixtures:
        (tmp_path / path.name).write_text(_as_list(docs))
    originals = _findings_by_file(_lint_json(*[p for p, _ in fixtures]))
    listed = _findings_by_file(_lint_json(*[tmp_path / p.name for p, _ in fixtures]))
    assert listed == originals
    assert sum(map(len, originals.values())) >= 30  # the fixtures do find things: the comparison has teeth


#: Fixtures about the Deployment object itself, not its pod template (its selector): moving the template into
#: another kind leaves that finding behind.
OBJECT_FINDINGS = ("VG062-selector-misses-template.yaml",)


@pytest.mark.parametrize("kind", ["CronJob", "ReplicationController"])
def test_a_deployments_pod_template_gets_the_same_findings_in_other_kinds(tmp_path, kind):
    moved = {p: text for p, docs in _workload_fixtures()
             if p.name not in OBJECT_FINDINGS and (text := _moved(docs, kind)) is not None}
    assert len(moved) >= 20
    for path, text in moved.items():
        (tmp_path / path.name).write_text(text)
    originals = _findings_by_file(_lint_json(*moved), ("Deployment", "Pod"))
    again = _findings_by_file(_lint_json(*[tmp_path / p.name for p in moved]), (kind,))
    assert again == originals
    assert sum(map(len, originals.values())) >= 30


def _probe_config(path: Path, kinds: tuple[str, ...]):
    """What probe-check reads from a file: the probes and pod settings, or the error (pointer from the pod spec)."""
    try:
        pod = model.load(path)
    except InputError as exc:
        return "error", _from_pod_spec(exc.pointer), _kinds_out(exc.message, kinds)
    return pod.probes(), pod.pod_grace, pod.restart_policy, pod.ports, _kinds_out(pod.name, kinds)


def test_probe_check_reads_the_same_probes_from_each_form(tmp_path):
    compared = 0
    for path, docs in _workload_fixtures():
        forms = {"List": _as_list(docs), "CronJob": _moved(docs, "CronJob"),
                 "ReplicationController": _moved(docs, "ReplicationController")}
        expected = _probe_config(path, ("Deployment", "Pod"))
        for form, text in forms.items():
            if text is None:
                continue
            (tmp_path / form).mkdir(exist_ok=True)
            other = tmp_path / form / path.name
            other.write_text(text)
            kinds = ("Deployment", "Pod") if form == "List" else (form,)
            assert _probe_config(other, kinds) == expected, (path.name, form)
            compared += 1
    assert compared >= 40


def test_probe_check_on_a_kubectl_list(tmp_path):
    r = CliRunner().invoke(app, ["probe-check", str(LINT_DATA / "bad" / "VG001-kubectl-list.yaml"),
                                 "--replay", str(TIMELINE)])
    # the list's Deployment is read: its probes on :8000 are what the timeline recorded on :8200 lacks
    assert r.exit_code == 2 and "startup probe of VG001-kubectl-list.yaml (Deployment/qwen, container vllm)" \
        in r.output


# --- wrongly shaped workloads: a finding or a refusal with file, line and field, never a traceback ------------

BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: qwen, labels: LABELS}
spec:
  template:
    spec:
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          command: COMMAND
          args: [Qwen/Qwen3-8B, --port, "8000", --tensor-parallel-size, TP]
          ports: PORTS
          resources:
            limits: {nvidia.com/gpu: 1}
          startupProbe:
            httpGet: {path: /v1/models, port: 8000}
            periodSeconds: PERIOD
            failureThreshold: 900
"""
FIELDS = {"LABELS": "{app: qwen}", "COMMAND": "[vllm, serve]", "TP": '"1"', "PORTS": "[{name: vllm, containerPort: 8000}]",
          "PERIOD": "1"}


def manifest(**changes: str) -> str:
    text = BASE
    for key, value in {**FIELDS, **changes}.items():
        text = text.replace(key, value)
    return text


HOSTILE = {
    # name: (text, lint exit, line and pointer lint and probe-check report (None: nothing to report))
    "ports-number": (manifest(PORTS="8000"), 1, (12, "/spec/template/spec/containers/0/ports")),
    "labels-string": (manifest(LABELS="oops"), 1, (3, "/metadata/labels")),
    "command-string": (manifest(COMMAND="sleep"), 1, (10, "/spec/template/spec/containers/0/command")),
    "period-beyond-int32": (manifest(PERIOD="1" + "0" * 400), 1,
                            (17, "/spec/template/spec/containers/0/startupProbe/periodSeconds")),
    "lws-spec-list": ("apiVersion: leaderworkerset.x-k8s.io/v1\nkind: LeaderWorkerSet\nmetadata: {name: w}\n"
                      "spec: [1]\n", 1, (4, "/spec")),
    "list-items-string": ("apiVersion: v1\nkind: List\nitems: oops\n", 1, (3, "/items")),
    # 5000 + 1 GPUs' worth of tensor parallelism, evaluated without recursion: VG009, not a RecursionError
    "arithmetic-5000-terms": (manifest(TP='"$((' + "+".join(["1"] * 5000) + '))"'), 1, None),
    # not evaluated at all (`**` is not read): unknown, so nothing to say, and no hang
    "arithmetic-power-tower": (manifest(TP='"$((9**9**9))"'), 0, None),
    "arithmetic-beyond-int64": (manifest(TP='"$((' + "*".join(["99999"] * 500) + '))"'), 0, None),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_wrongly_shaped_workloads_through_lint(tmp_path, name):
    text, lint_exit, where = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    env = dict(os.environ, PYTHONPATH=str(REPO / "cli"))
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(path)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert "Traceback" not in p.stderr and p.returncode == lint_exit, p.stdout + p.stderr
    if where is not None:
        line, pointer = where
        assert f"{path}:{line}: VG000 error: {pointer}: must be" in p.stdout
    if name == "arithmetic-5000-terms":
        assert "tensor x data-local parallel = 5000 x 1 = 5000" in p.stdout


@pytest.mark.parametrize("name", sorted(n for n, (_, _, where) in HOSTILE.items() if where is not None))
def test_wrongly_shaped_workloads_through_probe_check(tmp_path, name):
    text, _, (line, pointer) = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    r = CliRunner().invoke(app, ["probe-check", str(path), "--replay", str(TIMELINE)])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert r.exit_code == 2
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
    assert f"{path}:{line}: {pointer}: must be" in r.output
