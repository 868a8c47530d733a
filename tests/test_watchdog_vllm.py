"""The serving watchdog on the real vLLM server (CPU build, tiny model), one server for the whole module:

1. saturated with more long requests than the machine serves quickly: no watchdog verdict, ever;
2. engine core frozen (SIGSTOP on `VLLM::EngineCore`) while idle: the canary catches it (/readyz 503 with the
   reason), and once it runs again the pod is Ready again;
3. engine core frozen with requests in flight: /readyz 503 within stallSeconds + 2 s (as the supervisor
   measured it), then the restart verdict: the supervisor exits 1 with the reason.

vLLM's /health answers 200 through all of it (vllm-project/vllm#39863). Sleep and drain are unit-tested
(tests/test_watchdog.py); the freeze is always undone in teardown.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from tests.support.vllm_server import (Supervisor, cpu_env, free_port, running_requests, start_traffic,
                                       tiny_spec, traffic_result)
from vllmgen.supervisor import watchdog

pytestmark = pytest.mark.vllm

#: Windows for this module's server: short, so the module takes a few minutes.
STALL_S = 10
RESTART_S = 30
CANARY_IDLE_S = 5
#: The issue's promise: NotReady within stallSeconds + this of the freeze, as the supervisor measured it.
PROMPTNESS_S = 2
#: Bound on the test's own wait for a verdict (a hang only): the test polls from a process that shares the
#: busy cores with vLLM and the supervisor.
WAIT_S = 120
#: Requests in flight at the freeze: enough that the engine holds them for tens of seconds (its request gauges in
#: /metrics are read between steps, so a short burst may come and go between two reads).
FROZEN_CLIENTS = 32
#: Saturation: clients x tokens per request, for this long.
SATURATE_CLIENTS, SATURATE_TOKENS, SATURATE_S = 48, 400, 60


@pytest.fixture(scope="module")
def sup(tiny_model, vllm_cache, tmp_path_factory):
    spec = tiny_spec(tiny_model, free_port(), free_port(),
                     serving={"stallSeconds": STALL_S, "restartSeconds": RESTART_S,
                              "canaryIdleSeconds": CANARY_IDLE_S})
    s = Supervisor(tmp_path_factory.mktemp("watchdog"), spec, cpu_env(vllm_cache)).start()
    s.frozen = None
    try:
        s.wait_ready()
        yield s
    finally:
        thaw(s)
        s.close()


def freeze(s: Supervisor) -> float:
    pid = s.engine_core_pid()
    assert pid, s.tail()
    os.kill(pid, signal.SIGSTOP)
    s.frozen = pid
    return time.monotonic()


def thaw(s: Supervisor) -> None:
    if getattr(s, "frozen", None):
        try:
            os.kill(s.frozen, signal.SIGCONT)
        except ProcessLookupError:
            pass
        s.frozen = None


def verdicts(s: Supervisor, *names: str) -> list[dict]:
    return [e for e in s.events() if e.get("event") == "watchdog" and e.get("verdict") in names]


def wait_for(pred, what: str, s: Supervisor, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen in {timeout} s: {s.tail()}")


def engine_requests(s: Supervisor) -> int:
    """Requests the engine reports running or waiting (its gauges in /metrics, what the watchdog reads)."""
    parsed = watchdog.parse_metrics(httpx.get(f"http://127.0.0.1:{s.vllm_port}/metrics", timeout=10).text)
    return parsed[1] if parsed else 0


def readyz(s: Supervisor):
    try:
        return s.get("/readyz", timeout=10)
    except httpx.TransportError:
        return None


def test_saturated_engine_is_never_called_stalled(sup):
    traffic = start_traffic("saturate", f"http://127.0.0.1:{sup.vllm_port}", str(SATURATE_CLIENTS),
                            str(SATURATE_S), str(SATURATE_TOKENS))
    not_ready = []
    try:
        end = time.monotonic() + SATURATE_S
        while time.monotonic() < end and traffic.poll() is None:
            r = readyz(sup)
            if r is not None and r.status_code != 200:
                not_ready.append(r.json()["reasons"])
            time.sleep(0.5)
        result = traffic_result(traffic, timeout=SATURATE_S + 300)
    finally:
        if traffic.poll() is None:
            traffic.kill()
    assert result["completions"] > 0, result
    assert not verdicts(sup, "stalled", "wedged"), verdicts(sup, "stalled", "wedged")
    assert not [r for r in not_ready if any("engine" in why for why in r)], not_ready
    w = sup.get("/status").json()["watchdog"]
    assert w["verdicts"] == 0 and w["steps"] > 0, w


def test_engine_frozen_while_idle_is_caught_by_the_canary(sup):
    wait_for(lambda: running_requests(sup.vllm_port) == 0, "an idle vLLM", sup)
    seen = len(verdicts(sup, "stalled"))
    frozen_at = freeze(sup)
    try:
        r = wait_for(lambda: (x := readyz(sup)) is not None and x.status_code == 503 and x, "/readyz 503", sup)
        not_ready_after = time.monotonic() - frozen_at
        watch = sup.get("/status").json()["watchdog"]
        health = httpx.get(f"http://127.0.0.1:{sup.vllm_port}/health", timeout=10).status_code
    finally:
        thaw(sup)  # before the restart window: the engine runs again and the pod must turn Ready by itself
    assert any("canary" in why for why in r.json()["reasons"]), r.json()
    assert watch["verdict"] == "stalled" and watch["canaries"]["out"], watch
    assert health == 200  # vLLM's own /health never noticed
    event = wait_for(lambda: verdicts(sup, "stalled")[seen:], "a stalled verdict in the log", sup)[0]
    assert "canary" in event["reason"] and event["canaryOut"], event
    # the canary waits up to canaryIdleSeconds for an idle stretch, then stallSeconds for its answer
    assert event["secondsPending"] <= STALL_S + PROMPTNESS_S, event
    print(f"\nfrozen while idle: /readyz 503 {not_ready_after:.1f} s after the freeze "
          f"(canaryIdleSeconds {CANARY_IDLE_S} + stallSeconds {STALL_S})")
    wait_for(lambda: (x := readyz(sup)) is not None and x.status_code == 200, "Ready again after SIGCONT", sup)
    assert sup.popen.poll() is None and not verdicts(sup, "wedged")


def test_engine_frozen_with_requests_in_flight_is_not_ready_then_restarted(sup):
    # closed-loop clients in a process of their own (threads here once reached vLLM one at a time); frozen once
    # the engine itself reports them (a freeze before that is the idle case: the canary's)
    traffic = start_traffic("saturate", f"http://127.0.0.1:{sup.vllm_port}", str(FROZEN_CLIENTS),
                            str(RESTART_S + WAIT_S), str(SATURATE_TOKENS))
    try:
        frozen_in_flight(sup)
    finally:
        traffic.kill()
        traffic.communicate()


def frozen_in_flight(sup: Supervisor) -> None:
    wait_for(lambda: engine_requests(sup) >= 2, "requests in the engine", sup)
    seen = len(verdicts(sup, "stalled"))
    frozen_at = freeze(sup)
    r = wait_for(lambda: (x := readyz(sup)) is not None and x.status_code == 503 and x, "/readyz 503", sup)
    not_ready_after = time.monotonic() - frozen_at
    assert any("engine stalled" in why and "request(s) in the engine" in why for why in r.json()["reasons"]), r.json()
    event = wait_for(lambda: verdicts(sup, "stalled")[seen:], "a stalled verdict in the log", sup)[0]
    assert event["requestsInEngine"] >= 1 and event["secondsPending"] <= STALL_S + PROMPTNESS_S, event
    status = sup.get("/status").json()
    assert status["watchdog"]["verdict"] == "stalled" and status["watchdog"]["requestsInEngine"] >= 1, status
    code = sup.wait_exit(timeout=RESTART_S + WAIT_S)
    exited_after = time.monotonic() - frozen_at
    assert code == 1, sup.tail()
    wedged = verdicts(sup, "wedged")
    assert wedged and wedged[0]["secondsPending"] >= RESTART_S, wedged
    exit_event = sup.event("exit")
    assert "engine wedged" in exit_event["reason"], exit_event
    assert exit_event["watchdog"]["secondsPending"] <= RESTART_S + PROMPTNESS_S, exit_event
    print(f"\nfrozen with {event['requestsInEngine']} request(s) in the engine: /readyz 503 seen "
          f"{not_ready_after:.1f} s after the freeze (stallSeconds {STALL_S}), supervisor exited 1 "
          f"{exited_after:.1f} s after it (restartSeconds {RESTART_S})")
