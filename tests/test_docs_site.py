"""The documentation site: README.md, docs/ and guides/ build with MkDocs (mkdocs.yml) in strict mode, so a link to
a page or an anchor that does not exist fails the test command, and every page is in the site's navigation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
CONFIG = YAML(typ="safe", pure=True).load((ROOT / "mkdocs.yml").read_text())


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, timeout=300)


def _nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        for value in entry.values():
            pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_the_site_builds_strictly_with_every_page(tmp_path):
    res = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert res.returncode == 0, res.stderr
    assert "WARNING" not in res.stderr
    assert (tmp_path / "site" / "index.html").is_file()  # README.md is the home page
    for md in [*sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "guides").glob("*.md"))]:
        page = md.relative_to(ROOT).with_suffix("")
        assert (tmp_path / "site" / page / "index.html").is_file(), page


def test_the_site_is_the_repository_own_pages():
    """site-src holds only links to README.md, docs/ and guides/, so relative links mean the same in the
    repository and on the site; the navigation lists every Markdown page of docs/ and guides/."""
    src = ROOT / CONFIG["docs_dir"]
    assert CONFIG["strict"] is True
    assert sorted(p.name for p in src.iterdir()) == ["README.md", "docs", "guides"]
    for p in src.iterdir():
        assert p.is_symlink() and p.resolve() == (ROOT / p.name).resolve(), p
    pages = _nav_pages(CONFIG["nav"])
    assert len(pages) == len(set(pages))
    on_disk = {"README.md", *(str(p.relative_to(ROOT)) for d in ("docs", "guides") for p in (ROOT / d).glob("*.md"))}
    assert set(pages) == on_disk


def test_a_broken_link_or_anchor_fails_the_build(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    readme = (ROOT / "README.md").read_text()
    missing = "no-such-rule"  # not written after the `#` literally: tests/test_docs_links.py checks such anchors
    (src / "README.md").write_text(readme + f"\n[gone](docs/no-such-page.md) [gone too](docs/lint.md#{missing})\n")
    for name in ("docs", "guides"):
        (src / name).symlink_to(ROOT / name)
    config = tmp_path / "mkdocs.yml"
    shutil.copy(ROOT / "mkdocs.yml", config)
    config.write_text(config.read_text().replace(f"docs_dir: {CONFIG['docs_dir']}", f"docs_dir: {src}"))
    res = _build(config, tmp_path / "site")
    assert res.returncode != 0
    assert "docs/no-such-page.md" in res.stderr and missing in res.stderr
