"""What a legal or security review opens first: the licence (the full Apache-2.0 text the package declares), the
security policy, the changelog (Keep a Changelog form, an entry for the version being released, which the release
workflow checks against the tag), and the dependency update automation, validated offline against the schemas
check-jsonschema ships (Dependabot's and Renovate's)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from vllmgen import __version__, images, project

REPO = Path(__file__).resolve().parents[1]


def _release_version():
    spec = importlib.util.spec_from_file_location("release_version", REPO / "scripts" / "release_version.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RELEASE = _release_version()


def _builtin(schema: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)


# --- LICENSE ---------------------------------------------------------------------------------------------------------

def test_the_licence_is_the_full_apache_2_text_the_package_declares():
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    sections = re.findall(r"^\s+(\d)\. (\w[\w ]*)\.", text, re.M)
    assert [n for n, _ in sections] == [str(i) for i in range(1, 10)], "all nine sections of the terms"
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    assert len(text.split()) > 1500
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'license = {text = "Apache-2.0"}' in pyproject
    chart = yaml.safe_load((REPO / "charts" / "vllm" / "Chart.yaml").read_text())
    assert chart["annotations"]["artifacthub.io/license"] == "Apache-2.0"


# --- SECURITY.md -------------------------------------------------------------------------------------------------------

def test_the_security_policy_says_how_to_report_and_what_is_supported():
    text = (REPO / "SECURITY.md").read_text()
    assert "## Supported versions" in text and "## Reporting a vulnerability" in text
    assert f"{project.REPOSITORY}/security/advisories/new" in text
    minor = ".".join(__version__.split(".")[:2])
    assert f"{minor}.x" in text, "the supported versions table names the current release line"


# --- CHANGELOG.md ------------------------------------------------------------------------------------------------------

CHANGELOG = (REPO / "CHANGELOG.md").read_text()
#: Keep a Changelog's change types.
CHANGE_TYPES = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_the_changelog_is_in_keep_a_changelog_form():
    assert CHANGELOG.startswith("# Changelog\n") and "keepachangelog.com/en/1.1.0" in CHANGELOG
    headings = re.findall(r"^## (.+)$", CHANGELOG, re.M)
    assert headings[0] == "[Unreleased]", "an Unreleased section first"
    released = headings[1:]
    assert released and all(RELEASE.CHANGELOG_ENTRY.match(f"## {h}") for h in released), released
    versions = RELEASE.changelog_versions(CHANGELOG)
    dates = [date.fromisoformat(m.group("date")) for m in RELEASE.CHANGELOG_ENTRY.finditer(CHANGELOG)]
    assert [Version(v) for v in versions] == sorted(map(Version, versions), reverse=True), "newest first"
    assert dates == sorted(dates, reverse=True)
    for kind in re.findall(r"^### (.+)$", CHANGELOG, re.M):
        assert kind in CHANGE_TYPES, kind
    # every heading is a link, defined at the bottom
    for name in ["Unreleased", *versions]:
        assert re.search(rf"^\[{re.escape(name)}\]: {re.escape(project.REPOSITORY)}/", CHANGELOG, re.M), name


def test_the_current_version_has_a_changelog_entry():
    assert __version__ in RELEASE.changelog_versions(CHANGELOG)


def test_the_release_check_refuses_a_tag_without_a_changelog_entry(monkeypatch, tmp_path):
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG.replace(f"## [{__version__}]", "## [0.0.0]"))
    (tmp_path / "charts" / "vllm").mkdir(parents=True)
    (tmp_path / "charts" / "vllm" / "Chart.yaml").write_text((REPO / "charts" / "vllm" / "Chart.yaml").read_text())
    monkeypatch.setattr(RELEASE, "REPO", tmp_path)
    assert RELEASE.mismatches(f"v{__version__}") == [
        f"CHANGELOG.md has no entry `## [{__version__}] - YYYY-MM-DD` for the tag"]
    monkeypatch.setattr(RELEASE, "REPO", REPO)
    assert RELEASE.mismatches(f"v{__version__}") == []


# --- dependency updates ------------------------------------------------------------------------------------------------

def test_dependabot_updates_the_python_packages_the_actions_and_the_dockerfile():
    path = REPO / ".github" / "dependabot.yml"
    res = _builtin("vendor.dependabot", path)
    assert res.returncode == 0, res.stdout + res.stderr
    updates = {(u["package-ecosystem"], u["directory"]) for u in yaml.safe_load(path.read_text())["updates"]}
    assert updates == {("pip", "/"), ("github-actions", "/"), ("docker", "/images/vllm")}
    assert (REPO / "images" / "vllm" / "Dockerfile").is_file()


def test_renovate_tracks_every_image_pinned_in_images_py():
    import json

    path = REPO / "renovate.json"
    res = _builtin("vendor.renovate", path)
    assert res.returncode == 0, res.stdout + res.stderr
    managers = json.loads(path.read_text())["customManagers"]
    (manager,) = [m for m in managers if m["fileMatch"] == [r"^cli/vllmgen/images\.py$"]]
    assert manager["datasourceTemplate"] == "docker"
    # Renovate's named groups are JavaScript's (?<name>...); Python spells them (?P<name>...)
    pattern = re.compile(manager["matchStrings"][0].replace("(?<", "(?P<"))
    found = {(m["depName"], m["currentValue"]) for m in pattern.finditer((REPO / "cli" / "vllmgen" / "images.py").read_text())}
    pinned = {value for name, value in vars(images).items()
              if name.isupper() and isinstance(value, tuple) and len(value) == 2 and "/" in value[0]}
    # the project's own image is released with the package, not updated by a bot
    assert found == pinned - {images.PROJECT}


def test_renovate_tracks_the_actionlint_release_ci_downloads():
    import json

    managers = json.loads((REPO / "renovate.json").read_text())["customManagers"]
    (manager,) = [m for m in managers if m.get("depNameTemplate") == "rhysd/actionlint"]
    assert manager["datasourceTemplate"] == "github-releases"
    ci = REPO / ".github" / "workflows" / "ci.yml"
    assert any(re.search(pattern, ci.relative_to(REPO).as_posix()) for pattern in manager["fileMatch"])
    pattern = re.compile(manager["matchStrings"][0].replace("(?<", "(?P<"))
    (found,) = [m["currentValue"] for m in pattern.finditer(ci.read_text())]
    assert found == yaml.safe_load(ci.read_text())["env"]["ACTIONLINT_VERSION"]
