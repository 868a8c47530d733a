"""Triton's model repository, command line and probes, generated from a model spec.

The engine arguments in model.json are checked against the real vLLM the tests install: NVIDIA's vLLM backend
does `AsyncEngineArgs(**json.load(model.json))` when the model loads, so a misspelled or removed argument
would fail in the pod; here it fails the test. The values must also be what vLLM's own command-line parser
makes of the same spec's `vllm serve` arguments, so both servers run the same engine."""

from __future__ import annotations

import dataclasses

import pytest

from vllmgen import engine
from vllmgen.servers import triton
from vllmgen.errors import InputError
from vllmgen.probes import probes_for
from vllmgen.spec import parse_spec

SPECS = {
    "default-hub-model": """
        model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}
        engine: {maxModelLen: 8192, gpuMemoryUtilization: 0.9}
    """,
    "tensor-parallel-pvc": """
        model: {source: pvc://model-cache/Llama-3.1-70B-Instruct, name: llama-70b, weightsGiB: 131}
        engine: {tensorParallelSize: 4, maxModelLen: 32768, shutdownTimeoutSeconds: 60}
    """,
    "revision-and-extra-args": """
        model: {source: hf://Qwen/Qwen3-0.6B, revision: main, parameters: 6.0e8, dtype: float16}
        engine:
          extraArgs: [--enable-prefix-caching, --max-num-seqs, "64", --kv-cache-dtype=fp8, --no-enable-log-requests]
    """,
    "path-in-image-org-name": """
        model: {source: /models/tiny, name: acme/tiny-chat, weightsGiB: 0.001, dtype: float32}
        engine: {maxModelLen: 512}
    """,
}


def spec(key: str, server: str = "triton") -> dict:
    return parse_spec(SPECS[key], f"{key}.yaml", server=server)


@pytest.fixture(scope="module")
def vllm_engine():
    """vLLM's engine-argument class and its `vllm serve` parser (importing vLLM takes ~8 s: once per module)."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return AsyncEngineArgs, make_arg_parser(FlexibleArgumentParser())


def as_vllm_would_build_it(vllm_engine, model_json: dict):
    """What NVIDIA's vLLM backend does with model.json when the model loads."""
    AsyncEngineArgs, _ = vllm_engine
    return AsyncEngineArgs(**model_json)


@pytest.mark.parametrize("key", SPECS)
def test_every_model_json_is_accepted_by_vllms_engine_args(vllm_engine, key):
    import json

    model_json = json.loads(triton.model_json(spec(key)))
    built = as_vllm_would_build_it(vllm_engine, model_json)
    for name, value in model_json.items():
        assert getattr(built, name) == value


def test_a_misspelled_engine_argument_fails_here_not_in_the_pod(vllm_engine):
    good = triton.engine_args(spec("default-hub-model"))
    as_vllm_would_build_it(vllm_engine, good)
    bad = dict(good)
    bad["max_model_length"] = bad.pop("max_model_len")  # the CLI-ish spelling vLLM does not have
    with pytest.raises(TypeError, match="max_model_length"):
        as_vllm_would_build_it(vllm_engine, bad)


@pytest.mark.parametrize("key", SPECS)
def test_model_json_is_what_vllm_serve_would_run_for_the_same_spec(vllm_engine, key):
    """Parse the vLLM server's arguments for the same spec with vLLM's own parser: every engine argument in
    model.json has exactly the value (and type) `vllm serve` would give the engine."""
    AsyncEngineArgs, parser = vllm_engine
    as_vllm = spec(key, server="vllm")
    args = engine.vllm_args(as_vllm, "standalone")
    from_cli = AsyncEngineArgs.from_cli_args(parser.parse_args(["--model", args[0], *args[1:]]))
    model_json = triton.engine_args(spec(key))
    mismatched = {k: (v, getattr(from_cli, k)) for k, v in model_json.items()
                  if k != "disable_log_stats" and getattr(from_cli, k) != v}
    assert not mismatched, f"model.json vs `vllm serve` parsing: {mismatched}"
    # and nothing the server command sets for the engine is missing from model.json
    defaults = AsyncEngineArgs.from_cli_args(parser.parse_args(["--model", args[0]]))
    cli_set = {f.name for f in dataclasses.fields(AsyncEngineArgs)
               if getattr(from_cli, f.name) != getattr(defaults, f.name)}
    cli_only = cli_set - set(model_json) - {"shutdown_timeout"}  # Triton drains with --exit-timeout-secs
    assert not cli_only, f"`vllm serve` sets engine arguments model.json lacks: {sorted(cli_only)}"


def test_metrics_need_log_stats_on():
    assert triton.engine_args(spec("default-hub-model"))["disable_log_stats"] is False
    assert 'key: "REPORT_CUSTOM_METRICS"\n  value: { string_value: "true" }' in triton.config_pbtxt(
        spec("default-hub-model"))


def test_config_pbtxt_selects_the_vllm_backend_with_its_health_check():
    text = triton.config_pbtxt(spec("tensor-parallel-pvc"))
    assert 'name: "llama-70b"' in text
    assert 'backend: "vllm"' in text
    assert 'key: "ENABLE_VLLM_HEALTH_CHECK"\n  value: { string_value: "true" }' in text
    assert "decoupled: true" in text
    assert "kind: KIND_MODEL" in text  # KIND_GPU refuses tensor parallel > 1 in the backend


def test_repository_layout_names_the_model_the_way_triton_loads_it():
    s = spec("path-in-image-org-name")
    files = triton.repository_files(s)
    assert sorted(files) == ["acme-tiny-chat/1/model.json", "acme-tiny-chat/config.pbtxt"]
    assert "--load-model=acme-tiny-chat" in triton.args(s)
    assert triton.ready_path(s) == "/v2/models/acme-tiny-chat/ready"
    # clients still get the spec's served model name from vLLM
    assert triton.engine_args(s)["served_model_name"] == ["acme/tiny-chat"]


def test_pvc_source_is_read_from_the_mounted_claim():
    assert triton.engine_args(spec("tensor-parallel-pvc"))["model"] == "/model-cache/Llama-3.1-70B-Instruct"


def test_command_line_uses_explicit_model_control_and_the_standard_ports():
    s = spec("tensor-parallel-pvc")
    assert triton.command(s) == ["tritonserver"]
    args = triton.args(s)
    assert args[:6] == ["--model-repository=/models", "--model-control-mode=explicit", "--load-model=llama-70b",
                        "--http-port=8000", "--grpc-port=8001", "--metrics-port=8002"]
    assert "--exit-timeout-secs=60" in args  # the spec's shutdown timeout drains in-flight requests


def test_shared_memory_prefix_is_distinct_per_model_and_pod():
    a, b = spec("default-hub-model"), spec("tensor-parallel-pvc")
    prefix = [x for x in triton.args(a) if x.startswith("--backend-config=python,shm-region-prefix-name=")]
    assert prefix == ["--backend-config=python,shm-region-prefix-name=vllmgen-qwen3-8b-$(POD_NAME)"]
    assert triton.shm_prefix(a) != triton.shm_prefix(b)
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in triton.pod_env(a)


def test_image_is_the_pinned_ngc_vllm_image():
    assert triton.NGC_REPOSITORY == "nvcr.io/nvidia/tritonserver"
    assert triton.NGC_TAG.endswith("-vllm-python-py3")
    yy, mm = triton.NGC_RELEASE.split(".")
    assert len(yy) == 2 and 1 <= int(mm) <= 12


@pytest.mark.parametrize("key", SPECS)
def test_probes_follow_the_model_and_never_restart_a_loading_pod(key):
    s = spec(key)
    p = triton.probes(s)
    name = triton.model_name(s)
    assert p.startup["httpGet"] == {"path": f"/v2/models/{name}/ready", "port": "vllm"}
    assert p.readiness["httpGet"] == {"path": f"/v2/models/{name}/ready", "port": "vllm"}
    assert p.liveness["httpGet"] == {"path": "/v2/health/live", "port": "vllm"}
    # the startup probe covers the whole startup budget before kubelet may give up
    covered = p.startup["initialDelaySeconds"] + p.startup["periodSeconds"] * p.startup["failureThreshold"]
    assert covered >= p.budget.seconds


def test_startup_budget_is_the_same_math_as_vllms():
    triton_budget = triton.probes(spec("tensor-parallel-pvc")).budget
    vllm_budget = probes_for(spec("tensor-parallel-pvc", server="vllm"), "standalone").budget
    assert triton_budget == vllm_budget


def test_extra_args_become_engine_arguments():
    assert triton.extra_engine_args(["--enable-prefix-caching", "--max-num-seqs", "64", "--kv-cache-dtype=fp8",
                                     "--no-enable-log-requests", "--hf-overrides", '{"a": 1}']) == {
        "enable_prefix_caching": True, "max_num_seqs": 64, "kv_cache_dtype": "fp8",
        "enable_log_requests": False, "hf_overrides": {"a": 1}}


def test_short_flags_cannot_become_engine_arguments():
    with pytest.raises(InputError) as err:
        triton.extra_engine_args(["--enable-prefix-caching", "-O3"])
    assert err.value.pointer == "/engine/extraArgs/1"


def test_extra_args_may_not_repeat_what_the_spec_sets():
    with pytest.raises(InputError, match="model.dtype") as err:
        parse_spec("model: {source: hf://a/b, weightsGiB: 1, dtype: bfloat16}\n"
                   "engine: {extraArgs: [--dtype, half]}\n", "d.yaml", server="triton")
    assert err.value.pointer == "/engine/extraArgs"
    # the spec leaves the dtype to vLLM: extraArgs may choose it
    s = parse_spec("model: {source: hf://a/b, weightsGiB: 1}\nengine: {extraArgs: [--dtype, half]}\n", "d.yaml",
                   server="triton")
    assert triton.engine_args(s)["dtype"] == "half"


def test_api_key_is_refused_for_triton():
    with pytest.raises(InputError) as err:
        parse_spec("model: {source: hf://a/b, weightsGiB: 1}\nengine: {apiKeySecretName: vllm-key}\n",
                   "k.yaml", server="triton")
    assert err.value.pointer == "/engine/apiKeySecretName" and "Triton" in err.value.message
    assert err.value.line == 2


def test_prefill_decode_roles_are_refused_for_triton():
    with pytest.raises(InputError) as err:
        parse_spec("model: {source: hf://a/b, weightsGiB: 1}\nroles: {decode: {replicas: 2}}\n",
                   "pd.yaml", server="triton")
    assert err.value.pointer == "/roles/decode" and "KV transfer" in err.value.message


def test_validate_reports_extra_args_triton_cannot_take_at_their_line():
    with pytest.raises(InputError) as err:
        parse_spec("model: {source: hf://a/b, weightsGiB: 1}\nengine:\n  extraArgs:\n    - -O3\n",
                   "x.yaml", server="triton")
    assert (err.value.file, err.value.pointer, err.value.line) == ("x.yaml", "/engine/extraArgs/0", 4)
