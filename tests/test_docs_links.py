"""The repository stands on its own: every pointer into the project's docs (`docs/NAME.md#section`) lands on a
heading that exists, and nothing cites documents a clone does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where code, docs and tests live (everything a user's clone has that may cite something).
SCANNED = ("cli", "charts", "docs", "guides", "tests", "benchmarks", "scripts", "images", "schemas", "README.md")
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".tpl", ".txt", ".sh", ""}
#: A pointer into the project's docs, as comments and guides write it: docs/FILE.md#anchor (or ../docs/...).
DOC_LINK = re.compile(r"docs/([a-z0-9-]+\.md)#([a-z0-9-]+)")
#: Citations of files outside the repository: the working notes the project was built from.
FOREIGN = re.compile(r"\.\./shared|\breference/[a-z-]+\.md|\bseeds?/\d{3}|\bseeds? \d{3}\b|\(seeds?\b|\bseed guide"
                     r"|(?<![\w/\x22-])(?:vllm-endpoints|vllm-cpu|kubelet-probes|llm-d|triton|peers|tooling|design)\.md")


def _files():
    for top in SCANNED:
        path = ROOT / top
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in candidates:
            if p.suffix in SUFFIXES and "__pycache__" not in p.parts and p.name != Path(__file__).name:
                yield p


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", doc.read_text(), re.M)}


def test_every_docs_anchor_resolves():
    broken = []
    for path in _files():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for name, anchor in DOC_LINK.findall(line):
                doc = ROOT / "docs" / name
                if not doc.is_file() or anchor not in _anchors(doc):
                    broken.append(f"{path.relative_to(ROOT)}:{n}: docs/{name}#{anchor}")
    assert broken == []


def test_nothing_cites_documents_outside_the_repository():
    cited = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in _files() for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
             if FOREIGN.search(line)]
    assert cited == []


@pytest.mark.parametrize("heading, slug", [
    ("vLLM startup", "vllm-startup"),
    ("Triton with the vLLM backend", "triton-with-the-vllm-backend"),
    ("Roles, ports and the routing sidecar", "roles-ports-and-the-routing-sidecar"),
    ("The llm-d readiness-probe guide", "the-llm-d-readiness-probe-guide"),
])
def test_slug_follows_github(heading, slug):
    assert _slug(heading) == slug
