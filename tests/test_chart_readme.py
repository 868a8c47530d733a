"""The chart documents itself from one source, its values schema: README.md (what `helm show readme` prints) and
the comment above each key of values.yaml are generated from it and fail here when stale; the schema's examples
are valid values; and the keys the schema calls documentary really are read by no template."""

from __future__ import annotations

import copy
import tarfile

import pytest
from ruamel.yaml import YAML

from tests import chartcheck as cc
from vllmgen import reference, schemas

REGENERATE = "run: python scripts/update-readme.py"
#: The prefix a schema description starts with when no template reads the key.
DOCUMENTARY = "Documentary:"


def _load(name: str):
    return YAML(typ="safe", pure=True).load((cc.CHART / name).read_text())


def test_chart_readme_is_generated_from_the_schema():
    expected = reference.chart_readme(schemas.chart_values_schema(), _load("values.yaml"), _load("Chart.yaml"))
    assert (cc.CHART / "README.md").read_text() == expected, REGENERATE


def test_values_comments_are_the_schema_descriptions():
    text = (cc.CHART / "values.yaml").read_text()
    assert text == reference.commented_values(schemas.chart_values_schema(), text), REGENERATE


def _paths(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + key
            yield from _paths(value, prefix + key + ".")


def test_every_default_is_a_documented_row_of_the_readme():
    readme = (cc.CHART / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[4].strip() for line in readme.splitlines()
            if line.startswith("| `")}
    missing = [p for p in _paths(_load("values.yaml")) if not rows.get(p)]
    assert missing == []


def test_helm_show_readme_prints_it_from_the_directory_and_the_package(tmp_path):
    import helm_python as helm

    readme = (cc.CHART / "README.md").read_text()
    assert helm.show(str(cc.CHART), output_format="readme").strip() == readme.strip()
    archive = helm.package(str(cc.CHART), destination=str(tmp_path))
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "vllm/README.md" in names
    assert not [n for n in names if n.startswith("vllm/tests/")]  # .helmignore keeps the unittest suites out
    assert helm.show(archive, output_format="readme").strip() == readme.strip()


def _examples(node, root, path=""):
    if isinstance(node, dict):
        for example in node.get("examples", []):
            yield path or "/", {k: v for k, v in node.items() if k != "examples"}, example
        for key, value in node.items():
            yield from _examples(value, root, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _examples(value, root, f"{path}/{i}")


def test_schema_examples_are_valid_values():
    from jsonschema import Draft202012Validator

    root = schemas.chart_values_schema()
    found = list(_examples(root, root))
    assert found  # the role and triton examples the README shows
    for where, node, example in found:
        errors = [e.message for e in Draft202012Validator({**node, "$defs": root["$defs"]}).iter_errors(example)]
        assert errors == [], where


def _documentary(node, root, prefix=""):
    for key, sub in node.get("properties", {}).items():
        if sub.get("description", "").startswith(DOCUMENTARY):
            yield prefix + key
        yield from _documentary(sub, root, prefix + key + ".")


DOCUMENTARY_KEYS = list(_documentary(schemas.chart_values_schema(), schemas.chart_values_schema()))


def _alternative(value, node: dict):
    """Another valid value for a documentary leaf (another enum member, the next port, a different string)."""
    if "enum" in node:
        return next(v for v in node["enum"] if v != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return f"{value}-changed"


def _merged(defaults: dict, values: dict) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in values.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _leaves(values: dict, schema: dict, path: list[str]):
    """(parent mapping, key, schema node) of every leaf at or under `path` in `values`."""
    node, parent = schema, values
    for key in path[:-1]:
        node, parent = node["properties"][key], parent[key]
    node = node["properties"][path[-1]]
    if isinstance(parent[path[-1]], dict):
        for key in parent[path[-1]]:
            yield from _leaves(values, schema, path + [key])
    else:
        yield parent, path[-1], node


def test_the_documentary_keys_are_the_ones_the_chart_keeps_for_readers():
    assert sorted(DOCUMENTARY_KEYS) == ["accelerator.type", "modelArtifacts.name", "routing.proxy.connector",
                                        "routing.proxy.targetPort"]


@pytest.mark.parametrize("path", DOCUMENTARY_KEYS)
def test_no_template_reads_a_documentary_key(path):
    """Rendered with another value there, every role and layout gives byte-identical manifests."""
    schema = schemas.chart_values_schema()
    from tests.test_chart import generated_cases

    cases = [(n, v) for n, v in generated_cases() if n in {"vllmgen:defaults:decode",
                                                               "vllmgen:wide-ep:vllm:supervised:prefill+decode",
                                                               "vllmgen:single-node:triton:plain:standalone"}]
    assert len(cases) == 3
    for name, emitted in cases:
        values = _merged(_load("values.yaml"), emitted)  # what Helm renders: the chart's defaults under the file
        changed = copy.deepcopy(values)
        leaves = list(_leaves(changed, schema, path.split(".")))
        assert leaves, (name, path)
        for parent, key, node in leaves:
            parent[key] = _alternative(parent[key], node)
        assert cc.render_texts(changed) == cc.render_texts(values), (name, path)
