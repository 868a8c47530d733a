"""The escape hatches every peer chart has: extra containers and init containers per role (top level + role,
lists concatenated), as strictly checked as the other hatches, counted in the pod's requests, and seen by
`vllmgen lint` as part of the pod."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import pytest

from tests import chartcheck as cc
from tests.chartcheck import pod_spec, role_of, workloads
from tests.helm_unittest import merge_values
from tests.test_escape_hatches import BASES, _base
from vllmgen import quantities

EXPORTER = {"name": "exporter", "image": "quay.io/prometheus/node-exporter:v1.8.2",
            "ports": [{"name": "exporter", "containerPort": 9100}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}
PREFETCH = {"name": "prefetch", "image": "busybox:1.37", "command": ["sh", "-c", "true"],
            "resources": {"requests": {"cpu": "2", "memory": "1G"}, "limits": {"memory": "1G"}}}
SHIPPER = {"name": "log-shipper", "image": "fluent/fluent-bit:3.1", "restartPolicy": "Always",
           "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}}


def _values(key: str) -> dict:
    base = _base(key)
    roles = [r for r in ("standalone", "prefill", "decode") if base.get(r)]
    per_role = {r: {"extraInitContainers": [{**PREFETCH, "name": f"prefetch-{r}"}]} for r in roles}
    return merge_values(merge_values(base, {"extraContainers": [EXPORTER], "extraInitContainers": [SHIPPER]}),
                        per_role)


def _requests(spec: dict, resource: str) -> Decimal:
    """The pod's effective request, as the scheduler computes it: the containers and the native sidecars summed,
    against the largest regular init container (with the sidecars started before it)."""
    def req(c):
        return quantities.value(str(c.get("resources", {}).get("requests", {}).get(resource, "0")))

    total = sum((req(c) for c in spec["containers"]), Decimal(0))
    sidecars, peak = Decimal(0), Decimal(0)
    for c in spec.get("initContainers", []):
        if c.get("restartPolicy") == "Always":
            sidecars += req(c)
        else:
            peak = max(peak, sidecars + req(c))
    return max(total + sidecars, peak)


@pytest.mark.parametrize("key", sorted(BASES))
def test_extra_containers_join_every_pod_and_pass_strict_schemas(key):
    values = _values(key)
    objs = cc.render_objects(values)
    assert cc.Validators().check(objs, cc.kube_versions()) == []
    assert cc.lint(values) == []
    for wl in workloads(objs):
        role = role_of(wl)
        spec = pod_spec(wl)
        names = [c["name"] for c in spec["containers"]]
        inits = [c["name"] for c in spec.get("initContainers", [])]
        assert names[0] == "vllm" and names[1:] == ["exporter"]
        # the top level's first, then the role's; the chart's routing sidecar after them
        assert inits[:2] == ["log-shipper", f"prefetch-{role}"]
        assert inits[2:] in ([], ["routing-proxy"])
        server = spec["containers"][0]["securityContext"]  # the chart's containerSecurityContext
        for c in spec["containers"] + spec.get("initContainers", []):
            assert c["securityContext"] == server, c["name"]


def test_the_pods_requests_account_for_them():
    base = _base("single-node:supervised")
    values = _values("single-node:supervised")
    before = {role_of(w): pod_spec(w) for w in workloads(cc.render_objects(base))}
    after = {role_of(w): pod_spec(w) for w in workloads(cc.render_objects(values))}
    for role, spec in after.items():
        grew = _requests(spec, "memory") - _requests(before[role], "memory")
        # the exporter and the log shipper run beside the server: their requests add up
        assert grew >= quantities.value("64Mi") + quantities.value("32Mi")
        assert _requests(spec, "cpu") >= _requests(before[role], "cpu") + Decimal("0.15")


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda v: v["extraContainers"][0].pop("resources"), "resources"),
    (lambda v: v["extraContainers"][0]["resources"]["requests"].pop("cpu"), "cpu"),
    (lambda v: v["extraContainers"][0].update(imagePullPolcy="Always"), "imagePullPolcy"),
    (lambda v: v["extraContainers"][0].update(name="vllm"), "name"),
    (lambda v: v["extraContainers"][0]["ports"][0].update(containerPort=70000), "containerPort"),
    (lambda v: v["extraInitContainers"][0].update(restartPolicy="OnFailure"), "restartPolicy"),
    (lambda v: v["extraContainers"][0]["resources"]["limits"].update(memory="1GB"), "memory"),
])
def test_a_wrong_container_is_refused_by_helm_naming_the_field(mutate, field):
    import helm_python as helm

    values = copy.deepcopy(_values("single-node:supervised"))
    mutate(values)
    with pytest.raises(helm.HelmValuesError) as err:
        cc.render_objects(values)
    assert field in str(err.value)


def test_two_extra_containers_of_one_name_are_refused():
    values = _values("single-node:supervised")
    values["prefill"]["extraContainers"] = [dict(EXPORTER)]
    with pytest.raises(Exception, match='container name "exporter" is taken'):
        cc.render_objects(values)


def test_lint_sees_the_pod_with_its_extra_containers(tmp_path):
    """lint renders the values through the chart: the extra containers are in the pods it inspects, and a probe
    aimed at one's port (the pod shares one network namespace) is reported as not reaching vLLM; a probe naming
    that port resolves only among the server container's own ports, as the kubelet resolves it."""
    import yaml
    from typer.testing import CliRunner

    from vllmgen.cli import app

    def lint(values: dict) -> str:
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        return CliRunner().invoke(app, ["lint", str(path)]).output

    base, values = _base("single-node:supervised"), _values("single-node:supervised")
    inspected = [int(re.search(r"(\d+) containers inspected", lint(v)).group(1)) for v in (base, values)]
    pods = len(workloads(cc.render_objects(base)))
    assert inspected[1] == inspected[0] + 3 * pods, inspected  # exporter, log shipper, prefetch in each pod
    values["prefill"]["probes"]["readiness"]["httpGet"]["port"] = 9100
    out = lint(values)
    assert "VG001" in out and "targets port 9100, but vLLM listens on" in out, out
    values["prefill"]["probes"]["readiness"]["httpGet"]["port"] = "exporter"
    assert "targets port name 'exporter', which the container does not declare" in lint(values)
