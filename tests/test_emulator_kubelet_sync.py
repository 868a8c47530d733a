"""Kubelet behaviours that move probe-check's times by up to a second or a back-off step: the pod worker's wait
for a fresh PLEG relist, the back-off garbage collection, Go's ticker dropping ticks, restartPolicy Never's Ready
at the ContainerDied sync, and the Started a restarted container inherits in 1.35-1.37.

Each expected time is derived by hand, in the test's docstring and comments, from the kubelet source quoted
there (kubernetes/kubernetes master unless a release is named). Conventions as in test_emulator_kubelet.py:
t = 0 is the container start, PLEG relists every second from t = 0 (so the first container is seen at 1.0), an
answer without `latency` takes 0.001 s, tickers tick at -lead + k * period."""

from __future__ import annotations

import pytest

from vllmgen.emulator import drivers
from vllmgen.emulator.kubelet import KubeletModel
from test_emulator_kubelet import A, pod, probe, probes_of, times, tl


def at(run, what):
    return [round(e.time, 4) for e in run.kubelet.events if e.what == what]


def test_a_sync_waits_for_a_relist_that_started_after_the_previous_sync():
    """pkg/kubelet/pod_workers.go, podWorkerLoop:

        // wait until we see the next refresh from the PLEG via the cache (max 2s)
        // TODO: this adds ~1s of latency on all transitions from sync to terminating
        ...
        status, err = p.podCache.GetNewerThan(update.Options.Pod.UID, lastSyncTime)
        ...
        lastSyncTime = p.clock.Now()

    pkg/kubelet/container/cache.go, getIfNewerThan (what GetNewerThan waits for):

        globalTimestampIsNewer := (c.timestamp != nil && c.timestamp.After(minTime))
        ...
        if ok && (d.modified.After(minTime) || globalTimestampIsNewer) {

    where `modified` and the global timestamp are the start time of a relist (pkg/kubelet/pleg/generic.go,
    relist: `timestamp := g.clock.Now()` ... `g.cache.UpdateTime(timestamp)`), every
    `genericPlegRelistPeriod = time.Second * 1` (pkg/kubelet/kubelet.go).

    lead 0.5: startup ticks at 0.5, 1.5, ...; the PLEG relist at 1.0 sees the container and syncs the pod (the
    previous sync was none: no wait), lastSyncTime = 1.0. The startup tick at 1.5 first stores the initial
    Unknown (an update: a sync is asked for, and waits for a relist that starts after 1.0: the one at 2.0), then
    probes: 200 at 1.501 -> Started at once (syncLoopIteration's SetContainerStartup), and the sync it asks for
    joins the waiting one. At 2.0 the sync runs UpdatePodStatus: started, not Ready -> the manual readiness run
    at 2.0, 200 at 2.001 -> Ready. Before, syncs were instant: the readiness run came at 1.501 (Ready 1.502),
    and the sync the readiness worker's initial Failure asked for sent a second, useless run at 1.502."""
    p = pod(probe("startup", "/s", period=1, failure_threshold=30), probe("readiness", "/r", period=10))
    run = drivers.replay(p, tl({"/s": [{"at": 0, "answer": 200}], "/r": [{"at": 0, "answer": 200}]}, duration=12),
                         lead=0.5)
    assert at(run, "started") == [1.501]
    assert [(r.start, r.cause) for r in probes_of(run, "readiness")] == [(2.0, "trigger"), (12.0, "tick")]
    assert at(run, "ready") == [2.001]


def test_a_sync_soon_after_the_previous_one_waits_but_one_later_does_not():
    """The same rule on readiness alone (no startup probe: started at the first sync, UpdatePodStatus
    `if w, exists := m.getWorker(...startup); !exists { started = true }` in pkg/kubelet/prober/prober_manager.go).

    Relist at 1.0 -> sync at 1.0, lastSyncTime 1.0: started, readiness has no result -> manual run at 1.0 (ticker
    reset: ticks at 6, 11, ...). That run first stores readiness's initial Failure (an update -> a sync that waits
    for the relist at 2.0), then gets 200 -> Ready at 1.001. At 2.0 the sync finds Ready: no second run.
    From 30 s /r answers 503: failures at 31, 36, 41 -> not Ready at 41.001 and a sync asked for then; relists
    have started since the last sync (2.0) -> it runs at once and triggers readiness at 41.001."""
    p = pod(probe("readiness", "/r", period=5, failure_threshold=3))
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}, {"at": 30, "answer": 503}]}, duration=44))
    assert [(round(r.start, 4), r.cause) for r in probes_of(run, "readiness")][:3] == [
        (1.0, "trigger"), (6.0, "tick"), (11.0, "tick")]
    assert at(run, "ready") == [1.001] and at(run, "not-ready") == [41.001]
    assert [(round(r.start, 4), r.cause) for r in probes_of(run, "readiness") if r.start > 40] == [
        (41.0, "tick"), (41.001, "trigger")]


def test_backoff_entries_are_garbage_collected_after_twice_the_maximum():
    """pkg/kubelet/kubelet_pods.go, HandlePodCleanups (run on every housekeeping tick, `housekeepingPeriod =
    time.Second * 2` in pkg/kubelet/kubelet.go):

        // Cleanup any backoff entries.
        kl.backOff.GC()

    staging/src/k8s.io/client-go/util/flowcontrol/backoff.go:

        func (p *Backoff) GC() {
            ...
            for id, entry := range p.perItemBackoff {
                if now.Sub(entry.lastUpdate) > p.maxDuration*2 {
                    // GC when entry has not been updated for 2*maxDuration
                    delete(p.perItemBackoff, id)

    with maxDuration 300 s (MaxContainerBackOff) and doBackOff (pkg/kubelet/kuberuntime/kuberuntime_manager.go):
    `if backOff.IsInBackOffSince(key, ts) { ... }` else `backOff.Next(key, ts)`, ts = the FinishedAt of the
    exited container. Housekeeping is taken at even seconds.

    The container exits by itself 590 s after each start; each exit is seen by PLEG 1 s later.
    - exit 590, sync 591: no entry -> start at once, Next: 10 s, lastUpdate 591.
    - exit 1181, sync 1182: 1182 - 1181 < 10 -> back-off until 1191; at 1191 the entry (updated 591) is not
      older than 600 s at any housekeeping tick yet (1191 - 591 = 600, not more) -> start, Next: 20 s, lastUpdate
      1191.
    - exit 1781, sync 1782: back-off until 1801; 1191 + 600 = 1791, the tick at 1792 drops the entry -> at 1801
      no entry: start, Next starts over at 10 s (lastUpdate 1801).
    - exit 2391, sync 2392: back-off 10 s -> start at 2401. Without the GC the entry would have doubled to 40 s:
      start at 2431."""
    p = pod(probe("liveness", "/h", period=10))
    run = drivers.replay(p, tl({"/h": [{"at": 0, "answer": 200}]}, duration=2450, exit_at=590))
    assert at(run, "container-start") == [0.0, 591.0, 1191.0, 1801.0, 2401.0]
    assert [e.detail.split(":")[0] for e in run.kubelet.events if e.what == "back-off"] == [
        "crash-loop back-off 10 s", "crash-loop back-off 20 s", "crash-loop back-off 10 s"]


def test_a_ticker_holds_one_tick_for_a_probe_longer_than_its_period():
    """pkg/kubelet/prober/worker.go, run:

        probeTicker := time.NewTicker(probeTickerPeriod)
        ...
        for w.doProbe(ctx) {
            // Wait for next probe tick.
            select {
            case <-w.stopCh:
                break probeLoop
            case <-probeTicker.C:
            case <-w.manualTriggerCh:
            }
        }

    Go's time.NewTicker: "The ticker will adjust the time interval or drop ticks to make up for slow receivers."
    A tick that finds the worker in doProbe waits (one), later ones are dropped.

    period 1, timeout 3; /s never answers until 3.5, then 503 at once. Ticks at 1, 2, 3, ...; the worker sees
    the container at the tick at 1.0 and probes: timeout at 4.0 (the request went out just after the tick, so
    it times out just after 4.0: the tick at 4.0 finds the worker busy). The tick at 2 waits; 3 and 4 are dropped.
    At 4.0 the select takes the waiting tick -> probe at 4.0, 503 at 4.001; nothing waits any more -> the next
    probe is the tick at 5. Before, the tick at 4.0 was counted as a second waiting one: an extra probe at 4.001."""
    p = pod(probe("startup", "/s", period=1, timeout=3, failure_threshold=100))
    run = drivers.replay(p, tl({"/s": [{"at": 0, "answer": "timeout"}, {"at": 3.5, "answer": 503}]}, duration=6.5))
    assert times(run, "startup") == [1.0, 4.0, 5.0, 6.0]


def test_restart_policy_never_turns_not_ready_at_the_container_died_sync():
    """pkg/kubelet/pleg/generic.go, relist: a container that was running and is now exited yields
    `ContainerDied`; pkg/kubelet/kubelet.go, syncLoopIteration, `case e := <-plegCh:` ... `handler.HandlePodSyncs`;
    that sync's generateAPIPodStatus reports the exited container not ready, and computePodActions starts nothing
    under restartPolicy Never (`if pod.Spec.RestartPolicy == v1.RestartPolicyNever` ... no ContainersToStart).
    Until that relist the status cache still shows the container running.

    Liveness fails at 1.0 and 2.0 (threshold 2) -> kill at 2.001 with grace 3 s: the hung server is SIGKILLed and
    exits at 5.001; the relist 1 s later (6.001) sees it dead: Ready false, the pod over. The same for a container
    that exits by itself at 12 s: seen at 13."""
    p = pod(probe("liveness", "/h", period=1, failure_threshold=2), restart_policy="Never", pod_grace=3)
    run = drivers.replay(p, tl({"/h": [{"at": 0, "answer": 500}]}, duration=20))
    assert at(run, "container-exit") == [5.001]
    assert at(run, "not-ready") == [6.001] and at(run, "terminated") == [6.001]
    p = pod(probe("readiness", "/r", period=5), restart_policy="Never")
    run = drivers.replay(p, tl({"/r": [{"at": 0, "answer": 200}]}, duration=20, exit_at=12))
    assert at(run, "ready") == [1.001] and at(run, "container-exit") == [12.0]
    assert at(run, "not-ready") == [13.0] and at(run, "terminated") == [13.0] and run.kubelet.restarts == 0


#: A startup probe every second, liveness every 10 s that fails from 40 s (kill at 60.001 with 5 s of grace),
#: and a readiness endpoint that answers 200 from the start.
RESTARTED = pod(probe("startup", "/health", period=1, timeout=1, failure_threshold=30),
                probe("liveness", "/health", period=10, timeout=1, failure_threshold=3, termination_grace=5),
                probe("readiness", "/ready", period=10, timeout=1))
RESTARTED_TL = tl({"/health": [{"at": 0, "answer": "refused"}, {"at": 10, "answer": 200}, {"at": 40, "answer": 500}],
                   "/ready": [{"at": 0, "answer": 200}]}, duration=80)


def test_kubelet_1_35_to_1_37_let_a_restarted_container_inherit_started():
    """pkg/kubelet/kubelet_pods.go, convertToAPIContainerStatuses, 1.35-1.37 (KEP-4781's gate
    ChangeContainerStatusOnKubeletRestart, default off), before kubernetes/kubernetes#141342:

        if !utilfeature.DefaultFeatureGate.Enabled(features.ChangeContainerStatusOnKubeletRestart) {
            if cStatus.State == kubecontainer.ContainerStateRunning {
                if oldStatus, ok := oldStatuses[status.Name]; ok && oldStatus.Started != nil {
                    status.Started = oldStatus.Started

    (by container name: the replacement inherits it, kubernetes/kubernetes#141155), until the startup worker's
    doProbe sees the new container ID and stores `w.initialValue` (Unknown) for it.

    Kill at 60.001, exit 65.001, restart at once; the relist at 66.001 shows the new container: the sync keeps
    Started (inherited) and, not Ready, runs readiness at once: the worker stores Failure for the new container,
    then /ready answers 200 -> Ready at 66.002. The startup tick at 67.0 stores Unknown -> not started, and the
    sync (waiting for the relist at 67.0) turns Ready false. Startup succeeds at 76.001; readiness's Success for
    this container is still stored -> Ready at that sync, with no new readiness probe.
    1.38 (and 1.34): the relist at 66.001 shows a container that is not started, Ready false; readiness waits
    for startup success at 76.001 and is Ready after its manual run, at 76.002."""
    old = drivers.replay(RESTARTED, RESTARTED_TL, model=KubeletModel(version="1.37"))
    assert at(old, "started") == [10.001, 66.001, 76.001]
    assert "inherited" in next(e.detail for e in old.kubelet.events if e.what == "started" and e.time > 66)
    assert [t for t in at(old, "ready") if t > 60] == [66.002, 76.001]
    assert [t for t in at(old, "not-ready") if t > 60] == [66.001, 67.0]
    assert [(r.start, r.container) for r in probes_of(old, "readiness") if r.start > 62] == [(A(66.001), 1)]
    for version in ("1.34", "1.38"):
        new = drivers.replay(RESTARTED, RESTARTED_TL, model=KubeletModel(version=version))
        assert at(new, "started") == [10.001, 76.001]
        assert [t for t in at(new, "ready") if t > 60] == [76.002]
        assert [(r.start, r.cause) for r in probes_of(new, "readiness") if r.start > 62] == [(A(76.001), "trigger")]


def test_default_kubelet_version_is_the_newest_validated():
    """The default follows kubernetes-validate's newest schemas (pyproject.toml pins 1.37.0)."""
    from pathlib import Path

    pin = next(line for line in (Path(__file__).parent.parent / "pyproject.toml").read_text().splitlines()
               if "kubernetes-validate==" in line)
    newest = pin.split("==")[1].rsplit(".", 1)[0]
    assert KubeletModel().version == newest


@pytest.mark.parametrize("text, version", [("1.37", "1.37"), ("v1.35.4", "1.35"), ("1.21", "1.21"),
                                           ("1.20", None), ("2.1", None), ("1.x", None), ("", None)])
def test_kubelet_version_parsing(text, version):
    from vllmgen.emulator.kubelet import parse_version

    assert parse_version(text) == version
