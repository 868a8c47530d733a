"""The supervisor's decisions and its health server, without vLLM: snapshots in, probe answers out."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from vllmgen.supervisor import state
from vllmgen.supervisor.health import HealthServer
from vllmgen.supervisor.monitor import models_lists, parse_sleep_metric
from vllmgen.supervisor.state import Phase, Snapshot, Store

NOW = 1000.0


def snap(**kw) -> Snapshot:
    base = dict(phase=Phase.READY, phase_since=NOW - 5, started_at=NOW - 60, process_alive=True, listening=True,
                health=200, model_listed=True, models_status=200, sleeping=False, last_ok=NOW - 0.1,
                last_poll=NOW - 0.1, ever_ready=True)
    base.update(kw)
    return Snapshot(**base)


def test_healthy_served_model_is_ready_live_and_started():
    s = snap()
    assert state.readiness(s, NOW) == (True, [])
    assert state.liveness(s, NOW) == (True, [])
    assert state.started(s)


def test_loading_is_not_ready_but_alive_and_not_started():
    s = snap(phase=Phase.LOADING, ever_ready=False, listening=False, health=None, model_listed=None,
             last_ok=None)
    ready, why = state.readiness(s, NOW)
    assert not ready and why == ["vLLM is still loading the model"]
    assert state.liveness(s, NOW) == (True, [])
    assert not state.started(s)


@pytest.mark.parametrize("change, reason", [
    (dict(draining=True, phase=Phase.DRAINING), "draining"),
    (dict(health=503, health_bad_since=NOW - 0.1), "/health answered 503"),
    (dict(model_listed=False), "not listed"),
    (dict(model_listed=False, models_status=401), "API key"),
    (dict(sleeping=True), "asleep"),
    (dict(listening=False, health=None), "does not accept connections"),
    (dict(last_poll=NOW - 10), "no fresh answer"),
    (dict(process_alive=False, phase=Phase.EXITED, reason="vLLM exited by itself with code 0"), "not running"),
])
def test_each_problem_makes_readyz_fail_with_its_reason(change, reason):
    ready, why = state.readiness(snap(**change), NOW)
    assert not ready
    assert any(reason in w for w in why), why


def test_busy_or_asleep_or_draining_pod_stays_alive():
    for change in (dict(sleeping=True), dict(draining=True, phase=Phase.DRAINING, listening=False, health=None),
                   dict(last_ok=NOW - 5)):
        assert state.liveness(snap(**change), NOW)[0], change


def test_engine_death_drops_readiness_first_then_liveness_once_confirmed():
    dead = snap(health=503, health_bad_since=NOW)
    assert not state.readiness(dead, NOW)[0]
    assert state.liveness(dead, NOW)[0]  # not yet confirmed
    live, why = state.liveness(dead, NOW + state.DEAD_CONFIRM_S)
    assert not live and "engine dead" in why[0]


def test_wedged_vllm_fails_liveness_after_the_wedge_window():
    s = snap(last_ok=NOW - state.WEDGED_AFTER_S - 1, health=None, listening=False)
    live, why = state.liveness(s, NOW)
    assert not live and "wedged" in why[0]


def test_exited_vllm_is_neither_live_nor_started():
    s = snap(process_alive=False, phase=Phase.EXITED)
    assert not state.liveness(s, NOW)[0]
    assert not state.started(s)


def test_sleep_state_from_metrics_text():
    awake = 'vllm:engine_sleep_state{engine="0",model_name="tiny",sleep_state="awake"} 1.0\n'
    asleep = awake.replace("1.0", "0.0") + 'vllm:engine_sleep_state{engine="0",sleep_state="weights_offloaded"} 1.0'
    assert parse_sleep_metric(awake) is False
    assert parse_sleep_metric(asleep) is True
    assert parse_sleep_metric("# no such metric\nvllm:num_requests_running 0\n") is None


def test_model_listing():
    assert models_lists({"data": [{"id": "x"}, {"id": "tiny"}]}, "tiny")
    assert not models_lists({"data": [{"id": "x"}]}, "tiny")
    assert not models_lists(["junk"], "tiny")


# --- the health server, talking HTTP to a store the test drives ---------------------------------------------
@pytest.fixture
def server():
    store = Store()
    store.update(phase=Phase.LOADING, process_alive=True)
    srv = HealthServer(store, 0, default_hold_s=2.0, hold_for=lambda t: max(0.0, t - 0.25), host="127.0.0.1")
    srv.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=10)
    yield store, client
    client.close()
    srv.stop()


def make_ready(store: Store) -> None:
    now = time.monotonic()
    store.update(listening=True, health=200, model_listed=True, last_ok=now, last_poll=now, ever_ready=True,
                 phase=Phase.READY)


def test_probes_while_loading(server):
    store, client = server
    assert client.get("/readyz").status_code == 503
    assert client.get("/livez").status_code == 200
    status = client.get("/status").json()
    assert status["phase"] == "loading" and status["started"] is False


def test_startupz_is_held_then_answers_200_as_soon_as_ready(server):
    store, client = server
    threading.Timer(0.5, make_ready, args=(store,)).start()
    t0 = time.monotonic()
    r = client.get("/startupz")
    elapsed = time.monotonic() - t0
    assert r.status_code == 200 and r.json()["started"] is True
    assert 0.45 <= elapsed < 1.5  # held across the load, released by the change, well before the 2 s hold


def test_startupz_answers_503_before_the_probe_timeout(server):
    store, client = server
    t0 = time.monotonic()
    r = client.get("/startupz", params={"timeout": "1"})
    elapsed = time.monotonic() - t0
    assert r.status_code == 503
    assert 0.7 <= elapsed < 1.0  # held for timeout - margin, answered before kubelet would give up


def test_startupz_does_not_hold_when_vllm_is_gone(server):
    store, client = server
    store.update(process_alive=False, phase=Phase.EXITED)
    t0 = time.monotonic()
    assert client.get("/startupz").status_code == 503
    assert time.monotonic() - t0 < 1.0


def test_ready_then_draining(server):
    store, client = server
    make_ready(store)
    assert client.get("/readyz").status_code == 200
    assert client.get("/startupz").status_code == 200
    store.update(draining=True, phase=Phase.DRAINING)
    r = client.get("/readyz")
    assert r.status_code == 503 and "draining" in r.json()["reasons"][0]
    assert client.get("/livez").status_code == 200


def test_bad_timeout_and_unknown_path(server):
    _, client = server
    assert client.get("/startupz", params={"timeout": "soon"}).status_code == 400
    assert client.get("/nope").status_code == 404


def test_held_startupz_does_not_delay_other_probes(server):
    store, client = server
    holder = threading.Thread(target=lambda: httpx.get(f"{client.base_url}/startupz", timeout=5))
    holder.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert client.get("/livez").status_code == 200
    assert time.monotonic() - t0 < 0.5
    make_ready(store)
    holder.join()


# --- the monitor's reading of vLLM's answers (vLLM's answers replayed through httpx's transport) --------------
class FakeProcess:
    def __init__(self):
        self.code = None

    def poll(self):
        return self.code


def replay(answers):
    """A transport answering from a list of {path: status | "refused"} rounds."""
    current = {}

    def handler(request):
        what = current.get(request.url.path, 404)
        if what == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/v1/models":
            return httpx.Response(what, json={"data": [{"id": "tiny"}]})
        if request.url.path == "/metrics":
            return httpx.Response(what, text='vllm:engine_sleep_state{sleep_state="awake"} 1.0\n')
        return httpx.Response(what)

    return current, httpx.Client(transport=httpx.MockTransport(handler), base_url="http://vllm")


def test_monitor_follows_loading_ready_engine_death_and_listener_close():
    from vllmgen.supervisor.monitor import Monitor

    store = Store()
    store.update(phase=Phase.LOADING, process_alive=True)
    proc = FakeProcess()
    mon = Monitor(store, proc, "http://vllm", "tiny")
    current, client = replay([])
    refused = {"/health": "refused", "/v1/models": "refused", "/metrics": "refused"}

    current.update(refused)
    s = mon.poll_once(client)
    assert s.phase is Phase.LOADING and not s.listening and state.liveness(s, time.monotonic())[0]

    current.update({"/health": 200, "/v1/models": 200, "/metrics": 200})
    s = mon.poll_once(client)
    assert s.phase is Phase.READY and s.ever_ready and state.readiness(s, time.monotonic())[0]

    current.update({"/health": 503})
    s = mon.poll_once(client)
    assert not state.readiness(s, time.monotonic())[0]
    current.update(refused)  # vLLM closes its listener on the way down: still dead, not "back to unknown"
    s = mon.poll_once(client)
    assert s.health == 503
    assert not state.liveness(s, time.monotonic() + state.DEAD_CONFIRM_S)[0]

    proc.code = 0  # and exits 0
    s = mon.poll_once(client)
    assert not s.process_alive and not state.liveness(s, time.monotonic())[0]


# --- LoRA adapters: readiness waits for every adapter in /v1/models -------------------------------------------

def test_adapters_not_listed_keep_readyz_503_naming_them():
    loading = snap(phase=Phase.LOADING, ever_ready=False, listening=False, health=None, model_listed=None,
                   adapters=("sql", "chat"), adapters_listed=None)
    ready, why = state.readiness(loading, NOW)
    assert not ready and "LoRA adapters not listed in /v1/models: sql, chat" in why
    ready, why = state.readiness(snap(adapters=("sql", "chat"), adapters_listed=("chat",)), NOW)
    assert not ready and why == ["LoRA adapters not listed in /v1/models: sql"]
    assert state.started(snap(adapters=("sql", "chat"), adapters_listed=("chat",)))  # the base model is served
    assert state.liveness(snap(adapters=("sql", "chat"), adapters_listed=()), NOW) == (True, [])


def test_every_adapter_listed_is_ready_and_status_shows_them():
    s = snap(adapters=("sql", "chat"), adapters_listed=("chat", "sql", "runtime-extra"))
    assert state.readiness(s, NOW) == (True, [])
    assert state.status(s, NOW)["vllm"]["adapters"] == {"expected": ["sql", "chat"],
                                                       "served": ["chat", "sql", "runtime-extra"], "missing": []}
    assert "adapters" not in state.status(snap(), NOW)["vllm"]  # no adapters, nothing to show


def test_listed_ids_reads_base_model_and_adapters():
    from vllmgen.supervisor.monitor import listed_ids

    body = {"object": "list", "data": [{"id": "tiny", "root": "/m"}, {"id": "sql", "parent": "tiny"}, {"x": 1}]}
    assert listed_ids(body) == ("tiny", "sql")
    assert listed_ids(["junk"]) == () and listed_ids({"data": [None]}) == ()
