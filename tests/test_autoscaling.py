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

@pytest.mark.parametrize("budget", [60, 600, 1500, 5000])
def test_scale_up_waits_for_the_pods_it_asked_for(budget):
    """No second scale-up step while the first step's pods may still load: the policies' period is the time the
    rendered startup probe lets a new pod load (Kubernetes caps it at 1800 s)."""
    objs = cc.render_objects(rendered_values(spec_text(extra=f"startup: {{budgetSeconds: {budget}}}\n")))
    scaler = scalers(objs)[0]
    decode = next(w for w in cc.workloads(objs) if cc.role_of(w) == "decode")
    allowance = startup_allowance(decode)
    assert allowance >= budget
    assert scale_up_periods(scaler) == {min(allowance, autoscaling.MAX_POLICY_PERIOD_S)}
    assert _behavior(scaler)["scaleUp"]["selectPolicy"] == "Max"
    assert _behavior(scaler)["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert _behavior(scaler)["scaleDown"]["stabilizationWindowSeconds"] == min(max(allowance, 300), 3600)


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
                   "per 250 s, the time a new pod may load (its startup probe allows 250 s)",
                   "1 pod per 55 s, the drain window (10 endpoint drain + 30 vLLM drain + 10 vLLM teardown + 5 "
                   "supervisor kill grace = 55 s)"]:
        assert phrase in prose, phrase


@settings(max_examples=60, deadline=None)
@given(budget=st.integers(1, 86400), endpoint=st.integers(0, 600), shutdown=st.integers(0, 3600),
       layout=st.sampled_from(["simulated", "single-node", "wide-ep"]))
def test_the_windows_follow_the_probe_and_the_grace_period(budget, endpoint, shutdown, layout):
    extra = (f"startup: {{budgetSeconds: {budget}}}\n"
             f"engine: {{endpointDrainSeconds: {endpoint}, shutdownTimeoutSeconds: {shutdown}}}\n")
    block = values.values_dict(parse_spec(spec_text(layout, extra=extra), "spec.yaml"))["decode"]
    probe = block["probes"]["startup"]
    allowance = probe["initialDelaySeconds"] + probe["periodSeconds"] * probe["failureThreshold"]
    up, down = block["autoscaling"]["behavior"]["scaleUp"], block["autoscaling"]["behavior"]["scaleDown"]
    assert {p["periodSeconds"] for p in up["policies"]} == {min(allowance, 1800)}
    assert autoscaling.scale_up_window(up) == min(allowance, 1800) >= min(budget, 1800)
    assert down["policies"][0]["periodSeconds"] == min(block["terminationGracePeriodSeconds"], 1800)
    assert 300 <= down["stabilizationWindowSeconds"] <= 3600
    assert down["stabilizationWindowSeconds"] >= min(allowance, 3600)


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
