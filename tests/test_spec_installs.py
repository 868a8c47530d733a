"""Every spec `vllmgen validate` accepts installs: its values render through the real Helm engine into objects
that pass strict Kubernetes validation, or vllmgen refuses the spec naming the field (exit 2, no chart).

The strings are the ones that break naive YAML and templates: YAML 1.1 booleans and numbers (Helm reads values
and rendered manifests as YAML 1.1: `yes`, `on`, `0x10`, `1:20`, `1e3`), characters outside the Basic
Multilingual Plane, control characters, numeric-looking names; the numbers go to the schema's bounds. The release
name is hostile too (`123`). Examples per run: VLLMGEN_INSTALL_EXAMPLES (default 150, derandomized)."""

from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests import chartcheck as cc
from tests.strategies import valid_specs
from vllmgen.errors import InputError, InputErrors

EXAMPLES = int(os.environ.get("VLLMGEN_INSTALL_EXAMPLES", "150"))
VALIDATORS = cc.Validators()

#: Plain scalars YAML 1.1 (Helm, Kubernetes' sigs.k8s.io/yaml) does not read as strings.
YAML11 = ["yes", "no", "on", "off", "y", "n", "true", "false", "null", "123", "0x10", "0o17", "017", "1e3",
          "1_000", "1:20", "0.5", "2001-12-14"]
LOWER_NAMES = st.sampled_from([w for w in YAML11 if w.replace("_", "").replace(":", "").isalnum()
                               or "." in w] + ["1e3", "0x1f", "a.b"]).filter(lambda w: w[0].isalnum() and w[-1].isalnum())
KEYS = st.sampled_from(["true", "yes", "1", "on", "TRUE", "1.5", "0x10", "null"])
NASTY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["😀", "a😀b", "\x07bell", "x\x1b[31m", "\x85", "\u2028", "yes", "1:20", "#not a comment", "&anchor", "*alias",
     "!tag", "%x", "@x", "`x", "'\"", "-", "- x", ": x", "? x", "[x]", "{x}", ""])


@st.composite
def hostile_specs(draw) -> dict:
    spec = draw(valid_specs())
    model, engine = spec["model"], spec["engine"]
    if draw(st.booleans()):
        model["name"] = draw(st.sampled_from(YAML11 + ["org/yes", "1.10", "😀"]).filter(lambda n: n[0].isalnum()))
    if draw(st.booleans()):
        model["revision"] = draw(st.sampled_from(["yes", "1.10", "0x10", "123"]))
    kind = model["source"].split(":", 1)[0]
    if kind == "pvc" and draw(st.booleans()):
        model["source"] = f"pvc://{draw(LOWER_NAMES)}/{draw(st.sampled_from(['yes', '123', 'a😀', 'm']))}"
    elif kind != "hf" and draw(st.booleans()):
        model["source"] = "/models/" + draw(st.sampled_from(["yes", "😀", "a\x00b", "a\x07b", "1:20", "x#y"]))
    if "authSecretName" in model and draw(st.booleans()):
        model["authSecretName"], model["authSecretKey"] = draw(LOWER_NAMES), draw(KEYS)
    if "apiKeySecretName" in engine and draw(st.booleans()):
        engine["apiKeySecretName"], engine["apiKeySecretKey"] = draw(LOWER_NAMES), draw(KEYS)
    engine["env"] = draw(st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), NASTY_TEXT,
                                         max_size=3))
    if draw(st.booleans()):
        spec.setdefault("startup", {}).pop("budgetSeconds", None)
        spec["startup"]["downloadMBps"] = draw(st.sampled_from([1e-9, 0.001, 1e6]))
        spec["startup"]["loadMBps"] = draw(st.sampled_from([1e-9, 1e6]))
    if draw(st.booleans()):
        spec["image"] = {"repository": draw(st.sampled_from(["vllm/vllm-openai", "registry:5000/v", "123"])),
                         "tag": draw(st.sampled_from(["1.10", "123", "yes", "latest"]))}
    if spec["layout"] == "wide-ep" and draw(st.booleans()):
        spec["wideEP"]["groupSize"] = draw(st.sampled_from([512, 1024]))
    return spec


def _accepted(spec: dict):
    from vllmgen import spec as specmod

    try:
        return specmod.parse_spec(yaml.safe_dump(spec, allow_unicode=True), "<hypothesis>")
    except InputErrors as exc:
        assert all(e.pointer or e.line for e in exc.errors), exc
    except InputError as exc:
        assert exc.pointer or exc.line is not None, exc  # refused naming the field
    return None


#: A line separator in a string: toYaml writes it raw, and YAML 1.1 readers (go-yaml, PyYAML) break the line there.
LINE_SEPARATOR_IN_ENV = {"model": {"source": "hf://a0/a0", "parameters": 1e6}, "layout": "simulated",
                         "engine": {"env": {"A": "\u2028", "B": "x\u2029y"}}, "probes": {"mode": "plain"}}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hostile_specs(), st.sampled_from(["rel", "123", "yes", "x1e3"]))
@example(LINE_SEPARATOR_IN_ENV, "rel")
def test_every_accepted_spec_renders_strictly_valid_objects(spec, release):
    import helm_python as helm

    from vllmgen import values

    effective = _accepted(spec)
    if effective is None:
        return
    text = values.render(effective)
    emitted = helm.values_from_yaml(text)
    assert emitted["spec"]["model"] == effective["model"], "the values read back differ from the spec"
    objs = cc.render_objects(emitted, name=release)
    errors = VALIDATORS.check(objs, cc.kube_versions())
    assert errors == [], errors[:5]
    # the spec the pod mounts, as YAML (read as the supervisor reads it, YAML 1.2) and as JSON, reads back as the
    # spec the values carry
    import json

    from vllmgen import yamlio

    for data in [o["data"] for o in objs if o["kind"] == "ConfigMap" and "spec.json" in o.get("data", {})]:
        assert json.loads(data["spec.json"]) == emitted["spec"]
        assert yamlio.parse_document(data["spec.yaml"], "spec.yaml").data == emitted["spec"]


# --- regressions through the real CLI and the real Helm engine ------------------------------------------------

import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402


def _cli(tmp_path, spec_text: str, *args: str):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text, encoding="utf-8")
    out = tmp_path / "values.yaml"
    res = subprocess.run([sys.executable, "-m", "vllmgen", "values", "--spec", str(spec), "-o", str(out), *args],
                         capture_output=True, text=True, timeout=120)
    return res, out


@pytest.mark.parametrize("spec_text", [
    'model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, authSecretName: "yes", authSecretKey: "true"}\n'
    'engine: {apiKeySecretName: "on", apiKeySecretKey: "1_000", env: {"Y": "no", FLAG: "0x10", SMILE: "😀"}}\n',
    'model: {source: "pvc://123/yes", weightsGiB: 15, name: "1.10", revision: "0x10"}\n'
    'image: {repository: vllm/vllm-openai, tag: "1.10"}\n',
    'model: {source: "/models/😀", weightsGiB: 1}\n',
], ids=["yaml-1.1-words", "numeric-looking-names", "name-derived-from-a-non-bmp-path"])
@pytest.mark.parametrize("release", ["rel", "123"])
def test_strings_helm_reads_differently_install_as_written(tmp_path, spec_text, release):
    import helm_python as helm

    from vllmgen.spec import parse_spec

    res, out = _cli(tmp_path, spec_text)
    assert res.returncode == 0, res.stderr
    emitted = helm.values_from_yaml(out.read_text(encoding="utf-8"))  # Helm's own YAML reading
    assert emitted["spec"] == yaml.safe_load(yaml.safe_dump(emitted["spec"]))
    effective = parse_spec(spec_text, "spec.yaml")
    assert emitted["spec"]["model"] == effective["model"]
    assert emitted["spec"]["engine"]["env"] == effective["engine"]["env"]
    objs = cc.render_objects(emitted, name=release)
    assert VALIDATORS.check(objs, cc.kube_versions()) == []


@pytest.mark.parametrize("spec_text, pointer", [
    ("model: {source: hf://a/b, weightsGiB: 5}\nengine: {env: {HF_TOKEN: hf_abc}}\n", "/engine/env/HF_TOKEN"),
    ("model: {source: hf://a/b, weightsGiB: 5}\nengine: {env: {VLLM_API_KEY: sk-1}}\n", "/engine/env/VLLM_API_KEY"),
    ("model: {source: hf://a/b, weightsGiB: 5}\nengine: {env: {HUGGING_FACE_HUB_TOKEN: t}}\n",
     "/engine/env/HUGGING_FACE_HUB_TOKEN"),
    ("model: {source: hf://a/b, weightsGiB: 5}\nengine: {extraArgs: [--hf-token=hf_abc]}\n", "/engine/extraArgs/0"),
    ("model: {source: hf://a/b, weightsGiB: 5}\nengine: {extraArgs: [--api_key=abc]}\n", "/engine/extraArgs/0"),
    ("model: {source: hf://a/b, weightsGiB: 5}\nengine: {extraArgs: [--served_model_name=x]}\n",
     "/engine/extraArgs/0"),
    ("model: {source: hf://a/b, weightsGiB: 5}\nengine: {extraArgs: [--enable-prefix-caching, --tensor_parallel_size=2]}"
     "\n", "/engine/extraArgs/1"),
    ("model: {source: hf://a/b, weightsGiB: 5000}\nstartup: {downloadMBps: 0.000001}\n", "/startup"),
    ("layout: wide-ep\nmodel: {source: hf://a/b, weightsGiB: 5}\nengine: {dataParallelSizeLocal: 8}\n"
     "wideEP: {groupSize: 1024}\n", "/engine/dataParallelSize"),
    ('model: {source: "/models/a\\x00b", weightsGiB: 1}\n', "/model/source"),
    ("model: {source: hf://a/b, weightsGiB: 1}\nengine:\n  env: {"
     + ", ".join(f"V{i}: {'x' * 30000}" for i in range(12)) + "}\n", "/engine/env"),
], ids=["hf-token-env", "api-key-env", "hub-token-env", "hf-token-flag", "api_key-underscores",
        "served_model_name-underscores", "tensor_parallel_size-underscores", "budget-beyond-int32",
        "derived-data-parallel-size", "nul-in-a-path-source", "spec-too-big-for-a-configmap"])
def test_secrets_in_clear_and_impossible_derived_values_are_refused(tmp_path, spec_text, pointer):
    res, out = _cli(tmp_path, spec_text)
    assert res.returncode == 2 and not out.exists(), res.stderr
    assert "Traceback" not in res.stderr
    assert any(f": {pointer}: " in line for line in res.stderr.splitlines()), res.stderr
    assert "hf_abc" not in res.stderr and "sk-1" not in res.stderr  # the secret is not echoed back
