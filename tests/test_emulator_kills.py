"""Kills, restarts and deletion, pinned with times derived by hand from kubelet's source (each test names the
kubelet functions it follows; docs/upstream-facts.md#kubelet-probes has the links).

Conventions as in test_emulator_kubelet.py: t = 0 is the first container start, PLEG shows a container start or
exit 1 s later (`pleg_delay`), an answer without `latency` takes 0.001 s, a refused connection fails after
0.001 s, workers' tickers tick at k * period (lead 0), the pod's grace period is 30 s unless set."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from test_emulator_kubelet import pod, probe, probes_of, times, tl
from tests.support.values_files import complete_text
from vllmgen.cli import app
from vllmgen.emulator import drivers, report, runtime
from vllmgen.emulator.kubelet import KubeletModel
from vllmgen.emulator.lifecycle import PreStop

A = pytest.approx


def starts(run) -> list[float]:
    return [round(e.time, 4) for e in run.kubelet.events if e.what == "container-start"]


def at(run, what: str) -> list[float]:
    return [round(e.time, 4) for e in run.kubelet.events if e.what == what]


# --- the crash-loop back-off after probe kills -----------------------------------------------------------

def test_probe_kill_restarts_follow_dobackoff():
    """SyncPod (kuberuntime_manager.go) kills the container and starts its replacement in the same sync, and
    start() asks doBackOff with the pod status the sync began with, where the killed container still runs: the
    newest *exited* container is the one before it. flowcontrol.Backoff: no entry -> start, Next creates 10 s;
    IsInBackOffSince(FinishedAt, now) is `now - FinishedAt < backoff`; Next doubles. In back-off, the pod worker
    retries at the expiry, by then against the container just killed (completeWork's MinBackoffExpiration)."""
    p = pod(probe("liveness", "/h", period=10, timeout=1, failure_threshold=3))
    run = drivers.replay(p, tl({"/h": [{"at": 0, "answer": 500}]}, duration=200, sigterm_exit=0.5))
    # every container fails liveness at its ticks +10, +20, +30 s: the kill comes 0.001 s after the third tick, the
    # exit 0.5 s after SIGTERM (no preStop, grace 30 s)
    assert at(run, "kill") == [30.001, 60.001, 90.001, 120.001, 150.001]
    assert at(run, "container-exit") == [30.501, 60.501, 90.501, 120.501, 150.501]
    assert starts(run) == [
        0.0,
        30.501,  # 1st: no exited container in the status -> no back-off
        60.501,  # 2nd: container 0 exited at 30.501 but the back-off has no entry -> start; Next: 10 s
        90.501,  # 3rd: 90.501 - 60.501 = 30 >= 10 -> start; Next: 20 s
        120.501,  # 4th: 30 >= 20 -> start; Next: 40 s
        190.501,  # 5th: 30 < 40 -> back-off; retried at 150.501 + 40 (the killed container's FinishedAt)
    ]
    backoff = next(e for e in run.kubelet.events if e.what == "back-off")
    assert backoff.time == A(150.501) and backoff.detail == (
        "crash-loop back-off 40 s: the next start waits until 190.501 s")
    # no readiness probe: Ready since the first sync; a restart that waits shows as NotReady once PLEG has seen
    # the exit, until the next container is seen
    assert [(e.what, round(e.time, 4)) for e in run.kubelet.events if e.what in ("ready", "not-ready")] == [
        ("ready", 1.0), ("not-ready", 151.501), ("ready", 191.501)]
    v = report.verdict(run)
    assert (v.restarts, v.kills) == (5, 5)


def test_backoff_flowcontrol_rules():
    """client-go flowcontrol.Backoff: `<` at the boundary, doubling up to the cap, forgotten after 2 x cap."""
    b = runtime.CrashBackoff()
    assert runtime.do_backoff(b, None, 5.0) is None and b.backoff is None  # nothing exited yet
    assert runtime.do_backoff(b, 10.0, 11.0) is None and b.backoff == 10.0  # no entry: start, Next
    assert runtime.do_backoff(b, 20.0, 29.0) == 30.0  # 9 < 10: back-off until FinishedAt + 10
    assert runtime.do_backoff(b, 20.0, 30.0) is None and b.backoff == 20.0  # 10 is not < 10
    for _ in range(10):
        b.next(31.0, 31.0)
    assert b.backoff == 300.0  # capped
    assert runtime.do_backoff(b, 31.0 + 601, 31.0 + 602) is None and b.backoff == 10.0  # > 2 x 300 s: reset


# --- preStop on probe kills ------------------------------------------------------------------------------

def test_startup_that_never_succeeds_runs_prestop_on_every_kill():
    """killContainer runs the preStop hook for every kill reason, startup kills included, inside the grace period
    (executePreStopHook), then StopContainer with the rest (grace - elapsed whole seconds, at least 2 s)."""
    p = pod(probe("startup", "/s", period=10, timeout=1, failure_threshold=3), pre_stop=PreStop(10.0))
    run = drivers.replay(p, tl({"/s": [{"at": 0, "answer": "refused"}]}, duration=210, sigterm_exit=0.5))
    # startup fails at ticks 10, 20, 30 (refused at +0.001): kill at 30.001, the 10 s preStop sleep, SIGTERM at
    # 40.001, exit 0.5 s later; the next container's probes run from the first tick after PLEG has seen it
    assert at(run, "kill") == [30.001, 70.001, 110.001, 150.001, 190.001]
    assert at(run, "sigterm") == [40.001, 80.001, 120.001, 160.001, 200.001]
    assert starts(run) == [
        0.0,
        40.501,  # 1st: immediate
        80.501,  # 2nd: no back-off entry yet -> start; Next: 10 s
        120.501,  # 3rd: container 1 exited at 80.501, 40 >= 10; Next: 20 s
        160.501,  # 4th: 40 >= 20; Next: 40 s
        200.501,  # 5th: 40 is not < 40 -> start; Next: 80 s
    ]
    assert all("preStop 10 s" in e.detail for e in run.kubelet.events if e.what == "kill")
    assert times(run, "startup")[3:6] == [50.0, 60.0, 70.0]  # container 1, seen at 41.501


def test_kill_timing_prestop_grace_and_floor():
    """killContainer: the hook runs at most the grace period; its elapsed time is taken in whole seconds; the rest
    is floored at minimumGracePeriodInSeconds (2 s)."""
    p = runtime.plan_kill(100.0, grace=30, pre_stop=10.0, sigterm_exit=0.5)
    assert (p.sigterm, p.sigkill, p.exit, p.graceful) == (110.0, 130.0, 110.5, True)
    p = runtime.plan_kill(100.0, grace=5, pre_stop=10.0, sigterm_exit=0.5)  # a probe's grace of 5 s
    assert (p.pre_stop, p.sigterm, p.sigkill, p.exit) == (5.0, 105.0, 107.0, 105.5)
    p = runtime.plan_kill(100.0, grace=30, pre_stop=2.7, sigterm_exit=None)  # 2.7 s elapsed -> 2 s taken
    assert (p.sigterm, p.sigkill, p.exit, p.graceful) == (A(102.7), A(130.7), A(130.7), None)
    p = runtime.plan_kill(100.0, grace=30, pre_stop=0.0, sigterm_exit=45.0)  # the drain does not fit
    assert (p.sigterm, p.exit, p.graceful) == (100.0, 130.0, False)
    # setTerminationGracePeriod: a deletion's grace wins, then the probe's, then the pod's
    assert runtime.grace_period(5, 30) == 5 and runtime.grace_period(None, 30) == 30
    assert runtime.grace_period(5, 30, deletion_grace=45) == 45


# --- Ready during a kill ---------------------------------------------------------------------------------

def test_readiness_failure_clears_ready_while_the_kill_runs():
    """syncLoopIteration hands readiness updates to statusManager.SetContainerReadiness at once; the pod worker
    waiting in killContainer does not delay them. The readiness worker keeps probing the dying container."""
    p = pod(probe("readiness", "/r", period=5, timeout=1, failure_threshold=3),
            probe("liveness", "/l", period=10, timeout=1, failure_threshold=3), pod_grace=60)
    run = drivers.replay(p, tl({"/l": [{"at": 0, "answer": 200}, {"at": 15, "answer": 500}],
                                "/r": [{"at": 0, "answer": 200}, {"at": 50, "answer": 503}]}, duration=110))
    # liveness fails at 20, 30, 40: kill at 40.001; a hung server uses the whole 60 s: SIGKILL at 100.001
    assert at(run, "kill") == [40.001] and at(run, "container-exit") == [100.001]
    # readiness (ticker reset by the manual run at 1.0, the PLEG sync; the initial Failure's sync waits for the
    # relist at 2.0 and finds Ready): 46 ok, 51, 56, 61 get 503 -> NotReady when the third failure lands, though
    # the pod worker is still inside killContainer (before: only after the restart)
    ready = probes_of(run, "readiness")
    assert [(round(r.start, 3), r.result) for r in ready if 45 < r.start < 62] == [
        (46.0, "Success"), (51.0, "Failure"), (56.0, "Failure"), (61.0, "Failure")]
    assert at(run, "not-ready") == [61.001]
    assert starts(run) == [0.0, 100.001]


def test_container_without_startup_probe_is_started_at_its_first_sync():
    """UpdatePodStatus (prober_manager.go): with no startup worker a running container is started; the first sync
    after PLEG has seen it is at 1.0 s."""
    run = drivers.replay(pod(probe("readiness", "/r", period=10)), tl({"/r": [{"at": 0, "answer": 200}]}, 5))
    assert run.kubelet.first("started") == 1.0 and report.verdict(run).started_at == 1.0
    text = report.to_text([run])
    assert "started at 1.000 s" in text and "never started" not in text


# --- prober errors ----------------------------------------------------------------------------------------

def test_stalled_body_is_retried_and_discarded():
    """DoHTTPProbe returns an error when the body read fails; runProbeWithRetries tries 3 times, each with the full
    timeout, and doProbe throws the result away ("Prober error"): a stall never counts as a failure."""
    p = pod(probe("readiness", "/r", period=10, timeout=2, failure_threshold=1))
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}, {"at": 20, "answer": "stall"},
                                       {"at": 40, "answer": 200}]}, duration=50))
    r = [x for x in probes_of(run, "readiness") if 20 < x.start < 40]
    # ticks from the manual run at the PLEG sync (1.0): 21: attempts at 21, 23, 25 all stall -> discarded at 27;
    # the tick at 31 likewise
    assert [(round(x.start, 3), round(x.end, 3), x.result) for x in r] == [
        (21.0, 27.0, "Error"), (31.0, 37.0, "Error")]
    assert at(run, "not-ready") == []  # failureThreshold 1, yet Ready throughout
    # a stall that ends during the retries: the third attempt (at 25) gets the 200
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}, {"at": 20, "answer": "stall"},
                                       {"at": 24, "answer": 200}]}, duration=30))
    r = next(x for x in probes_of(run, "readiness") if 20 < x.start < 30)
    assert (r.result, r.end) == ("Success", A(25.001))
    # an answer that is no HTTP (a reset, a reply that is not HTTP) is a failure, counted
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}, {"at": 20, "answer": "error"}]}, duration=30))
    assert at(run, "not-ready") == [21.001]


# --- deletion ---------------------------------------------------------------------------------------------

#: llm-d's guide probes (test_emulator_kubelet.LLMD_GUIDE) on vLLM ready at 55.9 s: Ready at 60.002 s; readiness
#: ticks every 5 s from its manual run at 60.001 s; liveness ticks at 70, 80, 90 s.
GUIDE_PROBES = dict(startup=dict(initial_delay=15, period=30, timeout=5, failure_threshold=60),
                    liveness=dict(period=10, timeout=5, failure_threshold=3),
                    readiness=dict(period=5, timeout=2, failure_threshold=3))
VLLM = {"/v1/models": [{"at": 0, "answer": "refused"}, {"at": 55.9, "answer": 200}],
        "/health": [{"at": 0, "answer": "refused"}, {"at": 55.9, "answer": 200}]}


def guide_pod(**kw):
    return pod(probe("startup", "/v1/models", **GUIDE_PROBES["startup"]),
               probe("liveness", "/health", **GUIDE_PROBES["liveness"]),
               probe("readiness", "/v1/models", **GUIDE_PROBES["readiness"]), **kw)


def test_deletion_with_prestop_leaves_the_endpoints_before_sigterm():
    """SyncTerminatingPod (kubelet.go): StopLivenessAndStartup, then killPod -> killContainer with the deletion's
    grace period: preStop 10 s, SIGTERM, SIGKILL at the rest; readiness keeps probing. podToEndpoint
    (endpointslice utils.go): a terminating pod is not ready at once, serving while Ready."""
    run = drivers.replay(guide_pod(pre_stop=PreStop(10.0)), tl(VLLM, duration=120, sigterm_exit=0.5),
                         delete_at=95.0)
    assert run.kubelet.first("ready") == A(60.002)
    assert times(run, "liveness") == [70.0, 80.0, 90.0]  # stopped at 95: not at 100
    assert [t for t in times(run, "readiness") if t > 92] == [95.001, 100.001, 105.001]  # until the exit
    assert at(run, "sigterm") == [105.0] and at(run, "container-exit") == [105.5]
    assert at(run, "not-ready") == [105.5] and at(run, "terminated") == [105.5]
    d = report.verdict(run).deletion
    assert d == {"deleted_at": 95.0, "grace": 30, "pre_stop": 10.0, "sigterm_at": 105.0, "sigkill_at": 125.0,
                 "exit_at": 105.5, "drain_fit": True, "out_of_endpoints_at": 96.0,
                 "in_endpoints_after_sigterm": 0.0, "serving_until": 106.5}
    text = report.to_text([run])
    assert "out of the ready endpoints at 96.000 s, 9.000 s before SIGTERM" in text
    assert "exited 0.500 s after SIGTERM, within the 20 s left of the grace period" in text


def test_deletion_without_prestop_keeps_sending_after_sigterm_and_drain_that_does_not_fit():
    # SIGTERM at the deletion; proxies drop the endpoint 1 s later (endpoint propagation): 1 s of new connections
    # to a server that has been told to stop, 0.5 s of them after it exited
    run = drivers.replay(guide_pod(), tl(VLLM, duration=120, sigterm_exit=0.5), delete_at=95.0)
    d = report.verdict(run).deletion
    assert (d["sigterm_at"], d["exit_at"], d["out_of_endpoints_at"], d["in_endpoints_after_sigterm"]) == (
        95.0, 95.5, 96.0, 1.0)
    assert "new connections still came 1.000 s after SIGTERM" in report.to_text([run])
    # a server that needs 25 s after SIGTERM, with 20 s left after the preStop: SIGKILL at 125 s
    run = drivers.replay(guide_pod(pre_stop=PreStop(10.0)), tl(VLLM, duration=120, sigterm_exit=25),
                         delete_at=95.0)
    d = report.verdict(run).deletion
    assert (d["exit_at"], d["drain_fit"]) == (125.0, False) and run.duration == 125.0
    assert "did not fit in the 20 s left of the grace period: SIGKILL at 125.000 s" in report.to_text([run])
    # a slower endpoint propagation: out of the endpoints 3 s after the deletion
    run = drivers.replay(guide_pod(), tl(VLLM, duration=120, sigterm_exit=0.5), delete_at=95.0,
                         model=KubeletModel(endpoint_delay=3.0))
    assert report.verdict(run).deletion["in_endpoints_after_sigterm"] == 3.0


def test_deletion_while_a_restart_backs_off_ends_the_pod_at_once():
    p = pod(probe("liveness", "/h", period=10, timeout=1, failure_threshold=3))
    run = drivers.replay(p, tl({"/h": [{"at": 0, "answer": 500}]}, duration=200, sigterm_exit=0.5),
                         delete_at=170.0)  # container 4 exited at 150.501 and waits until 190.501
    assert starts(run)[-1] == 120.501 and at(run, "terminated") == [170.0]
    assert report.verdict(run).deletion is None


# --- modelled constants, through the CLI ------------------------------------------------------------------

def test_constants_are_shown_and_settable(tmp_path):
    values = tmp_path / "v.yaml"
    values.write_text(complete_text("standalone:\n  probes:\n    readiness: {httpGet: {path: /r, port: 8000}, periodSeconds: 10}\n"))
    line = tmp_path / "t.yaml"
    line.write_text("version: 1\nduration: 20\nendpoints:\n- path: /r\n  answers: [{at: 0, answer: 200}]\n")
    res = CliRunner().invoke(app, ["probe-check", str(values), "--replay", str(line)])
    assert res.exit_code == 0, res.output
    assert res.output.endswith("modelled: kubelet 1.37, PLEG relist 1 s, pod resync 60 s, endpoint propagation "
                              "1 s (--kubelet-version, --pleg-delay, --resync-period, --endpoint-delay)\n")
    # PLEG shows the container 2.5 s after it started: started, probed and Ready then (UpdatePodStatus at that sync)
    res = CliRunner().invoke(app, ["probe-check", str(values), "--replay", str(line), "--pleg-delay", "2.5",
                                   "--resync-period", "30", "--endpoint-delay", "4", "--kubelet-version", "v1.34.2",
                                   "--format", "json"])
    v = json.loads(res.output)["runs"][0]["verdict"]
    assert v["model"] == {"pleg_delay": 2.5, "resync_period": 30.0, "endpoint_delay": 4.0, "kubelet_version": "1.34"}
    assert (v["started_at"], v["ready_at"]) == (2.5, 2.501)
    res = CliRunner().invoke(app, ["probe-check", str(values), "--replay", str(line), "--pleg-delay", "nan"])
    assert res.exit_code == 2 and res.output.startswith("error: --pleg-delay: (document): must be a number")
    for bad in ("1.20", "2.0", "latest", "1.3x"):
        res = CliRunner().invoke(app, ["probe-check", str(values), "--replay", str(line), "--kubelet-version", bad])
        assert res.exit_code == 2 and res.output.startswith("error: --kubelet-version: (document): must be a "
                                                            "Kubernetes release 1.N from 1.21"), res.output


def test_a_retry_at_the_backoff_expiry_starts_whatever_the_floats():
    # 0.1 + 10 - 0.1 is 9.999999999999998 in floats: a retry at the expiry must not find itself still in back-off
    # (it used to requeue itself at the same instant forever)
    b = runtime.CrashBackoff(backoff=10.0, last_update=0.0)
    expiry = runtime.do_backoff(b, 0.1, 5.0)
    assert expiry == 0.1 + 10.0 and runtime.do_backoff(b, 0.1, expiry) is None
