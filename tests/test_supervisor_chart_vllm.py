"""The supervisor the chart carries, on the real vLLM server, where only vLLM and what vLLM depends on can be
imported (no vllmgen, no ruamel.yaml: the official vLLM image's situation).

The chart is rendered through the real Helm engine from `vllmgen values`; the files its ConfigMaps mount (the
zipapp, the spec as JSON) are laid out as the kubelet would, and the container's own command line runs them with
this interpreter started without site-packages (tests/support/vllm_only.py). One server goes loading -> Ready
behind a held /startupz -> a real completion -> SIGTERM with requests in flight (0 failed or truncated); a second
one loses its engine and /readyz says so. Tests run in file order."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import pytest

from tests import chartcheck as cc
from tests.chartcheck import container, pod_spec, workloads
from tests.support import vllm_only
from tests.support.vllm_server import (START_TIMEOUT_S, Supervisor, cpu_env, free_port, process_groups_alive,
                                      start_traffic, tiny_spec, traffic_result, wait_in_flight)
from tests.test_supervisor_vllm import (ARRIVAL_EVERY_S, CLOSED_LOOP_CLIENTS, DRAIN_TOKENS, ENDPOINT_DRAIN_S,
                                        ENDPOINT_LAG_S, MIN_IN_FLIGHT, STARTUP_PROBE_TIMEOUT_S)

pytestmark = pytest.mark.vllm

#: vLLM exits by itself 2-5 s after its engine dies; the supervisor must be gone well within this.
EXIT_AFTER_FAULT_S = 30


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return vllm_only.build(tmp_path_factory.mktemp("vllm-only") / "site")


def as_deployed(spec: dict, root) -> tuple[list[str], dict, int]:
    """The chart's pod for `spec`: (the server container's command line with the mounted files laid out under
    `root`, the files, terminationGracePeriodSeconds)."""
    import helm_python as helm
    from vllmgen import spec as specmod, values

    vals = helm.values_from_yaml(values.render(specmod.effective(spec), ["standalone"]))
    objs = cc.render_objects(vals)
    (wl,) = workloads(objs)
    pod = pod_spec(wl)
    server = container(pod, "vllm")
    assert server["image"].startswith("vllm/vllm-openai:") and server["command"][0] == "python3"
    local = {}
    for path, data in cc.mounted_files(objs, pod, server).items():
        local[path] = root / path.lstrip("/")
        local[path].parent.mkdir(parents=True, exist_ok=True)
        local[path].write_bytes(data)
    argv = [str(local.get(a, a)) for a in server["command"][1:] + server["args"]]
    return argv, local, pod["terminationGracePeriodSeconds"]


def start(name: str, site, tiny_model, vllm_cache, tmp_path_factory, **kw) -> tuple[Supervisor, int]:
    workdir = tmp_path_factory.mktemp(name)
    spec = tiny_spec(tiny_model, free_port(), free_port(), **kw)
    argv, _, grace = as_deployed(spec, workdir / "pod")
    sup = Supervisor(workdir, spec, vllm_only.environment(site, {**os.environ, **cpu_env(vllm_cache)}),
                     argv=[*vllm_only.argv(), *argv])
    return sup.start(), grace


@pytest.fixture(scope="module")
def served(site, tiny_model, vllm_cache, tmp_path_factory):
    sup, grace = start("chart-sup", site, tiny_model, vllm_cache, tmp_path_factory, endpoint_drain_s=ENDPOINT_DRAIN_S,
                       shutdown_timeout_s=30)
    sup.wait_listening()
    yield sup, grace
    sup.close()


def test_the_environment_has_vllm_but_neither_vllmgen_nor_ruamel(site, tmp_path):
    code = ("import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in "
            "('vllm', 'httpx', 'jsonschema', 'typer', 'vllmgen', 'ruamel')}))")
    res = subprocess.run([*vllm_only.argv(), "-c", code], env=vllm_only.environment(site), cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == ('{"vllm": true, "httpx": true, "jsonschema": true, "typer": true, '
                                  '"vllmgen": false, "ruamel": false}'), res.stderr


def test_loading_then_ready_behind_a_held_startup_probe(served):
    sup, _ = served
    assert sup.get("/readyz").status_code == 503
    assert sup.get("/livez").status_code == 200
    assert sup.get("/status").json()["phase"] in ("starting", "loading")
    held = []
    while True:
        t0 = time.monotonic()
        r = sup.get("/startupz", params={"timeout": STARTUP_PROBE_TIMEOUT_S}, timeout=STARTUP_PROBE_TIMEOUT_S + 5)
        if r.status_code == 200:
            break
        held.append(time.monotonic() - t0)
        assert sup.popen.poll() is None, sup.tail()
        assert len(held) * STARTUP_PROBE_TIMEOUT_S < START_TIMEOUT_S, f"vLLM did not load within {START_TIMEOUT_S} s"
    ready_after = time.monotonic() - sup.started_at
    # every 503 was held about the whole probe timeout: one request per period, never a busy loop
    assert all(took > STARTUP_PROBE_TIMEOUT_S - 1 for took in held), held
    assert sup.get("/readyz").json() == {"ready": True, "reasons": []}
    answer = sup.completion(max_tokens=16)
    assert answer["usage"]["completion_tokens"] == 16
    started = sup.event("vllm-started")
    assert "-m" in started["command"] and "--enable-server-load-tracking" in started["command"]
    print(f"\nchart-delivered supervisor: Ready {ready_after:.1f} s after start ({len(held)} held /startupz 503)")


def test_sigterm_with_requests_in_flight_loses_nothing(served):
    sup, grace = served
    sup.wait_ready()
    traffic = start_traffic("gated", f"http://127.0.0.1:{sup.vllm_port}", f"http://127.0.0.1:{sup.health_port}/readyz",
                            str(ARRIVAL_EVERY_S), str(DRAIN_TOKENS), str(ENDPOINT_LAG_S), str(CLOSED_LOOP_CLIENTS))
    at_signal = wait_in_flight(traffic, sup.vllm_port, MIN_IN_FLIGHT)
    t_sig = time.monotonic()
    sup.signal()
    time.sleep(0.5)
    assert sup.get("/readyz").status_code == 503
    assert sup.get("/livez").status_code == 200
    # a request the endpoints still route after SIGTERM, within the endpoint drain, is served in full
    late_sent = time.monotonic() - t_sig
    late = sup.completion(max_tokens=DRAIN_TOKENS)
    assert late_sent < ENDPOINT_DRAIN_S and late["usage"]["completion_tokens"] == DRAIN_TOKENS
    result = traffic_result(traffic, timeout=grace + 60)
    code = sup.wait_exit(timeout=grace + 10)
    exited_after = time.monotonic() - t_sig
    requests = result["requests"]
    failed = [r for r in requests if r["status"] != 200 or r["finish"] != "length" or r["tokens"] != DRAIN_TOKENS]
    print(f"\nchart-delivered drain: {len(requests)} requests, {at_signal} running at SIGTERM, {len(failed)} failed "
          f"or truncated; exit {code} after {exited_after:.1f} s (terminationGracePeriodSeconds {grace})")
    assert at_signal >= MIN_IN_FLIGHT
    assert not failed, failed[:5]
    assert code == 0 and exited_after < grace
    assert process_groups_alive(sup.vllm_pgid()) == []


def test_engine_death_shows_on_readyz_and_ends_the_pod(site, tiny_model, vllm_cache, tmp_path_factory):
    sup, _ = start("chart-sup-death", site, tiny_model, vllm_cache, tmp_path_factory)
    try:
        ready_after = sup.wait_ready()
        pgid = sup.vllm_pgid()
        engine = sup.engine_core_pid()
        assert engine and engine != pgid
        t_kill = time.monotonic()
        os.kill(engine, signal.SIGKILL)
        readyz_false = None
        while sup.popen.poll() is None and time.monotonic() - t_kill < EXIT_AFTER_FAULT_S:
            try:
                if sup.get("/readyz", timeout=2).status_code == 503 and readyz_false is None:
                    readyz_false = time.monotonic() - t_kill
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        code = sup.wait_exit(timeout=10)
        print(f"\nchart-delivered engine death: Ready after {ready_after:.1f} s; /readyz 503 {readyz_false} s after "
              f"the kill; exit {code} after {time.monotonic() - t_kill:.1f} s")
        assert readyz_false is not None
        assert code == 1
        assert "engine died" in sup.event("exit")["reason"] or "exited by itself" in sup.event("exit")["reason"]
        assert process_groups_alive(pgid) == []
    finally:
        sup.close()
