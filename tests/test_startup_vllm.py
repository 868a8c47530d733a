"""Startup measured on the real vLLM server (CPU build, the tiny model): a start slowed far beyond its estimate
but still progressing turns Ready and is never ended; a start frozen mid-load is ended within stallSeconds plus
a few seconds, with the reason in the log and in /status; `vllmgen calibrate` on the logs of three real starts
gives back their measured terms.

Four starts share this module (two at a time): the slowed one and the frozen one, then two plain ones. vLLM's
process tree is paused with SIGSTOP and resumed with SIGCONT, as a hung mount or a starved node would. Bounds
are generous and nothing depends on the machine's speed: the stall windows are many times the longest quiet
stretch of a start on a saturated machine (docs/upstream-facts.md#vllm-startup-log-lines).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML

from tests.support.vllm_server import REPO, START_TIMEOUT_S, Supervisor, cpu_env, free_port, tiny_spec
from vllmgen.budget import QUIET_START_SECONDS, STALL_MARGIN
from vllmgen.supervisor import process

#: The module's four starts run in its first test's setup: two at a time, one of them slowed down.
pytestmark = [pytest.mark.vllm, pytest.mark.timeout(2400)]

GIB = 1024**3
#: The slowed start: vLLM's whole tree stopped this long, then running this long, in turns until Ready.
PAUSE_S, RUN_S = 4.0, 4.0
#: Both starts run with the computed default stall window of a single-node spec, (25 quiet start) x 2 = 50 s:
#: the slowed start shows progress (CPU time, bytes read) in every run of RUN_S, and the frozen one is ended
#: within it plus a few seconds.
DEFAULT_STALL_S = QUIET_START_SECONDS * STALL_MARGIN
SLOWED_STALL_S = DEFAULT_STALL_S
#: The frozen start's stall window, and what "a few seconds" after it may take on a saturated machine (one
#: sample period, the kill of the group, the supervisor's exit).
FROZEN_STALL_S = DEFAULT_STALL_S
FEW_S = 15
#: The frozen start is stopped once its engine process reports in: mid-load, before the weights.
FREEZE_AT_LINE = "Initializing a V1 LLM engine"
#: A slowed start takes up to twice as long as a plain one, which itself takes up to START_TIMEOUT_S.
SLOWED_TIMEOUT_S = 3 * START_TIMEOUT_S


def small_estimate_spec(model_dir: Path, stall_s: int | None) -> dict:
    """The tiny model with an estimate of 6 s and its true size. Any start takes longer, and the slowed one far
    longer: it lasts at least 3 turns, whose pauses and runs alone add up to 3 * PAUSE_S + 2 * RUN_S = 20 s, more
    than twice the estimate on the fastest machine."""
    spec = tiny_spec(model_dir, free_port(), free_port())
    spec["model"]["weightsGiB"] = (model_dir / "model.safetensors").stat().st_size / GIB
    spec["startup"] = {"cached": True, "compileSeconds": 2, "processStartSeconds": 4, "safetyFactor": 1,
                       **({"stallSeconds": stall_s} if stall_s else {})}  # None: the computed default
    return spec


def killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout: float, what: str, sup: Supervisor):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        if sup.popen.poll() is not None:
            raise AssertionError(f"supervisor exited {sup.popen.returncode} waiting for {what}: {sup.tail()}")
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s: {sup.tail()}")


def status(sup: Supervisor) -> dict | None:
    try:
        return sup.get("/status", timeout=5).json()
    except (httpx.TransportError, ValueError):
        return None


def run_slowed(sup: Supervisor, out: dict) -> None:
    """Pause and resume vLLM's tree in turns until the model is served; record what /status said meanwhile."""
    pgid = sup.vllm_pgid(wait=60)
    seen = []
    try:
        while sup.popen.poll() is None:
            killpg(pgid, signal.SIGSTOP)
            time.sleep(PAUSE_S)
            seen.append(status(sup))
            killpg(pgid, signal.SIGCONT)
            out["turns"] = out.get("turns", 0) + 1
            time.sleep(RUN_S)
            s = status(sup)
            seen.append(s)
            if s and s["phase"] == "ready":
                break
    finally:
        killpg(pgid, signal.SIGCONT)
        out["statuses"] = [s for s in seen if s]


def run_frozen(sup: Supervisor, out: dict) -> None:
    """Stop vLLM's whole tree mid-load and never resume it; time how long until the supervisor exits."""
    wait_for(lambda: FREEZE_AT_LINE in sup.out_path.read_text(errors="replace"), START_TIMEOUT_S,
             "engine process", sup)
    pgid = sup.vllm_pgid()
    killpg(pgid, signal.SIGSTOP)
    frozen = time.monotonic()
    out["frozen_at_t"] = frozen - sup.started_at
    seen = []
    while sup.popen.poll() is None and time.monotonic() - frozen < FROZEN_STALL_S + 10 * FEW_S:
        s = status(sup)
        if s:
            seen.append(s)
        time.sleep(0.5)
    out["exit_after_s"] = time.monotonic() - frozen
    out["statuses"] = seen
    out["pgid"] = pgid


@pytest.fixture(scope="module")
def starts(tiny_model, vllm_cache, tmp_path_factory):
    """Runs the four starts and returns what each showed; every process is killed at the end."""
    work = tmp_path_factory.mktemp("startup")
    env = cpu_env(vllm_cache)
    slowed = Supervisor(work / "slowed", small_estimate_spec(tiny_model, None), env)
    frozen = Supervisor(work / "frozen", small_estimate_spec(tiny_model, None), env)
    plain = [Supervisor(work / f"plain{i}", small_estimate_spec(tiny_model, 120), env) for i in (1, 2)]
    result = {"slowed": {}, "frozen": {}}
    try:
        slowed.start()
        frozen.start()
        threads = [threading.Thread(target=run_slowed, args=(slowed, result["slowed"])),
                   threading.Thread(target=run_frozen, args=(frozen, result["frozen"]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SLOWED_TIMEOUT_S)
        result["slowed"]["exit"] = slowed.popen.poll()
        result["frozen"]["exit"] = frozen.wait_exit(FEW_S)
        for sup in plain:
            sup.start()
        for sup in plain:
            sup.wait_ready(START_TIMEOUT_S * 2)
        for sup in [slowed, *plain]:
            wait_for(lambda sup=sup: sup.event("startup-measured"), 30, "startup-measured line", sup)
        result["sups"] = {"slowed": slowed, "frozen": frozen, "plain": plain}
        yield result
    finally:
        for sup in [slowed, frozen, *plain]:
            pgid = sup.vllm_pgid(wait=0)
            if pgid:
                killpg(pgid, signal.SIGCONT)
            sup.close()


def test_a_start_slowed_far_beyond_its_estimate_but_progressing_turns_ready(starts):
    sup = starts["sups"]["slowed"]
    assert starts["slowed"]["exit"] is None, sup.tail()  # still running: serving, never ended
    assert sup.get("/readyz").status_code == 200
    assert sup.event("exit") is None
    measured = sup.event("startup-measured")
    estimate = sum(measured["estimate"].values())
    assert starts["slowed"]["turns"] >= 3
    assert measured["totalSeconds"] > 2 * estimate  # the estimate is 6 s; the start took far longer
    # while it ran late the supervisor said so, and the stall watch never came near its window
    late = [s for s in starts["slowed"]["statuses"] if s.get("startup", {}).get("estimate", {}).get("late")]
    assert late and all(s["startup"]["phase"] != "ready" for s in late[:1])
    assert measured["longestQuietSeconds"] < SLOWED_STALL_S
    print(f"\nslowed start: {measured['totalSeconds']:.1f} s against an estimate of {estimate:.0f} s, "
          f"{starts['slowed']['turns']} pauses of {PAUSE_S:g} s, longest quiet {measured['longestQuietSeconds']} s, "
          f"phases {measured['phases']}")


def test_a_start_frozen_mid_load_is_ended_after_stall_seconds_with_the_reason(starts):
    sup, got = starts["sups"]["frozen"], starts["frozen"]
    assert got["exit"] == 1, sup.tail()
    # ended after stallSeconds without progress (counted from its last progress, just before the freeze)
    assert FROZEN_STALL_S - 3 <= got["exit_after_s"] <= FROZEN_STALL_S + FEW_S, got["exit_after_s"]
    reason = sup.event("exit")["reason"]
    quiet = re.match(rf"startup stalled: no progress for ([0-9.]+) s \(stallSeconds {FROZEN_STALL_S}\)", reason)
    assert quiet and FROZEN_STALL_S <= float(quiet.group(1)) <= FROZEN_STALL_S + FEW_S, reason
    assert "no vLLM log line, no downloaded byte, less than 0.5 s of CPU time" in reason
    # /status said so while it was frozen, before the end
    warnings = [s["startup"]["stall"]["warning"] for s in got["statuses"] if s["startup"]["stall"]["warning"]]
    assert warnings and "no progress for" in warnings[-1] and f"ended after {FROZEN_STALL_S} s" in warnings[-1]
    assert max(s["startup"]["stall"]["secondsWithoutProgress"] for s in got["statuses"]) >= FROZEN_STALL_S / 2
    assert process.group_members(got["pgid"]) == []  # the frozen tree was killed whole
    print(f"\nfrozen start: stopped {got['frozen_at_t']:.1f} s after start in phase "
          f"{sup.event('exit').get('startupPhase')}; supervisor exited 1 after {got['exit_after_s']:.1f} s "
          f"(stallSeconds {FROZEN_STALL_S})")


def test_every_phase_line_adds_up_to_the_measured_start(starts):
    for sup in [starts["sups"]["slowed"], *starts["sups"]["plain"]]:
        phases = [e for e in sup.events() if e["event"] == "startup-phase"]
        m = sup.event("startup-measured")
        assert [e["phase"] for e in phases][-1] == "ready"
        assert sum(e["secondsInPrevious"] for e in phases) == pytest.approx(m["totalSeconds"], abs=0.1)
        assert sum(m["seconds"].values()) == pytest.approx(m["totalSeconds"], abs=0.01)
        assert {"weights-load", "compile", "api-start"} <= {e["previous"] for e in phases}
        assert m["loadMBps"] > 0 and m["vllmReported"]["loadWeightsSeconds"] >= 0


def test_calibrate_on_three_real_starts_gives_back_their_measured_terms(starts, tmp_path):
    sups = [starts["sups"]["slowed"], *starts["sups"]["plain"]]
    # as `kubectl logs` prints them: vLLM's output and the supervisor's JSON lines in one stream
    logs = []
    for i, sup in enumerate(sups):
        path = tmp_path / f"pod{i}.log"
        path.write_text(sup.out_path.read_text(errors="replace") + sup.err_path.read_text(errors="replace"))
        logs.append(path)
    r = subprocess.run([sys.executable, "-m", "vllmgen", "calibrate", *map(str, logs)], capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    block = YAML(typ="safe").load(r.stdout)["startup"]
    measured = [sup.event("startup-measured") for sup in sups]
    compile_ = [m["seconds"]["compile"] for m in measured]
    start = [m["seconds"]["start"] for m in measured]
    loads = [m["weightsBytes"] / 1e6 / m["seconds"]["load"] for m in measured]
    assert block["compileSeconds"] == math.ceil(max(compile_))
    assert block["processStartSeconds"] == math.ceil(max(start))
    assert block["loadMBps"] == pytest.approx(min(loads), rel=1e-2) and block["loadMBps"] <= min(loads)
    assert "downloadMBps" not in block  # nothing was downloaded
    # the table lists each start's terms as measured, and the block's estimate covers every one of them
    for m, path in zip(measured, logs):
        row = next(line for line in r.stdout.splitlines() if line.startswith("# ") and f" {path}:" in line)
        for term in ("load", "compile", "start"):
            assert f"{m['seconds'][term]:.1f} ->" in row
    # the block is spec fields: the spec takes it and the values show the new budget
    spec = copy.deepcopy(small_estimate_spec(Path(sups[0].spec["model"]["source"]), 120))
    spec["startup"] = {**block, "cached": True}
    spec["probes"] = {"mode": "plain"}
    spec_path = tmp_path / "calibrated.yaml"
    spec_path.write_text(json.dumps(spec))
    v = subprocess.run([sys.executable, "-m", "vllmgen", "values", "--spec", str(spec_path)], capture_output=True,
                       text=True, timeout=60, cwd=REPO)
    assert v.returncode == 0, v.stderr
    assert f"{block['compileSeconds']} compile + {block['processStartSeconds']} start) x 1.5" in v.stdout
    print("\n" + r.stdout)
