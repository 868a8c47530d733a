"""`vllmgen serve` on the real vLLM server, one server for the whole module (a start costs 40-90 s here):
every endpoint through loading and ready, a real completion, probes while vLLM is saturated, and finally
SIGTERM with requests in flight while a readiness-gated client keeps sending (zero failed or truncated answers,
exit within the chart's terminationGracePeriodSeconds). The tests run in file order; the last one stops it."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest

from tests.support.vllm_server import (START_TIMEOUT_S, Supervisor, cpu_env, free_port, kube_probe,
                                      process_groups_alive, start_traffic, tiny_spec, traffic_result, wait_in_flight)

pytestmark = pytest.mark.vllm

#: Tokens per request in the drain test: long enough to be mid-answer when SIGTERM lands.
DRAIN_TOKENS = 448  # the tiny model's context is 512 tokens
#: Requests vLLM must be generating when SIGTERM lands (the issue asks for at least 8).
MIN_IN_FLIGHT = 8
#: Closed-loop clients of the gated traffic, each keeping one request in flight until the pod is unroutable: a
#: burst sent once was answered within 2 s on a quiet machine, before the test had read vLLM's load. Twice
#: MIN_IN_FLIGHT leaves room for clients between an answer and their next request; more would crowd the client's
#: own event loop on a saturated machine (48 sent requests late enough to reach a vLLM already shutting down).
CLOSED_LOOP_CLIENTS = 2 * MIN_IN_FLIGHT
#: Closed-loop clients and tokens per request that saturate a 2-core server
#: (docs/upstream-facts.md#vllm-under-load).
SATURATE_CLIENTS = 16
SATURATE_TOKENS = 128
#: Open-loop arrivals in the drain test: a new request this often (keeps >= 8 in flight).
ARRIVAL_EVERY_S = 0.15
#: How long the test's "endpoints" keep routing to the pod after /readyz turned 503 (Kubernetes needs up to
#: a few seconds to propagate NotReady; the spec's endpointDrainSeconds covers it).
ENDPOINT_LAG_S = 1.0
#: The drain tests' endpointDrainSeconds: far more than ENDPOINT_LAG_S, because the test's router is itself a
#: process on the saturated machine: in a CI run it stopped sending 3.5 s after SIGTERM, past a 3 s drain, and 8
#: requests reached a vLLM already shutting down.
ENDPOINT_DRAIN_S = 10
#: The kubelet-style startup probe used here: period = timeout = 10 s.
STARTUP_PROBE_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def sup(tiny_model, vllm_cache, tmp_path_factory):
    spec = tiny_spec(tiny_model, free_port(), free_port(), endpoint_drain_s=ENDPOINT_DRAIN_S, shutdown_timeout_s=30)
    s = Supervisor(tmp_path_factory.mktemp("sup-main"), spec, cpu_env(vllm_cache)).start()
    s.wait_listening()
    yield s
    s.close()


def vllm_health(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code
    except httpx.TransportError:
        return None


def test_loading_then_ready_with_a_held_startup_probe(sup):
    # While loading: not ready, alive, not started, and vLLM itself refuses connections. The first look may come
    # before the supervisor has spawned vLLM (phase `starting`; on a busy machine that can take seconds).
    assert sup.get("/readyz").status_code == 503
    assert sup.get("/livez").status_code == 200
    status = sup.get("/status").json()
    assert status["phase"] in ("starting", "loading") and not status["started"]
    assert vllm_health(sup.vllm_port) is None

    # A kubelet-like startup probe (one held request per period) next to a 10 ms poller of vLLM's /health.
    vllm_ready_at = {}

    def watch_vllm():
        while sup.popen.poll() is None and "t" not in vllm_ready_at:
            if vllm_health(sup.vllm_port) == 200:
                vllm_ready_at["t"] = time.monotonic()
            time.sleep(0.01)

    watcher = threading.Thread(target=watch_vllm, daemon=True)
    watcher.start()
    answers = []
    while True:
        t0 = time.monotonic()
        r = sup.get("/startupz", params={"timeout": STARTUP_PROBE_TIMEOUT_S}, timeout=STARTUP_PROBE_TIMEOUT_S + 5)
        answers.append((r.status_code, time.monotonic() - t0, time.monotonic()))
        if r.status_code == 200:
            break
        assert sup.popen.poll() is None, sup.tail()
        assert len(answers) * STARTUP_PROBE_TIMEOUT_S < START_TIMEOUT_S, f"vLLM did not load within {START_TIMEOUT_S} s"
    watcher.join(timeout=5)
    held = [took for code, took, _ in answers[:-1]]
    # Every 503 was held about the whole probe timeout (one request per period, not a busy loop).
    assert all(took > STARTUP_PROBE_TIMEOUT_S - 1 for took in held), held
    # The held request answered 200 right after vLLM turned ready, not a period later. (The bound is loose:
    # a busy machine delays it; benchmarks/supervisor.py measures the real figure.)
    lag = answers[-1][2] - vllm_ready_at["t"]
    assert lag < 2.0, f"/startupz answered {lag:.3f} s after vLLM was ready"
    print(f"\nstartupz 200 {lag * 1000:.0f} ms after vLLM /health 200 ({len(answers)} probe requests)")


def test_ready_endpoints_and_a_real_completion(sup):
    sup.wait_ready()
    assert sup.get("/readyz").json() == {"ready": True, "reasons": []}
    assert sup.get("/livez").status_code == 200
    assert sup.get("/startupz").status_code == 200
    status = sup.get("/status").json()
    assert status["phase"] == "ready" and status["vllm"]["modelListed"] and status["vllm"]["health"] == 200
    answer = sup.completion(max_tokens=16)
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 16
    phases = [e["phase"] for e in sup.events() if e["event"] == "phase"]
    assert phases == ["starting", "loading", "ready"]


def test_vllm_serves_every_gauge_autoscaling_scales_on(sup):
    """The metric names a role may autoscale on are gauges the real server exports, per model and engine."""
    from vllmgen.autoscaling import METRICS

    sup.wait_ready()
    text = httpx.get(f"http://127.0.0.1:{sup.vllm_port}/metrics", timeout=30).text
    for name in METRICS:
        assert f"# TYPE {name} gauge" in text, name
        assert any(line.startswith(name + "{") and 'model_name="' in line and 'engine="' in line
                   for line in text.splitlines()), name


def test_saturated_vllm_stays_ready_and_live(sup):
    sup.wait_ready()
    load = start_traffic("saturate", f"http://127.0.0.1:{sup.vllm_port}", str(SATURATE_CLIENTS), "12",
                         str(SATURATE_TOKENS))
    time.sleep(2.0)  # ramp up
    samples = {"/readyz": [], "/livez": []}
    answers = {"/readyz": [], "/livez": []}  # (seconds since the first sample, status, latency)
    codes = set()
    t0 = time.monotonic()
    deadline = t0 + 8
    while time.monotonic() < deadline:
        for path in samples:
            sent = time.monotonic() - t0
            took, code = kube_probe(sup.health_port, path)
            codes.add((path, code))
            samples[path].append(took)
            answers[path].append((sent, code, took))
        time.sleep(0.05)
    stats = traffic_result(load, timeout=180)
    assert stats["errors"] == 0 and stats["completions"] > SATURATE_CLIENTS
    # A saturated pod is neither taken out of the endpoints nor restarted. (Latency is a benchmark figure:
    # benchmarks/supervisor.py; a shared machine stalls every process now and then.)
    assert codes == {("/readyz", 200), ("/livez", 200)}
    for path, lat in samples.items():
        q = statistics.quantiles(lat, n=100, method="inclusive")
        print(f"\n{path} under load (n={len(lat)}): p50 {q[49] * 1000:.1f} ms p99 {q[98] * 1000:.1f} ms "
              f"max {max(lat) * 1000:.1f} ms")
    assert_emulated_kubelet_keeps_the_pod(sup, answers)


#: How long the emulated kubelet watches the saturated pod: the measured answers repeat to fill it.
SATURATED_REPLAY_S = 180.0


def assert_emulated_kubelet_keeps_the_pod(sup, answers):
    """The generated probes, run by the kubelet emulator against the answers measured under saturation (status
    and latency, repeated for 3 minutes), never restart the pod and never take it out of the endpoints."""
    import tempfile

    from vllmgen import yamlio
    from vllmgen.emulator import drivers
    from vllmgen.emulator import model as emodel
    from vllmgen.emulator import timeline as etimeline
    from vllmgen.spec import load_spec
    from vllmgen.values import render

    endpoints = [{"path": "/startupz", "answers": [{"at": 0.0, "answer": 200, "latency": 0.002}]}]
    for path, measured in answers.items():
        window = measured[-1][0] + 0.05
        rows, k = [], 0
        while k * window < SATURATED_REPLAY_S:
            rows += [{"at": k * window + sent, "answer": code, "latency": took} for sent, code, took in measured]
            k += 1
        rows[0]["at"] = 0.0
        endpoints.append({"path": path, "answers": rows})
    data = {"version": 1, "duration": SATURATED_REPLAY_S, "ready_at": 0.0, "endpoints": endpoints}
    recording = etimeline.parse(yamlio.Document(data, "saturated-recording", {}))
    with tempfile.TemporaryDirectory() as tmp:
        values_file = f"{tmp}/values.yaml"
        with open(values_file, "w") as fh:
            fh.write(render(load_spec(str(sup.spec_path)), ["standalone"]))
        pod = emodel.load(values_file, role="standalone")
    slowest = max(took for measured in answers.values() for _, _, took in measured)
    for lead in (0.0, 1.7, 3.3, 6.1, 8.9):  # several kubelet ticker phases
        run = drivers.replay(pod, recording, lead=lead)
        ready_at = run.kubelet.first("ready")
        assert ready_at is not None, f"never Ready (lead {lead})"
        assert run.kubelet.restarts == 0, f"restarted under load (lead {lead}, slowest answer {slowest:.3f} s)"
        dropped = [e.time for e in run.kubelet.events if e.what == "not-ready" and e.time > ready_at]
        assert not dropped, f"taken out of the endpoints at {dropped} (slowest answer {slowest:.3f} s)"


def test_sigterm_with_requests_in_flight_loses_nothing(sup):
    from vllmgen.spec import load_spec
    from vllmgen.values import values_dict

    sup.wait_ready()
    grace = values_dict(load_spec(str(sup.spec_path)), ["standalone"])["standalone"]["terminationGracePeriodSeconds"]
    traffic = start_traffic("gated", f"http://127.0.0.1:{sup.vllm_port}", f"http://127.0.0.1:{sup.health_port}/readyz",
                            str(ARRIVAL_EVERY_S), str(DRAIN_TOKENS), str(ENDPOINT_LAG_S), str(CLOSED_LOOP_CLIENTS))
    at_signal = wait_in_flight(traffic, sup.vllm_port, MIN_IN_FLIGHT)
    t_sig = time.monotonic()  # SIGTERM right after the reading: on a quiet machine answers take well under 1 s
    sup.signal()
    time.sleep(0.5)
    # Draining: not ready, still alive (no restart mid-drain), still started, and /status says why.
    assert sup.get("/readyz").status_code == 503
    assert sup.get("/livez").status_code == 200
    assert sup.get("/startupz").status_code == 200
    status = sup.get("/status").json()
    assert status["phase"] == "draining" and status["reasons"]["ready"][0].startswith("draining")
    # a request the endpoints still route after SIGTERM, within the endpoint drain, is served in full
    late_sent = time.monotonic() - t_sig
    late = sup.completion(max_tokens=DRAIN_TOKENS)
    assert late_sent < ENDPOINT_DRAIN_S and late["usage"]["completion_tokens"] == DRAIN_TOKENS
    result = traffic_result(traffic, timeout=grace + 60)
    code = sup.wait_exit(timeout=grace + 10)
    exited_after = time.monotonic() - t_sig

    requests = result["requests"]
    failed = [r for r in requests if r["status"] != 200 or r["finish"] != "length" or r["tokens"] != DRAIN_TOKENS]
    after_signal = [r for r in requests if r["sent"] > t_sig]
    print(f"\ndrain: {len(requests)} requests, {at_signal} running at SIGTERM, {len(after_signal)} sent after it "
          f"(/readyz 503 {result['firstUnready'] - t_sig:.3f} s after SIGTERM) and one by the test {late_sent:.1f} s "
          f"after it, {len(failed)} failed or truncated; exit {code} after {exited_after:.1f} s "
          f"(terminationGracePeriodSeconds {grace})")
    assert at_signal >= MIN_IN_FLIGHT
    assert not failed, failed[:5]
    assert code == 0
    assert exited_after < grace
    assert process_groups_alive(sup.vllm_pgid()) == []
    assert [e["phase"] for e in sup.events() if e["event"] == "phase"][-2:] == ["draining", "exited"]
