"""Release and CI automation, checked offline: every GitHub workflow validates against GitHub's workflow schema as
check-jsonschema ships it, the workflows do what the README says they do, the release tag is checked against
every declared version, Chart.yaml carries what Artifact Hub shows, and the project's address is one address."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vllmgen import __version__, images, project

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
CHART_YAML = REPO / "charts" / "vllm" / "Chart.yaml"


def check_workflows(*paths: Path) -> subprocess.CompletedProcess:
    """check-jsonschema against its vendored GitHub workflow schema (offline: the schema ships in the package)."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           *map(str, paths)], capture_output=True, text=True, timeout=120)


def workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1)
    data = yaml.safe_load((REPO / ".github" / "workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(job: dict) -> list[dict]:
    return job["steps"]


def runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def uses(job: dict) -> list[str]:
    return [s["uses"] for s in steps(job) if "uses" in s]


# --- schema ------------------------------------------------------------------------------------------------------

def test_there_are_ci_and_release_workflows():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_validates_against_githubs_schema(path):
    res = check_workflows(path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: 1\n        run: echo\n")
    assert check_workflows(broken).returncode == 1


# --- CI: what only GitHub can run ---------------------------------------------------------------------------------

def test_ci_runs_the_test_command_helm_unittest_and_ct_lint():
    ci = workflow("ci.yml")
    assert set(ci["on"]) >= {"push", "pull_request"}
    jobs = ci["jobs"]
    assert "bash .ci/run" in runs(jobs["tests"])
    chart = runs(jobs["chart"])
    # helm-unittest 1.x, installed as Helm 4 accepts a plugin from git (no signature to verify)
    assert re.search(r"^v1\.\d+\.\d+$", ci["env"]["HELM_UNITTEST_VERSION"])
    assert ci["env"]["HELM_VERSION"].startswith("v4.")
    assert 'helm plugin install https://github.com/helm-unittest/helm-unittest --version "$HELM_UNITTEST_VERSION" ' \
        "--verify=false" in chart
    # the suites this repository's own runner (tests/test_chart_unittest.py) executes, by the same glob
    assert "helm unittest --strict --file 'tests/*_test.yaml' charts/vllm" in chart
    assert list((REPO / "charts" / "vllm").glob("tests/*_test.yaml"))
    assert "ct lint --config ct.yaml" in chart and any(u.startswith("helm/chart-testing-action@") for u in uses(jobs["chart"]))
    assert "scripts/build_supervisor.py --check" in chart
    ct = yaml.safe_load((REPO / "ct.yaml").read_text())
    assert ct["charts"] == ["charts/vllm"] and (REPO / ct["lint-conf"]).exists()


def test_ci_runs_the_real_actionlint_pinned_to_one_release():
    ci = workflow("ci.yml")
    version = ci["env"]["ACTIONLINT_VERSION"]
    assert re.fullmatch(r"1\.7\.\d+", str(version)), "a fixed release, never `latest`"
    job = ci["jobs"]["workflows"]
    download = next(s for s in steps(job) if "download-actionlint.bash" in s.get("run", ""))
    text = " ".join(download["run"].split())
    # rhysd/actionlint's official script, from the release's own tag (not main), asked for that release
    assert "https://raw.githubusercontent.com/rhysd/actionlint/v$ACTIONLINT_VERSION/scripts/download-actionlint.bash" in text
    assert re.search(r'download-actionlint\.bash" "\$ACTIONLINT_VERSION"', text)
    assert "latest" not in text and "/main/" not in text
    lint = steps(job)[steps(job).index(download) + 1]
    assert lint["run"].startswith(f"${{{{ steps.{download['id']}.outputs.executable }}}}")
    # it lints every workflow: run from the checkout's root with no file arguments
    assert any(u.startswith("actions/checkout@") for u in uses(job)) and "-color" in lint["run"]
    assert isinstance(job["timeout-minutes"], int)


def test_kind_installs_and_waits_with_probe_check_never_sleep():
    job = workflow("ci.yml")["jobs"]["kind"]
    assert any(u.startswith("helm/kind-action@") for u in uses(job))
    text = runs(job)
    assert "vllmgen values --layout simulated" in text and "helm install sim charts/vllm" in text
    # the simulated layout renders an InferencePool: its CRD first, then its endpoint picker must turn Ready
    assert text.index("gateway-api-inference-extension/releases/download/v1.4.0/manifests.yaml") < \
        text.index("helm install sim charts/vllm") < text.index("kubectl rollout status deployment/sim-vllm-epp")
    assert "vllmgen values --spec .github/kind/vllm-cpu-spec.yaml" in text and "helm install cpu charts/vllm" in text
    wait = (REPO / ".github" / "kind" / "probe-until-ready.sh").read_text()
    assert "vllmgen probe-check" in wait and "--until-ready" in wait
    for path in [*WORKFLOWS, *(REPO / ".github" / "kind").iterdir()]:
        assert not re.search(r"\bsleep\b", path.read_text()), f"{path.name}: wait on the probes, not a sleep"


def test_the_kind_spec_runs_vllms_cpu_image_behind_the_chart_delivered_supervisor():
    from vllmgen import spec as specmod, values

    spec = specmod.load_spec(str(REPO / ".github" / "kind" / "vllm-cpu-spec.yaml"))
    data = values.values_dict(spec)
    assert (data["image"]["repository"], data["image"]["tag"]) == images.VLLM_CPU
    assert data["probeMode"] == "supervised" and data["supervisor"]["zipappPath"]
    assert spec["model"]["source"].startswith("hf://")
    # the completion step asks for the served name
    assert f'"model": "{spec["model"]["name"]}"' in runs(workflow("ci.yml")["jobs"]["kind"])


# --- release ---------------------------------------------------------------------------------------------------------

def test_every_job_of_every_workflow_has_a_timeout():
    for path in WORKFLOWS:
        for name, job in workflow(path.name)["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: job {name} has no timeout-minutes"


def test_release_runs_only_after_ci_passed_for_the_tagged_commit():
    ci, rel = workflow("ci.yml"), workflow("release.yml")
    # CI runs on the version tags, and the release starts when such a run completes
    assert ci["on"]["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+*"]
    assert rel["on"] == {"workflow_run": {"workflows": [ci["name"]], "types": ["completed"]}}
    check = rel["jobs"]["check"]
    for condition in ("github.event.workflow_run.conclusion == 'success'", "github.event.workflow_run.event == 'push'",
                      "startsWith(github.event.workflow_run.head_branch, 'v')"):
        assert condition in check["if"]
    text = runs(check)
    assert 'git rev-parse "refs/tags/$TAG^{commit}"' in text and '[ "$tagged" = "$SHA" ]' in text
    assert 'scripts/release_version.py "$TAG"' in text
    # everything after builds the commit CI tested, never the default branch workflow_run runs on
    for name, job in rel["jobs"].items():
        for step in steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["ref"] in ("${{ github.event.workflow_run.head_sha }}",
                                               "${{ needs.check.outputs.sha }}"), name
        if name != "check":
            assert "check" in job["needs"], name


#: (build job, publish job, artifact) for each thing released: the Python package, the chart, the image.
BUILD_PUBLISH = (("build-python", "publish-pypi", "python"), ("build-chart", "publish-chart", "chart"),
                 ("build-image", "publish-image", "image"))


def _step(job: dict, action: str) -> dict:
    return next(s for s in steps(job) if s.get("uses", "").startswith(action + "@"))


@pytest.mark.parametrize("build,publish,artifact", BUILD_PUBLISH, ids=[a for _, _, a in BUILD_PUBLISH])
def test_release_builds_and_publishes_in_separate_jobs_handing_artifacts_over(build, publish, artifact):
    jobs = workflow("release.yml")["jobs"]
    assert build != publish and build in jobs and publish in jobs
    upload = _step(jobs[build], "actions/upload-artifact")
    download = _step(jobs[publish], "actions/download-artifact")
    assert upload["with"]["name"] == download["with"]["name"] == artifact
    assert upload["with"]["if-no-files-found"] == "error", "a build that wrote nothing must fail, not publish nothing"
    assert build in jobs[publish]["needs"]
    # a publish job never builds: no checkout, no build tool, nothing but what the build handed over
    assert not any(u.startswith(("actions/checkout@", "docker/build-push-action@", "docker/setup-buildx-action@"))
                   for u in uses(jobs[publish])), publish
    assert "helm package" not in runs(jobs[publish]) and "python -m build" not in runs(jobs[publish])
    # a build job publishes nothing: no write permission, no registry login, no push
    assert "permissions" not in jobs[build] or "write" not in str(jobs[build]["permissions"]), build
    assert not any(u.startswith(("docker/login-action@", "pypa/gh-action-pypi-publish@")) for u in uses(jobs[build]))
    assert not re.search(r"\b(push|login)\b", runs(jobs[build])), build
    # the publish job runs in a deployment environment (protection rules, its own secrets)
    assert jobs[publish]["environment"]["name"], publish
    for job in (build, publish):
        assert isinstance(jobs[job].get("timeout-minutes"), int), job


def test_release_what_each_build_and_publish_job_does():
    rel = workflow("release.yml")
    jobs = rel["jobs"]
    assert "python -m build" in runs(jobs["build-python"])
    chart = runs(jobs["build-chart"])
    assert "helm package charts/vllm --destination dist" in chart and "--sign --key" in chart
    push = runs(jobs["publish-chart"])
    assert 'helm push "dist/vllm-$VERSION.tgz" "oci://$REGISTRY/charts"' in push
    assert f"oci://{rel['env']['REGISTRY']}/charts" == project.CHART_REPOSITORY
    assert any(u.startswith("actions/attest-build-provenance@") for u in uses(jobs["publish-chart"]))
    pypi = jobs["publish-pypi"]
    assert pypi["environment"]["name"] == "pypi"
    assert pypi["permissions"] == {"id-token": "write"}, "trusted publishing: an OIDC token, no stored secret"
    assert "password" not in _step(pypi, "pypa/gh-action-pypi-publish").get("with", {})
    assert set(jobs["release"]["needs"]) >= {"publish-image", "publish-chart", "publish-pypi"}
    assert "gh release create" in runs(jobs["release"]) and jobs["release"]["permissions"]["contents"] == "write"
    # the release attaches the chart and the Python distributions, never the image archive
    downloads = [s["with"].get("name") for s in steps(jobs["release"])
                 if s.get("uses", "").startswith("actions/download-artifact@")]
    assert sorted(downloads) == ["chart", "python"]


def test_the_image_is_built_to_an_oci_archive_then_pushed_and_attested_by_digest():
    rel = workflow("release.yml")
    build, publish = rel["jobs"]["build-image"], rel["jobs"]["publish-image"]
    bake = _step(build, "docker/build-push-action")["with"]
    assert bake["file"] == "images/vllm/Dockerfile" and bake["push"] is False
    assert "platforms" in bake and "imagetools inspect" in runs(build)
    assert bake["provenance"] == "mode=max", "buildx's provenance travels in the archive"
    match = re.fullmatch(r"type=oci,dest=(\S+)", bake["outputs"])
    assert match and _step(build, "actions/upload-artifact")["with"]["path"] == match.group(1)
    archive = Path(_step(publish, "actions/download-artifact")["with"]["path"]) / Path(match.group(1)).name
    push = next(s for s in steps(publish) if "skopeo copy" in s.get("run", ""))
    text = " ".join(push["run"].split())
    assert f"oci-archive:{archive.as_posix()}" in text and '"docker://$REGISTRY/vllm:$VERSION"' in text
    # every platform, the digests buildx computed, and the pushed index's digest for the attestation
    assert "--all" in text and "--preserve-digests" in text and "--digestfile" in text
    assert rel["env"]["REGISTRY"] == project.REGISTRY
    assert publish["permissions"]["packages"] == "write" and publish["permissions"]["id-token"] == "write"
    attest = _step(publish, "actions/attest-build-provenance")
    assert steps(publish).index(push) < steps(publish).index(attest), "attested after the push"
    assert attest["with"]["subject-digest"] == f"${{{{ steps.{push['id']}.outputs.digest }}}}"
    assert attest["with"]["subject-name"] == "${{ env.REGISTRY }}/vllm" and attest["with"]["push-to-registry"] is True


def test_every_release_job_is_in_the_chain_after_the_ci_gate():
    jobs = workflow("release.yml")["jobs"]
    assert set(jobs) == {"check", "release", *(j for triple in BUILD_PUBLISH for j in triple[:2])}
    for name, job in jobs.items():
        assert isinstance(job.get("timeout-minutes"), int), name


def _release_version(tag: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "release_version.py"), tag], capture_output=True,
                          text=True, timeout=60)


def test_the_release_tag_must_be_the_declared_version():
    assert _release_version(f"v{__version__}").returncode == 0
    wrong = _release_version("v99.0.0")
    assert wrong.returncode == 1 and "charts/vllm/Chart.yaml" in wrong.stderr and "__init__" in wrong.stderr


# --- Chart.yaml and the project's address -----------------------------------------------------------------------------

def test_chart_yaml_carries_what_artifact_hub_shows():
    chart = yaml.safe_load(CHART_YAML.read_text())
    assert chart["version"] == chart["appVersion"] == __version__
    assert chart["home"] == project.REPOSITORY and project.REPOSITORY in chart["sources"]
    assert chart["maintainers"] and all(m.get("name") for m in chart["maintainers"])
    prefix = project.REPOSITORY.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"
    assert chart["icon"].startswith(prefix) and (REPO / chart["icon"][len(prefix):]).is_file()
    notes = chart["annotations"]
    assert notes["artifacthub.io/license"] == "Apache-2.0"
    listed = {entry["image"] for entry in yaml.safe_load(notes["artifacthub.io/images"])}
    defaults = {images.ref(i) for i in (images.VLLM_OFFICIAL, images.SIMULATOR, images.SIMULATED_SIDECAR,
                                        images.SIDECAR, images.TRITON)}
    assert listed == defaults
    for link in yaml.safe_load(notes["artifacthub.io/links"]):
        assert link["url"].startswith(project.REPOSITORY)


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    skip = (".pyz", ".svg", ".png")
    return [REPO / f for f in out.splitlines() if not f.endswith(skip) and (REPO / f).is_file()]


#: The placeholder the docs once used for the repository's owner.
PLACEHOLDER = "OWN" + "ER/"


def test_one_project_address_everywhere():
    owner = project.REPOSITORY.split("/")[-2]
    found = []
    for path in _tracked_text_files():
        text = path.read_text(errors="replace")
        if PLACEHOLDER in text:
            found.append(f"{path.relative_to(REPO)}: placeholder OWNER")
        for other in re.findall(r"github\.com/([\w.-]+)/vllmgen\b", text):
            if other != owner:
                found.append(f"{path.relative_to(REPO)}: github.com/{other}/vllmgen")
        for other in re.findall(r"ghcr\.io/([\w.-]+)/vllm\b", text):
            if f"ghcr.io/{other}" != project.REGISTRY:
                found.append(f"{path.relative_to(REPO)}: ghcr.io/{other}/vllm")
    assert not found, found


def test_version_flag():
    res = subprocess.run([sys.executable, "-m", "vllmgen", "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == f"vllmgen {__version__}"


def test_the_release_page_names_every_release_job_environment_and_pinned_tool():
    text = (REPO / "docs" / "release.md").read_text()
    rel = workflow("release.yml")
    for name, job in rel["jobs"].items():
        assert f"`{name}`" in text, name
        if "environment" in job:
            assert f"`{job['environment']['name']}`" in text, job["environment"]["name"]
    for pinned in ("ACTIONLINT_VERSION", "HELM_UNITTEST_VERSION"):
        assert pinned in workflow("ci.yml")["env"] and f"`{pinned}`" in text, pinned
    # which runner runs the chart suites where
    assert "tests/helm_unittest.py" in text and "helm unittest --strict --file 'tests/*_test.yaml' charts/vllm" in text
