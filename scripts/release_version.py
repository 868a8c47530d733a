#!/usr/bin/env python3
"""Check that a release tag names the version every artifact carries: the package (`vllmgen.__version__`, which
pyproject.toml reads), the chart (`version` and `appVersion` in charts/vllm/Chart.yaml) and so the project's image
(images.PROJECT), and that CHANGELOG.md has an entry (`## [1.2.3] - YYYY-MM-DD`) for it. The release workflow runs
it before publishing anything.

Usage: python scripts/release_version.py TAG   (v1.2.3 or 1.2.3; exit 1 naming each mismatch)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "cli"))


def versions() -> dict[str, str]:
    """{where: version} for every place that declares one."""
    from vllmgen import __version__, images

    chart = (REPO / "charts" / "vllm" / "Chart.yaml").read_text()
    found = {"vllmgen.__version__ (cli/vllmgen/__init__.py)": __version__,
             "images.PROJECT tag (cli/vllmgen/images.py)": images.PROJECT[1]}
    for key in ("version", "appVersion"):
        match = re.search(rf"^{key}:\s*\"?([^\"\s]+)\"?\s*$", chart, re.M)
        found[f"{key} (charts/vllm/Chart.yaml)"] = match.group(1) if match else "<missing>"
    return found


#: A release's heading in Keep a Changelog form: `## [1.2.3] - 2026-12-07`.
CHANGELOG_ENTRY = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.M)


def changelog_versions(text: str) -> list[str]:
    """The released versions CHANGELOG.md has an entry for, newest first as written."""
    return [m.group("version") for m in CHANGELOG_ENTRY.finditer(text)]


def mismatches(tag: str) -> list[str]:
    wanted = tag[1:] if tag.startswith("v") else tag
    found = [f"{where} is {have}, the tag says {wanted}" for where, have in versions().items() if have != wanted]
    if wanted not in changelog_versions((REPO / "CHANGELOG.md").read_text()):
        found.append(f"CHANGELOG.md has no entry `## [{wanted}] - YYYY-MM-DD` for the tag")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    problems = mismatches(argv[0])
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
