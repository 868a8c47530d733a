#!/usr/bin/env python3
"""Regenerate the spec reference in README.md from schemas/model-spec.schema.json."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "cli"))
from vllmgen.reference import replace_section, spec_reference  # noqa: E402

readme = root / "README.md"
schema = json.loads((root / "schemas" / "model-spec.schema.json").read_text())
readme.write_text(replace_section(readme.read_text(), spec_reference(schema)))
print("README.md spec reference updated")
