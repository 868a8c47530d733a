"""`vllmgen lint --schema FILE`: a user's schema can neither crash lint nor hang it."""

from __future__ import annotations

import json
import subprocess
import sys
import time


def _lint(*args):
    return subprocess.run([sys.executable, "-m", "vllmgen", "lint", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_a_backtracking_pattern_is_cut_off_and_reported(tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"layout": {"pattern": "^(a+)+$"}}}))
    values = tmp_path / "values.yaml"
    values.write_text("layout: " + "a" * 40 + "!\n")  # about 2^40 steps of backtracking
    t0 = time.monotonic()
    res = _lint("--schema", schema, values)
    assert time.monotonic() - t0 < 60
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "took more than" in res.stdout


def test_an_unusable_schema_is_one_line_and_exit_2(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("layout: simulated\n")
    for text in ("[1,2", '{"type": 12}'):
        schema = tmp_path / "schema.json"
        schema.write_text(text)
        res = _lint("--schema", schema, values)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_a_deeply_nested_schema_is_one_line_and_exit_2(tmp_path):
    """json and jsonschema recurse: a schema nested 1,000 deep (or 100,000) ended in a RecursionError traceback."""
    values = tmp_path / "values.yaml"
    values.write_text("layout: simulated\n")
    schema = tmp_path / "schema.json"
    for depth in (100, 1_000, 100_000):
        schema.write_text('{"properties": {"a": ' * depth + "{}" + "}}" * depth)
        res = _lint("--schema", schema, values)
        assert res.returncode == 2 and res.stdout == "", res.stderr[-500:]
        assert res.stderr == f"error: {schema}: (document): nesting deeper than 64 levels\n"


def test_a_schema_that_refers_to_itself_is_one_line_and_exit_2(tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text("layout: simulated\n")
    schema = tmp_path / "schema.json"
    for text in ('{"$ref": "#"}', '{"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, '
                                  '"b": {"$ref": "#/$defs/a"}}}'):
        schema.write_text(text)
        res = _lint("--schema", schema, values)
        assert res.returncode == 2 and res.stdout == "", res.stderr[-500:]
        assert res.stderr.startswith(f"error: {schema}: (document): the schema refers to itself without end") \
            and len(res.stderr.splitlines()) == 1, res.stderr
