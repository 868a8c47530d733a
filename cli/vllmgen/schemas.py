"""The packaged JSON Schemas (`schemas/*.schema.json`) and the chart's generated `values.schema.json`.

`schemas/values.schema.json` is the hand-written source of truth for the chart values; it points at the model
spec schema and the Kubernetes structures schema by relative reference (`model-spec.schema.json`,
`k8s.schema.json`). Helm needs one self-contained file (a `$ref` it cannot resolve locally makes it try to
download it), so `chart_values_schema()` embeds both under `$defs/modelSpec` and `$defs/k8s` and rewrites the
references. `charts/vllm/values.schema.json` is that output, committed;
a test fails when the two differ.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

#: Package data: `cli/vllmgen/schemas` is a symlink to the repository's `schemas/` (shipped in the wheel).
SCHEMA_DIR = Path(__file__).parent / "schemas"

#: Where the model spec schema goes inside the chart's values schema.
MODEL_SPEC_DEF = "modelSpec"

#: The model spec schema's file name, as the values schema refers to it.
MODEL_SPEC_FILE = "model-spec.schema.json"

#: Sibling schemas the values schema refers to -> where each goes inside the chart's values schema: the model spec,
#: and vllmgen's strict schemas of the Kubernetes structures the escape hatches take (`k8s.schema.json`).
EMBEDDED = {MODEL_SPEC_FILE: MODEL_SPEC_DEF, "k8s.schema.json": "k8s"}


def path(name: str) -> Path:
    """Path of `schemas/<name>.schema.json` inside the package."""
    return SCHEMA_DIR / f"{name}.schema.json"


@lru_cache(maxsize=None)
def _load_text(name: str) -> str:
    return path(name).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The parsed schema `schemas/<name>.schema.json` (a fresh copy each call: callers may change it)."""
    return json.loads(_load_text(name))


def _rewrite_refs(node: Any, old_prefix: str, new_prefix: str) -> Any:
    """Copy of `node` with every `$ref` starting with `old_prefix` re-rooted at `new_prefix`."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(old_prefix):
                out[key] = new_prefix + value[len(old_prefix):]
            else:
                out[key] = _rewrite_refs(value, old_prefix, new_prefix)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, old_prefix, new_prefix) for item in node]
    return node


def chart_values_schema() -> dict[str, Any]:
    """The chart's `values.schema.json`: the values schema with the model spec schema embedded, self-contained.

    Nothing Helm validates is dropped: descriptions, defaults and every constraint stay; only the two `$id`s go
    (the file is validated on its own, and an absolute `$id` would invite Helm to resolve references remotely).
    """
    values = load("values")
    values.pop("$id", None)
    for file, key in EMBEDDED.items():
        sibling = load(file.removesuffix(".schema.json"))
        sibling.pop("$id", None)
        sibling.pop("$schema", None)
        embedded = _rewrite_refs(sibling, "#/$defs/", f"#/$defs/{key}/$defs/")
        values = _rewrite_refs(values, f"{file}#/", f"#/$defs/{key}/")  # a definition inside it
        values = _rewrite_refs(values, file, f"#/$defs/{key}")  # the whole file
        values.setdefault("$defs", {})[key] = embedded
    return values


def chart_values_schema_text() -> str:
    """`chart_values_schema()` as deterministic JSON text (2-space indent, source key order, final newline)."""
    return json.dumps(chart_values_schema(), indent=2, ensure_ascii=False) + "\n"


def validator(name: str):
    """A jsonschema validator for `schemas/<name>.schema.json` that resolves sibling-file references locally."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    resources = []
    for file in sorted(SCHEMA_DIR.glob("*.schema.json")):
        contents = json.loads(file.read_text(encoding="utf-8"))
        if "$id" in contents:
            resources.append((contents["$id"], Resource.from_contents(contents)))
    registry = Registry().with_resources(resources)
    return Draft202012Validator(load(name), registry=registry)
