"""probe-check live on real vLLM (CPU, tiny model) behind `vllmgen serve`: one start, probed with the supervised
values vllmgen emits, recorded, and the plain values and the llm-d readiness-probe guide's probes replayed on
the recording."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vllmgen import spec as spec_mod, values, yamlio
from vllmgen.cli import app
from vllmgen.emulator import drivers, model, report
from vllmgen.emulator.timeline import HELD_MIN_S

pytestmark = pytest.mark.vllm


def _values(tmp_path, spec: dict, mode: str):
    s = json.loads(json.dumps(spec))
    s["probes"]["mode"] = mode
    path = tmp_path / f"{mode}.yaml"
    path.write_text(values.render(spec_mod.parse_spec(json.dumps(s), f"{mode}.json"), ["standalone"]))
    return path


def test_live_on_real_vllm_supervised_vs_plain_vs_llmd_guide(start_supervisor, tmp_path):
    sup = start_supervisor("probe-check")
    vllm_port = sup.vllm_port
    sup_values, plain_values = _values(tmp_path, sup.spec, "supervised"), _values(tmp_path, sup.spec, "plain")
    guide = tmp_path / "llm-d-guide.yaml"
    guide.write_text((__import__("pathlib").Path(__file__).parent / "data" / "timelines" / "llm-d-guide-decode.yaml")
                    .read_text().replace("8200", str(vllm_port)))
    pods = [model.load(sup_values, "standalone"), model.load(plain_values, "standalone"), model.load(guide)]
    target = drivers.parse_target("http://127.0.0.1", pods)
    result = drivers.live(pods, target, 300, record=True, truth=(vllm_port, "/health"), truth_interval=0.02,
                          stop_after_ready=3)
    live = report.verdict(result.run)
    truth = result.timeline.ready_at
    assert truth is not None and live.ready_at is not None, sup.tail()
    # the held /startupz answers within the supervisor's poll of vLLM; readiness runs at once: well under 1 s
    assert 0 <= live.lag < 1.0 and live.restarts == 0
    startup = [r for r in result.run.kubelet.records if r.kind == "startup"]
    # the successful /startupz was held until the model loaded, unless it was sent when the model was (nearly)
    # loaded: the previous hold may have run out just before, which a busy machine makes more likely
    assert startup[-1].result == "Success"
    assert "held" in startup[-1].detail or startup[-1].start >= truth - HELD_MIN_S, (startup[-1], truth)
    # while loading: one /startupz request per 10 s period
    assert sum(1 for r in startup if r.start < truth) <= truth / 10 + 1
    # the recording replays as the live run went: the same configuration at the live run's own phase turns Ready
    # within 50 ms of it (a held /startupz is stamped with when its answer arrived)
    again = drivers.replay(pods[0], result.timeline, lead=0.0, wall_offset=result.run.wall_start)
    assert abs(again.kubelet.first("ready") - live.ready_at) <= 0.05, (again.kubelet.first("ready"), live.ready_at)
    # the other configurations on the same recording (the endpoints keep their last answers past its end)
    plain = drivers.replay(pods[1], result.timeline, lead=0.0, until=truth + 40)
    guide_run = drivers.replay(pods[2], result.timeline, lead=0.0, until=truth + 40)
    assert 0 <= plain.kubelet.first("ready") - truth <= 1.1
    assert guide_run.kubelet.first("ready") - truth > plain.kubelet.first("ready") - truth
    # and the command itself, now that the pod is ready: Ready at the first probes, exit 0
    res = CliRunner().invoke(app, ["probe-check", str(sup_values), "--url", "http://127.0.0.1", "--until-ready",
                                   "--duration", "30", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["runs"][0]["verdict"]["ready_at"] < 12
