"""A spec the schema refuses by a pattern is explained in words, with the obvious repair ("did you mean"), never
the regular expression; and every field that takes a quantity accepts Kubernetes' full quantity grammar."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vllmgen import patterns, quantities, resources
from vllmgen.cli import app
from vllmgen.errors import InputError, InputErrors
from vllmgen.spec import parse_spec

REPO = Path(__file__).resolve().parents[1]
MODEL = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9}\n"


def _error(text: str) -> str:
    with pytest.raises((InputError, InputErrors)) as err:
        parse_spec(text, "spec.yaml")
    errors = err.value.errors if isinstance(err.value, InputErrors) else [err.value]
    return "\n".join(e.format() for e in errors)


def _patterns(node, found: set) -> set:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.add(value)
            else:
                _patterns(value, found)
    elif isinstance(node, list):
        for item in node:
            _patterns(item, found)
    return found


def test_every_pattern_of_the_spec_schema_has_words():
    schema = json.loads((REPO / "schemas" / "model-spec.schema.json").read_text())
    missing = _patterns(schema, set()) - set(patterns.WORDS)
    assert not missing, missing


@pytest.mark.parametrize(("text", "pointer", "words", "fix"), [
    ("model: {source: Qwen/Qwen3-8B, parameters: 8.2e9}\n", "/model/source", "is not a model source",
     "hf://Qwen/Qwen3-8B"),
    ("model: {source: 'https://huggingface.co/Qwen/Qwen3-8B/tree/main', parameters: 8.2e9}\n", "/model/source",
     "is not a model source", "hf://Qwen/Qwen3-8B"),
    (MODEL + "layout: wide-ep\nwideEP: {dshmSizeLimit: 2GiB}\n", "/wideEP/dshmSizeLimit",
     "is not a Kubernetes quantity", "2Gi"),
    (MODEL + "image: {repository: registry.example/llm, tag: prod}\nengine: {vllmVersion: v0.11.0-cu128}\n", "/engine/vllmVersion", "is not a vLLM release", "0.11.0"),
    (MODEL + "caches: {claim: my-claim}\n", "/caches/claim", "is not `model-cache`", "pvc://my-claim"),
    ("model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, name: 'My Model'}\n", "/model/name", "is not a name",
     "my-model"),
])
def test_a_pattern_failure_is_explained_in_words_with_a_did_you_mean(text, pointer, words, fix):
    message = _error(text)
    assert pointer in message and words in message, message
    assert f"did you mean `{fix}`?" in message, message
    assert "^" not in message and "[A-Za-z" not in message, "no regular expression shown"
    # the repair is accepted
    assert pointer not in _error_or_empty(text.replace(_bad(text, pointer), fix))


def _bad(text: str, pointer: str) -> str:
    key = pointer.rsplit("/", 1)[-1]
    return re.search(rf"{key}: ('[^']*'|[^,}}\n]+)", text).group(1)


def _error_or_empty(text: str) -> str:
    try:
        parse_spec(text, "spec.yaml")
    except (InputError, InputErrors) as err:
        errors = err.errors if isinstance(err, InputErrors) else [err]
        return "\n".join(e.format() for e in errors)
    return ""


def test_no_suggestion_where_none_is_obvious():
    message = _error("model: {source: 'hf://only-one-part', parameters: 8.2e9}\n")
    assert "is not a model source" in message and "did you mean" not in message


def test_the_cli_prints_the_words_and_exits_2(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("model: {source: Qwen/Qwen3-8B, parameters: 8.2e9}\n")
    res = CliRunner().invoke(app, ["validate", str(spec)])
    assert res.exit_code == 2
    assert "did you mean `hf://Qwen/Qwen3-8B`?" in res.output and "Traceback" not in res.output


# --- quantities ------------------------------------------------------------------------------------------------------

VALID = ["2Gi", "2G", "2k", "1.5Gi", "2048Mi", "500m", ".5", "1.", "1e9", "1E3", "+4", "2Ei",
         "3P", "0", "4e+2", "4e-2", "500u", "1n"]
INVALID = ["2GiB", "2GB", "-1Gi", "Gi", "", "2 Gi", "1.5.1", "2gi", "1e", "0x10", "1e3Gi", "2u3", "1mi"]


@pytest.mark.parametrize("text", VALID)
def test_kubernetes_quantities_are_accepted(text):
    assert quantities.is_quantity(text)


@pytest.mark.parametrize("text", INVALID)
def test_non_quantities_are_refused(text):
    assert not quantities.is_quantity(text)


@pytest.mark.parametrize(("text", "value"), [("2Gi", 2 * 2**30), ("2G", 2 * 10**9), ("500m", Decimal("0.5")),
                                             ("1e3", 1000), ("1.5Ki", 1536), (".5M", 500_000), ("4e-2", Decimal("0.04"))])
def test_quantity_values(text, value):
    assert quantities.value(text) == value


@pytest.mark.parametrize(("raw", "value"), [("-1Gi", -2**30), ("1500u", Decimal("0.0015")), (" 2m ", Decimal("0.002")),
                                            (3, 3), ("1e3Gi", None), (float("nan"), None), (True, None), ("x", None)])
def test_lint_reads_a_manifests_quantities_with_the_same_grammar_signed(raw, value):
    # VG060 compares requests with limits as the API server does: `1500u` of CPU is above a `1m` limit
    from vllmgen.lint.refusals import quantity

    assert quantity(raw) == value


@pytest.mark.parametrize("text", ["1e400", "+9688e57000755531433", "9300000000000000000", "8Ei",
                                  "9e+4258981535500524732322"])
def test_quantities_past_kubernetes_largest_are_refused_at_their_pointer(text):
    # apimachinery caps a quantity at 2^63-1; vllmgen's memory arithmetic on `1e400` would overflow
    assert quantities.value(text) > quantities.MAX_VALUE
    with pytest.raises((InputError, InputErrors)) as caught:
        parse_spec(json.dumps({"model": {"source": "/m", "weightsGiB": 1}, "layout": "wide-ep",
                                        "wideEP": {"dshmSizeLimit": text}}), "s.json")
    errors = caught.value.errors if isinstance(caught.value, InputErrors) else [caught.value]
    assert [e.pointer for e in errors] == ["/wideEP/dshmSizeLimit"] and "largest Kubernetes quantity" in str(errors[0])


def _quantity_patterns() -> dict[str, set[str]]:
    out = {}
    for name in ("model-spec", "values", "k8s"):
        schema = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
        found = set()

        def walk(node, key=""):
            if isinstance(node, dict):
                if "pattern" in node and ("quantity" in key.lower() or "SizeLimit" in key
                                          or "quantity" in str(node.get("description", "")).lower()):
                    found.add(node["pattern"])
                for k, v in node.items():
                    walk(v, k if isinstance(v, dict) and k not in ("properties", "anyOf") else key)
            elif isinstance(node, list):
                for item in node:
                    walk(item, key)
        walk(schema)
        out[name] = found
    return out


def test_every_schema_quantity_takes_the_full_grammar():
    found = _quantity_patterns()
    assert all(found.values()), found
    for name, pats in found.items():
        assert pats <= {quantities.QUANTITY_PATTERN, quantities.OPTIONAL_QUANTITY_PATTERN}, (name, pats)


def test_dshm_size_limit_2g_is_valid_and_sized_in_bytes():
    spec = parse_spec(MODEL + "layout: wide-ep\nwideEP: {dshmSizeLimit: 2G}\n", "spec.yaml")
    assert spec["wideEP"]["dshmSizeLimit"] == "2G"
    assert resources.quantity_bytes("2G") == 2e9
