"""Hostile values files through `vllmgen lint` and `vllmgen probe-check` (hypothesis): valid values files, the
same with one mutation, and raw junk. Neither command ever raises: lint exits 0 (clean), 1 (findings) or 2
(unusable input); probe-check exits 0, 1 or 2; every error line names the file.

Examples per run (derandomized): lint 800 generated values files + 500 raw junk, probe-check 300."""

import copy
import json
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from strategies import JUNK, RAW_JUNK, deep, paths, set_path, valid_specs
from vllmgen.cli import app
from vllmgen.spec import parse_spec
from vllmgen.values import values_dict

#: Fixed seed (derandomize) and a bound per input: one example taking longer than PER_INPUT is a failure (a
#: hang or a quadratic parse), with room for a machine whose cores are all busy.
PER_INPUT = timedelta(seconds=20)
FAST = settings(deadline=PER_INPUT, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
WORK = Path(tempfile.mkdtemp(prefix="vllmgen-hostile-values-"))
TIMELINE = Path(__file__).parent / "data" / "timelines" / "vllmgen-serve-start.yaml"  # a real recorded start
runner = CliRunner()


@st.composite
def values_files(draw) -> dict:
    """Values vllmgen emitted for a generated spec, then (most of the time) one mutation."""
    values = copy.deepcopy(values_dict(parse_spec(json.dumps(draw(valid_specs())), "spec.yaml")))
    kind = draw(st.sampled_from(["none", "junk", "junk", "unknown", "deep", "delete"]))
    where = draw(st.sampled_from([p for p in paths(values) if p]))
    if kind == "junk":
        set_path(values, where, draw(JUNK))
    elif kind == "unknown":
        holder = values
        for p in where[:-1]:
            holder = holder[p]
        if isinstance(holder, dict):
            holder[draw(st.text(max_size=20))] = draw(JUNK)
    elif kind == "deep":
        set_path(values, where, deep(draw(st.integers(10, 120))))
    elif kind == "delete":
        holder = values
        for p in where[:-1]:
            holder = holder[p]
        del holder[where[-1]]
    return values


def run(args, text: bytes | str):
    path = WORK / "values.yaml"
    # lone surrogates from generated text become invalid UTF-8 bytes: junk the commands must refuse cleanly
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    result = runner.invoke(app, [*args[:1], str(path), *args[1:]])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback would have reached the user
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        assert "values.yaml" in result.output, result.output
    return result


@settings(FAST, max_examples=800)
@given(values_files())
def test_lint_survives_generated_values(values):
    run(["lint", "--format", "json"], json.dumps(values))


@settings(FAST, max_examples=500)
@given(RAW_JUNK)
def test_lint_survives_raw_junk(raw):
    res = run(["lint"], raw)
    assert res.exit_code in (0, 1, 2)


@settings(FAST, max_examples=300)
@given(values_files())
def test_probe_check_survives_generated_values(values):
    roles = [r for r in ("decode", "prefill", "standalone") if isinstance(values, dict) and r in values] or ["decode"]
    run(["probe-check", "--role", roles[0], "--replay", str(TIMELINE)], json.dumps(values))


def test_emitted_values_lint_clean(tmp_path):
    """Unmutated values are what vllmgen emits: lint must find nothing above info in them."""
    spec = {"model": {"source": "hf://Qwen/Qwen3-8B", "parameters": 8.2e9}}
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(values_dict(parse_spec(json.dumps(spec), "spec.yaml"), ["decode"])))
    res = runner.invoke(app, ["lint", "--format", "json", str(path)])
    assert res.exit_code == 0, res.output


def test_lint_reports_schema_errors_instead_of_crashing_on_wrong_shapes(tmp_path):
    """A wrong shape the schema rejects (`command: true`) is a schema finding, not a traceback in the rules."""
    spec = {"model": {"source": "hf://Qwen/Qwen3-8B", "parameters": 8.2e9}}
    values = values_dict(parse_spec(json.dumps(spec), "spec.yaml"), ["decode"])
    values["decode"].update(command=True, env=5, probes=["x"])
    path = tmp_path / "values.yaml"
    path.write_text(json.dumps(values))
    res = runner.invoke(app, ["lint", str(path)])
    assert res.exit_code == 1 and not isinstance(res.exception, (TypeError, AttributeError))
    for field in ("/decode/command", "/decode/env", "/decode/probes"):
        assert field in res.output
