"""The inference gateway's objects through the real Helm engine, for every layout and role set: the InferencePool
selects exactly the serving pods of its release (never another release's, never the endpoint picker), on a port
each of them declares; its endpoint picker is the one the chart renders beside it and watches that pool; every
InferencePool and HTTPRoute passes its CRD's schema strictly (tests/data/crds/), every other object Kubernetes'
own schemas."""

from __future__ import annotations

import copy
import hashlib

import pytest
import yaml
from typer.testing import CliRunner

from tests import chartcheck as cc
from vllmgen import gateway, images, layouts, roles as rolesmod, schemas, spec as specmod
from vllmgen.cli import app
from vllmgen.errors import InputError, InputErrors
from vllmgen.yamlio import parse_document

NAMESPACE = "llm-d"
RELEASE = "ms"
#: Another release in the same namespace: standalone pods of the same model, which the pool must not select.
NEIGHBOUR = "solo"
ROLE_SETS = (("standalone",), ("prefill",), ("decode",), ("prefill", "decode"))
MODES = ("plain", "supervised")
#: Spec variations that change what the pool must target: the sidecar off (decode vLLM on the service port), another
#: service port, an HTTPRoute to a Gateway in another namespace.
VARIANTS = {
    "default": "",
    "no-sidecar": "routing: {inferencePool: true, sidecar: {enabled: false}}\n",
    "port-9000": "routing: {inferencePool: true, servicePort: 9000, targetPort: 9200}\n",
    "route": "routing: {inferencePool: true, gateway: {name: inference-gateway, namespace: gateway-system}}\n",
}
MODEL = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"


def _spec_text(mode: str, variant: str) -> str:
    extra = VARIANTS[variant] or "routing: {inferencePool: true}\n"
    return MODEL + f"probes: {{mode: {mode}}}\n" + extra


def emitted(spec_text: str, roles, **overrides) -> dict:
    """What `vllmgen values` writes, read back as `helm install -f` reads it."""
    import helm_python as helm
    from vllmgen import spec as specmod, values

    spec = specmod.parse_spec(spec_text, "<spec>", **overrides)
    return helm.values_from_yaml(values.render(spec, list(roles) if roles else None))


def cases():
    out = []
    for layout in layouts.LAYOUTS:
        for mode in MODES:
            for roles in ROLE_SETS:
                for variant in VARIANTS:
                    name = f"{layout}:{mode}:{'+'.join(roles)}:{variant}"
                    try:
                        out.append((name, roles, emitted(_spec_text(mode, variant), roles, layout=layout)))
                    except (InputError, InputErrors):  # refused by vllmgen (supervised simulator): nothing to deploy
                        continue
    return out


CASES = cases()
NEIGHBOUR_VALUES = emitted(MODEL, ["standalone"])


@pytest.fixture(scope="module")
def validators() -> cc.Validators:
    return cc.Validators()


# --- views of rendered objects ----------------------------------------------------------------------------------

#: The label the LeaderWorkerSet controller puts on each pod of a group: its index, 0 on the leader
#: (kubernetes-sigs/lws, api/leaderworkerset/v1 `WorkerIndexLabelKey`).
LWS_WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"


def _as_pod(template: dict, index: int) -> dict:
    """A LeaderWorkerSet template as the controller makes a pod of it: labelled with the pod's worker index."""
    meta = dict(template.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), LWS_WORKER_INDEX_LABEL: str(index)}
    return {**template, "metadata": meta}


def pod_templates(objs: list[dict]) -> list[tuple[dict, dict]]:
    """(workload, pod template) of every workload: Deployments, and a LeaderWorkerSet's leader and (when the group
    has workers) a worker, labelled as the LWS controller labels them."""
    out = []
    for o in objs:
        if o["kind"] == "Deployment":
            out.append((o, o["spec"]["template"]))
        elif o["kind"] == "LeaderWorkerSet":
            lwt = o["spec"]["leaderWorkerTemplate"]
            out.append((o, _as_pod(lwt.get("leaderTemplate", lwt["workerTemplate"]), 0)))
            if lwt.get("size", 1) > 1:
                out.append((o, _as_pod(lwt["workerTemplate"], 1)))
    return out


def selects(match_labels: dict, template: dict) -> bool:
    labels = (template.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in match_labels.items())


def declared_ports(template: dict) -> dict[int, str]:
    """Port number -> container name of every port the pod serves: its containers and native sidecars."""
    spec = template["spec"]
    running = spec.get("containers", []) + [c for c in spec.get("initContainers", [])
                                            if c.get("restartPolicy") == "Always"]
    return {p["containerPort"]: c["name"] for c in running for p in c.get("ports", [])}


def the(objs: list[dict], kind: str, release: str = RELEASE) -> list[dict]:
    return [o for o in objs if o["kind"] == kind
            and ((o["metadata"].get("labels") or {}).get("app.kubernetes.io/instance")) == release]


def pool_problems(objs: list[dict], release: str, roles) -> list[str]:
    """What is wrong with `release`'s InferencePool among `objs` ([] = it selects exactly the release's pods of
    `roles`, on a port each declares, and names the release's endpoint picker, which watches it)."""
    problems = []
    (pool,) = the(objs, "InferencePool", release)
    spec = pool["spec"]
    match = spec["selector"]["matchLabels"]
    selected = [(wl, t) for wl, t in pod_templates(objs) if selects(match, t)]
    got = sorted({(wl["metadata"]["labels"]["app.kubernetes.io/instance"], cc.component(wl)) for wl, _ in selected})
    want = sorted((release, r) for r in roles)
    if got != want:
        problems.append(f"selects {got}, not {want}")
    for wl, template in selected:
        declared = declared_ports(template)
        for target in spec["targetPorts"]:
            if target["number"] not in declared:
                problems.append(f"{wl['metadata']['name']} declares no port {target['number']}: {sorted(declared)}")
    ref = spec["endpointPickerRef"]
    services = [s for s in the(objs, "Service", release) if s["metadata"]["name"] == ref["name"]]
    if ref.get("kind", "Service") != "Service" or len(services) != 1:
        problems.append(f"endpointPickerRef {ref} names no Service of the release")
        return problems
    (service,) = services
    (svc_port,) = [p for p in service["spec"]["ports"] if p["port"] == ref["port"]["number"]]
    pickers = [(wl, t) for wl, t in pod_templates(objs) if selects(service["spec"]["selector"], t)]
    if len(pickers) != 1 or cc.component(pickers[0][0]) != cc.ENDPOINT_PICKER:
        problems.append(f"the picker's Service selects {[wl['metadata']['name'] for wl, _ in pickers]}")
        return problems
    (epp,) = pickers[0][1]["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in epp["ports"]}
    if named.get(svc_port["targetPort"]) is None:
        problems.append(f"the picker's Service targets {svc_port['targetPort']}, which its container lacks")
    args = dict(a.split("=", 1) for a in epp["args"])
    if (args.get("--pool-name"), args.get("--pool-namespace")) != (pool["metadata"]["name"], NAMESPACE):
        problems.append(f"the picker watches {args.get('--pool-name')} in {args.get('--pool-namespace')}")
    if int(args["--grpc-port"]) != named.get(svc_port["targetPort"]):
        problems.append(f"the picker serves ext-proc on {args['--grpc-port']}, its Service sends to {svc_port}")
    return problems


def render_with_neighbour(values: dict) -> list[dict]:
    return cc.render_objects(values, RELEASE, NAMESPACE) + cc.render_objects(NEIGHBOUR_VALUES, NEIGHBOUR, NAMESPACE)


# --- every layout x role set x probe mode x variant -------------------------------------------------------------

@pytest.mark.parametrize("name,roles,values", CASES, ids=[c[0] for c in CASES])
def test_pool_selects_exactly_the_release_serving_pods_on_a_declared_port(name, roles, values, validators):
    objs = render_with_neighbour(values)
    assert validators.check(objs, cc.kube_versions()) == []
    assert pool_problems(objs, RELEASE, roles) == []
    # the port is each pod's serving port: the sidecar's on decode with the sidecar, the server's own elsewhere
    (pool,) = the(objs, "InferencePool")
    (target,) = [p["number"] for p in pool["spec"]["targetPorts"]]
    assert target == values["routing"]["servicePort"]
    for wl, template in pod_templates(the(objs, "Deployment") + the(objs, "LeaderWorkerSet")):
        if cc.component(wl) in roles:
            sidecar = cc.component(wl) == "decode" and values["routing"]["proxy"]["enabled"]
            assert declared_ports(template)[target] == ("routing-proxy" if sidecar else "vllm")
            # what llm-d's prefill-filter and decode-filter read
            labels = template["metadata"]["labels"]
            assert labels[rolesmod.ROLE_LABEL] == rolesmod.ROLE_LABEL_VALUES[cc.component(wl)]
            assert labels[rolesmod.SERVING_LABEL] == "true"


@pytest.mark.parametrize("name,roles,values", CASES, ids=[c[0] for c in CASES])
def test_picker_config_route_and_rbac(name, roles, values):
    objs = cc.render_objects(values, RELEASE, NAMESPACE)
    (pool,) = the(objs, "InferencePool")
    (deployment,) = [o for o in the(objs, "Deployment") if cc.component(o) == cc.ENDPOINT_PICKER]
    pod = deployment["spec"]["template"]["spec"]
    (epp,) = pod["containers"]
    assert epp["image"] == images.ref(images.ENDPOINT_PICKER)
    args = dict(a.split("=", 1) for a in epp["args"])
    # the configuration file it reads is the ConfigMap it mounts, and says what vllmgen decided for these roles
    (mount,) = [m for m in epp["volumeMounts"] if args["--config-file"].startswith(m["mountPath"] + "/")]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (config_map,) = [o for o in the(objs, "ConfigMap") if o["metadata"]["name"] == volume["configMap"]["name"]]
    config = yaml.safe_load(config_map["data"][args["--config-file"].rsplit("/", 1)[1]])
    assert config == gateway.picker_config(list(roles))
    profiles = {p["name"] for p in config["schedulingProfiles"]}
    assert profiles == ({"prefill", "decode"} if set(roles) == {"prefill", "decode"} else {"default"})
    # its probes ask the health port it serves
    health = int(args["--grpc-health-port"])
    assert {p["containerPort"] for p in epp["ports"]} >= {health, int(args["--grpc-port"]), int(args["--metrics-port"])}
    assert epp["readinessProbe"]["grpc"]["port"] == epp["livenessProbe"]["grpc"]["port"] == health
    # it may read the pool and the pods, as its ServiceAccount
    (binding,) = the(objs, "RoleBinding")
    (role,) = the(objs, "Role")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NAMESPACE}]
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               if {"get", "list", "watch"} <= set(rule["verbs"])}
    assert {(gateway.POOL_GROUP, "inferencepools"), ("", "pods")} <= granted
    assert pod["automountServiceAccountToken"] is True
    # requests so it is not the first evicted; no CPU limit, so it can burst through scheduling spikes
    small = layouts.layout(name.split(":")[0]).simulator
    assert epp["resources"] == (gateway.SIMULATED_RESOURCES if small else gateway.RESOURCES)
    assert epp["resources"]["requests"]["cpu"] and "cpu" not in epp["resources"]["limits"]
    routes = the(objs, "HTTPRoute")
    if "gateway:" in VARIANTS[name.rsplit(":", 1)[1]]:
        (route,) = routes
        assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                "name": "inference-gateway", "namespace": "gateway-system"}]
        (rule,) = route["spec"]["rules"]
        assert rule["backendRefs"] == [{"group": gateway.POOL_GROUP, "kind": "InferencePool",
                                        "name": pool["metadata"]["name"]}]
    else:
        assert routes == []


def test_the_matrix_covers_every_layout_and_role_set():
    seen = {(name.split(":")[0], name.split(":")[2]) for name, _, _ in CASES}
    assert seen == {(layout, "+".join(roles)) for layout in layouts.LAYOUTS for roles in ROLE_SETS}


# --- the checks above can fail ----------------------------------------------------------------------------------

def _pd_objects() -> tuple[list[dict], dict]:
    values = emitted(MODEL + "layout: simulated\n", None)
    return render_with_neighbour(values), values


def test_a_pool_selecting_too_much_or_the_wrong_port_is_caught():
    objs, _ = _pd_objects()
    assert pool_problems(objs, RELEASE, ("prefill", "decode")) == []
    wide = copy.deepcopy(objs)
    (pool,) = the(wide, "InferencePool")
    del pool["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"]
    (problem,) = pool_problems(wide, RELEASE, ("prefill", "decode"))
    assert "('solo', 'standalone')" in problem
    loose = copy.deepcopy(objs)
    (pool,) = the(loose, "InferencePool")
    pool["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/instance": RELEASE}
    assert "endpoint-picker" in pool_problems(loose, RELEASE, ("prefill", "decode"))[0]
    wrong_port = copy.deepcopy(objs)
    (pool,) = the(wrong_port, "InferencePool")
    pool["spec"]["targetPorts"] = [{"number": 8200}]  # decode vLLM's port: prefill pods have none
    assert any("declares no port 8200" in p for p in pool_problems(wrong_port, RELEASE, ("prefill", "decode")))
    wrong_pool = copy.deepcopy(objs)
    (epp,) = [o for o in the(wrong_pool, "Deployment") if cc.component(o) == cc.ENDPOINT_PICKER]
    epp["spec"]["template"]["spec"]["containers"][0]["args"][0] = "--pool-name=other"
    assert any("watches other" in p for p in pool_problems(wrong_pool, RELEASE, ("prefill", "decode")))


def test_a_misspelled_pool_or_route_field_fails_the_crd_schemas(validators):
    values = emitted(MODEL + "layout: simulated\nrouting: {gateway: {name: inference-gateway}}\n", None)
    objs = cc.render_objects(values, RELEASE, NAMESPACE)
    assert validators.check(objs, cc.kube_versions()) == []
    (pool,) = copy.deepcopy(the(objs, "InferencePool"))
    pool["spec"]["targetPortNumber"] = 8000  # the v1alpha2 spelling
    (route,) = copy.deepcopy(the(objs, "HTTPRoute"))
    route["spec"]["rules"][0]["backendRefs"][0]["weigth"] = 1
    errors = validators.check([pool, route], cc.kube_versions())
    assert any("'targetPortNumber' was unexpected" in e for e in errors)
    assert any("'weigth' was unexpected" in e for e in errors)


def test_the_crds_are_the_upstream_files_their_readme_names():
    readme = (cc.CRD_DIR / "README.md").read_text(encoding="utf-8")
    for path in cc.CRDS:
        assert f"- `{path.name}`: `{hashlib.sha256(path.read_bytes()).hexdigest()}`" in readme, path.name
    kinds = cc.crd_kinds()
    assert (gateway.POOL_API_VERSION, "InferencePool") in kinds and (gateway.ROUTE_API_VERSION, "HTTPRoute") in kinds


# --- defaults, refusals ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout,expected", [("simulated", True), ("wide-ep", True), ("single-node", False)])
def test_a_pool_by_default_exactly_when_prefill_and_decode_run(layout, expected):
    values = emitted(MODEL, None, layout=layout)
    assert bool(values["routing"].get("inferencePool", {}).get("create")) is expected
    kinds = {o["kind"] for o in cc.render_objects(values, RELEASE, NAMESPACE)}
    assert ("InferencePool" in kinds) is expected and "HTTPRoute" not in kinds
    assert ("InferencePool ms-vllm selects the pods above" in cc.notes(values, RELEASE, NAMESPACE)) is expected


def test_autoscaled_prefill_and_decode_get_a_pool_by_default():
    """An autoscaled role renders pods without a fixed count: it counts as running."""
    auto = '{maxReplicas: 4, target: 4, prometheusAddress: "http://prometheus-operated.monitoring.svc:9090"}'
    text = MODEL + f"roles:\n  prefill:\n    autoscaling: {auto}\n  decode: {{replicas: 1}}\n"
    values = emitted(text, None, layout="single-node")
    assert values["routing"]["inferencePool"]["create"] is True
    objs = cc.render_objects(values, RELEASE, NAMESPACE)
    assert pool_problems(objs, RELEASE, ("prefill", "decode")) == []


def _refused(text: str, roles=None, **overrides) -> str:
    with pytest.raises((InputError, InputErrors)) as caught:
        emitted(text, roles, **overrides)
    return str(caught.value)


def test_vllmgen_refuses_what_no_pool_can_serve():
    assert "/routing/gateway/name: the HTTPRoute sends requests to the InferencePool" in _refused(
        MODEL + "routing: {gateway: {name: gw}}\n")
    assert "Triton serves its metrics on port 8002" in _refused(
        MODEL + "routing: {inferencePool: true}\n", server="triton")
    assert "run no KV connector" in _refused(
        MODEL + "routing: {inferencePool: true}\n", ["standalone", "prefill", "decode"], layout="simulated")


def test_a_specs_own_roles_that_no_pool_can_serve_are_refused_in_the_spec():
    """The three roles written in the spec (not asked for with --role): the refusal names the spec file and
    /roles, not the command line (found by benchmarks/spec_space.py)."""
    text = MODEL + ("routing: {inferencePool: true}\nroles: {standalone: {replicas: 1}, prefill: {replicas: 1}, "
                    "decode: {replicas: 1}}\n")
    with pytest.raises(InputError) as caught:
        specmod.parse_spec(text, "spec.yaml")
    assert caught.value.file == "spec.yaml" and caught.value.pointer == "/roles"
    assert "run no KV connector" in caught.value.message
    # the same spec asked for prefill and decode only on the command line (`vllmgen values --role prefill --role
    # decode`) renders them
    res = CliRunner().invoke(app, ["values", "--spec", "-", "--role", "prefill", "--role", "decode"], input=text)
    assert res.exit_code == 0, res.output
    assert parse_document(res.output, "values.yaml").data["routing"]["inferencePool"]["create"] is True


def _render_error(values: dict) -> str:
    with pytest.raises(Exception) as caught:
        cc.render_objects(values, RELEASE, NAMESPACE)
    return str(caught.value)


def test_the_chart_refuses_a_pool_some_role_does_not_serve():
    values = emitted(MODEL + "layout: simulated\n", None)
    moved = copy.deepcopy(values)
    moved["prefill"]["port"] = 8001
    assert "prefill serves on port 8001, but the InferencePool sends every pod it selects to " \
           "routing.servicePort (8000)" in _render_error(moved)
    route_without_pool = copy.deepcopy(values)
    route_without_pool["routing"]["inferencePool"]["create"] = False
    route_without_pool["routing"]["httpRoute"] = {"create": True}
    route_without_pool["routing"]["parentRefs"] = [{"name": "gw"}]
    assert "the route sends requests to the InferencePool" in _render_error(route_without_pool)
    route_without_gateway = copy.deepcopy(values)
    route_without_gateway["routing"]["httpRoute"] = {"create": True}
    assert "routing.parentRefs names no Gateway" in _render_error(route_without_gateway)


def test_network_policy_admits_the_picker_on_the_serving_port(validators):
    from tests.helm_unittest import merge_values

    values = merge_values(emitted(MODEL + "layout: simulated\n", None),
                          {"networkPolicy": {"enabled": True, "gatewayNamespace": "gw", "allowSameRelease": False}})
    objs = cc.render_objects(values, RELEASE, NAMESPACE)
    assert validators.check(objs, cc.kube_versions()) == []
    (picker,) = [t for wl, t in pod_templates(objs) if cc.component(wl) == cc.ENDPOINT_PICKER]
    for policy in the(objs, "NetworkPolicy"):
        rules = [r for r in policy["spec"]["ingress"]
                 if any(selects(f.get("podSelector", {}).get("matchLabels", {"-": "-"}), picker) for f in r["from"])]
        expected = "proxy" if cc.component(policy) == "decode" else "vllm"
        assert [r["ports"] for r in rules] == [[{"port": expected, "protocol": "TCP"}]]


# --- facts the chart and the code share ---------------------------------------------------------------------------

def test_chart_labels_are_the_declared_ones():
    objs = cc.render_objects(emitted(MODEL + "layout: simulated\nroles: {standalone: {replicas: 1}}\n",
                                     ["standalone"]), RELEASE, NAMESPACE)
    objs += cc.render_objects(emitted(MODEL + "layout: simulated\n", None), RELEASE, NAMESPACE)
    for wl, template in pod_templates(cc.workloads(objs)):
        labels = template["metadata"]["labels"]
        assert labels[rolesmod.ROLE_LABEL] == rolesmod.ROLE_LABEL_VALUES[cc.component(wl)]
        assert labels[rolesmod.SERVING_LABEL] == "true"


def test_chart_defaults_are_the_declared_ports():
    defaults = yaml.safe_load((cc.CHART / "values.yaml").read_text())["routing"]
    assert (defaults["epp"]["extProcPort"], defaults["epp"]["healthPort"], defaults["epp"]["metricsPort"]) == \
        (gateway.EXT_PROC_PORT, gateway.HEALTH_PORT, gateway.METRICS_PORT)
    assert defaults["epp"]["replicas"] == gateway.REPLICAS
    assert defaults["inferencePool"]["failureMode"] == gateway.FAILURE_MODE
    spec = schemas.load("model-spec")["properties"]["routing"]["properties"]
    assert images.ref(images.ENDPOINT_PICKER) in spec["endpointPicker"]["properties"]["image"]["description"]


# --- vllmgen lint sees the same agreement -------------------------------------------------------------------------

def _lint(tmp_path, name: str, docs: list[dict]):
    from vllmgen.lint.runner import Linter
    from vllmgen.yamlio import dump

    path = tmp_path / name
    path.write_text("---\n".join(dump(d) for d in docs))
    return Linter().lint_paths([str(path)])


@pytest.mark.parametrize("name,roles,values", CASES[::7], ids=[c[0] for c in CASES[::7]])
def test_rendered_pools_and_pods_lint_clean_of_the_routing_rules(tmp_path, name, roles, values):
    result = _lint(tmp_path, "rendered.yaml", render_with_neighbour(values))
    assert [f for f in result.findings if f.rule in ("VG018", "VG019")] == []


def test_lint_reports_a_prefill_role_without_pool_and_a_pool_on_a_port_a_role_does_not_serve(tmp_path):
    no_pool = emitted(MODEL + "layout: simulated\nrouting: {inferencePool: false}\n", None)
    (finding,) = [f for f in _lint(tmp_path, "no-pool.yaml", [no_pool]).findings if f.rule == "VG018"]
    assert finding.pointer == "/prefill"
    moved = emitted(MODEL + "layout: simulated\n", None)
    moved["prefill"]["port"] = 8001
    (finding,) = [f for f in _lint(tmp_path, "moved.yaml", [moved]).findings if f.rule == "VG019"]
    assert finding.pointer == "/prefill/port" and "serves on port 8001" in finding.message
    # rendered without the pool (its objects dropped): the prefill Deployment is reported
    objs = [o for o in cc.render_objects(emitted(MODEL + "layout: simulated\n", None), RELEASE, NAMESPACE)
            if o["kind"] != "InferencePool"]
    (finding,) = [f for f in _lint(tmp_path, "rendered.yaml", objs).findings if f.rule == "VG018"]
    assert "Deployment ms-vllm-prefill" in finding.message
