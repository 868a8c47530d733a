#!/usr/bin/env python3
"""Regenerate the reference documentation from its sources: the spec reference (docs/spec-reference.md) from the
spec schema, the list of lint rules in docs/lint.md from the rules lint declares, and the chart's README
(charts/vllm/README.md, what `helm show readme charts/vllm` prints) and values comments from the values schema."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "cli"))
from ruamel.yaml import YAML  # noqa: E402

from vllmgen import schemas  # noqa: E402
from vllmgen.lint.rules import R  # noqa: E402
from vllmgen.reference import (RULES_END, RULES_START, chart_readme, commented_values, replace_section,  # noqa: E402
                               rule_list, spec_reference)

reference = root / "docs" / "spec-reference.md"
spec_schema = json.loads((root / "schemas" / "model-spec.schema.json").read_text())
reference.write_text(replace_section(reference.read_text(), spec_reference(spec_schema)))
print("docs/spec-reference.md updated")

lint_page = root / "docs" / "lint.md"
lint_page.write_text(replace_section(lint_page.read_text(), rule_list(R.values()), RULES_START, RULES_END))
print("docs/lint.md rule list updated")

chart = root / "charts" / "vllm"
yaml = YAML(typ="safe", pure=True)
text = chart_readme(schemas.chart_values_schema(), yaml.load((chart / "values.yaml").read_text()),
                    yaml.load((chart / "Chart.yaml").read_text()))
(chart / "README.md").write_text(text)
print("charts/vllm/README.md updated")

values = chart / "values.yaml"
values.write_text(commented_values(schemas.chart_values_schema(), values.read_text()))
print("charts/vllm/values.yaml comments updated")
