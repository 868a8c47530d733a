"""The start as the supervisor measures it (supervisor/progress.py, vllmlog.py): phases from vLLM's own log lines
and download bytes, the stall rule, the estimate of the time left, the terms measured at Ready. Pure functions
fed with lines in the shape vLLM 0.32 writes them (docs/upstream-facts.md#vllm-startup-log-lines)."""

from __future__ import annotations

import pytest

from vllmgen.supervisor import progress as pg
from vllmgen.supervisor.progress import Expected, Sample
from vllmgen.supervisor.vllmlog import PHASES, marker

#: A GPU start of an 8B model from the hub, in vLLM's words (times are seconds after the supervisor started).
GPU_START = [
    (2.0, "(APIServer pid=7) INFO 11-27 06:29:27 [api_utils.py:347]  version 0.32.0"),
    (30.0, "(EngineCore pid=9) INFO 11-27 06:30:29 [core.py:133] Initializing a V1 LLM engine (v0.32.0) with config"),
    (40.0, "(Worker pid=11) INFO 11-27 06:30:59 [gpu_model_runner.py:5040] Starting to load model Qwen/Qwen3-8B..."),
    (41.0, "(Worker pid=11) INFO 11-27 06:31:00 [base_loader.py:82] Initializing model took 0.439728 seconds"),
    # the download happens here: bytes arrive (samples below), then vLLM reports it
    (205.0, "(Worker pid=11) INFO 11-27 06:33:44 [weight_utils.py:533] Time spent downloading weights for "
            "Qwen/Qwen3-8B: 163.500000 seconds"),
    (205.5, "(Worker pid=11) INFO 11-27 06:33:45 [weight_utils.py:1108] Filesystem type for checkpoints: EXT4."),
    (205.6, "Loading safetensors checkpoint shards:   0% Completed | 0/5 [00:00<?, ?it/s]"),
    (238.0, "(Worker pid=11) INFO 11-27 06:34:17 [default_loader.py:501] Loading weights took 32.40 seconds"),
    (238.5, "(Worker pid=11) INFO 11-27 06:34:18 [gpu_model_runner.py:5150] Model loading took 15.27 GiB memory and "
            "33.100000 seconds"),
    (300.0, "(EngineCore pid=9) INFO 11-27 06:35:19 [kv_cache_utils.py:2327] GPU KV cache size: 321,456 tokens, "
            "Maximum concurrency for 8,192 tokens per request: 39.24x"),
    (330.0, "(Worker pid=11) INFO 11-27 06:35:49 [gpu_model_runner.py:6582] Graph capturing finished in 28 secs, "
            "took 0.61 GiB"),
    (331.0, "(EngineCore pid=9) INFO 11-27 06:35:50 [core.py:402] init engine (profile, create kv cache, warmup "
            "model) took 90.20 s (compilation: 41.00 s)"),
    (336.0, "(APIServer pid=7) INFO 11-27 06:35:55 [entry.py:140] Starting vLLM server on http://0.0.0.0:8000"),
]
SIZE = 16.4e9
EXPECT = Expected(terms={"download": 164.0, "load": 32.8, "compile": 90.0, "start": 60.0}, stall_s=120.0,
                  weights_bytes=SIZE, download_bytes=SIZE, ceiling_s=1563.0)


def run_start(lines=GPU_START, samples=(), ready_at=340.0, expected=EXPECT):
    """Feed lines and samples in time order; returns the progress record at Ready."""
    p = pg.begin(0.0)
    events = sorted([(t, "line", x) for t, x in lines] + [(s.t, "sample", s) for s in samples],
                    key=lambda e: e[0])
    for t, kind, x in events:
        p = pg.on_line(p, x, t) if kind == "line" else pg.on_sample(p, x)
    return pg.on_ready(p, ready_at) if ready_at is not None else p


def download_samples(start=42.0, end=205.0, size=SIZE, every=1.0):
    """CPU busy throughout, bytes arriving evenly from `start` to `end`."""
    out, t = [], 1.0
    while t <= 340.0:
        got = 0 if t < start else size * min(1.0, (t - start) / (end - start))
        out.append(Sample(t, {7: t * 0.9}, int(got)))
        t += every
    return out


def test_every_marker_of_vllm_0_32_is_recognised():
    phases = [marker(line).phase if marker(line) else None for _, line in GPU_START]
    assert phases == [None, None, "weights-load", None, "weights-load", "weights-load", "weights-load", "compile",
                      "compile", "warm-up", "warm-up", "api-start", "api-start"]
    assert marker(GPU_START[7][1]).reported == {"loadWeightsSeconds": 32.4}
    assert marker(GPU_START[11][1]).reported == {"initEngineSeconds": 90.2}
    assert marker(GPU_START[4][1]).files_local and not marker(GPU_START[2][1]).files_local
    assert set(PHASES) == set(pg.TERM_OF)


def test_phases_of_a_start_that_downloads_add_up_to_the_whole_start():
    p = run_start(samples=download_samples())
    names = [name for name, _ in p.done]
    assert names == ["process-start", "weights-load", "download", "weights-load", "compile", "warm-up",
                     "api-start"]
    m = pg.measured(p, EXPECT)
    # process start 40 s + API start 340 - 331 = 9 s; download from the first sample with bytes (43 s) to vLLM's
    # report (205 s); loading 40-43 s and 205-238 s; compile 238-300 s, warm-up 300-331 s
    assert m["seconds"] == pytest.approx({"start": 49.0, "download": 162.0, "load": 36.0, "compile": 93.0})
    assert sum(m["seconds"].values()) == pytest.approx(m["totalSeconds"]) == pytest.approx(340.0)
    assert m["downloadedBytes"] == int(SIZE)
    assert m["downloadMBps"] == pytest.approx(SIZE / 1e6 / 162.0, rel=1e-3)
    assert m["loadMBps"] == pytest.approx(SIZE / 1e6 / 36.0, rel=1e-3)
    assert m["vllmReported"]["downloadSeconds"] == 163.5 and m["vllmReported"]["graphCaptureSeconds"] == 28


def test_a_cached_start_has_no_download_phase():
    p = run_start(samples=[Sample(t, {7: t}, 5000) for t in range(1, 340)])
    assert "download" not in [name for name, _ in p.done]
    assert pg.measured(p, EXPECT)["seconds"]["download"] == 0.0


def test_bytes_after_the_checkpoint_is_read_are_not_a_download():
    """Once vLLM reads the shards, the download is over: later writes to the cache do not reopen it."""
    samples = [Sample(t, {7: t}, 0 if t < 210 else int(t) * 1000) for t in range(1, 340)]
    p = run_start(lines=[x for x in GPU_START if "Time spent downloading" not in x[1]], samples=samples)
    assert "download" not in [name for name, _ in p.done]


def test_phases_never_go_back():
    p = pg.begin(0.0)
    p = pg.on_line(p, GPU_START[11][1], 10.0)  # the engine is up
    p = pg.on_line(p, GPU_START[2][1], 11.0)  # a second rank's "Starting to load model" (printed late)
    assert p.phase == "api-start"


def test_stall_rule_needs_every_signal_quiet_for_the_whole_window():
    p = pg.begin(0.0)
    p = pg.on_sample(p, Sample(1.0, {7: 2.0}, 0))  # 2 s of CPU since the start: progress at 1 s
    assert pg.stalled(p, 120.9, 120) is None
    assert "no progress for 120.0 s" in pg.stalled(p, 121.0, 120)
    # a trickle of CPU time below CPU_PROGRESS_S is a blocked tree waking up, not progress
    for t in range(2, 120):
        p = pg.on_sample(p, Sample(float(t), {7: 2.0 + t * 0.001}, 0))
    assert pg.stalled(p, 121.0, 120) is not None
    # ... but it adds up: half a second of CPU in total is progress
    p = pg.on_sample(p, Sample(121.0, {7: 2.6}, 0))
    assert pg.stalled(p, 121.0, 120) is None and p.last_signal == "CPU time"
    # a log line or a downloaded byte is progress
    q = pg.on_line(pg.begin(0.0), "anything", 100.0)
    assert pg.stalled(q, 219.0, 120) is None and pg.stalled(q, 220.0, 120) is not None
    d = pg.on_sample(pg.on_sample(pg.begin(0.0), Sample(1.0, {}, 10)), Sample(200.0, {}, 11))
    assert pg.stalled(d, 319.0, 120) is None and d.last_signal == "download"


def test_a_new_process_brings_its_cpu_time_and_a_process_gone_takes_none_away():
    p = pg.on_sample(pg.begin(0.0), Sample(1.0, {7: 0.1}, 0))
    p = pg.on_sample(p, Sample(2.0, {7: 0.1, 9: 0.6}, 0))  # the EngineCore appeared with 0.6 s
    assert p.cpu == pytest.approx(0.7) and p.last_progress == 2.0
    p = pg.on_sample(p, Sample(3.0, {9: 0.6}, 0))  # the first process exited
    assert p.cpu == pytest.approx(0.7) and p.last_progress == 2.0


def test_a_stall_is_explained_and_warned_about_first():
    p = pg.on_line(pg.on_line(pg.begin(0.0), GPU_START[2][1], 40.0), "more", 41.0)
    assert pg.stall_warning(p, 100.0, 120) is None
    warning = pg.stall_warning(p, 101.0, 120)
    assert "no progress for 60 s in phase weights-load" in warning and "ended after 120 s" in warning
    reason = pg.stalled(p, 161.0, 120)
    assert reason.startswith("startup stalled: no progress for 120.0 s (stallSeconds 120) in phase weights-load")
    assert "last progress: log output at 41.0 s" in reason


def test_nothing_is_stalled_after_ready():
    p = run_start(samples=download_samples())
    assert pg.stalled(p, 10_000.0, 120) is None and pg.stall_warning(p, 10_000.0, 120) is None


def test_time_left_follows_the_terms_and_the_measured_download_rate():
    p = pg.begin(0.0)
    assert pg.seconds_left(p, EXPECT, 0.0) == pytest.approx(EXPECT.estimate_s)
    p = pg.on_line(p, GPU_START[2][1], 40.0)  # process start took 40 of its 60 s
    assert pg.seconds_left(p, EXPECT, 40.0) == pytest.approx(EXPECT.estimate_s - 40.0)
    # the download runs at half the expected rate: 50 MB/s, 8.2 GB of 16.4 GB in 164 s: 164 s left for it
    p = pg.on_sample(p, Sample(41.0, {7: 50.0}, 0))
    p = pg.on_sample(p, Sample(42.0, {7: 51.0}, 50_000_000))
    p = pg.on_sample(p, Sample(206.0, {7: 60.0}, 8_250_000_000))
    left = pg.seconds_left(p, EXPECT, 206.0)
    download_left = (SIZE - 8_250_000_000) / (8_200_000_000 / 164.0)
    # weights-load ran 40-42 s before the bytes came (2 of its 32.8 s), start has 20 s left, compile all 90 s
    assert left == pytest.approx(download_left + 32.8 - 2.0 + 90.0 + 20.0, rel=1e-3)
    s = pg.status(p, EXPECT, 206.0)
    assert s["phase"] == "download" and s["download"]["fraction"] == pytest.approx(0.503, abs=1e-3)
    assert s["download"]["MBps"] == pytest.approx(50.0, rel=1e-3)
    assert s["estimate"]["late"] is False and s["estimate"]["ceilingSeconds"] == 1563.0


def test_status_of_a_late_start_says_so_and_keeps_no_negative_time():
    p = pg.on_line(pg.begin(0.0), "(APIServer pid=7) INFO banner", 1.0)
    s = pg.status(p, EXPECT, 900.0)
    assert s["estimate"]["late"] is True
    assert s["estimate"]["secondsLeft"] >= 0
    assert s["stall"]["secondsWithoutProgress"] == pytest.approx(899.0)


def test_chunks_passing_through_the_xet_cache_are_progress_but_not_downloaded_bytes():
    p = pg.on_sample(pg.begin(0.0), Sample(1.0, {}, 0, 0))
    p = pg.on_sample(p, Sample(50.0, {}, 0, 5_000_000))
    assert p.last_progress == 50.0 and p.last_signal == "download"
    assert pg.downloaded(p) == 0


def test_the_download_is_watched_where_the_hub_client_puts_it():
    from vllmgen.supervisor.watch import download_dirs

    assert download_dirs({"HF_HOME": "/models"}, "Qwen/Qwen3-8B") == ["/models/hub/models--Qwen--Qwen3-8B",
                                                                      "/models/xet"]
    assert download_dirs({"HOME": "/home/u", "HF_HUB_CACHE": "/c", "HF_XET_CACHE": "/x"}, "a/b") == [
        "/c/models--a--b", "/x"]
    assert download_dirs({"HOME": "/home/u"}, "a/b")[0] == "/home/u/.cache/huggingface/hub/models--a--b"
    assert download_dirs({"HF_HOME": "/models"}, "") == []  # a path or a claim: nothing is downloaded


def test_bytes_written_before_the_loops_first_look_count_and_the_cache_before_the_start_does_not(tmp_path):
    """The watch looks at the cache when it is made (before vLLM starts) and once more at Ready: on a busy node the
    loop's first and last samples can come late, and no byte written in between may be lost or counted twice."""
    from vllmgen.supervisor.watch import StartupWatch

    class Store:
        def update(self, **_):
            pass

    class Log:
        def __init__(self):
            self.lines = []

        def emit(self, event, **fields):
            self.lines.append({"event": event, **fields})

    repo = tmp_path / "models--a--b" / "blobs"
    repo.mkdir(parents=True)
    (repo / "cached").write_bytes(b"\0" * 1_000_000)
    log = Log()
    watch = StartupWatch(Store(), log, Expected(terms={"download": 5.0}, stall_s=60), 0.0, [str(repo.parent)])
    (repo / "new").write_bytes(b"\0" * 400_000)  # vLLM writes before the loop's first sample
    watch.sample(1.0)
    with open(repo / "new", "ab") as f:  # and again after the loop's last sample
        f.write(b"\0" * 400_000)
    watch.ready(2.0)
    measured = [e for e in log.lines if e["event"] == "startup-measured"][0]
    assert 800_000 <= measured["downloadedBytes"] < 800_000 + 2 * 4096


def test_a_load_from_storage_reads_is_progress_and_a_frozen_one_is_not():
    """A load from a PVC or a local disk waits on storage: little CPU, no hub bytes, but bytes read
    (/proc/PID/io) keep it alive; once the reads stop it stalls."""
    mib = 1 << 20
    p = pg.begin(0.0)
    for t in range(1, 200):  # 2 MiB read every 10 s, 0.01 s of CPU a second: slow, never stalled
        p = pg.on_sample(p, Sample(float(t), {7: 0.01 * t}, None, io={7: 2 * mib * (t // 10)}))
        assert pg.stalled(p, float(t), 50) is None
    assert p.last_signal == "storage reads" and p.io >= 38 * mib
    frozen = p.io_by_pid[7]
    for t in range(200, 260):
        p = pg.on_sample(p, Sample(float(t), {7: 2.0}, None, io={7: frozen + 1000}))  # kilobytes: a poller
    assert "startup stalled" in pg.stalled(p, 259.0, 50) and "1 MiB read" in pg.stalled(p, 259.0, 50)


def test_device_memory_growth_is_progress_where_nvml_reads_it():
    mib = 1 << 20
    p = pg.on_sample(pg.begin(0.0), Sample(1.0, {}, None, gpu_memory=500 * mib))
    p = pg.on_sample(p, Sample(30.0, {}, None, gpu_memory=505 * mib))  # allocator noise
    assert p.last_progress == 0.0
    p = pg.on_sample(p, Sample(40.0, {}, None, gpu_memory=900 * mib))
    assert p.last_progress == 40.0 and p.last_signal == "device memory"


def test_bytes_read_by_the_process_tree_come_from_proc(tmp_path):
    import os

    from vllmgen.supervisor.watch import io_bytes

    before = io_bytes([os.getpid()])[os.getpid()]
    data = tmp_path / "weights.bin"
    data.write_bytes(os.urandom(3 << 20))
    data.read_bytes()
    assert io_bytes([os.getpid()])[os.getpid()] - before >= 3 << 20
    assert io_bytes([2 ** 22 + 1]) == {}  # gone (or never there): left out


def test_a_start_on_warm_compile_caches_is_estimated_with_the_warm_compile_share(tmp_path):
    """The claim's VLLM_CACHE_ROOT holding an earlier start's work: /status estimates the compile term warm
    (a quarter, from the H100 measurement), so `fraction` and `late` tell a warm start's progress truly."""
    from vllmgen.budget import WARM_COMPILE_SHARE
    from vllmgen.spec import load_spec
    from vllmgen.supervisor import serve

    spec = load_spec()
    cold = serve.plan_for(spec, "standalone", {"VLLM_CACHE_ROOT": str(tmp_path / "absent")}).expected
    (tmp_path / "vllm" / "torch_compile_cache").mkdir(parents=True)
    warm = serve.plan_for(spec, "standalone", {"VLLM_CACHE_ROOT": str(tmp_path / "vllm")}).expected
    assert not cold.caches_warm and warm.caches_warm
    assert warm.terms["compile"] == pytest.approx(cold.terms["compile"] * WARM_COMPILE_SHARE)
    assert {k: v for k, v in warm.terms.items() if k != "compile"} == {
        k: v for k, v in cold.terms.items() if k != "compile"}
    p = pg.begin(0.0)
    assert pg.status(p, warm, 60.0)["estimate"]["cachesWarm"] is True
    assert pg.status(p, warm, 60.0)["estimate"]["fraction"] > pg.status(p, cold, 60.0)["estimate"]["fraction"]
