"""A served model whose engine freezes (vLLM's /health and /v1/models keep answering 200): when the pod turns
NotReady and when it restarts, with vllmgen's serving watchdog next to the probes of llm-d's guide,
production-stack and KServe. Replays through `vllmgen probe-check` (kubelet's rules, deterministic); the real
frozen engine is in tests/test_watchdog_vllm.py and `benchmarks/wedge_recovery.py` measures both ends."""

from __future__ import annotations

import pytest

from tests.support.replays import TIMELINES, probe_check
from vllmgen import probes, serving, values
from vllmgen.emulator import timeline
from vllmgen.spec import load_spec

DATA = TIMELINES
#: The fixtures' engine freezes this long after the container started; the model is served from 30 s.
FROZEN_AT = 120.0
#: The monitor reads /metrics once a second: a verdict comes within this of its window.
READING_S = 1.0


def events(run: dict) -> dict:
    out: dict = {}
    for row in run["timeline"]:
        if "event" in row:
            out.setdefault(row["event"], row["time"])
    return out


def test_the_supervised_fixture_follows_the_default_windows():
    w = serving.windows(load_spec())
    t = timeline.load(DATA / "frozen-engine-supervised.yaml")
    assert t.exit_at == FROZEN_AT + w.restart_s + READING_S
    readyz = next(e for e in t.endpoints if e.path == "/readyz")
    assert readyz.answers[-1].at == FROZEN_AT + w.stall_s + READING_S and readyz.answers[-1].status == 503


def test_vllmgen_turns_not_ready_after_the_stall_window_and_restarts_after_the_restart_window(tmp_path):
    config = tmp_path / "values.yaml"
    config.write_text(values.render(load_spec()))
    w = serving.windows(load_spec())
    run = probe_check(config, DATA / "frozen-engine-supervised.yaml", "--role", "standalone")
    seen = events(run)
    # kubelet needs failureThreshold readiness periods of 503 to mark the pod NotReady
    lag = probes.SUPERVISED_READINESS_PERIOD_S * probes.SUPERVISED_READINESS_FAILURES
    assert FROZEN_AT + w.stall_s < seen["not-ready"] <= FROZEN_AT + w.stall_s + READING_S + lag + 0.01
    v = run["verdict"]
    assert v["kills"] == 0 and v["restarts"] >= 1  # the container exits by itself
    assert v["restarted_at"] == pytest.approx(FROZEN_AT + w.restart_s + READING_S + 1.0, abs=0.01)


@pytest.mark.parametrize("peer", ["llm-d-guide-decode.yaml", "production-stack-engine.yaml", "kserve-llmisvc.yaml"])
def test_peers_never_notice_a_frozen_engine(peer):
    run = probe_check(DATA / peer, DATA / "frozen-engine.yaml")
    seen = events(run)
    assert 30.0 <= seen["ready"] < FROZEN_AT  # Ready once the model is served (a probe period or a relist later)
    assert "not-ready" not in seen and run["verdict"]["restarts"] == 0 and run["verdict"]["ready_at_end"]
