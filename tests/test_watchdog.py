"""The serving watchdog's verdicts (supervisor/watchdog.py) on fake clocks, its windows from the spec
(vllmgen/serving.py), and how /readyz, /livez and /status carry them (supervisor/state.py)."""

from __future__ import annotations

import pytest

from vllmgen import serving
from vllmgen.errors import InputError
from vllmgen.spec import parse_spec
from vllmgen.supervisor import state, watchdog
from vllmgen.supervisor.state import Phase, Snapshot

CFG = watchdog.Config(stall_s=10, restart_s=30, canary_idle_s=5)
METRICS = """# HELP vllm:iteration_tokens_total Number of tokens per engine_step.
vllm:iteration_tokens_total_count{engine="0",model_name="tiny"} %(steps)s
vllm:iteration_tokens_total_sum{engine="0",model_name="tiny"} 99
vllm:generation_tokens_total{engine="0",model_name="tiny"} %(gen)s
vllm:prompt_tokens_total{engine="0",model_name="tiny"} 36.0
vllm:num_requests_running{engine="0",model_name="tiny"} %(running)s
vllm:num_requests_waiting{engine="0",model_name="tiny"} %(waiting)s
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.25
vllm:engine_sleep_state{engine="0",model_name="tiny",sleep_state="awake"} 1.0
"""


def reading(steps=1, gen=1, running=0, waiting=0):
    return watchdog.parse_metrics(METRICS % {"steps": steps, "gen": gen, "running": running, "waiting": waiting})


def feed(w, t, **kw):
    return watchdog.observe(w, watchdog.parse_engines(
        METRICS % {"steps": kw.get("steps", 1), "gen": kw.get("gen", 1), "running": kw.get("running", 0),
                   "waiting": kw.get("waiting", 0)}), t)


def test_parse_metrics_sums_series_and_counts_engine_requests():
    counters, in_flight = reading(steps=7, running=3, waiting=2)
    assert counters["vllm:iteration_tokens_total_count"] == 7
    assert in_flight == 5
    assert watchdog.parse_metrics("# nothing of vLLM\nfoo 1\n") is None


TWO_ENGINES = """vllm:iteration_tokens_total_count{engine="0",model_name="m"} %(a)s
vllm:num_requests_running{engine="0",model_name="m"} 4
vllm:iteration_tokens_total_count{engine="1",model_name="m"} %(b)s
vllm:num_requests_running{engine="1",model_name="m"} %(held)s
"""


def test_one_frozen_engine_of_a_data_parallel_pod_is_seen_while_the_other_steps():
    """dataParallelSizeLocal 2: engine 1 freezes holding 3 requests while engine 0 keeps stepping. The sums over
    both engines keep moving, so only a per-engine watch sees it (vLLM labels every series with its engine)."""
    w = watchdog.Watch()
    for t in range(40):
        w = watchdog.observe(w, watchdog.parse_engines(TWO_ENGINES % {"a": t, "b": 5, "held": 3}), float(t))
    verdict, reason = watchdog.judge(w, CFG, 39.0)
    assert verdict == watchdog.WEDGED and "3 request(s) in engine 1" in reason
    assert watchdog.status(w, CFG, 39.0)["engines"] == 2


def test_an_idle_engine_beside_a_busy_one_is_no_stall():
    w = watchdog.Watch()
    for t in range(40):
        w = watchdog.observe(w, watchdog.parse_engines(TWO_ENGINES % {"a": t, "b": 5, "held": 0}), float(t))
        assert watchdog.judge(w, CFG, float(t))[0] == watchdog.OK


def test_series_without_an_engine_label_count_as_one_engine():
    engines = watchdog.parse_engines("vllm:num_requests_running 2\nvllm:generation_tokens_total 7\n")
    assert engines == {"": ({"vllm:num_requests_running": 2.0, "vllm:generation_tokens_total": 7.0}, 2)}


def test_frozen_engine_with_requests_is_stalled_then_wedged():
    w = feed(watchdog.Watch(), 0.0, steps=10, running=4)
    for t in range(1, 40):  # counters frozen from t=0 with 4 requests in the engine
        w = feed(w, float(t), steps=10, running=4)
        verdict, reason = watchdog.judge(w, CFG, float(t))
        if t < 10:
            assert verdict == watchdog.OK
        elif t < 30:
            assert verdict == watchdog.STALLED and "4 request(s) in the engine" in reason
        else:
            assert verdict == watchdog.WEDGED and "restartSeconds 30" in reason


def test_busy_engine_whose_counters_move_is_never_called_stalled():
    w = watchdog.Watch()
    for t in range(200):
        w = feed(w, float(t), steps=t // 9, gen=t // 9, running=64)  # one step every 9 s: slow, not frozen
        assert watchdog.judge(w, CFG, float(t) + 0.9)[0] == watchdog.OK


def test_no_verdict_past_the_last_reading_a_starved_monitor_is_not_a_stall():
    w = feed(watchdog.Watch(), 0.0, steps=1, running=2)
    assert watchdog.judge(w, CFG, 60.0)[0] == watchdog.OK  # no reading since t=0: silence is not judged


def test_idle_engine_gets_a_canary_and_a_silent_canary_is_a_stall():
    w = feed(watchdog.Watch(), 0.0)
    w = feed(w, 4.0)
    assert not watchdog.canary_due(w, CFG, 4.0)
    w = feed(w, 5.0)
    assert watchdog.canary_due(w, CFG, 5.0)
    w = watchdog.canary_sent(w, 1, 5.0)
    assert not watchdog.canary_due(w, CFG, 6.0)
    for t in range(6, 16):
        w = feed(w, float(t))  # frozen: the canary's tokens never show
    verdict, reason = watchdog.judge(w, CFG, 15.0)
    assert verdict == watchdog.STALLED and "canary" in reason


def test_answered_canary_clears_and_waits_a_period():
    w = watchdog.canary_sent(feed(watchdog.Watch(), 0.0), 1, 5.0)
    w = watchdog.canary_done(w, 1, None, 5.2)
    assert w.canaries_ok == 1 and w.pending_since is None
    w = feed(w, 6.0, steps=2, gen=2)
    assert not watchdog.canary_due(w, CFG, 10.0) and watchdog.canary_due(w, CFG, 11.0)


def test_canary_error_counts_neither_way_and_stale_canary_is_ignored():
    w = watchdog.canary_sent(feed(watchdog.Watch(), 0.0), 1, 5.0)
    w = watchdog.canary_done(w, 1, "answered 404: not counted", 5.1)
    assert watchdog.judge(feed(w, 30.0), CFG, 30.0)[0] == watchdog.OK
    assert watchdog.canary_done(w, 7, None, 6.0) is w


@pytest.mark.parametrize("why", ["the engine is asleep", "draining"])
def test_pause_forgets_pending_work_and_restarts_the_windows(why):
    w = feed(watchdog.Watch(), 0.0, running=3)
    w = feed(w, 20.0, running=3)
    assert watchdog.judge(w, CFG, 20.0)[0] == watchdog.STALLED
    w = watchdog.pause(w, why, 21.0)
    assert watchdog.judge(w, CFG, 100.0)[0] == watchdog.PAUSED
    w = feed(w, 100.0, running=3)  # awake again (counters as they were): the windows start now
    assert watchdog.judge(w, CFG, 105.0)[0] == watchdog.OK
    assert not watchdog.canary_due(watchdog.pause(w, why, 106.0), CFG, 500.0)


def test_settle_reports_each_change_once():
    w = feed(watchdog.Watch(), 0.0, running=1)
    w, changed = watchdog.settle(w, CFG, 0.0)
    assert changed == watchdog.OK
    w = feed(w, 11.0, running=1)
    w, changed = watchdog.settle(w, CFG, 11.0)
    assert changed == watchdog.STALLED and w.verdicts == 1
    w = feed(w, 12.0, running=1)
    w, changed = watchdog.settle(w, CFG, 12.0)
    assert changed is None and "12.0 s" in w.reason


def snap(w, at=20.0, **kw):
    """A served, healthy vLLM as the monitor saw it at `at` (/health 200 then), with the watch `w`."""
    return Snapshot(phase=Phase.READY, process_alive=True, listening=True, health=200, model_listed=True,
                    ever_ready=True, last_ok=at, last_poll=at, watch=w, watch_cfg=CFG, **kw)


def test_probes_follow_the_verdicts():
    w = feed(feed(watchdog.Watch(), 0.0, running=2), 20.0, running=2)
    ready, why = state.readiness(snap(w), 20.0)
    assert not ready and any("engine stalled" in r for r in why)
    assert state.liveness(snap(w), 20.0)[0]
    w = feed(w, 31.0, running=2)
    live, why = state.liveness(snap(w, at=31.0), 31.0)
    assert not live and "engine wedged" in why[0]
    assert state.status(snap(w, at=31.0), 31.0)["watchdog"]["verdict"] == watchdog.WEDGED
    # a drain is never called wedged
    assert state.liveness(snap(w, at=31.0, draining=True), 31.0)[0]


def test_windows_from_the_spec_and_their_arithmetic():
    spec = parse_spec("model: {source: /models/x, parameters: 8000000000}\nengine: {maxModelLen: 8192}\n", "s.yaml")
    w = serving.windows(spec)
    prefill = 2 * 8e9 * 8192 / serving.PREFILL_FLOPS_FLOOR
    assert w.prefill_s == pytest.approx(prefill)
    assert w.stall_s == -(-(serving.STEP_FLOOR_SECONDS + prefill) * serving.STALL_MARGIN // 1)
    assert w.restart_s == serving.RESTART_FACTOR * w.stall_s
    assert w.canary_idle_s == serving.CANARY_IDLE_SECONDS
    assert f"= {w.stall_s} s" in w.stall_arithmetic()
    explicit = parse_spec("model: {source: /models/x, weightsGiB: 1}\nserving: {stallSeconds: 8, restartSeconds: 9, "
                          "canary: false}\n", "s.yaml")
    e = serving.windows(explicit)
    assert (e.stall_s, e.restart_s, e.canary_idle_s) == (8, 9, None)
    assert "explicit serving.stallSeconds = 8 s" in e.stall_arithmetic()


def test_a_restart_window_shorter_than_the_stall_window_is_refused():
    with pytest.raises(InputError) as err:
        parse_spec("model: {source: /models/x, weightsGiB: 1}\nserving: {stallSeconds: 8, restartSeconds: 5}\n",
                   "s.yaml")
    assert "/serving/restartSeconds" in str(err.value) and "shorter than the stall window" in str(err.value)


def test_the_supervisor_logs_a_verdict_between_two_readings():
    """/readyz judges at the moment it is asked; the log line must not wait for the monitor's next reading (a
    verdict undone by that reading was once never logged)."""
    import time

    from vllmgen.supervisor.monitor import Monitor
    from vllmgen.supervisor.state import Store

    now = time.monotonic()
    store = Store()
    lines = []
    monitor = Monitor(store, None, "http://127.0.0.1:1", "tiny", on_verdict=lambda v, why, w: lines.append((v, why)))
    w = feed(feed(watchdog.Watch(), now - 20.0, running=1), now - 0.5, running=1)  # frozen since 20 s ago
    store.update(phase=Phase.READY, ever_ready=True, watch=w, watch_cfg=CFG)
    monitor.settle()
    monitor.settle()
    assert [v for v, _ in lines] == [watchdog.STALLED] and "1 request(s) in the engine" in lines[0][1]
    assert store.snapshot.watch.verdict == watchdog.STALLED


@pytest.mark.parametrize("sleeping, draining, paused", [(True, False, "the engine is asleep"),
                                                        (False, True, "draining"), (False, False, None)])
def test_the_monitor_pauses_the_watchdog_while_asleep_or_draining(sleeping, draining, paused):
    """A frozen-looking reading (requests held, counters still) is no verdict while the engine sleeps (CPU vLLM
    has no sleep mode, so this is checked here) or the pod drains."""
    import time

    from vllmgen.supervisor.monitor import Monitor
    from vllmgen.supervisor.state import Store

    store = Store()
    lines = []
    monitor = Monitor(store, None, "http://127.0.0.1:1", "tiny", on_verdict=lambda v, why, w: lines.append(v))
    t0 = time.monotonic() - 40.0
    w = feed(watchdog.Watch(), t0, running=2)  # the counters have not moved for 40 s with 2 requests held
    store.update(phase=Phase.DRAINING if draining else Phase.READY, ever_ready=True, draining=draining, watch=w,
                 watch_cfg=watchdog.Config(stall_s=10, restart_s=60))
    text = METRICS % {"steps": 1, "gen": 1, "running": 2, "waiting": 0}
    monitor._watch(None, (text, time.monotonic(), 2), sleeping)
    got = store.snapshot.watch
    assert got.paused == paused
    assert (watchdog.STALLED in lines) is (paused is None)
