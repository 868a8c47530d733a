#!/usr/bin/env python3
"""Regenerate the reference documentation from the schemas: the spec reference in README.md and the chart's
README (charts/vllm/README.md, what `helm show readme charts/vllm` prints)."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "cli"))
from ruamel.yaml import YAML  # noqa: E402

from vllmgen import schemas  # noqa: E402
from vllmgen.reference import chart_readme, commented_values, replace_section, spec_reference  # noqa: E402

readme = root / "README.md"
spec_schema = json.loads((root / "schemas" / "model-spec.schema.json").read_text())
readme.write_text(replace_section(readme.read_text(), spec_reference(spec_schema)))
print("README.md spec reference updated")

chart = root / "charts" / "vllm"
yaml = YAML(typ="safe", pure=True)
text = chart_readme(schemas.chart_values_schema(), yaml.load((chart / "values.yaml").read_text()),
                    yaml.load((chart / "Chart.yaml").read_text()))
(chart / "README.md").write_text(text)
print("charts/vllm/README.md updated")

values = chart / "values.yaml"
values.write_text(commented_values(schemas.chart_values_schema(), values.read_text()))
print("charts/vllm/values.yaml comments updated")
