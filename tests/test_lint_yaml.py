"""lint's fast YAML reader gives exactly what yamlio gives: the same data, the same lines, the same errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vllmgen.errors import InputError
from vllmgen.lint import fastyaml
from vllmgen.lint.fastyaml import parse_documents as fast
from vllmgen.yamlio import dump, parse_documents as reference

DATA = Path(__file__).parent / "data" / "lint"

EDGE_CASES = {
    "merge-key": "base: &b {a: 1}\nderived:\n  <<: *b\n  c: 2\n",
    "timestamp": "when: 2001-12-14t21:59:43.10-05:00\nday: 2002-12-14\n",
    "duplicate-key": "a: 1\na: 2\n",
    "int-key": "8000: sidecar\n",
    "null-key": "~: x\n",
    "anchors": "x: &p {port: 8200}\ny: *p\nz: [*p, *p]\n",
    "numbers": "a: 0x1F\nb: 0o17\nc: 1.5e3\nd: -0\ne: .inf\n",
    "bools-1.2": "a: yes\nb: on\nc: true\nd: False\n",
    "custom-tag": "a: !secret token\n",
    "binary": "a: !!binary aGVsbG8=\n",
    "multi": "a: 1\n---\n---\nb: [1, {c: d}]\n",
    "empty": "",
    "comments-only": "# nothing\n",
    "bad-indent": "a:\n  b: 1\n c: 2\n",
    "unclosed": "a: [1, 2\n",
    "tabs": "a:\n\tb: 1\n",
    "quoted": "'a b': \"c\\td\"\nk: 'it''s'\n",
    "block-scalars": "s: |\n  line1\n  line2\nf: >-\n  folded\n  text\n",
    "empty-docs": "---\n---\n",
    "root-scalar": "just text\n",
    "root-list": "- a\n- {b: [1, 2]}\n- - x\n",
    "complex-key": "? [a, b]\n: c\n",
    "quoted-key-number": "'8000': sidecar\n",
    "yaml-1.1-directive": "%YAML 1.1\n---\na: yes\n",
    "explicit-str": "a: !!str 123\n",
    "empty-values": "a:\nb: ''\nc: []\nd: {}\n",
}


def outcome(parse, text):
    try:
        return [(d.data, d._lines) for d in parse(text, "f.yaml")]
    except InputError as exc:
        return ("error", exc.format())


def each_reader_agrees(text):
    """The combined reader equals yamlio; each fast path either equals it too or hands the text on."""
    expected = outcome(reference, text)
    assert outcome(fast, text) == expected
    for reader in (fastyaml._libyaml, fastyaml._fast):
        try:
            got = [(d.data, d._lines) for d in reader(text, "f.yaml")]
        except Exception:  # noqa: BLE001 - handed on to the next reader
            continue
        assert got == expected, reader.__name__


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_match_yamlio(name):
    each_reader_agrees(EDGE_CASES[name])


@pytest.mark.parametrize("path", sorted(DATA.rglob("*.yaml")), ids=lambda p: p.name)
def test_fixtures_match_yamlio(path):
    each_reader_agrees(path.read_text())


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=60, deadline=None)
@given(json_like)
def test_any_dumped_data_matches_yamlio(data):
    each_reader_agrees(dump({"root": data}))


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab:-[]{}'\"#&*!|>?,\n 01.~%\t@`\\", max_size=60))
def test_arbitrary_text_matches_yamlio(text):
    each_reader_agrees(text)


_LINE = st.tuples(
    st.sampled_from(["", "  ", "    ", "- ", "  - ", "      "]),
    st.sampled_from(["a", "b", "port", '"q"', "'s'", "8000", "x y", "? k", "-"]),
    st.sampled_from([": ", ":", ": |", ": >-", ": [1, 2]", ": {a: 1}", ": ~", ": yes", ": 0o17", ': "v"', "",
                     " # c", ": &a x", ": *a", ": !!str 1", ": 2001-01-01"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_LINE, max_size=10).map(lambda ls: "\n".join("".join(p) for p in ls) + "\n"))
def test_line_structured_text_matches_yamlio(text):
    each_reader_agrees(text)


def test_libyaml_reader_is_used_for_plain_files_when_available():
    yaml = pytest.importorskip("yaml")
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml")
    text = (DATA / "good" / "wide-ep-lws.yaml").read_text()
    assert [d.data for d in fastyaml._libyaml(text, "f")] == [d.data for d in reference(text, "f")]
