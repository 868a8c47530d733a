"""The one YAML reader (vllmgen.yamlio): the data and lines it gives, what it refuses, and that libyaml's parser
(used when ruamel.yaml.clib is installed) and ruamel's pure-Python parser give the same documents and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vllmgen import yamlio
from vllmgen.errors import InputError
from vllmgen.yamlio import MAX_DEPTH, MAX_EXPANDED_NODES, dump, parse_documents

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
YAML_FILES = sorted(DATA.rglob("*.yaml")) + sorted((REPO / "guides").rglob("*.yaml")) + [
    REPO / "charts" / "vllm" / "values.yaml", REPO / "charts" / "vllm" / "Chart.yaml"]

needs_libyaml = pytest.mark.skipif(yamlio._libyaml_parser() is None, reason="ruamel.yaml.clib is not installed")

EDGE_CASES = {
    "merge-key": "base: &b {a: 1}\nderived:\n  <<: *b\n  c: 2\n",
    "merge-list": "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 0\n",
    "merge-inline": "a:\n  <<: {x: 1}\n  y: 2\n",
    "timestamp": "when: 2001-12-14t21:59:43.10-05:00\nday: 2002-12-14\n",
    "duplicate-key": "a: 1\na: 2\n",
    "int-key": "8000: sidecar\n",
    "null-key": "~: x\n",
    "empty-key": ": x\n",
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
    "root-block-scalar": ">\n#\n",
    "empty-docs": "---\n---\n",
    "root-scalar": "just text\n",
    "root-list": "- a\n- {b: [1, 2]}\n- - x\n",
    "empty-items": "-\n- a\n-\n",
    "complex-key": "? [a, b]\n: c\n",
    "quoted-key-number": "'8000': sidecar\n",
    "yaml-1.1-directive": "%YAML 1.1\n---\na: yes\nb: 0777\n",
    "explicit-str": "a: !!str 123\n",
    "empty-values": "a:\nb: ''\nc: []\nd: {}\n",
    "crlf": "a: 1\r\nb:\r\n  c: 2\r\n",
    "nested-seq": "a:\n- - - 1\n  - 2\n",
    "alias-name-with-colon": "a: &x: 1\nb: *x:\n",
    "odd-tag": "!:!",
}


def outcome(read, text):
    try:
        return [(d.data, d._lines) for d in read(text, "f.yaml")]
    except InputError as exc:
        return ("error", exc.format())


def pure(text, file):
    """What every installation reads: ruamel's pure-Python parser only."""
    return yamlio._Builder(file).build(yamlio._pure_events(text, file))


def both_parsers_agree(text):
    assert outcome(parse_documents, text) == outcome(pure, text)


@needs_libyaml
@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_read_the_same_with_libyaml(name):
    both_parsers_agree(EDGE_CASES[name])


@needs_libyaml
@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_repository_files_read_the_same_with_libyaml(path):
    both_parsers_agree(path.read_text())


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


@needs_libyaml
@settings(max_examples=60, deadline=None)
@given(json_like)
def test_any_dumped_data_reads_the_same_with_libyaml(data):
    both_parsers_agree(dump({"root": data}))


@needs_libyaml
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab:-[]{}'\"#&*!|>?,\n 01.~%\t@`\\", max_size=60))
def test_arbitrary_text_reads_the_same_with_libyaml(text):
    both_parsers_agree(text)


_LINE = st.tuples(
    st.sampled_from(["", "  ", "    ", "- ", "  - ", "      ", "? ", ": "]),
    st.sampled_from(["a", "b", "port", '"q"', "'s'", "8000", "x y", "? k", "-", "<<", "---", "...", "%YAML 1.1"]),
    st.sampled_from([": ", ":", ": |", ": >-", ": [1, 2]", ": {a: 1}", ": ~", ": yes", ": 0o17", ': "v"', "",
                     " # c", ": &a x", ": *a", ": !!str 1", ": 2001-01-01", ": &m {k: 1}", ": [*m]", ": a\n  b"]),
)


@needs_libyaml
@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=10).map(lambda ls: "\n".join("".join(p) for p in ls) + "\n"))
def test_line_structured_text_reads_the_same_with_libyaml(text):
    both_parsers_agree(text)


@needs_libyaml
def test_libyaml_reads_plain_files():
    text = (DATA / "lint" / "good" / "wide-ep-lws.yaml").read_text()
    assert not yamlio._PURE_ONLY.search(text)
    docs = yamlio._Builder("f", libyaml=True).build(yamlio._libyaml_events(text))
    assert [d.data for d in docs] == [d.data for d in pure(text, "f")]


# What the reader gives (the same with either parser)

def read(text):
    return parse_documents(text, "f.yaml")


def error(text) -> str:
    with pytest.raises(InputError) as exc:
        read(text)
    return exc.value.format()


def test_lines_of_keys_and_items():
    (doc,) = read("a:\n  b: [1,\n    2]\n  c:\n  - x\n  - {d: 1}\n")
    assert doc.data == {"a": {"b": [1, 2], "c": ["x", {"d": 1}]}}
    assert doc.line(("a", "b", 1)) == 3 and doc.line(("a", "c")) == 4 and doc.line(("a", "c", 1, "d")) == 6
    assert doc.line(("a", "c", 1, "missing")) == 6 and doc.line(()) is None


def test_multiple_documents_each_with_their_lines():
    docs = read("a: 1\n---\n---\nb: [1, {c: d}]\n")
    assert [d.data for d in docs] == [{"a": 1}, None, {"b": [1, {"c": "d"}]}]
    assert docs[2].line(("b", 1, "c")) == 4


def test_merge_keys_take_missing_keys_in_order_with_their_source_lines():
    (doc,) = read("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 0\n")
    assert doc.data["c"] == {"x": 0, "y": 1, "z": 2}
    assert (doc.line(("c", "x")), doc.line(("c", "y")), doc.line(("c", "z"))) == (5, 1, 2)
    assert ("c", "<<") not in doc._lines


def test_aliases_are_independent_copies_at_the_alias_line():
    (doc,) = read("x: &p {port: 8200}\ny: *p\nz: [*p]\n")
    assert doc.data == {"x": {"port": 8200}, "y": {"port": 8200}, "z": [{"port": 8200}]}
    doc.data["y"]["port"] = 1
    assert doc.data["x"]["port"] == 8200 and doc.data["z"][0]["port"] == 8200
    assert doc.line(("y",)) == 2 and doc.line(("z", 0)) == 3 and doc.line(("z", 0, "port")) == 1


def test_yaml_1_2_scalars_and_the_1_1_directive():
    assert read("a: yes\nb: 0777\nc: 0o17\nd: 1_000\ne: ~\n")[0].data == {
        "a": "yes", "b": 777, "c": 15, "d": 1000, "e": None}
    assert read("%YAML 1.1\n---\na: yes\nb: 0777\n")[0].data == {"a": True, "b": 511}


def test_timestamps_and_application_tags_keep_their_text():
    assert read("when: 2001-12-14t21:59:43.10-05:00\ns: !secret token\nm: !thing {a: 1}\n")[0].data == {
        "when": "2001-12-14t21:59:43.10-05:00", "s": "token", "m": {"a": 1}}


@pytest.mark.parametrize("text, tag", [
    ("a: !!python/object/apply:os.system ['true']\n", "!!python/object/apply:os.system"),
    ("a: !!python/name:os.system\n", "!!python/name:os.system"),
    ("a: !!binary aGVsbG8=\n", "!!binary"),
    ("a: !!set {x, y}\n", "!!set"),
])
def test_tags_that_construct_objects_are_refused(text, tag):
    assert error(text) == f"f.yaml:1: /a: YAML tag {tag} is not read: only strings, numbers, booleans, null, " \
                          "lists and mappings are"


@pytest.mark.parametrize("text, expected", [
    ("model:\n  source: [hf://a/b\n", "f.yaml:3: (document): invalid YAML: expected ',' or ']', but got "
                                      "'<stream end>'"),
    ("a:\n  b: [1, {c: 1, c: 2}]\n", "f.yaml:2: /a/b/1/c: duplicate key 'c' (a later value would silently "
                                     "replace the first)"),
    ("a:\n  8000: x\n", "f.yaml:2: /a: mapping key 8000 is not a string (quote it)"),
    ("a: .nan\n", "f.yaml:1: /a: nan is not a finite number"),
    ("a: [1e999]\n", "f.yaml:1: /a/0: inf is not a finite number"),
    ("a: !!int x\n", "f.yaml:1: /a: invalid YAML value: invalid literal for int() with base 10: 'x'"),
    ("a: &a [1, *a]\n", "f.yaml:1: /a/1: recursive YAML alias 'a'"),
    ("a: *nope\n", "f.yaml:1: /a: invalid YAML: found undefined alias 'nope'"),
    ("a: \x01\n", "f.yaml:1: (document): invalid YAML: unacceptable character #x0001: special characters are "
                  "not allowed"),
    ('"a\\nb": 1\n"a\\nb": 2\n', "f.yaml:2: /a\\nb: duplicate key 'a\\nb' (a later value would silently replace "
                                 "the first)"),
])
def test_errors_name_file_line_and_pointer_on_one_line(text, expected):
    assert error(text) == expected


def test_nesting_bombs_are_refused():
    for bomb in ("a: " + "[" * 100_000, "".join("  " * i + f"k{i}:\n" for i in range(3 * MAX_DEPTH)),
                 "".join("  " * i + "- - -\n" for i in range(MAX_DEPTH)), "[" * (MAX_DEPTH // 2) + "{a: " * MAX_DEPTH):
        assert f"nesting deeper than {MAX_DEPTH} levels" in error(bomb)
    (doc,) = read("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    assert doc.line(("a",) + (0,) * (MAX_DEPTH - 2)) == 1


def test_nesting_through_aliases_is_refused_where_the_alias_is():
    deep = "[" * 40 + "1" + "]" * 40
    assert error(f"a: &a {deep}\nb: {'[' * 30}*a{']' * 30}\n").startswith(
        f"f.yaml:2: /b{'/0' * 30}: nesting deeper than {MAX_DEPTH} levels through the YAML alias 'a'")


def test_alias_bombs_are_refused_and_big_documents_without_aliases_are_not(monkeypatch):
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
    assert error(bomb) == (f"f.yaml:6: (document): YAML aliases expand the file to more than {MAX_EXPANDED_NODES} "
                           "nodes; refusing it (a 'billion laughs' file?)")
    monkeypatch.setattr(yamlio, "MAX_EXPANDED_NODES", 1000)
    (doc,) = read("a: [" + ",".join(["1"] * 5000) + "]\n")
    assert len(doc.data["a"]) == 5000


def test_alias_expansion_is_counted_over_the_whole_file():
    """Many documents, each just under the bound, add up: the time to read one file stays bounded."""
    anchor = "a: &a [" + ",".join(["1"] * 999) + "]\n"
    doc = anchor + "b: [" + ",".join(["*a"] * 100) + "]\n"
    assert "billion laughs" in error("---\n".join([doc] * 3))
    assert len(read("---\n".join([doc] * 1))) == 1


@pytest.mark.parametrize("text", [".5e1", "1e3", "+2E9", "0o17", "0b101", "-.inf", ".NaN", "1_000", "0x1F", "yes"])
def test_strings_go_yaml_reads_as_numbers_are_quoted(text):
    # Helm and Kubernetes read values with go-yaml: its resolve.go takes `.5e1` and `0o17` for numbers where
    # ruamel's YAML 1.1 resolver sees strings
    assert dump({"k": text}) == f'k: "{text}"\n'


TABS = ["a: x\ty\n", "a:\n  - x\ty\n", "a: x\t# c\n", "a: x\t\n", "a: x \t y\n", "a: [x\ty, z]\n", "a: x\t\n  y\n",
        "a: x\ty\nb: 1\n", "a: \"x\"\tb\n", "a:\tx\n", "a: x\t:y\n", "a: 1\t2\n"]


@pytest.mark.parametrize("text", TABS, ids=range(len(TABS)))
def test_tabs_read_as_helms_reader_reads_them(text):
    # libyaml and go-yaml take a tab inside a plain scalar for a blank between its words (scanner.c,
    # yaml_parser_scan_plain_scalar): `command: run<TAB>now` is one string, and where Helm refuses, so do we
    helm = pytest.importorskip("helm_python")
    try:
        want = helm.values_from_yaml(text)
    except Exception:  # noqa: BLE001 - Helm refuses the text
        want = None
    if want is None:
        with pytest.raises(InputError):
            yamlio.parse_document(text, "f.yaml")
    else:
        assert yamlio.parse_document(text, "f.yaml").data == want
