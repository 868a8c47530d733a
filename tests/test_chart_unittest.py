"""The chart's helm-unittest suites (charts/vllm/tests/*_test.yaml), executed through the real Helm engine by
tests/helm_unittest.py; plus checks that the runner itself fails on what it cannot or should not pass."""

from __future__ import annotations

import pytest

from tests import helm_unittest as hu
from tests.chartcheck import CHART

CASES = hu.load_suites(CHART)


def test_suites_exist():
    assert len({c.suite_file.name for c in CASES}) >= 4 and len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_suite(case):
    hu.run_case(CHART, case)


def _case(asserts, **test) -> hu.Case:
    suite = {"suite": "meta", "templates": ["deployment.yaml"], "values": ["values/decode-supervised.yaml"]}
    return hu.Case(CHART / "tests" / "meta_test.yaml", suite, {"it": "meta", "asserts": asserts, **test})


@pytest.mark.parametrize("kind", ["matchSnapshot", "isType", "someFutureAssertion"])
def test_unimplemented_assertion_types_fail_loudly(kind):
    with pytest.raises(hu.UnsupportedFeature, match=kind):
        hu.run_case(CHART, _case([{kind: {"path": "metadata.name"}}]))


def test_unsupported_suite_keys_fail_loudly():
    with pytest.raises(hu.UnsupportedFeature, match="capabilities"):
        hu.run_case(CHART, _case([{"isKind": {"of": "Deployment"}}], capabilities={"majorVersion": 1}))


@pytest.mark.parametrize(
    "entry",
    [
        {"equal": {"path": "spec.replicas", "value": 4}},
        {"equal": {"path": "spec.nothing.here", "value": 1}},
        {"isKind": {"of": "StatefulSet"}},
        {"contains": {"path": "spec.template.spec.containers[0].ports", "content": {"name": "proxy", "containerPort": 8000}}},
        {"notExists": {"path": "spec.template.spec.initContainers"}},
        {"hasDocuments": {"count": 2}},
        {"matchRegex": {"path": "metadata.name", "pattern": "^prefill"}},
        {"failedTemplate": {}},
        {"equal": {"path": "spec.replicas", "value": 3}, "not": True},
        {"lengthEqual": {"path": "spec.template.spec.containers", "count": 2}},
        {"isSubset": {"path": "spec.template.spec.securityContext", "content": {"runAsNonRoot": False}}},
        {"isKind": {"of": "Deployment"}, "documentSelector": {"path": "metadata.name", "value": "nothing"}},
        {"isKind": {"of": "Deployment"}, "documentIndex": 1},
    ],
    ids=lambda e: next(iter(e)),
)
def test_false_assertions_fail(entry):
    with pytest.raises(hu.AssertionFailed):
        hu.run_case(CHART, _case([entry]))


def test_true_assertions_pass():
    hu.run_case(CHART, _case([
        {"equal": {"path": "spec.replicas", "value": 3}},
        {"equal": {"path": 'metadata.labels["app.kubernetes.io/component"]', "value": "decode"}},
        {"notFailedTemplate": {}},
        {"greaterOrEqual": {"path": "spec.template.spec.terminationGracePeriodSeconds", "value": 50}},
        {"lessOrEqual": {"path": "spec.template.spec.terminationGracePeriodSeconds", "value": 50}},
        {"containsDocument": {"kind": "Deployment", "apiVersion": "apps/v1", "name": "RELEASE-NAME-vllm-decode"}},
    ]))


def test_set_and_values_merge_like_helm():
    values = hu.merge_values({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "d": None})
    assert values == {"a": {"b": 1, "c": [3]}}
    hu.set_path(values, 'a.x["k.y"][1].z', 5)
    assert values["a"]["x"]["k.y"] == [None, {"z": 5}]

