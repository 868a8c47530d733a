"""Every spec the schema accepts works: specs generated from schemas/model-spec.schema.json itself (every field,
every string also drawn from a hostile set) and realistic specs (real model sizes, every layout, server and role
set, autoscaling, LoRA, caches, gateway, escape hatches, extraArgs with URLs and quotes; every pair of feature
levels covered) go through `validate` -> `values` -> the real Helm engine -> strict Kubernetes schemas (1.30 and
the newest) and the upstream CRDs -> the supervisor's `--print-command` under vLLM's own parser -> the mounted spec
read back (tests/spec_pipeline.py). Either validate refuses the spec with one clear message naming the file, or
every stage passes; no traceback anywhere.

Examples per run (derandomized): VLLMGEN_SPEC_SPACE_EXAMPLES generated (default 300) and 3 per pairwise row
(18 rows). benchmarks/spec_space.py runs the same pipeline over tens of thousands."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spec_pipeline import run
from strategies import PAIRWISE, realistic_specs, schema_specs

EXAMPLES = int(os.environ.get("VLLMGEN_SPEC_SPACE_EXAMPLES", "300"))
#: A bound per spec (one Helm render, two schema versions, vLLM's parser), with room for a saturated machine.
PER_SPEC = timedelta(seconds=60)
SETTINGS = settings(deadline=PER_SPEC, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


def _text(spec, as_json: bool) -> str:
    if as_json:
        return json.dumps(spec, ensure_ascii=False)
    from vllmgen.yamlio import dump

    return dump(spec)


def _check(text: str, hatches: dict | None = None):
    outcome = run(text, hatches)
    assert outcome.kind in ("refused", "passed"), f"{outcome.kind} at {outcome.stage}: {outcome.detail}\n{text}"
    return outcome


MODEL = {"source": "hf://meta-llama/Llama-3.1-70B-Instruct", "parameters": 70.6e9}
#: The defects this suite found or was written for; each failed on the old code.
DEFECTS = [
    # autoscaling on a large hf:// model: KeyError 'replicas' (caches.pods) in validate and values
    {"model": MODEL, "engine": {"tensorParallelSize": 4},
     "roles": {"standalone": {"autoscaling": {"autoscaler": "hpa", "maxReplicas": 4, "target": 5}}}},
    # a URL with a query in extraArgs: written as a flow list Helm refuses
    {"model": {"source": "hf://Qwen/Qwen3-0.6B", "weightsGiB": 1.2},
     "engine": {"extraArgs": ["--otlp-traces-endpoint", "http://collector:4317/v1/traces?x=1"]}},
    # a prefix of a controlled flag: vLLM reads --api-k as --api-key (must be refused)
    {"model": {"source": "hf://Qwen/Qwen3-0.6B", "weightsGiB": 1.2}, "engine": {"extraArgs": ["--api-k=sk-1"]}},
    # YAML 1.1 words in names the chart interpolates (HPA metric, cache claim, endpoint picker image)
    # found by the spec space: a bandwidth near 0 (OverflowError), extraArgs starting with a value (vLLM refused)
    {"model": {"source": "hf://a/b", "parameters": 6.9e13, "dtype": "int4"}, "startup": {"downloadMBps": 5e-324}},
    {"model": {"source": "/models/tiny", "weightsGiB": 1}, "engine": {"extraArgs": ["\u00a7\u00ce"]}},
    {"model": MODEL, "engine": {"tensorParallelSize": 4}, "caches": {"claim": "pvc://0755"},
     "routing": {"inferencePool": True, "endpointPicker": {"image": "0755"}},
     "roles": {"standalone": {"autoscaling": {"autoscaler": "hpa", "maxReplicas": 2, "target": 5,
                                             "adapterMetric": "yes"}}}},
    # found by benchmarks/spec_space.py at 20,000 specs: U+FFFF in a spec string, written raw by Helm's toYaml,
    # which every YAML reader refuses (must be refused by validate)
    {"model": {"source": "/\uffff", "weightsGiB": 1}},
    # found at 20,000 specs: a quantity past Kubernetes' largest (read back as an infinite float; must be refused),
    # a quantity go-yaml reads as a number (`.5e1`: Helm refused the values), an adapter path with a comma (vLLM's
    # parser took `name=path` for JSON and refused the command)
    {"model": {"source": "/models/tiny", "weightsGiB": 1}, "layout": "wide-ep",
     "wideEP": {"dshmSizeLimit": "+9688e57000755531433"}},
    # (and at the next 20,000: an exponent past what Python's Decimal scales, InvalidOperation)
    {"model": {"source": "/models/tiny", "weightsGiB": 1}, "layout": "wide-ep",
     "wideEP": {"dshmSizeLimit": "9e+4258981535500524732322"}},
    {"model": {"source": "/models/tiny", "weightsGiB": 1}, "layout": "wide-ep", "wideEP": {"dshmSizeLimit": ".5e1"}},
    {"model": {"source": "/models/tiny", "weightsGiB": 1, "loras": [{"name": "ad", "source": "/adapters/a,b=c"}]}},
    # a start budget of years (a 690B model at 10 kB/s): Helm printed progressDeadlineSeconds and NOTES numbers as
    # `6.21013935e+08`, which the API server refuses for an integer field
    {"model": {"source": "hf://a/b", "parameters": 6.9e11}, "engine": {"tensorParallelSize": 8},
     "startup": {"downloadMBps": 0.01}},
    # once lint joined the pipeline: a multi-node spec whose accelerators come by a DRA class lint does not know
    # (VG009 "requests no accelerators" on vllmgen's own values); three roles of the spec in one pool (refused
    # naming the command line instead of the spec file)
    {"accelerator": {"deviceClassName": "accelerators.example.com", "type": "amd"}, "layout": "multi-node",
     "model": {"source": "/models/tiny", "weightsGiB": 100}, "probes": {"mode": "plain"}},
    {"model": {"source": "/models/tiny", "weightsGiB": 1}, "routing": {"inferencePool": True},
     "roles": {"standalone": {"replicas": 1}, "prefill": {"replicas": 1}, "decode": {"replicas": 1}}},
    # an accelerator resource without a domain: the schemas pass it, the API server refuses it in a container
    {"model": {"source": "/models/tiny", "weightsGiB": 1}, "accelerator": {"resource": "E-tKDuNkB4dXZs0o2XsXsL8JDS0"}},
    # a C1 control character in the model path: Helm's toYaml swallowed go-yaml's refusal and rendered the
    # container with no args at all (lint saw tensor parallel 1 beside 64 GPUs); must be refused
    {"model": {"source": "pvc://models/\x81tiny", "weightsGiB": 1}, "engine": {"tensorParallelSize": 2},
     "probes": {"mode": "plain"}},
]


@settings(SETTINGS, max_examples=EXAMPLES)
@given(schema_specs(), st.booleans())
@example(DEFECTS[0], True)
@example(DEFECTS[1], False)
@example(DEFECTS[2], True)
@example(DEFECTS[3], False)
@example(DEFECTS[4], True)
@example(DEFECTS[5], False)
@example(DEFECTS[6], True)
@example(DEFECTS[7], False)
@example(DEFECTS[8], True)
@example(DEFECTS[9], False)
@example(DEFECTS[10], True)
@example(DEFECTS[11], False)
@example(DEFECTS[12], True)
@example(DEFECTS[13], False)
@example(DEFECTS[14], True)
@example(DEFECTS[15], True)
def test_every_generated_spec_is_refused_clearly_or_works_end_to_end(spec, as_json):
    _check(_text(spec, as_json))


@pytest.mark.parametrize("row", range(len(PAIRWISE)), ids=lambda i: f"row{i}")
def test_realistic_specs_cover_every_pair_of_features(row):
    @settings(SETTINGS, max_examples=3)
    @given(realistic_specs(PAIRWISE[row]))
    def check(case):
        spec, hatches = case
        _check(_text(spec, False), hatches)

    check()


def test_the_pairwise_rows_cover_every_pair():
    import itertools

    from strategies import FEATURES

    for a, b in itertools.combinations(FEATURES, 2):
        seen = {(r[a], r[b]) for r in PAIRWISE}
        assert seen == set(itertools.product(FEATURES[a], FEATURES[b])), (a, b)


NAMED = {"autoscaled-70b": "passed", "otlp-url": "passed", "api-key-prefix": "refused", "infinite-budget": "refused",
         "stray-extra-arg": "refused", "yaml11-names": "passed", "noncharacter": "refused", "huge-quantity": "refused",
         "huge-exponent": "refused", "dotted-exponent": "passed", "adapter-comma": "passed",
         "exponent-integers": "passed", "custom-dra-class": "passed", "spec-roles-in-one-pool": "refused",
         "unprefixed-resource": "refused", "c1-control-character": "refused"}


@pytest.mark.parametrize("spec,expected", zip(DEFECTS, NAMED.values(), strict=True), ids=list(NAMED))
def test_the_named_defects(spec, expected):
    assert _check(_text(spec, False)).kind == expected
