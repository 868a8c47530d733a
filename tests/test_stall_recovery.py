"""A load that freezes: how long until the pod is restarted, with vllmgen's supervised probes and stall window
next to the fixed startup ceilings of production-stack (615 s), KServe (600 s) and Dynamo (2 h). Replays through
`vllmgen probe-check` (kubelet's rules, deterministic); the real frozen start is in tests/test_startup_vllm.py and
`benchmarks/stall_recovery.py` measures both ends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.replays import REPO, TIMELINES, probe_check
from vllmgen import values
from vllmgen.budget import stall_window
from vllmgen.emulator import timeline
from vllmgen.spec import load_spec

DATA = TIMELINES
#: The fixtures' load freezes this long after the container started.
FROZEN_AT = 60.0
#: The supervisor samples once a second: it sees a stall within this of stallSeconds.
SAMPLE_S = 1.0


@pytest.fixture(scope="module")
def vllmgen_values(tmp_path_factory):
    path = tmp_path_factory.mktemp("values") / "values.yaml"
    path.write_text(values.render(load_spec()))
    return path


def test_the_supervised_fixture_exits_when_the_default_stall_window_says():
    supervised = timeline.load(DATA / "frozen-load-supervised.yaml")
    assert supervised.exit_at == FROZEN_AT + stall_window(load_spec()).seconds + SAMPLE_S


def test_a_frozen_load_is_restarted_after_the_stall_window_not_the_ceiling(vllmgen_values):
    run = probe_check(vllmgen_values, DATA / "frozen-load-supervised.yaml", "--role", "standalone")
    v = run["verdict"]
    # the container exits by itself (no probe kill) and kubelet starts it again one PLEG relist later
    assert v["kills"] == 0 and v["restarts"] >= 1
    stall = stall_window(load_spec()).seconds
    assert v["restarted_at"] == pytest.approx(FROZEN_AT + stall + SAMPLE_S + 1.0, abs=0.01)
    # the pod is held no more than 58 s after the freeze: 10x less than production-stack's 580 s
    assert v["restarted_at"] - FROZEN_AT <= 58
    events = [row["event"] for row in run["timeline"] if "event" in row]
    assert events[:3] == ["container-start", "container-exit", "container-start"]


@pytest.mark.parametrize("peer, ceiling", [("production-stack-engine.yaml", 615), ("kserve-llmisvc.yaml", 600),
                                           ("dynamo-worker.yaml", 7200)])
def test_with_a_fixed_ceiling_a_frozen_load_holds_the_pod_until_the_ceiling(peer, ceiling):
    v = probe_check(DATA / peer, DATA / "frozen-load.yaml")["verdict"]
    assert v["kills"] >= 1 and v["ready_at"] is None
    # killed when the startup probe's failures run out, restarted after the grace period
    assert ceiling <= v["restarted_at"] <= ceiling + 90
    # at least 10x longer than vllmgen's default stall window (+ sampling and kubelet's relist) holds it
    assert v["restarted_at"] - FROZEN_AT >= 10 * (stall_window(load_spec()).seconds + SAMPLE_S + 1.0)


def test_exit_at_must_be_a_positive_number_of_seconds(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("version: 1\nduration: 10\nexit_at: 0\nendpoints:\n- {path: /h, answers: [{at: 0, answer: 200}]}\n")
    r = subprocess.run([sys.executable, "-m", "vllmgen", "probe-check", str(DATA / "plain-decode.yaml"), "--replay",
                        str(bad)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2 and f"{bad}:3: /exit_at: must be more than 0" in r.stderr


def test_a_container_that_exits_by_itself_under_restart_policy_never_ends_the_pod(tmp_path):
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: once}\nspec:\n  restartPolicy: Never\n  containers:\n"
                   "  - name: vllm\n    startupProbe:\n      httpGet: {path: /health, port: 8000}\n"
                   "      periodSeconds: 10\n      failureThreshold: 60\n")
    line = tmp_path / "t.yaml"
    line.write_text("version: 1\nduration: 300\nexit_at: 30\nendpoints:\n"
                    "- {path: /health, port: 8000, answers: [{at: 0, answer: refused}]}\n")
    run = probe_check(pod, line)
    assert run["verdict"]["restarts"] == 0 and run["verdict"]["restarted_at"] is None
    events = [(row["time"], row["event"]) for row in run["timeline"] if "event" in row]
    # the pod ends at the sync the next relist's ContainerDied event causes, a second after the exit
    assert (30.0, "container-exit") in events and events[-1] == (31.0, "terminated")
