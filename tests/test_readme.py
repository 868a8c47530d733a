"""The README cannot drift: its spec reference is generated from the schema, its commands run, and CI runs
its test command."""

import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from vllmgen.reference import END, START, spec_reference

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_spec_reference_matches_the_schema():
    schema = json.loads((ROOT / "schemas" / "model-spec.schema.json").read_text())
    section = README[README.index(START):README.index(END) + len(END)]
    assert section == spec_reference(schema), "run: python scripts/update-readme.py"


def test_every_spec_field_is_documented():
    schema = json.loads((ROOT / "schemas" / "model-spec.schema.json").read_text())

    def walk(node):
        for key, sub in node.get("properties", {}).items():
            assert sub.get("description") or "$ref" in sub, key
            walk(sub)

    walk(schema)


def _vllmgen_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    cmds = []
    for block in blocks:
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("vllmgen ") or part.startswith(".venv/bin/vllmgen "):
                    cmds.append(part)
    return cmds


@pytest.mark.parametrize("command", _vllmgen_commands())
def test_readme_commands_run(command, tmp_path):
    words = shlex.split(command.split(">")[0])
    res = subprocess.run([sys.executable, "-m", "vllmgen", *words[1:]], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout


def test_ci_runs_the_readme_test_command():
    lines = README.splitlines()
    i = lines.index("<!-- test-command -->")
    assert lines[i + 1] == "```bash"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci and "README.md" in ci
    res = subprocess.run(["awk", "/<!-- test-command -->/{getline; getline; print; exit}", "README.md"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert res.stdout.strip() == lines[i + 2]
    assert "pytest" in res.stdout and "setup-dev.sh" in res.stdout


def test_quick_start_gives_one_standalone_vllm_and_explains_the_pd_roles():
    quick = README[README.index("## Quick start"):README.index("## How it works")]
    first = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)
    assert "vllmgen values" in first and "--role" not in first
    assert "--role decode" in quick and "--role prefill" in quick and "prefill/decode" in quick
    values_yaml = (ROOT / "charts" / "vllm" / "values.yaml").read_text()  # what `helm show values` prints
    assert "--role decode" in values_yaml and "--role prefill" in values_yaml and "disaggregation" in values_yaml
    from vllmgen import spec, values
    from vllmgen.roles import ROLES

    data = values.values_dict(spec.load_spec(None))
    assert [r for r in ROLES if r in data] == ["standalone"]


def test_the_readme_points_values_users_to_print_command():
    assert "vllmgen serve" in README and "--print-command" in README
