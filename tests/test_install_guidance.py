"""What a first user reads after `vllmgen values` and `helm install`: the install timeout (the slowest role's
startup, the ceiling in supervised mode, plus the image pull) in the values' header, NOTES.txt and the README's
install line; NOTES' next step for each layout, the startup-probe allowance and a completion to try; and the
prefill/decode example on single-node (docs/layouts.md) rendering the gateway pieces, so vllmgen's own lint is
quiet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests import chartcheck as cc
from vllmgen import probes, servers, spec as specmod, values
from vllmgen.budget import CEILING_FACTOR, IMAGE_PULL_SECONDS, startup_budget, supervised_ceiling
from vllmgen.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
#: The layouts page, where the README's prefill/decode example lives.
LAYOUTS = (REPO / "docs" / "layouts.md").read_text()


def _values(*roles: str, layout: str | None = None, text: str | None = None) -> dict:
    spec = specmod.parse_spec(text, "t.yaml", layout=layout, roles=list(roles) or None) if text else \
        specmod.load_spec(None, layout=layout, roles=list(roles) or None)
    return values.values_dict(spec, list(roles) or None)


# --- the pure function ---------------------------------------------------------------------------------------------

def test_install_timeout_is_the_slowest_roles_start_plus_the_image_pull():
    assert probes.install_timeout([400, 1563, 900]) == 1563 + IMAGE_PULL_SECONDS
    assert probes.install_timeout([5]) > probes.HELM_DEFAULT_TIMEOUT_S, "never below Helm's own default"
    assert probes.install_command(1863) == "helm install NAME charts/vllm -f values.yaml --wait --timeout 1863s"


@pytest.mark.parametrize("layout", ["single-node", "simulated", "wide-ep"])
def test_values_carry_the_install_timeout_of_the_slowest_role(layout):
    spec = specmod.load_spec(None, layout=layout)
    roles = specmod.active_roles(spec)
    data = values.values_dict(spec)
    allowed = [servers.of(spec).probes(spec, r).startup_seconds for r in roles]
    assert data["installTimeoutSeconds"] == max(allowed) + IMAGE_PULL_SECONDS
    # every role's rollout fits in it
    for role in roles:
        assert data[role].get("progressDeadlineSeconds", 0) <= data["installTimeoutSeconds"]


def test_supervised_mode_waits_for_the_ceiling_not_the_budget():
    spec = specmod.load_spec(None)
    assert spec["probes"]["mode"] == "supervised"
    budget = startup_budget(spec)
    data = values.values_dict(spec)
    assert data["installTimeoutSeconds"] == supervised_ceiling(budget) + IMAGE_PULL_SECONDS
    assert data["installTimeoutSeconds"] > CEILING_FACTOR * budget.seconds
    plain = values.values_dict(specmod.parse_spec("model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9}\n"
                                                  "probes: {mode: plain}\n", "t.yaml"))
    plain_budget = startup_budget(specmod.parse_spec("model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9}\n"
                                                     "probes: {mode: plain}\n", "t.yaml"))
    assert plain["installTimeoutSeconds"] == plain_budget.seconds + IMAGE_PULL_SECONDS


def test_the_values_header_prints_the_install_line():
    res = CliRunner().invoke(app, ["values"])
    assert res.exit_code == 0, res.output
    timeout = _values()["installTimeoutSeconds"]
    header = res.output.split("\nlayout:")[0]
    assert f"# Install and wait until every pod is Ready: {probes.install_command(timeout)}" in header


def test_the_readme_install_line_uses_the_default_values_timeout():
    timeout = _values()["installTimeoutSeconds"]
    spec = specmod.load_spec(None)
    budget = startup_budget(spec)
    assert (f"startup ceiling ({supervised_ceiling(budget)} s in supervised mode, {CEILING_FACTOR} x the "
            f"{budget.seconds} s startup") in " ".join(README.split())
    assert f"helm install NAME charts/vllm -f values.yaml --wait --timeout {timeout}s" in README
    for number in re.findall(r"--timeout (\d+)s", README):
        assert int(number) == timeout, "every --timeout in the README is the default values' one"


def test_the_readmes_probe_numbers_are_the_default_specs():
    """The README's brief of the startup budget, the stall window and the serving watchdog quotes the numbers
    the default spec gives: a change of a default shows here before it leaves the README stale."""
    from vllmgen import serving
    from vllmgen.budget import stall_window

    spec = specmod.load_spec(None)
    text = " ".join(README.split())
    assert f"**startup budget** ({startup_budget(spec).seconds} s for the default spec)" in text
    assert f"`startup.stallSeconds` ({stall_window(spec).arithmetic()})" in text
    w = serving.windows(spec)
    assert f"x {serving.STALL_MARGIN}, {w.stall_s} s for the default spec) turns `/readyz` 503" in text
    assert f"{serving.RESTART_FACTOR}x that restarts" in text
    assert f"canary after {serving.CANARY_IDLE_SECONDS} s" in text


# --- NOTES -----------------------------------------------------------------------------------------------------------

def test_notes_print_the_timeout_to_wait_with():
    data = _values()
    notes = cc.notes(data)
    assert f"--wait --timeout {data['installTimeoutSeconds']}s" in notes


@pytest.mark.parametrize(("layout", "command"), [("single-node", "vllmgen values > values.yaml"),
                                                 ("simulated", "vllmgen values --layout simulated > values.yaml"),
                                                 ("wide-ep", "vllmgen values --layout wide-ep > values.yaml")])
def test_notes_without_roles_give_the_next_step_for_the_layout(layout, command):
    notes = cc.notes({"layout": layout})
    assert command in notes and "--role decode" not in notes.split(command)[1].split("\n")[0]
    assert "--wait --timeout" in notes
    if layout == "single-node":
        assert "one standalone vLLM pod by default" in notes


def test_notes_show_the_startup_allowance_and_a_completion():
    data = _values()
    startup = data["standalone"]["probes"]["startup"]
    allowed = startup.get("initialDelaySeconds", 0) + startup["periodSeconds"] * startup["failureThreshold"]
    notes = cc.notes(data)
    assert f"Kubernetes allows each pod {allowed} s to start" in notes and "the ceiling" in notes
    assert allowed >= data["installTimeoutSeconds"] - IMAGE_PULL_SECONDS
    curl = next(line for line in notes.splitlines() if "/v1/completions" in line)
    assert curl.strip().startswith("curl -s http://127.0.0.1:8000/v1/completions")
    assert f'"model": "{data["spec"]["model"]["name"]}"' in curl
    assert "kubectl port-forward -n ns svc/rel-vllm-standalone 8000:8000" in notes


def test_notes_curl_sends_the_api_key_when_one_is_set():
    data = _values()
    data["apiKey"]["secretName"] = "vllm-key"
    assert '-H "Authorization: Bearer $VLLM_API_KEY"' in cc.notes(data)


# --- the layouts page's P/D example on single-node -------------------------------------------------------------------

def test_the_layouts_pd_example_renders_the_gateway_pieces_and_lints_clean(tmp_path):
    line = "vllmgen values --role prefill --role decode > pd-values.yaml"
    assert line in LAYOUTS
    out = tmp_path / "pd-values.yaml"
    res = CliRunner().invoke(app, ["values", "--role", "prefill", "--role", "decode", "-o", str(out)])
    assert res.exit_code == 0, res.output
    kinds = {o["kind"] for o in cc.render_objects(yaml.safe_load(out.read_text()))}
    assert "InferencePool" in kinds
    lint = subprocess.run([sys.executable, "-m", "vllmgen", "lint", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert lint.returncode == 0 and "VG018" not in lint.stdout, lint.stdout + lint.stderr


def test_an_explicit_no_pool_still_wins_over_the_asked_roles():
    text = "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9}\nrouting: {inferencePool: false}\n"
    spec = specmod.parse_spec(text, "t.yaml", roles=["prefill", "decode"])
    assert spec["routing"]["inferencePool"] is False
