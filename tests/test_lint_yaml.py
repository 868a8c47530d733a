"""lint's fast YAML reader gives exactly what yamlio gives: the same data, the same lines, the same errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vllmgen.errors import InputError
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
}


def outcome(parse, text):
    try:
        return [(d.data, d._lines) for d in parse(text, "f.yaml")]
    except InputError as exc:
        return ("error", exc.format())


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_match_yamlio(name):
    text = EDGE_CASES[name]
    assert outcome(fast, text) == outcome(reference, text)


@pytest.mark.parametrize("path", sorted(DATA.rglob("*.yaml")), ids=lambda p: p.name)
def test_fixtures_match_yamlio(path):
    text = path.read_text()
    assert outcome(fast, text) == outcome(reference, text)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=60, deadline=None)
@given(json_like)
def test_any_dumped_data_matches_yamlio(data):
    text = dump({"root": data})
    assert outcome(fast, text) == outcome(reference, text)
