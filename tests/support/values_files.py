"""Complete values files for tests that care about a few fields (a role's probes, port, grace period).

`vllmgen lint` and `vllmgen probe-check` render values with the chart, and the chart, like `helm install`,
refuses a values file that holds only a role's probes. `complete(fragment)` is that fragment layered (Helm's -f
merge) over values `vllmgen values` generates, holding just the fragment's roles: single-node for `standalone`,
prefill and decode of the single-node layout otherwise. The fragment's keys come first, so its lines stay near the top.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from vllmgen import render, spec as specmod, values
from vllmgen.roles import ROLES
from vllmgen.yamlio import dump

SPEC = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n"


#: Prefill and decode pods of the single-node layout.
PD_ROLES = "roles: {prefill: {replicas: 1}, decode: {replicas: 1}}\n"


@lru_cache(maxsize=None)
def _generated(pd: bool, mode: str) -> str:
    text = SPEC + f"probes: {{mode: {mode}}}\n" + (PD_ROLES if pd else "")
    return values.render(specmod.parse_spec(text, "spec.yaml", layout="single-node"))


def is_fragment(data) -> bool:
    return isinstance(data, dict) and "kind" not in data and any(isinstance(data.get(r), dict) for r in ROLES)


def complete(fragment: dict) -> dict:
    """The fragment over generated values of the same roles (plain probes unless it says supervised); a role's
    `probes` in the fragment are all its probes."""
    roles = [r for r in ROLES if isinstance(fragment.get(r), dict)]
    mode = fragment.get("probeMode", "plain")
    base = yaml.safe_load(_generated("standalone" not in roles, mode))
    for r in ROLES:
        if r not in roles:
            base.pop(r, None)
        elif isinstance(fragment[r].get("probes"), dict):
            base[r]["probes"] = {}  # the fragment's probes are the role's probes, not merged into generated ones
    merged = render.merge(base, fragment)
    return {**{k: merged[k] for k in fragment}, **{k: v for k, v in merged.items() if k not in fragment}}


def complete_text(text: str) -> str:
    """YAML text of `complete(fragment)`, or the text unchanged when it is not a values fragment."""
    docs = list(yaml.safe_load_all(text))
    return dump(complete(docs[0])) if len(docs) == 1 and is_fragment(docs[0]) else text
