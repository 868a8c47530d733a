"""`vllmgen lint` through the real command line: output formats, exit codes, suppression, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vllmgen.cli import app

DATA = Path(__file__).parent / "data" / "lint"
GOOD = DATA / "good" / "standalone-deployment.yaml"
BAD_PORT = DATA / "bad" / "VG001-decode-probes-sidecar.yaml"
LAG = DATA / "bad" / "VG008-ready-lag.yaml"
INFO_ONLY = DATA / "bad" / "VG002-health-startup.yaml"


def run(*args, input=None):
    result = CliRunner().invoke(app, ["lint", *map(str, args)], input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_clean_file_exits_0():
    r = run(GOOD)
    assert r.exit_code == 0 and r.stdout == ""
    assert "no findings; 1 file checked" in r.stderr


def test_findings_exit_1_with_file_line_rule_text():
    r = run(BAD_PORT)
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{BAD_PORT}:27: VG001 error: decode startupProbe targets port 8000, the routing "
                               f"sidecar")
    assert "Fix: target port `vllm` (8200)" in lines[0]
    assert "3 findings (3 errors); 1 file checked" in r.stderr


def test_info_findings_do_not_fail_unless_asked():
    assert run(INFO_ONLY).exit_code == 0
    assert run(INFO_ONLY, "--fail-on", "info").exit_code == 1


def test_fail_on_error_lets_warnings_pass():
    assert run(LAG).exit_code == 1
    assert run(LAG, "--fail-on", "error").exit_code == 0


def test_json_format():
    r = run(BAD_PORT, GOOD, "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["status"] == "fail"
    assert doc["summary"]["files_checked"] == 2 and doc["summary"]["error"] == 3
    first = doc["findings"][0]
    assert first["rule"] == "VG001" and first["name"] == "probe-port" and first["severity"] == "error"
    assert first["file"] == str(BAD_PORT) and first["line"] == 27
    assert first["pointer"] == "/spec/template/spec/containers/0/startupProbe/httpGet/port"
    assert json.loads(run(GOOD, "-o", "json").stdout)["status"] == "ok"


def test_github_annotations():
    r = run(LAG, INFO_ONLY, "--format", "github")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("::notice file=" + str(INFO_ONLY) + ",line=14,title=VG002 health-not-model-aware::")
    assert any(l.startswith(f"::warning file={LAG},line=15,title=VG008 ready-lag::startupProbe periodSeconds 30")
               for l in lines)
    assert r.exit_code == 1


def test_github_escapes_properties_and_data(tmp_path):
    odd = tmp_path / "a,b:c.yaml"
    odd.write_text(LAG.read_text())
    line = run(odd, "-o", "github").stdout.splitlines()[0]
    assert "file=" + str(odd).replace(",", "%2C").replace(":", "%3A") + ",line=15" in line


def test_disable_flag_by_id_and_by_name_and_comma_list():
    assert run(LAG, "--disable", "VG008").exit_code == 0
    assert run(LAG, "--disable", "ready-lag").exit_code == 0
    assert run(BAD_PORT, "-d", "vg002,VG001").exit_code == 0
    r = run(LAG, "--disable", "VG999")
    assert r.exit_code == 2 and "no such rule: VG999" in r.stderr


def test_disable_comment_in_file(tmp_path):
    f = tmp_path / "lag.yaml"
    f.write_text("# vllmgen-lint: disable=VG008\n" + LAG.read_text())
    assert run(f).exit_code == 0
    f.write_text("# vllmgen-lint: disable=all\n" + BAD_PORT.read_text())
    assert run(f).exit_code == 0
    f.write_text("# vllmgen-lint: disable=VG007\n" + LAG.read_text())  # another rule: still fires
    assert run(f).exit_code == 1
    f.write_text("# vllmgen-lint: disable=not-a-rule\n" + GOOD.read_text())
    r = run(f)
    assert r.exit_code == 2 and "names no rule: 'not-a-rule'" in r.stdout


@pytest.mark.parametrize("holder", [
    '  annotations: {note: "x # vllmgen-lint: disable=VG008"}\n',
    "  annotations: {note: 'it''s # vllmgen-lint: disable=all'}\n",
    "  annotations:\n    note: |\n      # vllmgen-lint: disable=VG008\n      text\n",
    "  annotations:\n    note: >-\n      a\n      # vllmgen-lint: disable=all\n",
    "  annotations:\n    note: a#vllmgen-lint:disable=all\n",  # a plain scalar: `#` after a non-space is text
    "  annotations:\n    note: \"multi\n      # vllmgen-lint: disable=all\n      line\"\n",
], ids=["double-quoted", "single-quoted", "literal", "folded", "plain", "multi-line-quoted"])
def test_a_disable_comment_inside_a_string_is_not_a_directive(tmp_path, holder):
    f = tmp_path / "lag.yaml"
    f.write_text(LAG.read_text().replace("  name: qwen\n", "  name: qwen\n" + holder, 1))
    r = run(f)
    assert r.exit_code == 1 and "VG008" in r.stdout, r.stdout  # the finding still fires
    # a real comment after the string on the same line still counts
    if holder.startswith('  annotations: {note: "x'):
        f.write_text(LAG.read_text().replace("  name: qwen\n", "  name: qwen\n" + holder.rstrip("\n")
                                             + "  # vllmgen-lint: disable=all\n", 1))
        assert run(f).exit_code == 0


def test_disable_comments_are_read_in_linear_time(tmp_path):
    """40,000 disable comments above the object (1.2 MB): each comment scanned every line below it to find what
    it annotates, minutes in all; one pass now. The bound is generous: the run takes about a second."""
    f = tmp_path / "lag.yaml"
    f.write_text("# vllmgen-lint: disable=VG007\n" * 40_000 + LAG.read_text())
    r = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(f)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "VG008" in r.stdout, r.stdout + r.stderr
    f.write_text("# vllmgen-lint: disable=VG008\n" * 40_000 + LAG.read_text())
    r = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(f)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr


def test_directory_is_searched_recursively():
    r = run(DATA / "good", "-o", "json")
    assert json.loads(r.stdout)["summary"]["files_checked"] == len(list((DATA / "good").glob("*.yaml")))
    assert r.exit_code == 0


def test_missing_path_exits_2_but_still_reports_other_files(tmp_path):
    r = run(tmp_path / "nope.yaml", BAD_PORT)
    assert r.exit_code == 2
    assert f"{tmp_path / 'nope.yaml'}: input-error: no such file or directory" in r.stdout
    assert "VG001" in r.stdout


def test_invalid_yaml_is_a_value_not_a_crash(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("decode:\n  probes: [unclosed\n")
    r = run(bad, "-o", "json")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["status"] == "error"
    (u,) = doc["unusable"]
    assert u["file"] == str(bad) and u["line"] == 3 and "invalid YAML" in u["message"]


def test_empty_directory_and_binary_file_exit_2(tmp_path):
    assert run(tmp_path).exit_code == 2
    blob = tmp_path / "x.yaml"
    blob.write_bytes(b"\xff\xfe\x00binary")
    r = run(blob)
    assert r.exit_code == 2 and "not UTF-8" in r.stdout


def test_stdin():
    r = run("-", input=LAG.read_text())
    assert r.exit_code == 1 and r.stdout.startswith("<stdin>:15: VG008")


def test_unknown_format_exits_2():
    r = run(GOOD, "--format", "xml")
    assert r.exit_code == 2 and "unknown format" in r.stderr


def test_list_rules_names_every_rule():
    out = run("--list-rules").stdout
    for rid in [f"VG{n:03d}" for n in range(13)]:
        assert rid in out


def test_real_process_exit_code_and_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent / "cli"))
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(BAD_PORT), str(tmp_path / "missing")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stdout.count(": VG001 error:") == 3


def test_directory_walk_skips_helm_templates_and_hidden_folders(tmp_path):
    chart = tmp_path / "charts" / "vllm"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: vllm\nversion: 0.1.0\n")
    (chart / "templates" / "deployment.yaml").write_text("{{- if .Values.x }}\nkind: {{ .Values.kind }}\n")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "broken.yaml").write_text("a: [\n")
    (tmp_path / "lag.yaml").write_text(LAG.read_text())
    r = run(tmp_path, "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["unusable"] == [] and doc["summary"]["files_checked"] == 2  # Chart.yaml + lag.yaml
    assert [f["rule"] for f in doc["findings"]] == ["VG008"]


def test_pre_commit_hook_definition_runs_lint():
    import re as _re

    from vllmgen.yamlio import load_document

    (hook,) = load_document(Path(__file__).parent.parent / ".pre-commit-hooks.yaml").data
    assert hook["id"] == "vllmgen-lint" and hook["language"] == "python" and hook["types_or"] == ["yaml"]
    exclude = _re.compile(hook["exclude"])
    assert exclude.search("charts/vllm/templates/deployment.yaml")
    assert not exclude.search("deploy/values.yaml")
    program, *args = hook["entry"].split()
    assert program == "vllmgen"  # the console script pyproject.toml installs
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent.parent / "cli"))
    p = subprocess.run([sys.executable, "-m", "vllmgen", *args, str(GOOD), str(LAG)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 1 and ": VG008 warning:" in p.stdout


def test_no_path_exits_2():
    r = run()
    assert r.exit_code == 2 and "no PATH given" in r.stderr
