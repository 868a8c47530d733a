"""GPU starts as the supervisor follows them, replayed from recorded vLLM output (tests/data/gpu-logs/: seconds
since vLLM was spawned, then the line): the phases /status shows in order, the numbers vLLM reports, the terms
measured at Ready, and what `vllmgen calibrate` proposes from them. The phase markers' sources: vLLM 0.26.0 and
0.32.0 (supervisor/vllmlog.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.support.vllm_server import REPO
from vllmgen import budget
from vllmgen.spec import parse_spec
from vllmgen.supervisor import progress as pg
from vllmgen.supervisor.progress import Expected, Sample
from vllmgen.supervisor.serve import PhaseLog
from vllmgen.supervisor.vllmlog import marker

LOGS = Path(__file__).parent / "data" / "gpu-logs"
#: Ready follows `Application startup complete.` by about 40 ms behind the supervisor (measured on an H100).
READY_LAG_S = 0.04


def recorded(name: str) -> list[tuple[float, str]]:
    """The (seconds, line) pairs of a recording; `#` lines are its description."""
    out = []
    for raw in (LOGS / name).read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        t, _, line = raw.partition(" ")
        out.append((float(t), line))
    return out


def replay(lines, download=None):
    """Lines and one-second samples (vLLM's processes busy; `download`: (start, end, bytes) arriving in the hub
    cache) in time order, then Ready READY_LAG_S after the last line."""
    end = lines[-1][0] + READY_LAG_S
    samples, t = [], 1.0
    while t < end:
        disk = 0
        if download:
            start, stop, size = download
            disk = int(size * min(1.0, max(0.0, (t - start) / (stop - start))))
        samples.append(Sample(t, {7: t * 0.9}, disk))
        t += 1.0
    events = sorted([(t, 0, x) for t, x in lines] + [(s.t, 1, s) for s in samples], key=lambda e: (e[0], e[1]))
    p = pg.begin(0.0)
    for t, kind, x in events:
        p = pg.on_line(p, x, t) if kind == 0 else pg.on_sample(p, x)
    return pg.on_ready(p, end)


H100_SPEC = "model: {source: pvc://models/llama-1b, parameters: 1.06e9, dtype: bfloat16}\n"


def expected_for(spec: dict) -> Expected:
    terms = {t.name: t.seconds for t in budget.estimate_terms(spec)}
    return Expected(terms=terms, stall_s=budget.stall_window(spec).seconds, weights_bytes=budget.weights_bytes(spec))


def test_a_cold_h100_start_on_vllm_0_26_shows_every_phase_in_order():
    lines = recorded("vllm-0.26-v2-h100-cold.log")
    p = replay(lines)
    assert [name for name, _ in p.done] == ["process-start", "weights-load", "compile", "warm-up", "graph-capture",
                                            "warm-up", "api-start"]
    assert p.phase == "ready"
    durations = dict(zip(["process-start", "weights-load", "compile", "warm-up-1", "graph-capture", "warm-up-2",
                          "api-start"], (sec for _, sec in p.done)))
    assert durations["process-start"] == pytest.approx(88.511)  # until `Loading model from scratch...`
    assert durations["graph-capture"] == pytest.approx(123.511 - 122.912)
    assert durations["warm-up-2"] == pytest.approx(250.701 - 123.511)  # until `Kernel JIT monitor activated`
    # vLLM 0.26's `Model loading took 1.98 GiB and 4.098906 seconds` (no `memory`) still reports the size
    assert p.reported == {"loadWeightsSeconds": 0.39, "modelGiB": 1.98, "modelLoadingSeconds": 4.098906,
                          "graphCaptureSeconds": 1.0, "initEngineSeconds": 158.11}
    # the longest stretch without a log line is the warm-up JIT's 127 s; CPU time keeps it progressing
    assert p.longest_quiet < 2.0


def test_the_measured_terms_of_the_h100_start_fit_the_default_budget():
    spec = parse_spec(H100_SPEC, "t.yaml")
    p = replay(recorded("vllm-0.26-v2-h100-cold.log"))
    m = pg.measured(p, expected_for(spec))
    # start: 88.511 s before the weights + 252.9 - 250.701 s API start; load 88.511-91.301; compile the rest
    assert m["seconds"] == pytest.approx({"start": 90.71, "download": 0.0, "load": 2.79, "compile": 159.4}, abs=0.01)
    assert m["totalSeconds"] == pytest.approx(252.9)
    b = budget.startup_budget(spec)
    assert m["totalSeconds"] * 1.5 <= b.seconds, "the plain-mode budget outlasts the cold start by half again"
    terms = {t.name: t.seconds for t in b.terms}
    assert m["seconds"]["compile"] <= terms["compile"] and m["seconds"]["start"] <= terms["start"]


def test_the_v2_runner_enters_the_download_on_vllm_0_32():
    """The V2 runner never logs `Starting to load model`: `Loading model from scratch...` opens the weight loading,
    inside which bytes arriving in the hub cache are the download phase."""
    lines = recorded("vllm-0.32-v2-gpu-cold.log")
    p = replay(lines, download=(66.5, 79.5, 1.5e9))
    names = [name for name, _ in p.done]
    assert names == ["process-start", "weights-load", "download", "weights-load", "compile", "warm-up",
                     "graph-capture", "warm-up", "api-start"]
    assert p.reported["modelGiB"] == 1.12 and p.reported["downloadSeconds"] == pytest.approx(13.201554)
    # 0.32 warms the kernels up before the capture: the long warm-up is the first one
    warmups = [sec for name, sec in p.done if name == "warm-up"]
    assert warmups[0] > 90 > warmups[1]


@pytest.mark.parametrize("line,phase,reported", [
    ("(EngineCore pid=9) INFO 12-07 15:01:07 [model_runner.py:392] Loading model from scratch...", "weights-load",
     {}),
    ("(EngineCore_DP0 pid=5) INFO 12-18 09:44:40 [gpu_model_runner.py:5251] Starting to load model /m/x...",
     "weights-load", {}),
    ("(EngineCore pid=9) INFO 12-07 [model_runner.py:306] Model loading took 1.98 GiB and 4.098906 seconds",
     "compile", {"modelGiB": 1.98, "modelLoadingSeconds": 4.098906}),
    ("(Worker pid=11) INFO 11-27 [gpu_model_runner.py:5150] Model loading took 15.27 GiB memory and 33.1 seconds",
     "compile", {"modelGiB": 15.27, "modelLoadingSeconds": 33.1}),
    ("Capturing CUDA graphs (mixed prefill-decode, PIECEWISE): 100%|██████████| 67/67 [00:02<00:00, 30it/s]",
     "graph-capture", {}),
    ("(EngineCore pid=9) Capturing CUDA graphs (decode, FULL): 100%|██████████| 35/35 [00:01<00:00, 30.02it/s]",
     "graph-capture", {}),
    ("(EngineCore pid=9) INFO 12-07 [jit_monitor.py:85] Kernel JIT monitor activated; monitored JIT compilations "
     "during inference will use mode=warn.", "api-start", {}),
])
def test_gpu_markers_of_both_model_runners(line, phase, reported):
    m = marker(line)
    assert m is not None and m.phase == phase and m.reported == reported


def test_calibrate_on_a_recorded_gpu_start_proposes_the_measured_terms(tmp_path):
    """The pod log the supervisor writes for that start (vLLM's lines and its `startup-measured` line), read back by
    `vllmgen calibrate`: the block covers the start."""
    spec = parse_spec(H100_SPEC, "t.yaml")
    lines = recorded("vllm-0.26-v2-h100-cold.log")
    out = io.StringIO()
    PhaseLog(out).emit("startup-measured", **pg.measured(replay(lines), expected_for(spec)))
    log = tmp_path / "pod.log"
    log.write_text("\n".join(line for _, line in lines) + "\n" + out.getvalue())
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(H100_SPEC)
    r = subprocess.run([sys.executable, "-m", "vllmgen", "calibrate", str(log), "--spec", str(spec_file)],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    block = YAML(typ="safe").load(r.stdout)["startup"]
    # compile 159.4 s and start 90.71 s, rounded up; 2.12 GB loaded in 2.79 s
    assert block["compileSeconds"] == 160 and block["processStartSeconds"] == 91
    assert block["loadMBps"] == pytest.approx(2.12e9 / 1e6 / 2.79, rel=0.01)
    assert "stallSeconds" not in block  # CPU time kept the 127 s of silence progressing
    measured = json.loads(out.getvalue())
    assert measured["vllmReported"]["modelGiB"] == 1.98


#: The measured starts of benchmarks/gpu_start.py on an H100 (vLLM 0.26.0), as recorded, and their Ready times
#: (benchmarks/results/gpu_start-h100.json): cold caches, the cache claim warm with a fresh HOME (a new pod), and both
#: warm.
MEASURED_H100 = {"h100-vllm-0.26-cold.log": 192.49, "h100-vllm-0.26-claim-warm.log": 69.63,
                 "h100-vllm-0.26-warm.log": 59.50, "h100-vllm-0.26-sleep.log": 87.13}


@pytest.mark.parametrize("name", sorted(MEASURED_H100))
def test_every_recorded_h100_start_shows_every_phase_in_order_and_fits_the_default_budget(name):
    """Real recordings: /status walks the same phases in the same order on every start, cold or warm, and the
    default plain-mode budget outlasts each start by half again."""
    lines = recorded(name)
    p = replay(lines)
    assert [phase for phase, _ in p.done] == ["process-start", "weights-load", "compile", "warm-up",
                                              "graph-capture", "warm-up", "api-start"]
    assert p.phase == "ready"
    assert p.reported["modelGiB"] == pytest.approx(2.01)
    assert lines[-1][0] <= MEASURED_H100[name] + 1.0  # the recording ends at Ready
    spec = parse_spec(H100_SPEC, "t.yaml")
    assert MEASURED_H100[name] * 1.5 <= budget.startup_budget(spec).seconds


def test_a_new_pod_with_the_cache_claim_warm_is_ready_at_least_2_5x_sooner_than_a_cold_one():
    """What the cache claim buys, measured: every JIT and compile cache on the claim (FlashInfer, tilelang,
    humming-kernels and the CUDA PTX cache included), HOME fresh as in a new pod."""
    cold = replay(recorded("h100-vllm-0.26-cold.log"))
    claim_warm = replay(recorded("h100-vllm-0.26-claim-warm.log"))
    warm_up = lambda p: sum(sec for phase, sec in p.done if phase == "warm-up")  # noqa: E731
    assert MEASURED_H100["h100-vllm-0.26-cold.log"] / MEASURED_H100["h100-vllm-0.26-claim-warm.log"] >= 2.5
    # the warm-up JIT (about 90 s cold) is what the claim saves
    assert warm_up(cold) > 60 > 10 > warm_up(claim_warm)
