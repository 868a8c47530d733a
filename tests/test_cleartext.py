"""What may not be written in clear text: the `vllm serve` flags the spec controls, matched as vLLM's own argparse
matches them (unambiguous prefixes included), and credential-looking values. `validate` and `lint` use the same
lists (vllmgen.cleartext)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vllmgen import cleartext

MODEL = "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\n"


def vllmgen(*args):
    return subprocess.run([sys.executable, "-m", "vllmgen", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def vllm_parser():
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


#: (extra argument, the controlled flag vLLM reads it as, the parsed attribute, the value it gets)
PREFIXES = [
    ("--api-k=sk-1", "--api-key", "api_key", ["sk-1"]),
    ("--hf-tok=hf_x", "--hf-token", "hf_token", "hf_x"),
    ("--served-model=other", "--served-model-name", "served_model_name", ["other"]),
    ("--served_model_name=other", "--served-model-name", "served_model_name", ["other"]),
    ("--tensor-parallel=2", "--tensor-parallel-size", "tensor_parallel_size", 2),
    ("--max-model=4096", "--max-model-len", "max_model_len", 4096),
]


@pytest.mark.parametrize("arg,flag,dest,value", PREFIXES, ids=[p[0] for p in PREFIXES])
def test_a_prefix_of_a_controlled_flag_is_refused_as_vllm_reads_it(tmp_path, vllm_parser, arg, flag, dest, value):
    ns = vllm_parser.parse_args(["m", arg])  # vLLM's own parser takes the prefix for the flag
    assert getattr(ns, dest) == value
    assert cleartext.controlled_flag(arg) == flag
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + f"engine: {{extraArgs: [{json.dumps(arg)}]}}\n")
    res = vllmgen("validate", path)  # exit 0 before: only exact flags were matched
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"/engine/extraArgs/0: {arg.split('=')[0]} (vLLM reads it as {flag}) is set by the spec" in res.stderr


def test_no_other_vllm_flag_is_taken_for_a_controlled_one(vllm_parser):
    options = {o for action in vllm_parser._actions for o in action.option_strings}
    assert set(cleartext.CONTROLLED_FLAGS) <= options
    wrongly = {o: cleartext.controlled_flag(o) for o in options - set(cleartext.CONTROLLED_FLAGS)
               if cleartext.controlled_flag(o) is not None}
    assert wrongly == {}


CREDENTIALS = [
    ("engine: {env: {AWS_SECRET_ACCESS_KEY: abc}}\n", "/engine/env/AWS_SECRET_ACCESS_KEY", "names a credential"),
    ("engine: {env: {GITHUB_TOKEN: abc}}\n", "/engine/env/GITHUB_TOKEN", "names a credential"),
    ("engine: {env: {DB_PASSWORD: abc}}\n", "/engine/env/DB_PASSWORD", "names a credential"),
    ("engine: {env: {OPENAI_API_KEY: abc}}\n", "/engine/env/OPENAI_API_KEY", "names a credential"),
    ("engine: {extraArgs: ['--otlp-traces-endpoint=http://user:pass@collector:4317']}\n", "/engine/extraArgs/0",
     "URL with credentials"),
    ("roles: {standalone: {autoscaling: {maxReplicas: 3, target: 4, prometheusAddress: 'http://user:pass@prom:9090'}}}\n",
     "/roles/standalone/autoscaling/prometheusAddress", "URL with credentials"),
]


@pytest.mark.parametrize("text,pointer,phrase", CREDENTIALS, ids=[c[1] for c in CREDENTIALS])
def test_credentials_in_clear_text_are_refused_by_validate_and_lint_alike(tmp_path, text, pointer, phrase):
    path = tmp_path / "spec.yaml"
    path.write_text(MODEL + text)
    res = vllmgen("validate", path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{pointer}: " in res.stderr and phrase in res.stderr and "Secret" in res.stderr
    lint = vllmgen("lint", "--format", "json", path)
    found = json.loads(lint.stdout)
    messages = [f["message"] for f in found["findings"]] if isinstance(found, dict) else [f["message"] for f in found]
    assert any(pointer in m and phrase in m for m in messages), messages


def test_lint_flags_credentials_in_manifests(tmp_path):
    path = tmp_path / "deploy.yaml"
    path.write_text("""apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.32.0
      args: ["--model", "m", "--api-k", "sk-123", "--otlp-traces-endpoint=http://u:p@c:4317"]
      env:
        - {name: AWS_SECRET_ACCESS_KEY, value: abc}
        - {name: FROM_SECRET_TOKEN, valueFrom: {secretKeyRef: {name: s, key: k}}}
""")
    res = vllmgen("lint", "--format", "json", path)
    found = json.loads(res.stdout)
    hits = [f for f in (found["findings"] if isinstance(found, dict) else found) if f["rule"] == "VG011"]
    messages = sorted(f["message"] for f in hits)
    assert any("--api-k passes the API key" in m for m in messages), messages
    assert any("AWS_SECRET_ACCESS_KEY holds a credential" in m for m in messages), messages
    assert any("URL carries credentials" in m for m in messages), messages
    assert not any("FROM_SECRET_TOKEN" in m for m in messages)


@pytest.mark.parametrize("name,credential", [
    ("AWS_SECRET_ACCESS_KEY", True), ("HF_TOKEN", True), ("MY_PASSWORD", True), ("X_API_KEY", True),
    ("TOKENIZERS_PARALLELISM", False), ("VLLM_MAX_TOKENS", False), ("PATH", False), ("AWS_ACCESS_KEY_ID", False),
])
def test_credential_env_names(name, credential):
    assert cleartext.credential_env(name) is credential


@pytest.mark.parametrize("text,clear", [
    ("http://user:pass@prometheus:9090", True),
    ("https://token@huggingface.co/org/adapter", True),
    # a secret the shell or kubelet expands is not in clear text (a git clone of an adapter in an init container)
    ("git clone https://oauth2:$HUGGING_FACE_HUB_TOKEN@huggingface.co/org/adapter /adapters/a", False),
    ("https://oauth2:${HF_TOKEN}@huggingface.co/x", False),
    ("https://oauth2:$(HF_TOKEN)@huggingface.co/x", False),
    ("https://o:$T@a and http://u:p@b", True),
    ("http://collector:4317/v1/traces?x=1", False),
])
def test_url_userinfo_is_a_credential_only_in_clear_text(text, clear):
    assert cleartext.has_userinfo(text) is clear
