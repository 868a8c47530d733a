"""`vllmgen serve` follows a start phase by phase and ends one that stalls, against a scripted stand-in for vLLM
(tests/support/scripted_vllm.py) so each case takes seconds; the same on the real server is in
tests/test_startup_vllm.py. Bounds are generous: the machine may be saturated."""

from __future__ import annotations

import json
import re
import sys
import time

import httpx
import pytest

from tests.support.vllm_server import REPO, Supervisor, free_port, tiny_spec
from vllmgen.supervisor import process

SCRIPTED = REPO / "tests" / "support" / "scripted_vllm.py"
#: A supervisor and its stand-in start within this on a saturated machine (Python imports, mostly).
START_S = 60

VLLM_LINES = [
    "(APIServer pid=7) INFO 11-27 06:29:27 [api_utils.py:347]  version 0.32.0",
    "(Worker pid=11) INFO 11-27 06:30:59 [cpu_model_runner.py:68] Starting to load model /models/tiny...",
    "(Worker pid=11) INFO 11-27 06:31:00 [default_loader.py:501] Loading weights took 0.01 seconds",
    "(EngineCore pid=9) INFO 11-27 06:31:03 [kv_cache_utils.py:2327] CPU KV cache size: 524,288 tokens, Maximum "
    "concurrency for 512 tokens per request: 1024.00x",
    "(EngineCore pid=9) INFO 11-27 06:31:13 [core.py:402] init engine (profile, create kv cache, warmup model) "
    "took 9.80 s",
    "(APIServer pid=7) INFO 11-27 06:31:19 [entry.py:140] Starting vLLM server on http://127.0.0.1:8000",
]


def scripted(tmp_path, steps, stall_seconds=None, **spec_kw):
    """A supervisor around the stand-in playing `steps`."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps(steps))
    (tmp_path / "model").mkdir(exist_ok=True)
    spec = tiny_spec(tmp_path / "model", free_port(), free_port(), **spec_kw)
    if stall_seconds is not None:
        spec["startup"]["stallSeconds"] = stall_seconds
    env = {process.COMMAND_ENV: f"{sys.executable} {SCRIPTED} {script}", "HF_HOME": str(tmp_path / "hf")}
    return Supervisor(tmp_path / "sup", spec, env).start()


def say(*lines):
    return [["say", line] for line in lines]


def test_each_phase_change_is_one_line_with_its_duration_and_ready_gives_every_term(tmp_path):
    steps = (say(VLLM_LINES[0]) + [["sleep", 1.0]] + say(VLLM_LINES[1]) + [["sleep", 1.0]] + say(VLLM_LINES[2])
             + [["sleep", 1.0]] + say(VLLM_LINES[3]) + [["sleep", 1.0]] + say(*VLLM_LINES[4:]) + [["serve"]])
    with scripted(tmp_path, steps) as sup:
        sup.wait_ready(START_S)
        deadline = time.monotonic() + 10
        while sup.event("startup-measured") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        changes = [(e["previous"], e["phase"]) for e in sup.events() if e["event"] == "startup-phase"]
        assert changes == [("process-start", "weights-load"), ("weights-load", "compile"), ("compile", "warm-up"),
                           ("warm-up", "api-start"), ("api-start", "ready")]
        for e in sup.events():
            if e["event"] == "startup-phase" and e["previous"] in ("weights-load", "compile"):
                assert e["secondsInPrevious"] >= 0.9  # the stand-in slept 1 s in each
        m = sup.event("startup-measured")
        assert sum(m["seconds"].values()) == pytest.approx(m["totalSeconds"], abs=0.01)
        assert m["seconds"]["load"] >= 0.9 and m["seconds"]["compile"] >= 1.9 and m["seconds"]["download"] == 0
        assert m["vllmReported"] == {"loadWeightsSeconds": 0.01, "initEngineSeconds": 9.8}
        status = sup.get("/status").json()["startup"]
        assert status["phase"] == "ready" and status["estimate"]["secondsLeft"] == 0
        assert [p["phase"] for p in status["phases"]] == ["process-start", "weights-load", "compile", "warm-up",
                                                           "api-start"]


def test_a_load_with_no_progress_is_ended_after_stall_seconds_with_the_reason(tmp_path):
    steps = say(VLLM_LINES[0], VLLM_LINES[1]) + [["sleep", 600]]
    with scripted(tmp_path, steps, stall_seconds=6) as sup:
        sup.wait_listening(START_S)
        seen = []
        while sup.popen.poll() is None:
            try:
                seen.append(sup.get("/status", timeout=2).json())
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert sup.popen.returncode == 1
        exit_line = sup.event("exit")
        quiet = re.match(r"startup stalled: no progress for ([0-9.]+) s \(stallSeconds 6\) in phase weights-load",
                         exit_line["reason"])
        assert quiet and 6 <= float(quiet.group(1)) <= 6 + 15
        assert exit_line["startupPhase"] == "weights-load"
        warned = [s for s in seen if s.get("startup", {}).get("stall", {}).get("warning")]
        assert warned and "no progress for" in warned[-1]["startup"]["stall"]["warning"]
        pgid = sup.event("vllm-started")["pgid"]
        assert process.group_members(pgid) == []
        # the stall is called after stallSeconds of quiet, not before, and not much later
        quiet_from = max(e["t"] for e in sup.events() if e["event"] in ("vllm-started", "startup-phase"))
        assert 6 - 1.5 <= exit_line["t"] - quiet_from <= 6 + 15


def test_download_bytes_alone_keep_a_quiet_load_alive(tmp_path):
    """Bytes arriving in the hub cache's folder of the model are progress, and make the download phase; what the
    cache held before the start is not counted, what vLLM writes from its first instant is."""
    blob = tmp_path / "hf" / "hub" / "models--org--tiny" / "blobs" / "x.incomplete"
    blob.parent.mkdir(parents=True)
    cached = blob.parent / "cached"
    cached.write_bytes(b"\0" * 1_000_000)
    steps = [["write", str(blob), 200_000]] + say(VLLM_LINES[1]) + [["write", str(blob), 200_000], ["sleep", 1.0]] * 12 + say(
        "(Worker pid=11) INFO [weight_utils.py:533] Time spent downloading weights for org/tiny: 12.0 seconds",
        *VLLM_LINES[2:]) + [["serve"]]
    with scripted(tmp_path, steps, stall_seconds=5, model={"source": "hf://org/tiny", "name": "tiny"}) as sup:
        sup.wait_ready(START_S + 30)
        deadline = time.monotonic() + 10
        while sup.event("startup-measured") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        m = sup.event("startup-measured")
        assert sup.event("exit") is None
        assert 13 * 200_000 <= m["downloadedBytes"] < 13 * 200_000 + 1_000_000 and m["seconds"]["download"] >= 8
        assert m["downloadMBps"] > 0
        assert sup.event("startup-phase", phase="download")["previous"] == "weights-load"


def test_cpu_time_alone_keeps_a_silent_start_alive(tmp_path):
    """Imports print nothing for long stretches on a loaded node; CPU time shows they progress. The stand-in
    burns 12 s of CPU without a line, longer than the 8 s stall window even on an idle machine."""
    steps = say(VLLM_LINES[0]) + [["busy", 12.0]] + say(*VLLM_LINES[1:]) + [["serve"]]
    with scripted(tmp_path, steps, stall_seconds=8) as sup:
        sup.wait_ready(START_S + 120)
        assert sup.event("exit") is None
        silent = sup.event("startup-phase", phase="weights-load")["secondsInPrevious"]
        assert silent >= 12 > 8
