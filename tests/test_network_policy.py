"""With `networkPolicy.enabled`, Prometheus in the monitoring namespace still reaches the metrics the monitors
scrape and the autoscalers read (KEDA or the Prometheus adapter query Prometheus, which scrapes the pods): the
chart's NetworkPolicies are rendered by the real Helm engine and evaluated here as a NetworkPolicy implementation
evaluates ingress (policies selecting the pod, each rule's `from` peers and named ports), for a Prometheus pod,
the gateway, and a pod of another namespace."""

from __future__ import annotations

import copy

import pytest

from tests import chartcheck as cc
from tests.test_autoscaling import spec_text
from vllmgen import spec as specmod, values

NS = "ns"


def _matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector with matchLabels only (what the chart renders); {} selects everything."""
    assert set(selector or {}) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def _peer_admits(peer: dict, source_ns: str, source_labels: dict) -> bool:
    ns_labels = {"kubernetes.io/metadata.name": source_ns}
    if "namespaceSelector" in peer:
        return _matches(peer["namespaceSelector"], ns_labels) and _matches(peer.get("podSelector"), source_labels)
    if "podSelector" in peer:  # pods of the policy's own namespace
        return source_ns == NS and _matches(peer["podSelector"], source_labels)
    raise AssertionError(f"peer kind not modelled: {peer}")


def _port_admitted(rule: dict, port_name: str, port_number: int) -> bool:
    if not rule.get("ports"):
        return True
    return any(p.get("port") in (port_name, port_number) and p.get("protocol", "TCP") == "TCP" for p in rule["ports"])


def reachable(objs: list[dict], pod: dict, port_name: str, source_ns: str, source_labels: dict) -> bool:
    """Whether ingress from the source to the pod's named port is allowed: no policy selecting the pod = allowed;
    else some rule of some selecting policy admits the peer on that port."""
    labels = pod["metadata"]["labels"]
    containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])  # native sidecars listen too
    number = next(p["containerPort"] for c in containers for p in c.get("ports", []) if p.get("name") == port_name)
    policies = [o for o in objs if o["kind"] == "NetworkPolicy" and _matches(o["spec"]["podSelector"], labels)]
    if not policies:
        return True
    return any(_port_admitted(rule, port_name, number)
               and any(_peer_admits(peer, source_ns, source_labels) for peer in rule.get("from", []))
               for policy in policies for rule in policy["spec"].get("ingress", []))


def _pods(objs: list[dict]) -> dict[str, dict]:
    """role -> its pod template (with the template's labels)."""
    return {w["metadata"]["labels"]["app.kubernetes.io/component"]: w["spec"]["template"]
            for w in objs if w["kind"] == "Deployment"}


PROMETHEUS = ("monitoring", {"app.kubernetes.io/name": "prometheus"})


def _default_values() -> dict:
    data = values.values_dict(specmod.load_spec(None))
    data["networkPolicy"] = {"enabled": True, "gatewayNamespace": "gateway"}
    return data


@pytest.mark.parametrize("monitoring", [{"podMonitor": {"enabled": True}}, {"scrapeAnnotations": True}],
                         ids=["podMonitor", "scrapeAnnotations"])
def test_prometheus_reaches_the_metrics_port_when_monitoring_is_on(monitoring):
    data = _default_values()
    data["monitoring"] = monitoring
    objs = cc.render_objects(data, namespace=NS)
    pod = _pods(objs)["standalone"]
    assert reachable(objs, pod, "vllm", *PROMETHEUS)
    # the PodMonitor scrapes the port that is admitted
    monitor = next((o for o in objs if o["kind"] == "PodMonitor"), None)
    if monitor:
        assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "vllm"
    # still closed to everyone else
    assert not reachable(objs, pod, "vllm", "other", {"app.kubernetes.io/name": "prometheus"})
    assert reachable(objs, pod, "vllm", "gateway", {})


def test_without_monitoring_or_autoscaling_prometheus_is_not_admitted():
    objs = cc.render_objects(_default_values(), namespace=NS)
    assert not reachable(objs, _pods(objs)["standalone"], "vllm", *PROMETHEUS)


def test_autoscaling_alone_opens_the_metrics_port_of_the_scaled_role():
    data = values.values_dict(specmod.parse_spec(spec_text(role="standalone"), "spec.yaml"))
    assert data["standalone"]["autoscaling"]["autoscaler"] == "keda"
    data["networkPolicy"] = {"enabled": True, "gatewayNamespace": "gateway"}
    objs = cc.render_objects(data, namespace=NS)
    assert any(o["kind"] == "ScaledObject" for o in objs)
    assert reachable(objs, _pods(objs)["standalone"], "vllm", *PROMETHEUS)


def test_the_scrapers_namespace_and_pod_selector_are_configurable():
    data = _default_values()
    data["monitoring"] = {"serviceMonitor": {"enabled": True}}
    data["networkPolicy"]["metrics"] = {"namespace": "observability", "podSelector": {"app": "prometheus"}}
    objs = cc.render_objects(data, namespace=NS)
    pod = _pods(objs)["standalone"]
    assert reachable(objs, pod, "vllm", "observability", {"app": "prometheus"})
    assert not reachable(objs, pod, "vllm", "observability", {"app": "grafana"})
    assert not reachable(objs, pod, "vllm", *PROMETHEUS)


def test_a_service_monitor_on_decode_pods_reaches_the_sidecars_serving_port():
    data = values.values_dict(specmod.load_spec(None, roles=["prefill", "decode"]), ["prefill", "decode"])
    data["networkPolicy"] = {"enabled": True, "gatewayNamespace": "gateway", "allowSameRelease": False}
    data["monitoring"] = {"serviceMonitor": {"enabled": True}}
    objs = cc.render_objects(data, namespace=NS)
    monitors = {o["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in objs if o["kind"] == "ServiceMonitor"}
    pods = _pods(objs)
    assert set(monitors) == {"prefill", "decode"}
    for role in monitors:
        pod = pods[role]
        port = monitors[role]["spec"]["endpoints"][0]["port"]
        assert reachable(objs, pod, port, *PROMETHEUS), (role, port)


def test_the_policies_pass_kubernetes_schemas():
    data = _default_values()
    data["monitoring"] = {"podMonitor": {"enabled": True}}
    data["networkPolicy"]["metrics"] = {"namespace": "observability", "podSelector": {"app": "prometheus"}}
    objs = cc.render_objects(copy.deepcopy(data), namespace=NS)
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    assert policies and cc.Validators().check(policies, cc.kube_versions()) == []
    bad = copy.deepcopy(data)
    bad["networkPolicy"]["metrics"] = {"namespace": ""}
    with pytest.raises(Exception, match="networkPolicy"):
        cc.render_objects(bad, namespace=NS)
