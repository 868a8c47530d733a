"""Autoscaling (`roles.ROLE.autoscaling`) through the real Helm engine: a KEDA ScaledObject passes KEDA's own CRD
schema (strict), an autoscaling/v2 HorizontalPodAutoscaler Kubernetes' own (strict, oldest supported and newest);
each scales the role's Deployment or LeaderWorkerSet, which then carries no `replicas`; a fixed count beside
autoscaling is refused by name; the derived behaviour moves with the startup budget and the drain window."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from tests import chartcheck as cc
from vllmgen import autoscaling, values
from vllmgen.errors import InputError, InputErrors
from vllmgen.spec import effective, parse_spec

PROM = "http://prometheus-operated.monitoring.svc:9090"
SCALERS = {"keda": "ScaledObject", "hpa": "HorizontalPodAutoscaler"}
MODEL = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"


def spec_text(layout: str = "single-node", autoscaler: str = "keda", *, auto: dict | None = None, extra: str = "",
              role: str = "decode") -> str:
    """A spec whose `role` autoscales (2-8 on the default metric, target 4; `auto` changes or drops fields)."""
    fields = {"autoscaler": autoscaler, "minReplicas": 2, "maxReplicas": 8, "target": 4}
    if autoscaler == "keda":
        fields["prometheusAddress"] = PROM
    fields.update(auto or {})
    flow = ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}" for k, v in fields.items() if v is not None)
    fixed = "  prefill: {replicas: 1}\n" if role == "decode" else ""
    return (f"layout: {layout}\n{MODEL}{extra}roles:\n{fixed}  {role}:\n    autoscaling: {{{flow}}}\n"
            + ("  standalone: {replicas: 0}\n" if role != "standalone" else ""))


def rendered_values(text: str) -> dict:
    import helm_python as helm

    return helm.values_from_yaml(values.render(parse_spec(text, "spec.yaml")))


def scalers(objs: list[dict]) -> list[dict]:
    return [o for o in objs if o["kind"] in SCALERS.values()]


def scale_up_periods(scaler: dict) -> set[int]:
    return {p["periodSeconds"] for p in _behavior(scaler)["scaleUp"]["policies"]}


def _behavior(scaler: dict) -> dict:
    if scaler["kind"] == "ScaledObject":
        return scaler["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    return scaler["spec"]["behavior"]


def startup_allowance(workload: dict) -> int:
    """Seconds the kubelet lets the rendered pod load: initialDelay + period x failureThreshold."""
    probe = cc.container(cc.pod_spec(workload), "vllm")["startupProbe"]
    return probe.get("initialDelaySeconds", 0) + probe["periodSeconds"] * probe["failureThreshold"]


@pytest.fixture(scope="module")
def validators():
    return cc.Validators()


# --- rendered objects ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("autoscaler", sorted(SCALERS))
@pytest.mark.parametrize("layout", ["simulated", "single-node", "wide-ep"])
def test_autoscaler_passes_its_schema_and_scales_the_role_workload(layout, autoscaler, validators):
    v = rendered_values(spec_text(layout, autoscaler))
    objs = cc.render_objects(v)
    assert cc.lint(v) == []
    assert validators.check(objs, cc.kube_versions()) == []
    (scaler,) = scalers(objs)
    assert scaler["kind"] == SCALERS[autoscaler] and cc.role_of(scaler) == "decode"
    workloads = {cc.role_of(w): w for w in cc.workloads(objs)}
    decode, prefill = workloads["decode"], workloads["prefill"]
    ref = scaler["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == (decode["apiVersion"], decode["kind"],
                                                           decode["metadata"]["name"])
    # the autoscaler owns the count: `helm upgrade` must not reset it
    assert "replicas" not in decode["spec"]
    assert prefill["spec"]["replicas"] == 1
    spec = scaler["spec"]
    if autoscaler == "keda":
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 8)
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
        assert trigger["metadata"]["threshold"] == "4" and trigger["metadata"]["serverAddress"] == PROM
        assert trigger["metadata"]["query"].startswith("sum(vllm:num_requests_waiting{namespace=\"ns\",")
    else:
        assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 8)
        assert spec["metrics"] == [{"type": "Pods", "pods": {"metric": {"name": "vllm_num_requests_waiting"},
                                                             "target": {"type": "AverageValue", "averageValue": "4"}}}]
    assert _behavior(scaler) == v["decode"]["autoscaling"]["behavior"]


@pytest.mark.parametrize("layout", ["single-node", "wide-ep"])
def test_keda_query_sums_the_pods_the_hpa_counts(layout):
    """KEDA divides the query by the replicas: it must select this role's pods (a LeaderWorkerSet's leaders, which
    its scale subresource selects), and no other role's."""
    objs = cc.render_objects(rendered_values(spec_text(layout)))
    query = scalers(objs)[0]["spec"]["triggers"][0]["metadata"]["query"]
    pods = re.fullmatch(r'sum\(vllm:num_requests_waiting\{namespace="ns",pod=~"(.*)"\}\)', query).group(1)
    name = {cc.role_of(w): w["metadata"]["name"] for w in cc.workloads(objs)}
    if layout == "wide-ep":
        matched = [f"{name['decode']}-0", f"{name['decode']}-11"]
        unmatched = [f"{name['decode']}-0-1", f"{name['prefill']}-0"]
    else:
        matched = [f"{name['decode']}-7d9f8c6b5-x2x9z"]
        unmatched = [f"{name['prefill']}-7d9f8c6b5-x2x9z", f"{name['decode']}-x-7d9f8c6b5-x2x9z"]
    assert all(re.fullmatch(pods, p) for p in matched), (pods, matched)
    assert not any(re.fullmatch(pods, p) for p in unmatched), (pods, unmatched)


def test_the_strict_schemas_catch_a_misspelled_field(validators):
    """The checks above could not fail if the schemas let unknown fields through."""
    for autoscaler, field in (("keda", ("spec", "advanced", "horizontalPodAutoscalerConfig", "behaviour")),
                              ("hpa", ("spec", "behaviour"))):
        objs = cc.render_objects(rendered_values(spec_text("single-node", autoscaler)))
        bad = copy.deepcopy(scalers(objs)[0])
        node = bad
        for key in field[:-1]:
            node = node[key]
        node[field[-1]] = {}
        for version in cc.kube_versions():
            errors = list(validators.errors(bad, version))
            assert errors and "behaviour" in errors[0], errors


def test_the_values_schema_refuses_replicas_beside_autoscaling():
    import helm_python as helm

    v = rendered_values(spec_text())
    v["decode"]["replicas"] = 3
    with pytest.raises(helm.HelmValuesError) as err:
        cc.render_objects(v)
    assert "/decode/replicas" in str(err.value)


def test_lint_names_replicas_beside_autoscaling_in_values(tmp_path):
    """The values schema's refusal, as `vllmgen lint` reports it: the field, its line, and what it conflicts
    with (jsonschema alone says "3 should not be valid under {}")."""
    text = values.render(parse_spec(spec_text(), "spec.yaml"))
    text = text.replace("\ndecode:\n", "\ndecode:\n  replicas: 3\n", 1)
    path = tmp_path / "values.yaml"
    path.write_text(text)
    res = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(path)], capture_output=True, text=True,
                         timeout=120)
    line = text.splitlines().index("  replicas: 3") + 1
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert (f"{path}:{line}: VG000 error: /decode/replicas: `replicas` cannot be set together with "
            f"`autoscaling`: remove one of them") in res.stdout


def test_notes_say_who_owns_the_count():
    notes = cc.notes(rendered_values(spec_text("single-node", "hpa")))
    assert "decode: 2-8 pod(s)" in notes
    assert "kubectl get hpa -n ns rel-vllm-decode" in notes


# --- the spec --------------------------------------------------------------------------------------------------

def test_a_fixed_count_beside_autoscaling_is_refused_by_name(tmp_path):
    text = spec_text().replace("    autoscaling:", "    replicas: 3\n    autoscaling:")
    with pytest.raises(InputError) as err:
        parse_spec(text, "spec.yaml")
    assert err.value.pointer == "/roles/decode/replicas"
    assert "`replicas` cannot be set together with `autoscaling`" in err.value.message
    # the CLI says it in one line, exit 2
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    res = subprocess.run([sys.executable, "-m", "vllmgen", "validate", str(path)], capture_output=True, text=True,
                         timeout=60)
    line = text.splitlines().index("    replicas: 3") + 1
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"error: {path}:{line}: /roles/decode/replicas: `replicas` cannot be set together" in res.stderr


@pytest.mark.parametrize("text,pointer,phrase", [
    (spec_text(auto={"minReplicas": 9}), "/roles/decode/autoscaling/maxReplicas", "below minReplicas 9"),
    (spec_text(auto={"metric": "vllm:kv_cache_usage_perc"}), "/roles/decode/autoscaling/target",
     "vllm:kv_cache_usage_perc is a fraction"),
    (spec_text(auto={"minReplicas": 0}), "/roles/decode/autoscaling/minReplicas", "less than the minimum of 1"),
    (spec_text(auto={"metric": "vllm:gpu_cache_usage_perc"}), "/roles/decode/autoscaling/metric", "is not one of"),
    (spec_text(auto={"prometheusAddress": None}), "/roles/decode/autoscaling",
     "'prometheusAddress' is a required property"),
    (spec_text(role="standalone", extra="server: triton\n"),
     "/roles/standalone/autoscaling", "server triton does not serve vLLM's own metrics"),
])
def test_autoscaling_the_spec_refuses(text, pointer, phrase):
    with pytest.raises((InputError, InputErrors)) as err:
        parse_spec(text, "spec.yaml")
    errors = err.value.errors if isinstance(err.value, InputErrors) else [err.value]
    assert any(e.pointer == pointer and phrase in e.message for e in errors), [str(e) for e in errors]


def test_the_hpa_metric_defaults_to_the_adapter_name_and_the_mounted_spec_round_trips():
    v = rendered_values(spec_text("single-node", "hpa", auto={"metric": "vllm:kv_cache_usage_perc", "target": 0.8}))
    auto = v["decode"]["autoscaling"]
    assert (auto["adapterMetric"], auto["target"]) == ("vllm_kv_cache_usage_perc", "0.8")
    assert v["spec"]["roles"]["decode"] == {"autoscaling": {
        "autoscaler": "hpa", "minReplicas": 2, "maxReplicas": 8, "metric": "vllm:kv_cache_usage_perc",
        "target": 0.8, "adapterMetric": "vllm_kv_cache_usage_perc"}}
    # the supervisor and lint read the mounted spec: it loads as it is
    assert effective(v["spec"])["roles"]["decode"] == v["spec"]["roles"]["decode"]


def test_validate_describes_the_autoscaled_role():
    res = subprocess.run([sys.executable, "-m", "vllmgen", "validate", "-"], input=spec_text(), capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "roles prefill x1, decode 2-8 by keda on vllm:num_requests_waiting (target 4)" in res.stdout


# --- the derived behaviour -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["plain", "supervised"])
@pytest.mark.parametrize("budget", [60, 600, 1500, 5000])
def test_scale_up_waits_for_the_pods_it_asked_for(budget, mode):
    """No second scale-up step while the first step's pods are expected to load: the policies' period is the
    startup budget (Kubernetes caps it at 1800 s), which the rendered startup probe covers."""
    extra = f"startup: {{budgetSeconds: {budget}}}\nprobes: {{mode: {mode}}}\n"
    objs = cc.render_objects(rendered_values(spec_text(extra=extra)))
    scaler = scalers(objs)[0]
    decode = next(w for w in cc.workloads(objs) if cc.role_of(w) == "decode")
    assert startup_allowance(decode) >= budget
    assert scale_up_periods(scaler) == {min(budget, autoscaling.MAX_POLICY_PERIOD_S)}
    assert _behavior(scaler)["scaleUp"]["selectPolicy"] == "Max"
    assert _behavior(scaler)["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert _behavior(scaler)["scaleDown"]["stabilizationWindowSeconds"] == min(max(budget, 300), 3600)


@pytest.mark.parametrize("drain", [(0, 0), (10, 30), (30, 600), (120, 3600)])
def test_scale_down_never_outpaces_the_drain(drain):
    """One pod per drain window: the next removal only after the last pod's grace period has run out."""
    endpoint, shutdown = drain
    extra = f"engine: {{endpointDrainSeconds: {endpoint}, shutdownTimeoutSeconds: {shutdown}}}\n"
    objs = cc.render_objects(rendered_values(spec_text(extra=extra)))
    scaler = scalers(objs)[0]
    grace = cc.pod_spec(next(w for w in cc.workloads(objs) if cc.role_of(w) == "decode"))[
        "terminationGracePeriodSeconds"]
    assert grace >= endpoint + shutdown
    assert _behavior(scaler)["scaleDown"]["policies"] == [
        {"type": "Pods", "value": 1, "periodSeconds": min(grace, autoscaling.MAX_POLICY_PERIOD_S)}]


def test_the_values_explain_the_derived_numbers():
    text = values.render(parse_spec(spec_text(), "spec.yaml"))
    prose = " ".join(line.strip("# ") for line in text.splitlines())
    for phrase in ["a KEDA ScaledObject scales the Deployment, which renders no replicas",
                   "per 429 s, the startup budget (the time a new pod is expected to load)",
                   "1 pod per 55 s, the drain window (10 endpoint drain + 30 vLLM drain + 10 vLLM teardown + 5 "
                   "supervisor kill grace = 55 s)"]:
        assert phrase in prose, phrase


@settings(max_examples=60, deadline=None)
@given(budget=st.integers(1, 86400), endpoint=st.integers(0, 600), shutdown=st.integers(0, 3600),
       layout=st.sampled_from(["simulated", "single-node", "wide-ep"]))
def test_the_windows_follow_the_budget_and_the_grace_period(budget, endpoint, shutdown, layout):
    """Whatever the budget and the drain: scale-up steps are one startup budget apart, removals one grace period
    apart, and lint reading the rendered probe agrees the steps wait long enough."""
    from vllmgen.lint.autoscalers import probe_loading
    from vllmgen.workloads import read_probe

    extra = (f"startup: {{budgetSeconds: {budget}}}\n"
             f"engine: {{endpointDrainSeconds: {endpoint}, shutdownTimeoutSeconds: {shutdown}}}\n")
    block = values.values_dict(parse_spec(spec_text(layout, extra=extra), "spec.yaml"))["decode"]
    up, down = block["autoscaling"]["behavior"]["scaleUp"], block["autoscaling"]["behavior"]["scaleDown"]
    assert {p["periodSeconds"] for p in up["policies"]} == {min(budget, 1800)}
    assert autoscaling.scale_up_window(up) == min(budget, 1800)
    assert down["policies"][0]["periodSeconds"] == min(block["terminationGracePeriodSeconds"], 1800)
    assert down["stabilizationWindowSeconds"] == min(max(budget, 300), 3600)
    # the budget the rendered startup probe stands for is never more than the spacing derived from the spec
    behind = probe_loading(read_probe("startup", block["probes"]["startup"], ())).seconds
    assert behind <= budget and autoscaling.scale_up_window(up) >= autoscaling.scale_up_period(behind)


@pytest.mark.parametrize("rules,window", [
    (None, 15),  # Kubernetes' default: +4 pods or +100% every 15 s
    ({"policies": [{"type": "Pods", "value": 1, "periodSeconds": 600}]}, 600),
    ({"policies": [{"type": "Pods", "value": 1, "periodSeconds": 600},
                   {"type": "Percent", "value": 10, "periodSeconds": 60}]}, 60),  # Max: the permissive one wins
    ({"selectPolicy": "Min", "policies": [{"type": "Pods", "value": 1, "periodSeconds": 600},
                                          {"type": "Percent", "value": 10, "periodSeconds": 60}]}, 600),
    ({"selectPolicy": "Disabled"}, None),
    ({"stabilizationWindowSeconds": 900}, 15),  # a stabilization window delays a step, it does not space them
])
def test_scale_up_window_reads_a_behavior_as_the_hpa_does(rules, window):
    assert autoscaling.scale_up_window(rules) == window


# --- vllmgen lint (VG034) --------------------------------------------------------------------------------------

def _render_to_files(text: str, folder) -> None:
    """`helm template --output-dir` shape: one file per template, the autoscaler apart from its workload."""
    folder.mkdir()
    for template, rendered in cc.render_texts(rendered_values(text)).items():
        if template.endswith(".yaml") and rendered.strip():
            (folder / template.rsplit("/", 1)[-1]).write_text(rendered)


def _lint(*paths):
    from vllmgen.lint.runner import Linter

    result = Linter().lint_paths([str(p) for p in paths])
    assert not result.unusable
    return [f for f in result.findings if f.rule == "VG034"]


@pytest.mark.parametrize("layout,autoscaler,extra", [
    ("single-node", "keda", ""), ("wide-ep", "hpa", ""), ("simulated", "keda", ""),
    ("single-node", "hpa", "startup: {budgetSeconds: 5000}\n"),  # beyond Kubernetes' 1800 s: the most it can wait
])
def test_rendered_autoscalers_lint_clean_and_an_edited_window_is_caught(tmp_path, layout, autoscaler, extra):
    _render_to_files(spec_text(layout, autoscaler, extra=extra), tmp_path / "out")
    assert _lint(tmp_path / "out") == []
    scaler = tmp_path / "out" / "autoscaler.yaml"
    scaler.write_text(re.sub(r"periodSeconds: \d+", "periodSeconds: 5", scaler.read_text()))
    (finding,) = _lint(tmp_path / "out")
    assert finding.file == str(scaler) and finding.severity == "warning"
    assert "may add pods again 5 s after a scale-up" in finding.message
    assert scaler.read_text().splitlines()[finding.line - 1].strip() == "scaleUp:"


def test_values_with_an_edited_scale_up_are_caught(tmp_path):
    from vllmgen.yamlio import dump, load_document

    path = tmp_path / "values.yaml"
    path.write_text(values.render(parse_spec(spec_text(), "spec.yaml")))
    assert _lint(path) == []
    data = load_document(path).data
    for policy in data["decode"]["autoscaling"]["behavior"]["scaleUp"]["policies"]:
        policy["periodSeconds"] = 60
    path.write_text(dump(data))
    (finding,) = _lint(path)
    assert finding.pointer == "/decode/autoscaling/behavior/scaleUp"
    assert "decode.autoscaling may add pods again 60 s after a scale-up" in finding.message
    assert "periodSeconds: 429 on every scaleUp policy" in finding.fix
    assert "the embedded spec's startup budget" in finding.message


def test_an_autoscaler_with_scale_up_disabled_or_another_target_is_not_flagged(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text((DATA_BAD / "VG034-hpa-default-scale-up.yaml").read_text()
                    .replace("name: qwen}\n  minReplicas", "name: other}\n  minReplicas")
                    .replace("stabilizationWindowSeconds: 600", "selectPolicy: Disabled"))
    assert _lint(path) == []


DATA_BAD = cc.REPO / "tests" / "data" / "lint" / "bad"


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_lint_never_raises_on_a_hostile_autoscaler_or_values(tmp_path_factory, data):
    """A mangled HPA, ScaledObject or autoscaling values block is reported or ignored, never a crash."""
    from tests.strategies import JUNK, paths, set_path
    from vllmgen.yamlio import dump

    manifests = list(yaml_docs(DATA_BAD / "VG034-hpa-default-scale-up.yaml"))
    generated = values.values_dict(parse_spec(spec_text(), "spec.yaml"))
    doc = data.draw(st.sampled_from([1, 2, "values"]))
    target = generated if doc == "values" else manifests[doc]
    where = data.draw(st.sampled_from([p for p in paths(target) if p]))
    set_path(target, where, data.draw(JUNK))
    path = tmp_path_factory.mktemp("hostile") / "m.yaml"
    path.write_text(dump(generated) if doc == "values" else "---\n".join(dump(d) for d in manifests))
    _lint(path)


def yaml_docs(path):
    import yaml

    return (d for d in yaml.safe_load_all(path.read_text()) if d is not None)
