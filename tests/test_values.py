"""`vllmgen values` for every role x layout x probe mode: ports, probe targets, GPUs, the mounted spec."""

import itertools
import subprocess
import sys

import pytest
from ruamel.yaml import YAML

from vllmgen import resources, values
from vllmgen.spec import load_spec, parse_spec

ROLES = ["standalone", "prefill", "decode"]
CASES = [("simulated", "plain"), ("single-node", "plain"), ("single-node", "supervised"),
         ("wide-ep", "plain"), ("wide-ep", "supervised")]
SPEC = """model: {source: hf://deepseek-ai/DeepSeek-V3, weightsGiB: 642}
engine: {tensorParallelSize: 2, dataParallelSizeLocal: 4}
probes: {mode: MODE}
"""


def make(layout, mode, extra=""):
    return parse_spec(SPEC.replace("MODE", mode) + extra, "t.yaml", layout=layout)


def render(spec, roles):
    return YAML(typ="safe").load(values.render(spec, roles))


@pytest.mark.parametrize("layout,mode", CASES)
@pytest.mark.parametrize("role", ROLES)
def test_every_role_and_layout(layout, mode, role):
    v = render(make(layout, mode), [role])
    assert [r for r in ROLES if r in v] == [role]  # only the roles asked for
    block = v[role]
    expected_port = 8200 if role == "decode" else 8000
    assert block["port"] == expected_port
    port_name = "health" if mode == "supervised" else "vllm"
    for name in ("startup", "readiness", "liveness"):
        probe = block["probes"][name]
        assert probe["httpGet"]["port"] == port_name, name  # never the sidecar's port
        assert probe["httpGet"]["port"] not in (8000, "proxy")
        assert probe["periodSeconds"] >= 1 and probe["timeoutSeconds"] >= 1
        assert probe["successThreshold"] == 1
    extended = {side: {k: n for k, n in block["resources"][side].items() if "/" in k} for side in ("limits", "requests")}
    if layout == "simulated":
        assert extended == {"limits": {}, "requests": {}}  # no accelerator; the simulator's CPU and memory only
        assert block["resources"] == resources.SIMULATOR
        assert v["accelerator"]["resource"] == ""
        assert v["image"]["repository"] == "ghcr.io/llm-d/llm-d-inference-sim"
    else:
        assert extended["limits"] == extended["requests"] == {"nvidia.com/gpu": 8}  # tensor 2 x dataLocal 4
        assert block["dshm"] == {"sizeLimit": "2Gi"}
    if role == "decode":
        proxy = v["routing"]["proxy"]
        assert proxy["enabled"] is True and proxy["targetPort"] == 8200
        assert "--port=8000" in proxy["args"]
    else:
        assert v["routing"]["proxy"] == {"enabled": False}
    assert v["multinode"] is (layout == "wide-ep")
    assert v["spec"]["roles"] == {role: {"replicas": block["replicas"]}}
    # the mounted spec is valid and reproduces the same values
    again = parse_spec(_dump(v["spec"]), "mounted.yaml")
    assert values.values_dict(again, [role])[role]["probes"] == block["probes"]


def _dump(data):
    import io
    buf = io.StringIO()
    YAML(typ="safe").dump(data, buf)
    return buf.getvalue()


def test_wide_ep_parallelism_and_lws_numbers():
    v = render(make("wide-ep", "plain", "wideEP: {groupSize: 4, rdmaResource: rdma/ib}\n"), ["decode", "prefill"])
    d = v["decode"]
    assert d["parallelism"] == {"tensor": 2, "data": 16, "dataLocal": 4, "workers": 4}
    script = d["args"][0]
    assert d["command"] == ["/bin/sh", "-c"]
    assert "--data-parallel-size $((LWS_GROUP_SIZE * 4))" in script
    assert "--data-parallel-start-rank $((LWS_WORKER_INDEX * 4))" in script
    assert '--data-parallel-address "${LWS_LEADER_ADDRESS}"' in script
    assert "--all2all-backend deepep_low_latency" in script
    assert "--all2all-backend deepep_high_throughput" in v["prefill"]["args"][0]
    assert d["rdma"] == {"resource": "rdma/ib", "count": 1}
    assert d["resources"]["limits"]["rdma/ib"] == 1
    assert {"name": "DP_SIZE_LOCAL", "value": "4"} in d["env"]


def test_no_rdma_unless_asked():
    v = render(make("wide-ep", "supervised"), ["decode"])
    assert "rdma" not in v["decode"]
    assert {k for k in v["decode"]["resources"]["limits"] if "/" in k} == {"nvidia.com/gpu"}


def test_plain_single_node_args_carry_the_spec():
    text = SPEC.replace("MODE", "plain").replace("hf://deepseek-ai/DeepSeek-V3", "pvc://models/ds/v3")
    v = render(parse_spec(text.replace("weightsGiB: 642", "weightsGiB: 642, revision: v1.0"), "t.yaml"),
               ["standalone"])
    args = v["standalone"]["args"]
    assert v["standalone"]["command"] == ["vllm", "serve"]
    assert args[:5] == ["/model-cache/ds/v3", "--served-model-name", "v3", "--port", "8000"]
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert args[args.index("--data-parallel-size") + 1] == "4"
    assert args[args.index("--shutdown-timeout") + 1] == "30"
    assert v["modelArtifacts"]["pvc"] == {"claimName": "models", "subPath": "ds/v3"}


def test_simulated_layout_mirrors_llm_d_guide():
    s = load_spec(layout="simulated")
    v = render(s, None)
    assert [r for r in ROLES if r in v] == ["prefill", "decode"]
    assert (v["decode"]["replicas"], v["prefill"]["replicas"]) == (3, 1)
    assert v["probeMode"] == "plain"
    assert v["routing"]["proxy"]["image"] == "ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1"
    assert v["routing"]["proxy"]["args"] == ["--port=8000", "--vllm-port=8200", "--connector=nixlv2",
                                             "--secure-proxy=false"]
    assert v["decode"]["args"] == ["--model", "qwen3-8b", "--port", "8200", "--served-model-name", "qwen3-8b"]


def test_sidecar_flags_follow_the_image_generation():
    s = parse_spec("model: {source: hf://a/b, weightsGiB: 1}\nrouting: {sidecar: {image: "
                   "ghcr.io/llm-d/llm-d-routing-sidecar:v0.8.0, connector: lmcache}}\n"
                   "engine: {env: {LMCACHE_REMOTE_URL: 'lm://lmcache-server:65432'}}\n", "t.yaml")
    assert values.values_dict(s, ["decode"])["routing"]["proxy"]["args"] == [
        "--port=8000", "--vllm-port=8200", "--connector=lmcache", "--secure-proxy=false"]


def test_every_computed_number_is_explained():
    text = values.render(load_spec(), ["decode"])
    for phrase in ["failureThreshold 211 x 10 s covers the ceiling 2103 s = 3 x the startup budget",
                   "(164 download + 33 load + 175 compile + 95 start) x 1.5 = 701 s",
                   "for the stall window (25 quiet start) x 2 = 50 s",
                   "vLLM listens on 8200 behind the routing sidecar",
                   "drain window: 10 endpoint drain + 30 vLLM drain + 10 vLLM teardown + 5 supervisor kill grace = 55 s",
                   "1 accelerator(s) = tensor 1 x dataLocal 1"]:
        assert phrase in " ".join(line.strip("# ") for line in text.splitlines()), phrase


def test_output_is_stable():
    assert values.render(load_spec(), ["decode"]) == values.render(load_spec(), ["decode"])


def test_values_role_decode_works_with_no_other_argument():
    out = subprocess.run([sys.executable, "-m", "vllmgen", "values", "--role", "decode"], capture_output=True,
                         text=True, check=True)
    v = YAML(typ="safe").load(out.stdout)
    assert v["decode"]["probes"]["startup"]["httpGet"] == {"path": "/startupz", "port": "health"}
    assert out.stderr == ""


def test_rollout_deadline_covers_the_startup_budget():
    """`kubectl rollout status` must wait for a loading pod: Kubernetes' default deadline is 600 s."""
    from tests import chartcheck as cc

    big = parse_spec("model: {source: hf://deepseek-ai/DeepSeek-V3, weightsGiB: 642}\n", "t.yaml")
    v = values.values_dict(big, ["standalone"])
    from vllmgen.budget import startup_budget

    # supervised: kubelet allows 3 x the budget (the ceiling), and so does the rollout
    assert v["standalone"]["progressDeadlineSeconds"] == 3 * startup_budget(big).seconds + 300 > 600
    deployment = next(o for o in cc.render_objects(v) if o["kind"] == "Deployment")
    assert deployment["spec"]["progressDeadlineSeconds"] == v["standalone"]["progressDeadlineSeconds"]
    # the default spec: 3 x 701 s budget + 300 s image pull; in plain mode the budget itself + 300 s
    assert values.values_dict(load_spec(), ["decode"])["decode"]["progressDeadlineSeconds"] == 2403
    plain = parse_spec("model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n"
                       "probes: {mode: plain}\n", "t.yaml")
    assert values.values_dict(plain, ["decode"])["decode"]["progressDeadlineSeconds"] == 1001
    # LeaderWorkerSets have no progress deadline
    assert "progressDeadlineSeconds" not in values.values_dict(load_spec(layout="wide-ep"), ["decode"])["decode"]


OTLP = ["--otlp-traces-endpoint", "http://collector:4317/v1/traces?x=1"]


@pytest.mark.parametrize("args", [OTLP, ["--served-model-name", "a:]"], ["--x", "{a}", "b,c"]])
def test_free_strings_never_land_in_a_flow_list_helm_refuses(args):
    """A short list of free strings was written `[a, b]`; go-yaml (Helm) refuses `[--x, http://h/p?x=1]`."""
    import helm_python as helm

    spec = make("single-node", "plain", "")
    spec["engine"]["extraArgs"] = list(args)
    text = values.render(spec, ["standalone"])
    emitted = helm.values_from_yaml(text)  # raised "did not find expected ',' or ']'" on the old writer
    assert emitted["spec"]["engine"]["extraArgs"] == args


def test_a_plain_question_mark_in_a_flow_list_is_refused_as_helm_refuses_it(tmp_path):
    """What Helm cannot read is not clean for lint: a values file with `[--x, http://h/p?x=1]`."""
    path = tmp_path / "values.yaml"
    path.write_text("standalone:\n  extraArgs: [--otlp-traces-endpoint, http://collector:4317/v1/traces?x=1]\n")
    res = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(path)], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    out = res.stdout + res.stderr
    assert f"{path}:2: input-error: /standalone/extraArgs/1:" in out and "quote it" in out


@pytest.mark.parametrize("layout,mode", CASES)
def test_vllm_never_ends_a_start_the_startup_probe_allows(layout, mode):
    """With several API servers (vLLM's default under data parallelism) VLLM_ENGINE_READY_TIMEOUT_S ends any
    engine start longer than its 600 s default; it is raised to what the startup probe allows."""
    block = render(make(layout, mode), ["decode"])["decode"]
    env = {e["name"]: e.get("value") for e in block["env"]}
    if layout == "simulated":
        assert "VLLM_ENGINE_READY_TIMEOUT_S" not in env  # no vLLM runs
        return
    startup = block["probes"]["startup"]
    allowed = startup["initialDelaySeconds"] + (startup["failureThreshold"] - 1) * startup["periodSeconds"]
    assert int(env["VLLM_ENGINE_READY_TIMEOUT_S"]) >= max(allowed, 600)
    text = values.render(make(layout, mode), ["decode"])
    assert f"VLLM_ENGINE_READY_TIMEOUT_S = the {env['VLLM_ENGINE_READY_TIMEOUT_S']} s kubelet allows" in text


def test_an_engine_ready_timeout_in_the_spec_is_kept():
    text = SPEC.replace("MODE", "supervised").replace("dataParallelSizeLocal: 4}",
                                                      "dataParallelSizeLocal: 4, env: {VLLM_ENGINE_READY_TIMEOUT_S: '7200'}}")
    block = render(parse_spec(text, "t.yaml", layout="single-node"), ["standalone"])["standalone"]
    assert [e for e in block["env"] if e["name"] == "VLLM_ENGINE_READY_TIMEOUT_S"] == [
        {"name": "VLLM_ENGINE_READY_TIMEOUT_S", "value": "7200"}]
