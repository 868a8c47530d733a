"""The README and the docs cannot drift: the spec reference (docs/spec-reference.md) is generated from the schema
and the rule list (docs/lint.md) from the lint rules, no page writes rule ranges by hand, every command in the
README and docs/ runs, the README links every page and shows every layout, and CI runs its test command."""

import json
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from vllmgen.reference import END, RULES_END, RULES_START, START, rule_list, spec_reference

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
#: The documentation pages (the README's long sections live here).
DOCS = {p: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}
#: What users read: the README, docs/ and the guides.
PAGES = {ROOT / "README.md": README, **DOCS, **{p: p.read_text() for p in sorted((ROOT / "guides").glob("*.md"))}}


def test_spec_reference_matches_the_schema():
    schema = json.loads((ROOT / "schemas" / "model-spec.schema.json").read_text())
    page = (ROOT / "docs" / "spec-reference.md").read_text()
    section = page[page.index(START):page.index(END) + len(END)]
    assert section == spec_reference(schema), "run: python scripts/update-readme.py"


def test_the_rule_list_is_every_lint_rule():
    from vllmgen.lint.rules import R

    page = (ROOT / "docs" / "lint.md").read_text()
    section = page[page.index(RULES_START):page.index(RULES_END) + len(RULES_END)]
    assert section == rule_list(R.values()), "run: python scripts/update-readme.py"
    assert all(f"| {rule_id} |" in section for rule_id in R)


def test_no_page_writes_a_rule_range_by_hand():
    """A range such as VG013-VG016 goes stale when a rule is added; pages name rules or link the generated list."""
    ranges = [f"{path.relative_to(ROOT)}: {m.group(0)}" for path, text in PAGES.items()
              for m in re.finditer(r"VG\d{3}\s*(?:-|–|\.\.|to)\s*VG\d{3}", text)]
    assert ranges == []


def test_the_readme_links_every_docs_page_and_shows_every_layout():
    linked = set(re.findall(r"\]\((docs/[a-z0-9-]+\.md)[)#]", README))
    assert linked == {f"docs/{p.name}" for p in DOCS}
    schema = json.loads((ROOT / "schemas" / "model-spec.schema.json").read_text())
    for layout in schema["properties"]["layout"]["enum"]:
        assert re.search(rf"```bash\nvllmgen values [^\n]*--layout {layout}\n```", README), layout


def test_every_spec_field_is_documented():
    schema = json.loads((ROOT / "schemas" / "model-spec.schema.json").read_text())

    def walk(node):
        for key, sub in node.get("properties", {}).items():
            assert sub.get("description") or "$ref" in sub, key
            walk(sub)

    walk(schema)


def _vllmgen_commands():
    blocks = [b for text in [README, *DOCS.values()] for b in re.findall(r"```bash\n(.*?)```", text, re.S)]
    cmds = []
    for block in blocks:
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("vllmgen ") or part.startswith(".venv/bin/vllmgen "):
                    cmds.append(part)
    return list(dict.fromkeys(cmds))  # a command the README and a page both show runs once


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
    quick = README[README.index("## Quick start"):README.index("## One example per layout")]
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
