"""Hypothesis strategies: valid model specs (by construction) and broken ones (by mutation)."""

from __future__ import annotations

import copy

from hypothesis import strategies as st

SAFE = st.from_regex(r"[a-z][a-z0-9-]{0,14}[a-z0-9]", fullmatch=True)
#: Characters no spec string may hold (vllmgen.spec refuses them: Helm's toYaml cannot write them).
NOT_YAML = "\x7f" + "".join(map(chr, range(0x80, 0x85))) + "".join(map(chr, range(0x86, 0xA0))) + "\ufffe\uffff"
UNICODE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=NOT_YAML), min_size=0,
                  max_size=40)
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


# --- the spec space, generated from the schema ------------------------------------------------------------------

#: Strings that YAML 1.1 or 1.2 readers retype, that templates or shells treat specially, or that no text
#: field should pass unchanged: every string field of a generated spec draws from these too.
HOSTILE = [
    "yes", "No", "off", "ON", "y", "~", "null", "Null", "true", "False",  # YAML 1.1 booleans and null
    "0755", "1_000", "0x1F", "0o17", ".inf", "-.Inf", ".NaN", "1:20", "1e3", "+12", "012345", "1.0",  # numbers
    "{{ .Release.Name }}", "{{", "}}", "a{{b}}c",  # template braces
    "", " ", "a: b", "- a", "#x", "a #b", "[a]", "{a: b}", "a?b", "&a", "*a", "!tag", "%x", "@x", "`x`", "|", ">",
    "'", '"', "\\", "a\nb", "a\tb", "\x00", "a\x1bb", "\x7f", "\x85", "\u200b",  # quotes, breaks, control chars
    "\U0001F600", "\U00010000", "\ufffe", "\uffff", "a\u2028b", "a\u2029b", "\ufeffx",  # non-BMP, non-characters
    "http://user:pass@prometheus:9090", "--api-k=x", "$(HOME)", "${X}", "a" * 300,
]
HOSTILE_TEXT = st.sampled_from(HOSTILE)
#: One value in this many is hostile (a string from HOSTILE, a number out of range, a word outside an enum).
HOSTILE_ONE_IN = 12
#: Environment names and keys of free maps: ordinary ones and hostile ones.
ENV_NAMES = st.one_of(st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True), HOSTILE_TEXT)


def _resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _string(node: dict) -> st.SearchStrategy:
    pattern, longest = node.get("pattern"), node.get("maxLength", 200)
    if pattern:
        valid = st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) <= longest)
    else:
        valid = st.text(max_size=min(longest, 60))
    examples = [e for e in node.get("examples", []) if isinstance(e, str)]
    if examples:
        valid = st.one_of(st.sampled_from(examples), valid)
    hostile = st.one_of(HOSTILE_TEXT, st.builds(lambda a, b: a + b, valid, HOSTILE_TEXT))
    # one string in HOSTILE_ONE_IN is hostile: a spec has a dozen string fields, and one hostile value is refused
    # before the later stages run, so mostly valid strings let most specs reach Helm and vLLM's parser
    return st.integers(1, HOSTILE_ONE_IN).flatmap(lambda i: hostile if i == 1 else valid)


def _number(node: dict, integer: bool) -> st.SearchStrategy:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if integer:
        inside = st.integers(min_value=low if low is None else int(low), max_value=high if high is None else int(high))
    else:
        inside = st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False,
                           exclude_min="exclusiveMinimum" in node, exclude_max="exclusiveMaximum" in node)
    edges = [v for v in (low, high) if v is not None]
    outside = st.sampled_from([*edges, *(e - 1 for e in edges), *(e + 1 for e in edges), 0, -1, 10**30])
    return st.integers(1, HOSTILE_ONE_IN).flatmap(lambda i: outside if i == 1 else inside)


def from_schema(node: dict, root: dict, depth: int = 0) -> st.SearchStrategy:
    """Values for a JSON-schema node: valid ones mostly, out-of-range numbers and the hostile strings too. Every
    field of the schema is reached, so a field added later is generated without new test code."""
    node = _resolve(node, root)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.integers(1, HOSTILE_ONE_IN).flatmap(
            lambda i: HOSTILE_TEXT if i == 1 else st.sampled_from(node["enum"]))
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return _object(node, root, depth)
    if kind == "array":
        items = from_schema(node.get("items", {}), root, depth + 1)
        return st.lists(items, max_size=min(node.get("maxItems", 3), 3))
    if kind == "string":
        return _string(node)
    if kind == "integer":
        return _number(node, True)
    if kind == "number":
        return _number(node, False)
    if kind == "boolean":
        return st.booleans()
    return st.one_of(st.none(), st.booleans(), HOSTILE_TEXT)


def _object(node: dict, root: dict, depth: int) -> st.SearchStrategy:
    props = node.get("properties", {})
    required = set(node.get("required", ()))
    extra = node.get("additionalProperties")

    @st.composite
    def build(draw):
        out = {}
        for key in sorted(props):
            # optional fields now and then, so most specs stay near the defaults and some get far from them
            if key in required or draw(st.integers(0, 3)) == 0:
                out[key] = draw(from_schema(props[key], root, depth + 1))
        if isinstance(extra, dict):
            keys = draw(st.lists(ENV_NAMES, max_size=3, unique=True))
            for key in keys:
                out.setdefault(key, draw(from_schema(extra, root, depth + 1)))
        return out

    return build()


def schema_specs() -> st.SearchStrategy:
    """Specs drawn from schemas/model-spec.schema.json itself."""
    import json
    from pathlib import Path

    schema = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "model-spec.schema.json").read_text())
    return from_schema(schema, schema)


# --- realistic specs, with pairwise coverage of the feature combinations ------------------------------------------

#: Real models from 0.5B to 700B parameters: (hub id, parameters).
MODELS = [("Qwen/Qwen2.5-0.5B-Instruct", 0.5e9), ("Qwen/Qwen3-0.6B", 0.6e9), ("meta-llama/Llama-3.2-3B", 3.2e9),
          ("meta-llama/Llama-3.1-8B-Instruct", 8.0e9), ("Qwen/Qwen3-32B", 32.8e9),
          ("meta-llama/Llama-3.1-70B-Instruct", 70.6e9), ("mistralai/Mixtral-8x22B-v0.1", 141e9),
          ("meta-llama/Llama-3.1-405B-Instruct", 405e9), ("deepseek-ai/DeepSeek-V3", 671e9),
          ("moonshotai/Kimi-K2-Instruct", 700e9)]
#: Each feature and its levels; `PAIRWISE` rows cover every pair of levels of any two features.
FEATURES = {
    "layout": ["simulated", "single-node", "wide-ep"],
    "server": ["vllm", "triton"],
    "roles": ["default", "standalone", "prefill-decode", "decode"],
    "autoscaling": ["none", "keda", "hpa"],
    "lora": [False, True],
    "caches": ["none", "model-cache", "claim"],
    "gateway": ["none", "pool", "pool-gateway"],
    "hatches": [False, True],
    "extraArgs": ["none", "urls"],
    "mode": ["plain", "supervised"],
    "source": ["hf", "pvc", "path"],
}


def pairwise_rows(features: dict[str, list], salt: int = 0) -> list[dict]:
    """A small set of feature rows in which every pair of levels of any two features appears (greedy, seeded:
    the same rows in every run)."""
    import itertools
    import random

    names = list(features)
    uncovered = {(a, va, b, vb) for a, b in itertools.combinations(names, 2)
                 for va in features[a] for vb in features[b]}
    rng = random.Random(salt)
    rows = []
    while uncovered:
        best, gain = None, -1
        target = next(iter(sorted(uncovered, key=repr)))
        for _ in range(60):
            row = {n: rng.choice(features[n]) for n in names}
            row[target[0]], row[target[2]] = target[1], target[3]
            covered = sum((a, row[a], b, row[b]) in uncovered for a, b in itertools.combinations(names, 2))
            if covered > gain:
                best, gain = row, covered
        rows.append(best)
        uncovered -= {(a, best[a], b, best[b]) for a, b in itertools.combinations(names, 2)}
    return rows


PAIRWISE = pairwise_rows(FEATURES)
#: extraArgs users write: URLs with query strings and credentials-free userinfo-less hosts, quotes, JSON.
EXTRA_ARGS = [
    ["--otlp-traces-endpoint", "http://collector:4317/v1/traces?x=1"],
    ["--otlp-traces-endpoint=http://collector.monitoring.svc:4317/v1/traces?a=1&b=2#frag"],
    ["--chat-template", "{% for m in messages %}{{ m['content'] }}{% endfor %}"],
    ["--override-generation-config", '{"temperature": 0.6, "top_p": "0.9"}'],
    ["--enable-prefix-caching", "--max-num-seqs=64"],
    ["--uvicorn-log-level", "warning", "--max-num-batched-tokens", "8192"],
    ["--tool-call-parser", "hermes", "--enable-auto-tool-choice"],
]


@st.composite
def realistic_specs(draw, row: dict | None = None) -> tuple[dict, dict]:
    """(spec, values escape hatches) for one feature row (drawn from PAIRWISE when not given)."""
    row = row if row is not None else draw(st.sampled_from(PAIRWISE))
    hub, params = draw(st.sampled_from(MODELS))
    name = hub.split("/")[1]
    source = {"hf": f"hf://{hub}", "pvc": f"pvc://models/{name}", "path": f"/models/{name}"}[row["source"]]
    model: dict = {"source": source, "parameters": params, "dtype": draw(st.sampled_from(["bfloat16", "fp8"]))}
    if row["source"] == "hf" and draw(st.booleans()):
        model["authSecretName"] = "hf-token"
    gib = params * (1 if model["dtype"] == "fp8" else 2) / 2**30
    tp = next((t for t in (1, 2, 4, 8) if gib / t <= 60), 8)  # an 80 GB accelerator each, room for the KV cache
    engine: dict = {"tensorParallelSize": tp}
    spec: dict = {"layout": row["layout"], "server": row["server"], "model": model, "engine": engine,
                  "probes": {"mode": row["mode"]}}
    if row["layout"] == "wide-ep":
        engine["dataParallelSizeLocal"] = draw(st.sampled_from([1, 2, 4, 8]))
        spec["wideEP"] = {"groupSize": draw(st.integers(1, 4))}
    roles = {"default": None, "standalone": ["standalone"], "prefill-decode": ["prefill", "decode"],
             "decode": ["decode"]}[row["roles"]]
    if roles:
        spec["roles"] = {}
        for role in roles:
            if row["autoscaling"] == "none":
                spec["roles"][role] = {"replicas": draw(st.integers(1, 4))}
            else:
                auto = {"autoscaler": row["autoscaling"], "maxReplicas": draw(st.integers(1, 8)),
                        "metric": draw(st.sampled_from(["vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"]))}
                auto["target"] = 0.8 if auto["metric"] == "vllm:kv_cache_usage_perc" else draw(st.integers(1, 20))
                if row["autoscaling"] == "keda":
                    auto["prometheusAddress"] = "http://prometheus-operated.monitoring.svc:9090/?x=1"
                else:
                    auto["adapterMetric"] = draw(st.sampled_from(["vllm_num_requests_waiting", "Off", "yes"]))
                spec["roles"][role] = {"autoscaling": auto}
    if row["lora"]:
        model["loras"] = [{"name": draw(st.sampled_from(["sql-lora", "yes", "0755"])), "source": "hf://org/sql-lora",
                           "rank": draw(st.sampled_from([8, 16, 64]))}]
    if row["caches"] != "none":
        spec["caches"] = {"claim": "model-cache" if row["caches"] == "model-cache" else
                          draw(st.sampled_from(["pvc://vllm-cache/compile", "pvc://0755", "pvc://yes/on"]))}
    if row["gateway"] != "none":
        spec["routing"] = {"inferencePool": True}
        if row["gateway"] == "pool-gateway":
            spec["routing"]["gateway"] = {"name": draw(st.sampled_from(["inference-gateway", "on", "1e3"])),
                                          "namespace": "gateway-system"}
        if draw(st.booleans()):
            spec["routing"]["endpointPicker"] = {
                "image": draw(st.sampled_from(["registry.k8s.io/gateway-api-inference-extension/epp:v1.0.0",
                                               "0755", "yes"]))}
    if row["extraArgs"] == "urls":
        engine["extraArgs"] = draw(st.sampled_from(EXTRA_ARGS))
        engine["env"] = {"OTEL_SERVICE_NAME": draw(st.sampled_from(["vllm", "yes", "0x1F", "a: b"]))}
    hatches: dict = {}
    if row["hatches"]:
        # names the values schema takes (DNS subdomains) that YAML 1.1 reads as booleans and numbers; free text
        word = draw(st.sampled_from(["yes", "0755", "on", "1e3", "high-priority"]))
        text = draw(HOSTILE_TEXT)
        hatches = {"priorityClassName": word, "runtimeClassName": word, "schedulerName": word,
                   "podAnnotations": {"note": text},
                   "extraEnv": [{"name": "NOTE", "value": text}],
                   "extraVolumes": [{"name": "scratch", "emptyDir": {}}],
                   "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}
    return spec, hatches
