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

from tests.support.vllm_server import Supervisor, cpu_env, free_port, process_groups_alive, tiny_spec

pytestmark = pytest.mark.vllm

#: Tokens per request in the drain test: long enough to be mid-answer when SIGTERM lands.
DRAIN_TOKENS = 96
#: Open-loop arrivals in the drain test: a new request this often (>= 8 in flight at SIGTERM, as the issue asks).
ARRIVAL_EVERY_S = 0.15
#: How long the test's "endpoints" keep routing to the pod after /readyz turned 503 (Kubernetes needs up to
#: a few seconds to propagate NotReady; the spec's endpointDrainSeconds covers it).
ENDPOINT_LAG_S = 1.0
#: The kubelet-style startup probe used here: period = timeout = 10 s.
STARTUP_PROBE_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def sup(tiny_model, vllm_cache, tmp_path_factory):
    spec = tiny_spec(tiny_model, free_port(), free_port(), endpoint_drain_s=3, shutdown_timeout_s=30)
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
    # While loading: not ready, alive, not started, and vLLM itself refuses connections.
    assert sup.get("/readyz").status_code == 503
    assert sup.get("/livez").status_code == 200
    status = sup.get("/status").json()
    assert status["phase"] == "loading" and not status["started"]
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
        assert len(answers) < 30, "vLLM did not load within 300 s"
    watcher.join(timeout=5)
    held = [took for code, took, _ in answers[:-1]]
    # Every 503 was held about the whole probe timeout (one request per period, not a busy loop).
    assert all(took > STARTUP_PROBE_TIMEOUT_S - 1 for took in held), held
    # The held request answered 200 right after vLLM turned ready, not a period later. (The bound is loose:
    # this 2-core machine is shared; benchmarks/supervisor.py measures the real figure.)
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


def test_saturated_vllm_stays_ready_and_live(sup):
    sup.wait_ready()
    stop = threading.Event()
    errors = []

    def client():
        while not stop.is_set():
            try:
                sup.completion(max_tokens=128)
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    samples = {"/readyz": [], "/livez": []}
    codes = set()
    deadline = time.monotonic() + 6
    with httpx.Client(base_url=f"http://127.0.0.1:{sup.health_port}", timeout=5) as c:
        while time.monotonic() < deadline:
            for path in samples:
                t0 = time.perf_counter()
                codes.add((path, c.get(path, headers={"Connection": "close"}).status_code))
                samples[path].append(time.perf_counter() - t0)
            time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    # A saturated pod is neither taken out of the endpoints nor restarted. (Latency is a benchmark figure:
    # benchmarks/supervisor.py; this shared machine stalls every process now and then.)
    assert codes == {("/readyz", 200), ("/livez", 200)}
    for path, lat in samples.items():
        q = statistics.quantiles(lat, n=100, method="inclusive")
        print(f"\n{path} under load: p50 {q[49] * 1000:.1f} ms p99 {q[98] * 1000:.1f} ms max {max(lat) * 1000:.1f} ms")


def test_sigterm_with_requests_in_flight_loses_nothing(sup):
    from vllmgen.spec import load_spec
    from vllmgen.values import values_dict

    sup.wait_ready()
    grace = values_dict(load_spec(str(sup.spec_path)), ["standalone"])["standalone"]["terminationGracePeriodSeconds"]

    # "Endpoints": route to the pod until /readyz has been 503 for ENDPOINT_LAG_S.
    routable = threading.Event()
    routable.set()

    def endpoints():
        first_503 = None
        while routable.is_set():
            try:
                code = httpx.get(f"http://127.0.0.1:{sup.health_port}/readyz", timeout=1).status_code
            except httpx.TransportError:
                code = None
            if code != 200:
                first_503 = first_503 or time.monotonic()
                if time.monotonic() - first_503 >= ENDPOINT_LAG_S:
                    routable.clear()
            time.sleep(0.05)

    results, lock = [], threading.Lock()
    in_flight = [0]
    sigterm_at = {}

    def request():
        sent = time.monotonic()
        with lock:
            in_flight[0] += 1
        try:
            a = sup.completion(max_tokens=DRAIN_TOKENS, timeout=120)
            outcome = (a["choices"][0]["finish_reason"], a["usage"]["completion_tokens"])
        except Exception as exc:  # noqa: BLE001 - every failure counts
            outcome = ("error", repr(exc))
        with lock:
            in_flight[0] -= 1
            results.append((sent, outcome))

    clients = []

    def arrivals():
        """Open-loop traffic, as users send it: a new request every ARRIVAL_EVERY_S while the pod is routable."""
        while routable.is_set():
            t = threading.Thread(target=request)
            t.start()
            clients.append(t)
            time.sleep(ARRIVAL_EVERY_S)

    router = threading.Thread(target=endpoints)
    router.start()
    traffic = threading.Thread(target=arrivals)
    traffic.start()
    deadline = time.monotonic() + 30
    while in_flight[0] < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # mid-answer
    assert in_flight[0] >= 8
    sigterm_at["t"] = time.monotonic()
    at_signal = in_flight[0]
    sup.signal()
    traffic.join(timeout=grace + 30)
    for t in list(clients):
        t.join(timeout=grace + 30)
    router.join(timeout=5)
    code = sup.wait_exit(timeout=grace + 10)
    exited_after = time.monotonic() - sigterm_at["t"]

    failed = [r for r in results if r[1] != ("length", DRAIN_TOKENS)]
    after_signal = [r for r in results if r[0] > sigterm_at["t"]]
    print(f"\ndrain: {len(results)} requests, {at_signal} in flight at SIGTERM, {len(after_signal)} sent after it, "
          f"{len(failed)} failed or truncated; exit {code} after {exited_after:.1f} s (grace {grace} s)")
    assert not failed, failed[:5]
    assert after_signal, "the gated client sent nothing during the endpoint drain"
    assert code == 0
    assert exited_after < grace
    assert process_groups_alive(sup.vllm_pgid()) == []
    assert [e["phase"] for e in sup.events() if e["event"] == "phase"][-2:] == ["draining", "exited"]
