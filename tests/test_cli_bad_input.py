"""Bad input: one clear message naming the file, the JSON pointer and the line; exit 2; no traceback;
no partial output file. Runs the real CLI in a subprocess, as a user would."""

import os
import subprocess
import sys

import pytest

GOOD = "model:\n  source: hf://Qwen/Qwen3-8B\n  parameters: 8.2e9\n"


def vllmgen(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "vllmgen", *map(str, args)], capture_output=True, text=True,
                          input=stdin, timeout=60)


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


CASES = [
    # (id, spec text, expected pointer, expected line, phrase in message)
    ("invalid-yaml", "model:\n  source: [hf://a/b\n", "(document)", 3, "invalid YAML"),
    ("duplicate-key", "model:\n  source: hf://a/b\n  parameters: 1e9\n  source: hf://c/d\n", "/model/source", 4,
     "duplicate key 'source'"),
    ("wrong-type", GOOD + "engine:\n  tensorParallelSize: two\n", "/engine/tensorParallelSize", 5,
     "expected integer, got a string"),
    ("unknown-key", GOOD + "engine:\n  tensorParalelSize: 2\n", "/engine", 4, "unknown field 'tensorParalelSize'"),
    ("bad-enum", GOOD + "layout: multi-rack\n", "/layout", 4, "'multi-rack' is not one of"),
    ("bad-source", "model:\n  source: s3://bucket/x\n", "/model/source", 2, "is not a model source"),
    ("missing-model", "engine: {}\n", "(document)", None, "'model' is a required property"),
    ("dp-not-divisible", GOOD + "layout: wide-ep\nengine:\n  dataParallelSize: 6\n  dataParallelSizeLocal: 4\n",
     "/engine/dataParallelSize", 6, "not divisible by the local size 4"),
    ("gpus-inconsistent", GOOD + "engine: {tensorParallelSize: 4}\naccelerator: {countPerPod: 2}\n",
     "/accelerator/countPerPod", 5, "tensorParallelSize x dataParallelSizeLocal = 4 x 1 = 4"),
    ("ports-clash", GOOD + "probes: {healthPort: 8200}\n", "/probes/healthPort", 4, "already used by routing.targetPort"),
    ("controlled-extra-arg", GOOD + "engine:\n  extraArgs: ['--enable-prefix-caching', '--port=9000']\n",
     "/engine/extraArgs/1", 5, "--port is set by the spec"),
    ("triton-wide-ep", GOOD + "layout: wide-ep\nserver: triton\n", "/server", 5, "single-node layout only"),
    ("no-size", "model: {source: hf://a/b}\n", "/model", 1, "needs the weights size"),
    ("nan", GOOD + "engine: {gpuMemoryUtilization: .nan}\n", "/engine/gpuMemoryUtilization", 4, "not a finite number"),
    ("empty", "", "(document)", None, "file is empty"),
    ("not-a-mapping", "- a\n- b\n", "(document)", None, "a spec is a mapping"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "(document)", None, "not UTF-8 text"),
    ("alias-bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)),
     "(document)", 6, "billion laughs"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["values", "validate"])
def test_bad_spec(tmp_path, case, command):
    _, text, ptr, line, phrase = case
    spec = write(tmp_path, text)
    out = tmp_path / "values.yaml"
    args = ["values", "--spec", spec, "-o", out] if command == "values" else ["validate", spec]
    res = vllmgen(*args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    where = f"{spec}:{line}" if line else f"{spec}"
    expected = f"error: {where}: {ptr}: "
    assert expected in res.stderr, res.stderr
    assert phrase in res.stderr, res.stderr
    assert res.stdout == ""
    assert not out.exists(), "no partial output file"


def test_several_schema_errors_are_all_reported(tmp_path):
    spec = write(tmp_path, GOOD + "engine:\n  tensorParallelSize: 0\n  maxModelLen: short\n")
    res = vllmgen("validate", spec)
    assert res.returncode == 2
    assert "/engine/maxModelLen" in res.stderr and "/engine/tensorParallelSize" in res.stderr


def test_missing_file_and_directory(tmp_path):
    res = vllmgen("values", "--spec", tmp_path / "nope.yaml")
    assert res.returncode == 2 and f"error: {tmp_path / 'nope.yaml'}: (document): no such file" in res.stderr
    res = vllmgen("validate", tmp_path)
    assert res.returncode == 2 and "is a directory" in res.stderr


def test_existing_output_is_untouched_on_error(tmp_path):
    out = write(tmp_path, "keep: me\n", "values.yaml")
    spec = write(tmp_path, "model: {source: 42}\n")
    res = vllmgen("values", "--spec", spec, "-o", out)
    assert res.returncode == 2
    assert out.read_text() == "keep: me\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".values")] == []


def test_output_written_atomically_and_readable(tmp_path):
    out = tmp_path / "values.yaml"
    res = vllmgen("values", "--role", "decode", "-o", out)
    assert res.returncode == 0 and res.stdout == ""
    assert out.read_text().startswith("# Helm values for charts/vllm")
    assert oct(os.stat(out).st_mode & 0o777) == "0o644"


def test_unknown_role_is_a_usage_error():
    res = vllmgen("values", "--role", "router")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "router" in res.stderr


def test_a_role_asked_for_with_zero_replicas_is_refused(tmp_path):
    """Values for roles that would deploy nothing embed a spec the supervisor refuses: exit 2, nothing written."""
    out = tmp_path / "values.yaml"
    spec = write(tmp_path, "model: {source: pvc://models/tiny, weightsGiB: 1}\n"
                           "roles: {standalone: {replicas: 0}, prefill: {replicas: 1}}\n")
    res = vllmgen("values", "--spec", spec, "--role", "standalone", "-o", out)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--role standalone" in res.stderr and "0 replicas" in res.stderr
    assert not out.exists()
    res = vllmgen("values", "--spec", spec, "--role", "standalone", "--role", "prefill")
    assert res.returncode == 0, res.stderr


def test_validate_reads_stdin_and_prints_the_budget():
    res = vllmgen("validate", "-", stdin=GOOD)
    assert res.returncode == 0
    assert "valid: layout single-node" in res.stdout and "= 701 s" in res.stdout


def test_schema_command_prints_the_spec_schema():
    import json

    res = vllmgen("schema")
    schema = json.loads(res.stdout)
    assert schema["$schema"].endswith("2020-12/schema") and schema["additionalProperties"] is False


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["weightsGiB", "parameters"])
def test_json_specs_refuse_nan_and_infinity(tmp_path, constant, field):
    """Python's json reads NaN and Infinity, which no JSON has: NaN passed every bound and crashed the budget."""
    path = write(tmp_path, f'{{"model": {{"source": "hf://a/b", "{field}": {constant}}}}}', "spec.json")
    for command in ("validate", "values"):
        res = vllmgen(command, path) if command == "validate" else vllmgen(command, "--spec", path)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.startswith(f"error: {path}:") and "JSON has no NaN or Infinity" in res.stderr


@pytest.mark.parametrize("field", ["model.source", "caches.claim", "lora"])
def test_claim_names_are_dns_names_of_at_most_253_characters(tmp_path, field):
    """A PersistentVolumeClaim's name is a DNS subdomain: a longer one rendered, then failed at the API server."""
    def spec(claim):
        source = f"pvc://{claim}/m" if field == "model.source" else "hf://a/b"
        text = f"model:\n  source: {source}\n  weightsGiB: 1\n"
        if field == "lora":
            text += f"  loras: [{{name: l, source: 'pvc://{claim}/l'}}]\n"
        if field == "caches.claim":
            text += f"caches: {{claim: 'pvc://{claim}/c'}}\n"
        return write(tmp_path, text)

    assert vllmgen("validate", spec("a" * 253)).returncode == 0
    res = vllmgen("validate", spec("a" * 254))
    assert res.returncode == 2 and "pvc://aaa" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("text,pointer,phrase", [
    # a bandwidth near 0 overflowed the budget to infinity: OverflowError in validate (found by the spec space)
    ("model: {source: hf://a/b, parameters: 6.9e13, dtype: int4}\nstartup: {downloadMBps: 5e-324}\n", "/startup",
     "longer than Kubernetes' probe and rollout fields can hold"),
    # extraArgs starting with a value: validate accepted it, vLLM refused it ("unrecognized arguments")
    ("model: {source: hf://a/b, weightsGiB: 1}\nengine: {extraArgs: [stray, --enable-prefix-caching]}\n",
     "/engine/extraArgs/0", "is not a flag"),
], ids=["infinite-budget", "extra-args-start-with-a-value"])
def test_specs_the_spec_space_found(tmp_path, text, pointer, phrase):
    path = write(tmp_path, text)
    res = vllmgen("validate", path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert f"{pointer}: " in res.stderr and phrase in res.stderr
