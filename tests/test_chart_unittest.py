"""The chart's helm-unittest suites (charts/vllm/tests/*_test.yaml), executed through the real Helm engine by
tests/helm_unittest.py; plus checks that the runner itself fails on what it cannot or should not pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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



# --- the suites' syntax is helm-unittest 1.x's ----------------------------------------------------------------------
# What helm-unittest 1.x documents, written out from helm-unittest/helm-unittest DOCUMENT.md at tag v1.1.0 (sections
# "Test Suite", "Test Job", "Assertion" and the "Assertion Types" table): a suite or runner key outside these lists
# is one the real plugin (CI's chart job) does not know.

#: "Test Suite": the root keys of a suite file.
UPSTREAM_SUITE_KEYS = {"suite", "values", "set", "templates", "excludeTemplates", "includeCrds", "release",
                       "capabilities", "chart", "kubernetesProvider", "skip", "postRenderer", "tests"}
#: "Test Job": the keys of one test.
UPSTREAM_TEST_KEYS = {"it", "values", "set", "template", "templates", "documentIndex", "documentSelector", "release",
                      "capabilities", "chart", "kubernetesProvider", "skip", "postRenderer", "asserts"}
#: "Assertion": the options beside the one assertion type key.
UPSTREAM_ASSERT_OPTIONS = {"not", "template", "documentIndex", "documentSelector"}
#: DocumentSelector (test job and assertion).
UPSTREAM_SELECTOR_KEYS = {"path", "value", "matchMany", "skipEmptyTemplates"}
#: `release` (suite and test job).
UPSTREAM_RELEASE_KEYS = {"name", "namespace", "revision", "upgrade"}
#: "Assertion Types": each type and its parameters.
UPSTREAM_ASSERTIONS = {
    "containsDocument": {"kind", "apiVersion", "name", "namespace", "any"},
    "contains": {"path", "content", "count", "any"},
    "notContains": {"path", "content", "any"},
    "equal": {"path", "value", "decodeBase64"},
    "notEqual": {"path", "value", "decodeBase64"},
    "equalRaw": {"value"},
    "notEqualRaw": {"value"},
    "exists": {"path"},
    "notExists": {"path"},
    "failedTemplate": {"errorMessage", "errorPattern"},
    "notFailedTemplate": set(),
    "greaterOrEqual": {"path", "value"},
    "notGreaterOrEqual": {"path", "value"},
    "hasDocuments": {"count", "filterAware"},
    "lessOrEqual": {"path", "value"},
    "notLessOrEqual": {"path", "value"},
    "isAPIVersion": {"of"},
    "isKind": {"of"},
    "isNullOrEmpty": {"path"},
    "isNotNullOrEmpty": {"path"},
    "isSubset": {"path", "content"},
    "isNotSubset": {"path", "content"},
    "isType": {"path", "type"},
    "isNotType": {"path", "type"},
    "lengthEqual": {"path", "paths", "count"},
    "notLengthEqual": {"path", "paths", "count"},
    "matchRegex": {"path", "pattern", "decodeBase64"},
    "notMatchRegex": {"path", "pattern", "decodeBase64"},
    "matchRegexRaw": {"pattern"},
    "notMatchRegexRaw": {"pattern"},
    "matchSnapshot": {"path"},
    "matchSnapshotRaw": set(),
}


def _suite_files() -> list[Path]:
    return sorted((CHART / "tests").glob("*_test.yaml"))


def _syntax_used() -> dict[str, set]:
    """Every key the chart's suites use, by where it stands."""
    used: dict[str, set] = {"suite": set(), "test": set(), "option": set(), "selector": set(), "release": set()}
    params: dict[str, set] = {}
    for path in _suite_files():
        suite = yaml.safe_load(path.read_text(encoding="utf-8"))
        used["suite"] |= set(suite)
        used["release"] |= set(suite.get("release") or {})
        for test in suite["tests"]:
            used["test"] |= set(test)
            used["release"] |= set(test.get("release") or {})
            used["selector"] |= set(test.get("documentSelector") or {})
            for entry in test["asserts"]:
                used["option"] |= set(entry) & UPSTREAM_ASSERT_OPTIONS
                used["selector"] |= set(entry.get("documentSelector") or {})
                for kind in set(entry) - UPSTREAM_ASSERT_OPTIONS:
                    params.setdefault(kind, set()).update(entry[kind] or {})
    used["params"] = params  # type: ignore[assignment]
    return used


def test_every_assertion_type_and_key_the_suites_use_is_helm_unittest_1x():
    used = _syntax_used()
    assert used["suite"] <= UPSTREAM_SUITE_KEYS, used["suite"] - UPSTREAM_SUITE_KEYS
    assert used["test"] <= UPSTREAM_TEST_KEYS, used["test"] - UPSTREAM_TEST_KEYS
    assert used["selector"] <= UPSTREAM_SELECTOR_KEYS and used["release"] <= UPSTREAM_RELEASE_KEYS
    params = used["params"]
    assert len(params) >= 10, "the suites use the common assertion types"
    for kind, keys in params.items():
        assert kind in UPSTREAM_ASSERTIONS, f"{kind} is no helm-unittest 1.x assertion type"
        assert keys <= UPSTREAM_ASSERTIONS[kind], f"{kind}: {sorted(keys - UPSTREAM_ASSERTIONS[kind])} undocumented"


def test_the_local_runner_accepts_nothing_helm_unittest_1x_does_not():
    # so a suite that passes here is one the plugin in CI can read
    assert hu.SUITE_KEYS <= UPSTREAM_SUITE_KEYS and hu.TEST_KEYS <= UPSTREAM_TEST_KEYS
    assert hu.ASSERT_COMMON_KEYS == UPSTREAM_ASSERT_OPTIONS
    assert set(hu.DEFAULT_RELEASE) <= UPSTREAM_RELEASE_KEYS
    assert hu.supported_types() <= set(UPSTREAM_ASSERTIONS)
    for kind, keys in hu.PARAMS.items():
        assert keys <= UPSTREAM_ASSERTIONS[kind], kind


def test_the_local_runner_runs_every_type_and_key_the_suites_use():
    used = _syntax_used()
    assert used["suite"] <= hu.SUITE_KEYS and used["test"] <= hu.TEST_KEYS
    for kind, keys in used["params"].items():
        assert kind in hu.supported_types() and keys <= hu.PARAMS[kind], kind


@pytest.mark.parametrize("entry", [
    {"equal": {"path": "metadata.name", "value": "UkVMRUFTRQ==", "decodeBase64": True}},
    {"equal": {"path": "spec.replicas", "valeu": 3}},
    {"containsDocument": {"kind": "Deployment", "apiVersion": "apps/v1", "any": True}},
    {"notContains": {"path": "spec.template.spec.containers", "content": {"name": "x"}, "count": 1}},
], ids=["decodeBase64", "misspelt", "containsDocument-any", "notContains-count"])
def test_a_parameter_the_runner_does_not_implement_fails_loudly(entry):
    with pytest.raises(hu.UnsupportedFeature, match="parameters not supported"):
        hu.run_case(CHART, _case([entry]))


@pytest.mark.parametrize("value,empty", [(None, True), ("", True), (0, True), (0.0, True), ([], True), ({}, True),
                                         (False, True), (1, False), ("x", False), ([0], False), (True, False)])
def test_is_null_or_empty_is_upstreams(value, empty):
    # DOCUMENT.md: `null`, `""`, `0`, `[]`, `{}`; is_nullorempty_validator.go: a Go zero value, so false too
    ok, _ = hu.ASSERTIONS["isNullOrEmpty"]({"a": value}, {"path": "a"})
    assert ok is empty


def test_is_null_or_empty_on_an_unknown_path_fails_as_upstream():
    # is_nullorempty_validator.go: "unknown path" is a failure, not an empty value
    with pytest.raises(hu.AssertionFailed, match="unknown path"):
        hu.run_case(CHART, _case([{"isNullOrEmpty": {"path": "spec.template.spec.nothing"}}]))
