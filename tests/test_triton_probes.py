"""`vllmgen probe-check` replays the generated Triton probes over timelines recorded from the real tritonserver
(tests/test_triton_server.py): the pod turns Ready only once the model is ready, is never restarted while it
loads, and leaves the Service when the model is unloaded (the vLLM backend's reaction to a dead engine).
Replays of deliberately wrong probes show what the generated ones avoid."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vllmgen import spec as specmod, values
from vllmgen.servers import triton
from vllmgen.cli import app

TIMELINES = Path(__file__).parent / "data" / "timelines"
#: The recordings' model is named `m`; the spec gives the same name so the generated paths match.
SPEC = "model: {source: /models/m, name: m, weightsGiB: 0.001}\nstartup: {budgetSeconds: %d}\n"
#: A budget that covers the slow recorded load (15 s) with room, as the spec's math would.
BUDGET_S = 60
#: The pod was synced half a second before its container started. At 0 every ticker ticks at whole seconds, with
#: the PLEG relists: the readiness worker's first result then has the pod synced in the very second startup
#: succeeds, and the manual readiness run waits for the next relist, past the 1.2 s the unload recording's model
#: stays loaded.
LEAD_S = "0.5"
#: Ready follows the model within one startup period (1 s), plus at most one relist (1 s) that the pod worker's
#: sync waits for when the pod was synced within the second before startup success.
MAX_LAG_S = 2.1


def generated(budget: int = BUDGET_S) -> dict:
    spec = specmod.parse_spec(SPEC % budget, "m.yaml", server="triton")
    return yaml.safe_load(values.render(spec))


def replay(tmp_path: Path, vals: dict, timeline: str, name: str = "values") -> dict:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(vals))
    result = CliRunner().invoke(app, ["probe-check", str(path), "--role", "standalone", "--replay",
                                      str(TIMELINES / f"triton-{timeline}.yaml"), "--lead", LEAD_S, "--format",
                                      "json"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.output)["runs"]
    return run


def events(run: dict) -> list[tuple[str, float]]:
    return [(row["event"], row["time"]) for row in run["timeline"] if "event" in row]


@pytest.mark.parametrize("timeline", ["load", "slow-load", "unload", "engine-unhealthy", "no-load-model"])
def test_ready_only_once_the_model_is_ready_and_never_restarted(tmp_path, timeline):
    run = replay(tmp_path, generated(), timeline)
    v = run["verdict"]
    assert v["ready_at"] is not None and v["ready_at"] >= v["model_ready_at"]
    assert v["lag"] <= MAX_LAG_S
    assert v["restarts"] == 0 and v["kills"] == 0


@pytest.mark.parametrize("timeline", ["unload", "engine-unhealthy"])
def test_an_unloaded_model_takes_the_pod_out_of_the_service_without_a_restart(tmp_path, timeline):
    run = replay(tmp_path, generated(), timeline)
    assert run["verdict"]["ready_at_end"] is False
    kinds = [e for e, _ in events(run)]
    assert kinds.index("not-ready") > kinds.index("ready")
    assert "kill" not in kinds


def test_a_failed_load_never_turns_ready(tmp_path):
    run = replay(tmp_path, generated(), "failed-load")
    assert run["verdict"]["ready_at"] is None and run["verdict"]["started_at"] is None


def test_server_wide_readiness_would_keep_an_unloaded_pod_in_the_service(tmp_path):
    """The reason readiness is on /v2/models/NAME/ready: /v2/health/ready turns 200 again after the unload."""
    wrong = copy.deepcopy(generated())
    wrong["standalone"]["probes"]["readiness"]["httpGet"]["path"] = "/v2/health/ready"
    assert replay(tmp_path, wrong, "engine-unhealthy", "wrong")["verdict"]["ready_at_end"] is True
    assert replay(tmp_path, generated(), "engine-unhealthy")["verdict"]["ready_at_end"] is False


def test_a_startup_budget_shorter_than_the_load_restarts_the_pod(tmp_path):
    """The replay can fail: a 10 s budget restarts the pod in the middle of the 15 s recorded load."""
    run = replay(tmp_path, generated(budget=10), "slow-load")
    assert run["verdict"]["kills"] >= 1 and run["verdict"]["ready_at"] is None


def test_without_explicit_model_control_a_dead_engine_stays_ready(tmp_path):
    """What the lint rule about explicit model control prevents: the backend cannot unload the model, so the
    generated (model-aware) readiness probe still sees 200 and the pod keeps getting traffic it fails."""
    run = replay(tmp_path, generated(), "health-check-without-explicit")
    assert run["verdict"]["ready_at_end"] is True


def test_generated_probes_are_the_ones_replayed():
    probes = generated()["standalone"]["probes"]
    spec = specmod.parse_spec(SPEC % BUDGET_S, "m.yaml", server="triton")
    assert probes == triton.probes(spec).as_dict()
    assert probes["readiness"]["httpGet"]["path"] == "/v2/models/m/ready"


def test_the_guides_timeline_is_the_recording():
    """guides/triton.md replays the engine-death recording with the model renamed; nothing else may differ."""
    import re

    guide = (Path(__file__).parents[1] / "guides" / "triton.md").read_text()
    block = re.search(r"<!-- file: triton-engine-unhealthy.yaml -->\n```yaml\n(.*?)```", guide, re.S).group(1)
    in_guide = yaml.safe_load(block.replace("/v2/models/qwen3-8b/ready", "/v2/models/m/ready"))
    recorded = yaml.safe_load((TIMELINES / "triton-engine-unhealthy.yaml").read_text())
    assert in_guide["endpoints"] == recorded["endpoints"]
    assert in_guide["duration"] == recorded["duration"] and in_guide["ready_at"] == recorded["ready_at"]


def test_real_vllm_load_inside_triton_is_covered_by_the_startup_budget(tmp_path):
    """The recording of a real vLLM engine starting inside Triton from the generated model.json (152 s on two busy
    cores): the spec's computed budget lets it finish, Ready follows it, the unload takes it out."""
    spec = specmod.parse_spec("model: {source: /models/m, name: m, weightsGiB: 0.001, dtype: float32}\n"
                              "engine: {maxModelLen: 512, extraArgs: [--enforce-eager]}\n", "m.yaml", server="triton")
    vals = yaml.safe_load(values.render(spec))
    run = replay(tmp_path, vals, "vllm-cpu")
    v = run["verdict"]
    assert triton.probes(spec).budget.seconds > v["model_ready_at"]
    assert v["restarts"] == 0 and v["kills"] == 0
    assert v["model_ready_at"] <= v["ready_at"] <= v["model_ready_at"] + MAX_LAG_S
    assert v["ready_at_end"] is False
