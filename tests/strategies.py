"""Hypothesis strategies: valid model specs (by construction) and broken ones (by mutation)."""

from __future__ import annotations

import copy

from hypothesis import strategies as st

SAFE = st.from_regex(r"[a-z][a-z0-9-]{0,14}[a-z0-9]", fullmatch=True)
UNICODE = st.text(min_size=0, max_size=40)
ROLES = ["standalone", "prefill", "decode"]


@st.composite
def valid_specs(draw) -> dict:
    layout = draw(st.sampled_from(["simulated", "single-node", "wide-ep", "multi-node"]))
    kind = draw(st.sampled_from(["hf", "pvc", "path"]))
    org, name = draw(SAFE), draw(SAFE)
    source = {"hf": f"hf://{org}/{name}", "pvc": f"pvc://{org}/{name}", "path": f"/models/{name}"}[kind]
    model: dict = {"source": source}
    if draw(st.booleans()):
        model["weightsGiB"] = draw(st.floats(min_value=0.01, max_value=5000, allow_nan=False))
    else:
        model["parameters"] = draw(st.floats(min_value=1e6, max_value=2e12, allow_nan=False))
        model["dtype"] = draw(st.sampled_from(["auto", "bfloat16", "float16", "float32", "fp8", "int8", "int4"]))
    if draw(st.booleans()):
        model["name"] = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,40}", fullmatch=True))
    if kind == "hf" and draw(st.booleans()):
        model["authSecretName"] = draw(SAFE)
    spec: dict = {"model": model, "layout": layout}
    tp, local = draw(st.sampled_from([1, 2, 4, 8])), draw(st.sampled_from([1, 2, 4]))
    engine: dict = {"tensorParallelSize": tp, "dataParallelSizeLocal": local}
    if draw(st.booleans()):
        engine["maxModelLen"] = draw(st.integers(16, 1_000_000))
    if draw(st.booleans()):
        engine["gpuMemoryUtilization"] = draw(st.floats(min_value=0.05, max_value=1.0))
    if draw(st.booleans()):
        engine["apiKeySecretName"] = draw(SAFE)
    engine["shutdownTimeoutSeconds"] = draw(st.integers(0, 600))
    engine["endpointDrainSeconds"] = draw(st.integers(0, 120))
    engine["extraArgs"] = draw(st.lists(st.sampled_from(["--enable-prefix-caching", "--max-num-seqs=64",
                                                         "--trust-remote-code", "--enable-chunked-prefill"]),
                                        max_size=3))
    engine["env"] = draw(st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True), UNICODE,
                                         max_size=3))
    spec["engine"] = engine
    if layout == "multi-node":  # one model over the nodes: tensor inside a node, pipeline (its default) across
        engine["dataParallelSizeLocal"] = 1
        spec["multiNode"] = {"nodes": draw(st.sampled_from([2, 3, 4]))}
    if layout == "wide-ep":
        wide = {"groupSize": draw(st.integers(1, 16))}
        if draw(st.booleans()):
            wide["rdmaResource"] = "rdma/ib"
        spec["wideEP"] = wide
    mode = "plain" if layout == "simulated" else draw(st.sampled_from(["plain", "supervised"]))
    spec["probes"] = {"mode": mode}
    if draw(st.booleans()):
        spec["startup"] = {"budgetSeconds": draw(st.integers(1, 86400))}
    else:
        spec["startup"] = {"downloadMBps": draw(st.floats(min_value=1, max_value=10000)),
                           "safetyFactor": draw(st.floats(min_value=1, max_value=10))}
    replicas = draw(st.dictionaries(st.sampled_from(ROLES), st.integers(0, 20), max_size=3))
    if replicas and sum(replicas.values()) > 0:
        spec["roles"] = {r: {"replicas": n} for r, n in replicas.items()}
    if draw(st.booleans()):
        # the combinations through which KV really moves (vllmgen.connectors, vllmgen.sidecar)
        image, connector = draw(st.sampled_from([
            ("ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1", "nixlv2"),
            ("ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1", "nixl"),
            ("ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.9.0", "nixlv2"),
            ("ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.9.0", "mooncake")]))
        spec["routing"] = {"sidecar": {"image": image, "connector": connector}}
    return spec


def paths(data, prefix=()):
    """Every path to a value in a nested dict/list."""
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from paths(v, prefix + (i,))


def set_path(data, path, value):
    target = data
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value


JUNK = st.one_of(
    st.none(), st.booleans(), UNICODE, st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=3),
    st.dictionaries(UNICODE, st.integers(), max_size=2),
)


def deep(depth: int):
    node: object = "x"
    for _ in range(depth):
        node = [node]
    return node


@st.composite
def broken_specs(draw) -> dict:
    """A valid spec with one mutation: a wrong value somewhere, an unknown key, or deep nesting."""
    spec = copy.deepcopy(draw(valid_specs()))
    all_paths = [p for p in paths(spec) if p]
    kind = draw(st.sampled_from(["junk", "unknown", "deep", "huge"]))
    path = draw(st.sampled_from(all_paths))
    if kind == "junk":
        set_path(spec, path, draw(JUNK))
    elif kind == "unknown":
        objects = [p for p in paths(spec) if isinstance(_get(spec, p), dict)]
        where = draw(st.sampled_from(objects))
        _get(spec, where)[draw(UNICODE.filter(lambda k: k not in _get(spec, where)))] = draw(JUNK)
    elif kind == "deep":
        set_path(spec, path, deep(draw(st.integers(10, 200))))
    else:
        set_path(spec, path, draw(st.sampled_from([10**30, -(10**30), 1e300, -1e300, 2**63])))
    return spec


def _get(data, path):
    for p in path:
        data = data[p]
    return data


RAW_JUNK = st.one_of(
    st.binary(max_size=200),
    st.just(b""),
    st.text(max_size=200).map(str.encode),
    st.builds(lambda k: f"model:\n  source: hf://a/b\n  {k}: 1\n  {k}: 2\n".encode(),
              st.from_regex(r"[a-z]{1,8}", fullmatch=True)),
    st.integers(2, 9).map(lambda n: ("a: &a [x, x]\n" + "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*{'a' if i == 0 else 'l' + str(i - 1)}"] * n) + "]\n"
        for i in range(12))).encode()),
    st.integers(10, 3000).map(lambda n: ("model: " + "[" * n + "]" * n + "\n").encode()),
    st.integers(10, 3000).map(lambda n: ("model: " + "{a: " * n + "1" + "}" * n + "\n").encode()),
    st.just(b"model: !!python/object/apply:os.system ['echo pwned']\n"),
    st.just(b"\xef\xbb\xbfmodel: {source: hf://a/b, weightsGiB: 1}\n"),
    st.just(b"model: {source: hf://a/b, weightsGiB: .inf}\n"),
    st.just(b"--- \nmodel: {source: hf://a/b}\n---\nmodel: {source: hf://c/d}\n"),
)
