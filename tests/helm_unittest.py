"""Run helm-unittest suites (`charts/vllm/tests/*_test.yaml`) through the real Helm engine (helm-python-sdk).

The helm-unittest plugin cannot be installed here (no helm binary, no registry ships it), so this module reads
the same suite format and renders with helm-python-sdk; users with the plugin run `helm unittest charts/vllm`.

Supported: suite keys `suite`, `templates`, `values`, `set`, `release` (name, namespace); test keys `it`,
`template`/`templates`, `documentIndex`, `documentSelector` (path + value), `values`, `set`, `release`,
`asserts`; the assertion types in `ASSERTIONS`, `NEGATED` and `WHOLE_RENDER` with the parameters in `PARAMS`
(each takes `not: true`, and `template`/`documentIndex`/`documentSelector` overrides). Paths are dotted with `[N]`, `["key.with.dots"]` and `[?(@.key == "value")]` filters.
Anything else in a suite (an unknown assertion type such as `matchSnapshot`, a parameter such as `decodeBase64`,
`capabilities`, `chart`, `kubernetesProvider`) raises `UnsupportedFeature`: a suite this runner cannot execute faithfully fails loudly
instead of passing.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

#: helm-unittest's default release (DOCUMENT.md: `release.name` RELEASE-NAME, `release.namespace` NAMESPACE).
DEFAULT_RELEASE = {"name": "RELEASE-NAME", "namespace": "NAMESPACE"}

SUITE_KEYS = {"suite", "templates", "values", "set", "release", "tests", "excludeTemplates"}
TEST_KEYS = {"it", "template", "templates", "documentIndex", "documentSelector", "values", "set", "release", "asserts"}
ASSERT_COMMON_KEYS = {"not", "template", "documentIndex", "documentSelector"}


class UnsupportedFeature(Exception):
    """The suite uses something this runner does not implement; it must fail, never pass silently."""


class AssertionFailed(AssertionError):
    """One assertion did not hold."""


class PathNotFound(Exception):
    """A path does not exist in a document."""


# --- paths ------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\.?(?P<key>[A-Za-z0-9_$@\-/]+)"""          # .key (dashes and slashes allowed, as in label keys)
    r"""|\[(?P<index>-?\d+)\]"""                   # [0]
    r"""|\[(?P<q>["'])(?P<qkey>.*?)(?P=q)\]"""     # ["a.b/c"]
    r"""|\[\?\(@\.(?P<fkey>[A-Za-z0-9_\-]+)\s*==\s*(?P<fq>["'])(?P<fval>.*?)(?P=fq)\)\]"""  # [?(@.name == "x")]
)


def parse_path(path: str) -> list[tuple[str, Any]]:
    """Tokens of a helm-unittest path: ("key", k) | ("index", n) | ("filter", (k, v))."""
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match or match.end() == pos:
            raise UnsupportedFeature(f"path syntax not supported at {path[pos:]!r} in {path!r}")
        if match.group("key") is not None:
            tokens.append(("key", match.group("key")))
        elif match.group("index") is not None:
            tokens.append(("index", int(match.group("index"))))
        elif match.group("qkey") is not None:
            tokens.append(("key", match.group("qkey")))
        else:
            tokens.append(("filter", (match.group("fkey"), match.group("fval"))))
        pos = match.end()
    return tokens


def get_path(doc: Any, path: str) -> Any:
    """Value at `path` in `doc`; raises PathNotFound. A filter selects the first matching list item."""
    node = doc
    for kind, arg in parse_path(path):
        if kind == "key":
            if not isinstance(node, dict) or arg not in node:
                raise PathNotFound(path)
            node = node[arg]
        elif kind == "index":
            if not isinstance(node, list) or not -len(node) <= arg < len(node):
                raise PathNotFound(path)
            node = node[arg]
        else:
            fkey, fval = arg
            if not isinstance(node, list):
                raise PathNotFound(path)
            hits = [item for item in node if isinstance(item, dict) and str(item.get(fkey)) == fval]
            if not hits:
                raise PathNotFound(path)
            node = hits[0]
    return node


def set_path(values: dict, path: str, value: Any) -> None:
    """Helm `--set`-like assignment of `value` at a dotted path (creating maps and growing lists)."""
    tokens = parse_path(path)
    node: Any = values
    for i, (kind, arg) in enumerate(tokens):
        last = i == len(tokens) - 1
        if kind == "filter":
            raise UnsupportedFeature(f"filters cannot be used in `set` paths: {path!r}")
        nxt: Any = {} if last or tokens[i + 1][0] == "key" else []
        if kind == "key":
            if last and value is None:  # Helm: null removes the key (and so its chart default)
                node.pop(arg, None)
            elif last:
                node[arg] = copy.deepcopy(value)
            else:
                if not isinstance(node.get(arg), (dict, list)):
                    node[arg] = nxt
                node = node[arg]
        else:
            while len(node) <= arg:
                node.append(None)
            if last:
                node[arg] = copy.deepcopy(value)
            else:
                if not isinstance(node[arg], (dict, list)):
                    node[arg] = nxt
                node = node[arg]


def merge_values(base: dict, overlay: dict) -> dict:
    """Helm's values coalescing for user files: maps merge recursively, anything else replaces; null deletes."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- rendering --------------------------------------------------------------------------------------------------

@dataclass
class Rendered:
    """The outcome of one render: documents per template (relative to the chart), or the Helm error."""

    documents: dict[str, list[Any]] = field(default_factory=dict)
    error: Exception | None = None


def render(chart_dir: Path, values: dict, release: dict) -> Rendered:
    import helm_python as helm

    chart = helm.Chart.load(str(chart_dir))
    try:
        out = chart.render(values=values, name=release["name"], namespace=release["namespace"])
    except (helm.HelmValuesError, helm.HelmRenderError) as exc:
        return Rendered(error=exc)
    docs: dict[str, list[Any]] = {}
    for name, text in out.items():
        rel = name.split("/", 1)[1] if "/" in name else name
        if rel.endswith("NOTES.txt"):
            docs[rel] = [text]
            continue
        docs[rel] = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    return Rendered(documents=docs)


def _template_key(template: str) -> str:
    return template if template.startswith("templates/") else f"templates/{template}"


# --- assertions -------------------------------------------------------------------------------------------------

def _require(params: dict, *keys: str) -> None:
    for key in keys:
        if key not in params:
            raise UnsupportedFeature(f"assertion needs `{key}` (got {sorted(params)})")


def _value(doc: Any, params: dict) -> Any:
    try:
        return get_path(doc, params["path"])
    except PathNotFound:
        raise AssertionFailed(f"unknown path {params['path']!r}") from None


def _subset(small: Any, big: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _subset(v, big[k]) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(_subset(a, b) for a, b in zip(small, big))
    return small == big


def _equal(doc, params):
    _require(params, "path", "value")
    actual = _value(doc, params)
    return actual == params["value"], f"{params['path']}: expected {params['value']!r}, got {actual!r}"


def _exists(doc, params):
    _require(params, "path")
    try:
        get_path(doc, params["path"])
        return True, f"{params['path']} exists"
    except PathNotFound:
        return False, f"{params['path']} does not exist"


def _contains(doc, params):
    _require(params, "path", "content")
    actual = _value(doc, params)
    if not isinstance(actual, list):
        raise AssertionFailed(f"{params['path']} is not a list: {actual!r}")
    match = (lambda item: _subset(params["content"], item)) if params.get("any") else (lambda item: item == params["content"])
    hits = sum(1 for item in actual if match(item))
    ok = hits == params["count"] if "count" in params else hits > 0
    return ok, f"{params['path']}: {params['content']!r} found {hits} time(s) in {actual!r}"


def _is_kind(doc, params):
    _require(params, "of")
    return doc.get("kind") == params["of"], f"kind: expected {params['of']!r}, got {doc.get('kind')!r}"


def _is_api_version(doc, params):
    _require(params, "of")
    got = doc.get("apiVersion")
    return got == params["of"], f"apiVersion: expected {params['of']!r}, got {got!r}"


def _match_regex(doc, params):
    _require(params, "path", "pattern")
    actual = _value(doc, params)
    if not isinstance(actual, str):
        raise AssertionFailed(f"{params['path']} is not a string: {actual!r}")
    return re.search(params["pattern"], actual) is not None, f"{params['path']}: {actual!r} vs /{params['pattern']}/"


def _is_subset(doc, params):
    _require(params, "path", "content")
    actual = _value(doc, params)
    return _subset(params["content"], actual), f"{params['path']}: {params['content']!r} subset of {actual!r}"


def _length_equal(doc, params):
    _require(params, "count")
    paths = params.get("paths") or [params.get("path")]
    if paths == [None]:
        raise UnsupportedFeature("lengthEqual needs `path` or `paths`")
    lengths = []
    for path in paths:
        value = _value(doc, {"path": path})
        lengths.append(len(value) if value is not None else 0)
    return all(n == params["count"] for n in lengths), f"{paths}: lengths {lengths}, expected {params['count']}"


def _is_null_or_empty(doc, params):
    """helm-unittest's is_nullorempty_validator.go: an unknown path fails; null, an empty string, list or map, and
    any Go zero value (0, 0.0, false) are empty. (Upstream lets `isNotNullOrEmpty` pass on an unknown path; this
    runner fails it too: stricter, never a pass the plugin would refuse.)"""
    _require(params, "path")
    actual = _value(doc, params)
    if isinstance(actual, (str, list, dict)):
        empty = len(actual) == 0
    else:
        empty = actual is None or actual is False or (isinstance(actual, (int, float)) and actual == 0)
    return empty, f"{params['path']}: {actual!r}"


def _compare(op: Callable[[Any, Any], bool], word: str):
    def check(doc, params):
        _require(params, "path", "value")
        actual = _value(doc, params)
        try:
            return op(actual, params["value"]), f"{params['path']}: {actual!r} {word} {params['value']!r}"
        except TypeError:
            raise AssertionFailed(f"{params['path']}: cannot compare {actual!r} with {params['value']!r}") from None
    return check


def _match_regex_raw(doc, params):
    _require(params, "pattern")
    if not isinstance(doc, str):
        raise AssertionFailed("matchRegexRaw applies to raw templates such as NOTES.txt")
    return re.search(params["pattern"], doc) is not None, f"raw text does not match /{params['pattern']}/"


def _equal_raw(doc, params):
    _require(params, "value")
    if not isinstance(doc, str):
        raise AssertionFailed("equalRaw applies to raw templates such as NOTES.txt")
    return doc == params["value"], f"raw text is {doc!r}"


#: Per-document assertions: name -> check(doc, params) -> (ok, message). `not: true` inverts `ok`.
ASSERTIONS: dict[str, Callable[[Any, dict], tuple[bool, str]]] = {
    "equal": _equal,
    "exists": _exists,
    "contains": _contains,
    "isKind": _is_kind,
    "isAPIVersion": _is_api_version,
    "matchRegex": _match_regex,
    "isSubset": _is_subset,
    "lengthEqual": _length_equal,
    "isNullOrEmpty": _is_null_or_empty,
    "matchRegexRaw": _match_regex_raw,
    "equalRaw": _equal_raw,
    "greaterOrEqual": _compare(lambda a, b: a >= b, ">="),
    "lessOrEqual": _compare(lambda a, b: a <= b, "<="),
}
#: Negated spellings helm-unittest offers as their own types.
NEGATED = {
    "notEqual": "equal",
    "notExists": "exists",
    "notContains": "contains",
    "notMatchRegex": "matchRegex",
    "notMatchRegexRaw": "matchRegexRaw",
    "notEqualRaw": "equalRaw",
    "isNotSubset": "isSubset",
    "isNotNullOrEmpty": "isNullOrEmpty",
}
#: Assertions about the render or the document set rather than one document.
WHOLE_RENDER = {"failedTemplate", "notFailedTemplate", "hasDocuments", "containsDocument"}


#: The parameters this runner implements for each assertion type; any other key (helm-unittest's `decodeBase64`,
#: `containsDocument.any`, a misspelt key) raises UnsupportedFeature rather than being ignored into a false pass.
PARAMS: dict[str, set[str]] = {
    "equal": {"path", "value"}, "notEqual": {"path", "value"},
    "exists": {"path"}, "notExists": {"path"},
    "contains": {"path", "content", "count", "any"}, "notContains": {"path", "content", "any"},
    "isKind": {"of"}, "isAPIVersion": {"of"},
    "matchRegex": {"path", "pattern"}, "notMatchRegex": {"path", "pattern"},
    "isSubset": {"path", "content"}, "isNotSubset": {"path", "content"},
    "lengthEqual": {"path", "paths", "count"},
    "isNullOrEmpty": {"path"}, "isNotNullOrEmpty": {"path"},
    "matchRegexRaw": {"pattern"}, "notMatchRegexRaw": {"pattern"},
    "equalRaw": {"value"}, "notEqualRaw": {"value"},
    "greaterOrEqual": {"path", "value"}, "lessOrEqual": {"path", "value"},
    "failedTemplate": {"errorMessage", "errorPattern"}, "notFailedTemplate": set(),
    "hasDocuments": {"count", "filterAware"},
    "containsDocument": {"kind", "apiVersion", "name", "namespace"},
}


def supported_types() -> set[str]:
    return set(ASSERTIONS) | set(NEGATED) | WHOLE_RENDER


def _error_text(exc: Exception) -> str:
    return str(exc)


def _fail_message(text: str) -> list[str]:
    """Candidate messages of a Helm error: the whole text, each line, and what follows `execution error at (...): `."""
    out = [text.strip()]
    for line in text.splitlines():
        line = line.strip()
        if line:
            out.append(line)
            match = re.search(r"execution error at \([^)]*\): (.*)$", line)
            if match:
                out.append(match.group(1).strip())
    return out


def _select_docs(docs: list[Any], selector: dict | None, index: int | None) -> list[Any]:
    """helm-unittest's document filter: `documentSelector` (path, optional value; one match unless
    `matchMany`; at least one unless `skipEmptyTemplates`), then `documentIndex` (-1 = all)."""
    if selector:
        _require(selector, "path")
        unknown = set(selector) - {"path", "value", "matchMany", "skipEmptyTemplates"}
        if unknown:
            raise UnsupportedFeature(f"documentSelector keys not supported: {sorted(unknown)}")
        chosen = []
        for doc in docs:
            try:
                found = get_path(doc, selector["path"])
            except PathNotFound:
                continue
            if "value" not in selector or found == selector["value"]:
                chosen.append(doc)
        if not chosen and not selector.get("skipEmptyTemplates"):
            raise AssertionFailed(f"documentSelector {selector} matched no document")
        if len(chosen) > 1 and not selector.get("matchMany"):
            raise AssertionFailed(f"documentSelector {selector} matched {len(chosen)} documents (set matchMany)")
        docs = chosen
    if index is not None and index != -1:
        if not 0 <= index < len(docs):
            raise AssertionFailed(f"documentIndex {index} out of range ({len(docs)} documents)")
        return [docs[index]]
    return docs


def run_assert(entry: dict, rendered: Rendered, templates: list[str], test: dict) -> None:
    """Check one assertion entry against a render; raise AssertionFailed or UnsupportedFeature."""
    types = [k for k in entry if k not in ASSERT_COMMON_KEYS]
    if len(types) != 1:
        raise UnsupportedFeature(f"an assertion needs exactly one type, got {types}")
    kind = types[0]
    params = entry[kind] or {}
    negate = bool(entry.get("not"))
    if kind not in supported_types():
        raise UnsupportedFeature(f"assertion type {kind!r} is not implemented by this runner")
    if not isinstance(params, dict):
        raise UnsupportedFeature(f"{kind}: parameters must be a mapping, got {params!r}")
    unknown = set(params) - PARAMS[kind]
    if unknown:
        raise UnsupportedFeature(f"{kind}: parameters not supported by this runner: {sorted(unknown)}")

    if kind in ("failedTemplate", "notFailedTemplate"):
        failed = rendered.error is not None
        if kind == "notFailedTemplate":
            ok, msg = not failed, f"render failed: {rendered.error}"
        elif not failed:
            ok, msg = False, "the render succeeded"
        elif "errorMessage" in params:
            ok = params["errorMessage"].strip() in _fail_message(_error_text(rendered.error))
            msg = f"error {_error_text(rendered.error)!r} is not {params['errorMessage']!r}"
        elif "errorPattern" in params:
            ok = re.search(params["errorPattern"], _error_text(rendered.error)) is not None
            msg = f"error {_error_text(rendered.error)!r} does not match /{params['errorPattern']}/"
        else:
            ok, msg = True, ""
        if ok == negate:
            raise AssertionFailed(("NOT " if negate else "") + kind + ": " + (msg or "unexpected"))
        return

    if rendered.error is not None:
        raise AssertionFailed(f"render failed: {rendered.error}")

    assert_templates = [entry["template"]] if "template" in entry else templates
    docs: list[Any] = []
    for template in assert_templates:
        key = _template_key(template)
        if key not in rendered.documents:
            raise AssertionFailed(f"template {template!r} does not exist in the chart")
        docs.extend(rendered.documents[key])

    if kind == "hasDocuments":
        _require(params, "count")
        if params.get("filterAware"):
            docs = _select_docs(docs, entry.get("documentSelector", test.get("documentSelector")),
                                entry.get("documentIndex", test.get("documentIndex")))
        ok = len(docs) == params["count"]
        if ok == negate:
            raise AssertionFailed(f"hasDocuments: expected {params['count']}, got {len(docs)}")
        return
    if kind == "containsDocument":
        _require(params, "kind", "apiVersion")
        def matches(doc):
            meta = doc.get("metadata") or {}
            return (doc.get("kind") == params["kind"] and doc.get("apiVersion") == params["apiVersion"]
                    and ("name" not in params or meta.get("name") == params["name"])
                    and ("namespace" not in params or meta.get("namespace") == params["namespace"]))
        ok = any(matches(doc) for doc in docs)
        if ok == negate:
            raise AssertionFailed(f"containsDocument {params}: {'found' if ok else 'not found'}")
        return

    index = entry.get("documentIndex", test.get("documentIndex"))
    selector = entry.get("documentSelector", test.get("documentSelector"))
    docs = _select_docs(docs, selector, index)
    if not docs:
        raise AssertionFailed(f"{kind}: no document rendered by {assert_templates}")
    if kind in NEGATED:
        kind, negate = NEGATED[kind], not negate
    check = ASSERTIONS[kind]
    for i, doc in enumerate(docs):
        ok, msg = check(doc, params)
        if ok == negate:
            raise AssertionFailed(f"{'NOT ' if negate else ''}{kind} failed on document {i}: {msg}")


# --- suites -----------------------------------------------------------------------------------------------------

@dataclass
class Case:
    suite_file: Path
    suite: dict
    test: dict

    @property
    def id(self) -> str:
        return f"{self.suite_file.stem}::{self.test.get('it', '?')}"


def load_suites(chart_dir: Path) -> list[Case]:
    cases = []
    for suite_file in sorted((chart_dir / "tests").glob("*_test.yaml")):
        suite = yaml.safe_load(suite_file.read_text(encoding="utf-8"))
        unknown = set(suite) - SUITE_KEYS
        if unknown:
            raise UnsupportedFeature(f"{suite_file.name}: suite keys not supported: {sorted(unknown)}")
        for test in suite.get("tests") or []:
            cases.append(Case(suite_file, suite, test))
    return cases


def _values_from_files(suite_file: Path, files: list[str]) -> dict:
    values: dict = {}
    for name in files or []:
        loaded = yaml.safe_load((suite_file.parent / name).read_text(encoding="utf-8")) or {}
        values = merge_values(values, loaded)
    return values


def _apply_set(values: dict, sets: dict | None) -> dict:
    for path, value in (sets or {}).items():
        set_path(values, path, value)
    return values


def run_case(chart_dir: Path, case: Case) -> None:
    """Render one test of a suite and check all its assertions (collecting every failure)."""
    suite, test = case.suite, case.test
    unknown = set(test) - TEST_KEYS
    if unknown:
        raise UnsupportedFeature(f"{case.id}: test keys not supported: {sorted(unknown)}")
    values = _values_from_files(case.suite_file, suite.get("values"))
    values = _apply_set(values, suite.get("set"))
    values = merge_values(values, _values_from_files(case.suite_file, test.get("values")))
    values = _apply_set(values, test.get("set"))
    release = {**DEFAULT_RELEASE, **(suite.get("release") or {}), **(test.get("release") or {})}
    unknown_release = set(release) - {"name", "namespace"}
    if unknown_release:
        raise UnsupportedFeature(f"{case.id}: release keys not supported: {sorted(unknown_release)}")
    if "template" in test:
        templates = [test["template"]]
    else:
        templates = test.get("templates") or suite.get("templates") or []
    rendered = render(chart_dir, values, release)
    failures = []
    asserts = test.get("asserts") or []
    if not asserts:
        raise UnsupportedFeature(f"{case.id}: a test without asserts cannot fail")
    for i, entry in enumerate(asserts):
        try:
            run_assert(entry, rendered, templates, test)
        except AssertionFailed as exc:
            failures.append(f"assert {i} {list(entry)}: {exc}")
    if failures:
        raise AssertionFailed(f"{case.id}:\n  " + "\n  ".join(failures))
