"""The kubelet rules, pinned with hand-made timelines and hand-checked numbers (docs/upstream-facts.md#kubelet-probes).

Conventions: t = 0 is the container start; PLEG shows the container to the probe workers at t = 1.0
(`pleg_delay`); an answer without `latency` takes 0.001 s; `lead` is how long before the container start the pod
was synced (the workers' tickers tick at -lead + k * period)."""

from __future__ import annotations

import math

import pytest

from vllmgen import yamlio
from vllmgen.emulator import drivers, report, timeline
from vllmgen.emulator.kubelet import KubeletModel
from vllmgen.emulator.model import PodProbes, ProbeSpec

A = pytest.approx


def tl(endpoints: dict, duration: float = 100.0, **extra) -> timeline.Timeline:
    data = {"version": 1, "duration": duration, **extra,
            "endpoints": [{"path": path, "answers": answers} for path, answers in endpoints.items()]}
    return timeline.parse(yamlio.Document(data, "<test>", {}))


def probe(kind: str, path: str, **kw) -> ProbeSpec:
    return ProbeSpec(kind=kind, path=path, port=8000, **kw)


def pod(*probes: ProbeSpec, **kw) -> PodProbes:
    return PodProbes(name="test", **{p.kind: p for p in probes}, **kw)


def probes_of(run, kind):
    return [r for r in run.kubelet.records if r.kind == kind]


def times(run, kind):
    return [round(r.start, 4) for r in probes_of(run, kind)]


#: llm-d's readiness-probe guide, decode example (docs/upstream-facts.md#the-llm-d-readiness-probe-guide): startup
#: every 30 s after 15 s, readiness every 5 s.
LLMD_GUIDE = pod(
    probe("startup", "/v1/models", initial_delay=15, period=30, timeout=5, failure_threshold=60),
    probe("liveness", "/health", period=10, timeout=5, failure_threshold=3),
    probe("readiness", "/v1/models", period=5, timeout=2, failure_threshold=3),
)
#: vLLM's own behaviour: connection refused until the model is loaded at 55.9 s, then 200.
VLLM = tl({"/v1/models": [{"at": 0, "answer": "refused"}, {"at": 55.9, "answer": 200}],
           "/health": [{"at": 0, "answer": "refused"}, {"at": 55.9, "answer": 200}]}, ready_at=55.9)


def test_llmd_guide_settings_startup_gating_and_immediate_readiness():
    run = drivers.replay(LLMD_GUIDE, VLLM)
    # startup ticks at 0 (container not visible yet), 30 (refused), 60 (200): started when that answer lands
    assert times(run, "startup") == [30.0, 60.0]
    assert [r.result for r in probes_of(run, "startup")] == ["Failure", "Success"]
    assert run.kubelet.first("started") == A(60.001)
    # readiness and liveness never ran before startup succeeded, though their tickers ticked since t = 0
    assert all(r.start >= 60.001 for r in run.kubelet.records if r.kind != "startup")
    # the immediate readiness run right after startup success (the manual trigger) ...
    first_ready = probes_of(run, "readiness")[0]
    assert (first_ready.start, first_ready.cause) == (A(60.001), "trigger")
    assert run.kubelet.first("ready") == A(60.002)
    # ... restarts the readiness ticker from there; liveness has no trigger and waits for its tick at 70
    assert times(run, "readiness")[1:3] == [A(65.001), A(70.001)]
    assert times(run, "liveness")[0] == 70.0
    v = report.verdict(run)
    assert v.lag == A(60.002 - 55.9, abs=1e-3) and v.restarts == 0


def test_threshold_counting_and_retrigger_while_not_ready():
    # no startup probe: started as soon as running; readiness 503 between 30 and 50
    p = pod(probe("readiness", "/r", period=5, failure_threshold=3))
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}, {"at": 30, "answer": 503},
                                       {"at": 50, "answer": 200}]}, duration=60))
    k = run.kubelet
    # PLEG sync at 1.0 triggers readiness (no initial delay): 200 -> Ready at 1.001
    assert k.first("ready") == A(1.001)
    ready_events = [(e.what, round(e.time, 4)) for e in k.events if e.what in ("ready", "not-ready")]
    # storing readiness's initial Failure at 1.0 asked for a sync, which waits in GetNewerThan for the relist at
    # 2.0 (the previous sync ended at 1.0); by then Ready is true, so no second trigger: the run at 1.0 reset the
    # ticker to 6.0, 11.0, ...; 503 from 30 s: failures at 31, 36, 41; the third reaches the threshold -> not
    # Ready when it lands
    fails = [r for r in probes_of(run, "readiness") if r.result == "Failure"]
    assert [(round(r.start, 4), r.cause) for r in probes_of(run, "readiness")[:3]] == [
        (1.0, "trigger"), (6.0, "tick"), (11.0, "tick")]
    assert [round(r.start, 4) for r in fails[:3]] == [31.0, 36.0, 41.0]
    assert ready_events[1] == ("not-ready", 41.001)
    # not Ready while started: every sync triggers readiness at once (kubernetes/kubernetes#118815), resetting the
    # ticker; relists ran since the last sync (2.0), so this one runs at once
    after = [r for r in probes_of(run, "readiness") if r.start > 41.0005]
    assert (round(after[0].start, 4), after[0].cause) == (41.001, "trigger")
    assert [round(r.start, 4) for r in after[1:3]] == [46.001, 51.001]
    assert ready_events[2] == ("ready", 51.002)
    # a single failure below the threshold changes nothing
    assert len(ready_events) == 3


def test_success_threshold_needs_consecutive_successes():
    p = pod(probe("readiness", "/r", period=2, success_threshold=3))
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}]}, duration=20))
    ok = [r for r in probes_of(run, "readiness") if r.result == "Success"]
    assert run.kubelet.first("ready") == A(ok[2].end)


@pytest.mark.parametrize("version", ["1.34", "1.38"])  # 1.35-1.37: test_emulator_kubelet_sync.py
def test_liveness_restart_resets_startup(version):
    p = pod(probe("startup", "/health", period=1, timeout=1, failure_threshold=30),
            probe("liveness", "/health", period=10, timeout=1, failure_threshold=3, termination_grace=5))
    run = drivers.replay(p, tl({"/health": [{"at": 0, "answer": "refused"}, {"at": 10, "answer": 200},
                                            {"at": 40, "answer": 500}]}, duration=100),
                         model=KubeletModel(version=version))
    k = run.kubelet
    # startup: ticks 1..9 refused, 10 answers 200 -> started at 10.001 (no readiness probe: Ready too)
    assert k.first("started") == A(10.001) and k.first("ready") == A(10.001)
    # liveness ticks 20, 30 ok; 40, 50, 60 fail -> kill at 60.001 with the probe's grace of 5 s
    live = probes_of(run, "liveness")
    assert [(round(r.start, 3), r.result) for r in live[:5]] == [
        (20.0, "Success"), (30.0, "Success"), (40.0, "Failure"), (50.0, "Failure"), (60.0, "Failure")]
    kill = next(e for e in k.events if e.what == "kill")
    assert kill.time == A(60.001) and "grace 5 s" in kill.detail
    # the container exits at 65.001 and restarts at once; PLEG shows it at 66.001: not Ready, not started
    restart = [e for e in k.events if e.what == "container-start"][1]
    assert restart.time == A(65.001)
    assert [e.what for e in k.events if e.time > 60].count("not-ready") == 1
    # the startup probe runs again on the new container (its timeline starts over: refused until 10 s in)
    again = [r for r in probes_of(run, "startup") if r.container == 1]
    assert again[0].start == A(67.0) and again[0].detail == "refused"
    assert [e.time for e in k.events if e.what == "started"] == [A(10.001), A(76.001)]
    # no liveness probe between the kill and the new startup success
    assert not [r for r in live if 60.001 < r.start < 76.001]
    assert k.restarts == 1 and report.verdict(run).restarts == 1


def test_timeouts_count_as_failures_and_startup_failure_kills():
    p = pod(probe("startup", "/s", period=2, timeout=1, failure_threshold=3))
    run = drivers.replay(p, tl({"/s": [{"at": 0, "answer": "timeout"}]}, duration=8.0, sigterm_exit=0.5))
    st = probes_of(run, "startup")
    assert [(r.start, r.end, r.detail) for r in st] == [
        (2.0, 3.0, "timeout after 1 s"), (4.0, 5.0, "timeout after 1 s"), (6.0, 7.0, "timeout after 1 s")]
    kill = next(e for e in run.kubelet.events if e.what == "kill")
    assert kill.time == 7.0 and "startup probe failed 3x" in kill.detail
    # the pod's default grace is 30 s, but this server exits 0.5 s after SIGTERM
    assert [e.time for e in run.kubelet.events if e.what == "container-start"] == [0.0, 7.5]


def test_slow_answer_beyond_timeout_is_a_failure():
    p = pod(probe("readiness", "/r", period=10, timeout=1))
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200, "latency": 1.5}]}, duration=5))
    r = probes_of(run, "readiness")[0]
    assert (r.result, r.detail, r.end - r.start) == ("Failure", "timeout after 1 s", A(1.0))
    assert run.kubelet.first("ready") is None


def test_busy_worker_keeps_one_missed_tick():
    # period 1 s but every probe takes its whole 3 s timeout: the ticker holds one tick, drops the rest
    p = pod(probe("startup", "/s", period=1, timeout=3, failure_threshold=3))
    run = drivers.replay(p, tl({"/s": [{"at": 0, "answer": "timeout"}]}, duration=12, sigterm_exit=1))
    assert times(run, "startup") == [1.0, 4.0, 7.0, 12.0]
    assert next(e for e in run.kubelet.events if e.what == "kill").time == 10.0
    # exit 1 s after SIGTERM, immediate first restart, seen by PLEG 1 s later: the new container's probe at 12
    assert [r.container for r in probes_of(run, "startup")] == [0, 0, 0, 1]


def test_initial_delay_and_ticker_phase():
    p = pod(probe("liveness", "/h", period=10, initial_delay=15))
    ok = tl({"/h": [{"at": 0, "answer": 200}]}, duration=40)
    # workers tick at -lead + 10k; the gate opens at 15 s: the first probe is the first tick after it
    assert times(drivers.replay(p, ok, lead=0), "liveness")[0] == 20.0
    assert times(drivers.replay(p, ok, lead=3), "liveness")[0] == 17.0
    assert times(drivers.replay(p, ok, lead=6), "liveness")[0] == 24.0


def test_initial_delay_counts_from_start_truncated_to_the_second():
    p = pod(probe("liveness", "/h", period=1, initial_delay=5))
    ok = tl({"/h": [{"at": 0, "answer": 200}]}, duration=10)
    # ticks at 0.5, 1.5, ...; container started at wall time .0: the gate opens at 5.0 -> first probe 5.5
    assert times(drivers.replay(p, ok, lead=0.5, wall_offset=1000.0), "liveness")[0] == 5.5
    # started at wall time .7: startedAt is kept as .0, so the gate opens 0.7 s early, at 4.3 -> 4.5
    assert times(drivers.replay(p, ok, lead=0.5, wall_offset=1000.7), "liveness")[0] == 4.5


def test_no_startup_probe_readiness_runs_at_the_pleg_sync():
    p = pod(probe("readiness", "/r", period=10))
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}]}, duration=5), lead=0.3)
    first = probes_of(run, "readiness")[0]
    assert (first.start, first.cause) == (1.0, "trigger")


def test_long_poll_startup_succeeds_within_ms_of_ready():
    # supervised: /startupz holds each request up to 9 s (then 503) and answers 200 the moment vLLM is ready
    p = pod(probe("startup", "/startupz", period=10, timeout=10, failure_threshold=30),
            probe("readiness", "/readyz", period=10, timeout=2, failure_threshold=3),
            probe("liveness", "/livez", period=10, timeout=2, failure_threshold=3))
    t = tl({"/startupz": [{"at": 0, "answer": "refused"}, {"at": 2, "answer": "hold", "hold": 9, "then": 503},
                          {"at": 55.9, "answer": 200}],
            "/readyz": [{"at": 0, "answer": "refused"}, {"at": 2, "answer": 503}, {"at": 55.9, "answer": 200}],
            "/livez": [{"at": 0, "answer": "refused"}, {"at": 2, "answer": 200}]}, duration=80, ready_at=55.9)
    run = drivers.replay(p, t)
    st = probes_of(run, "startup")
    assert [(r.start, round(r.end, 4), r.result) for r in st] == [
        (10.0, 19.0, "Failure"), (20.0, 29.0, "Failure"), (30.0, 39.0, "Failure"), (40.0, 49.0, "Failure"),
        (50.0, 55.901, "Success")]
    assert st[-1].detail == "200 (held 5.90 s)"
    v = report.verdict(run)
    assert v.ready_at == A(55.902) and v.lag == A(0.002)
    # one startup request per period while loading
    assert len(st) == 5


def test_restart_policy_never_terminates():
    p = pod(probe("liveness", "/h", period=1, failure_threshold=2), restart_policy="Never", pod_grace=3)
    run = drivers.replay(p, tl({"/h": [{"at": 0, "answer": 500}]}, duration=20))
    whats = [e.what for e in run.kubelet.events]
    assert whats[-3:] == ["container-exit", "not-ready", "terminated"] and run.kubelet.restarts == 0
    assert next(e for e in run.kubelet.events if e.what == "container-exit").time == A(2.001 + 3)  # failures at 1.0 and 2.0; grace 3 s
    assert max(r.start for r in run.kubelet.records) < 6


def test_replay_is_deterministic_and_json_report():
    a = report.to_json([drivers.replay(LLMD_GUIDE, VLLM, lead=2.5, wall_offset=0.4)])
    b = report.to_json([drivers.replay(LLMD_GUIDE, VLLM, lead=2.5, wall_offset=0.4)])
    assert a == b
    import json

    v = json.loads(a)["runs"][0]["verdict"]
    # lead 2.5: startup ticks at 27.5 (refused) and 57.5 (200) -> Ready 0.002 s later
    assert v["started_at"] == A(57.501) and v["ready_at"] == A(57.502)


from hypothesis import assume, given, settings, strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None, derandomize=True)
@given(lead=st.floats(0, 60), wall=st.floats(0, 1, exclude_max=True), period=st.integers(1, 30),
       ready=st.floats(0.01, 100))
def test_startup_succeeds_at_the_first_tick_after_the_model_is_ready(lead, wall, period, ready):
    # a tick within a microsecond of the model turning ready (or of the container being seen) may fall on either
    # side of it in floating point; both answers are right there, so the oracle skips those coincidences
    for edge in (ready, 1.0):
        for every in (period, 10):
            phase = ((edge + lead) / every) % 1.0
            assume(1e-6 < phase < 1 - 1e-6)
    assume(1e-5 < (-lead) % 1.0 < 1 - 1e-5)  # a sync asked for at a relist's instant: either side is right
    p = pod(probe("startup", "/m", period=period, failure_threshold=1000), probe("readiness", "/m", period=10))
    run = drivers.replay(p, tl({"/m": [{"at": 0, "answer": "refused"}, {"at": ready, "answer": 200}]},
                               duration=ready + 2 * period + 2), lead=lead, wall_offset=wall)
    # ticks at -lead + k * period; the container is seen at 1.0; the first tick at or after both succeeds
    def first_tick(after: float, every: float) -> float:
        k = 0
        while -lead + k * every < after - 1e-9:
            k += 1
        return -lead + k * every

    tick = first_tick(max(ready, 1.0), period)
    assert run.kubelet.first("started") == A(tick + 0.001, abs=1e-6)
    # the manual trigger comes with the pod sync that startup success asks for, and a sync first waits for a PLEG
    # relist (every whole second) that started after the previous sync ended; every sync requeues the pod for the
    # periodic resync 60 s later. Syncs asked for: the PLEG sync at 1.0, the startup worker storing Unknown at its
    # first tick after 1.0, the readiness worker storing Failure at its first tick after 1.0 (if before startup
    # success), then startup success itself.
    success = tick + 0.001
    asks = sorted([1.0, first_tick(1.0, period), success] + [r for r in [first_tick(1.0, 10)] if r < success])
    last, waiting, requeue, synced = -math.inf, None, None, {}
    while success not in synced:
        t, kind = min([(asks[0], "ask")] + [(x, k) for x, k in ((waiting, "fresh"), (requeue, "resync"))
                                             if x is not None])
        if kind == "ask":
            asks.pop(0)
        elif kind == "resync":
            requeue = None
        if kind == "fresh":
            waiting = None
        elif waiting is not None:
            synced[t] = waiting  # joins the sync waiting for its relist
            continue
        else:
            relist = math.floor(last) + 1 if last > -math.inf else t
            if relist > t:
                waiting = synced[t] = relist
                continue
        synced[t] = t
        last, requeue = t, t + 60.0
    assert run.kubelet.first("ready") == A(synced[success] + 0.001, abs=1e-6)
    assert 0 < run.kubelet.first("ready") - max(ready, 1.0) <= period + 1.0 + 0.002 + 1e-6
