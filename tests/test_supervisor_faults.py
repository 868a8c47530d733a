"""Faults on the real vLLM server, one short-lived server each: engine death, the API server killed,
SIGTERM while the model loads, vLLM rejecting its arguments. Each ends with one reason, the right exit
code, and no process of vLLM's group left behind."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from tests.support.vllm_server import TINY_EXTRA_ARGS, process_groups_alive
from vllmgen.supervisor import serve as serve_mod

pytestmark = pytest.mark.vllm

#: vLLM exits by itself 2-5 s after its engine dies; the supervisor must be gone well within this.
EXIT_AFTER_FAULT_S = 30


def probe(sup, path):
    try:
        return sup.get(path, timeout=2).status_code
    except httpx.TransportError:
        return None


def exit_reason(sup) -> str:
    return sup.event("exit")["reason"]


def test_engine_death_turns_readiness_then_liveness_false_and_exits_nonzero(start_supervisor):
    sup = start_supervisor("engine-death")
    sup.wait_ready()
    pgid = sup.vllm_pgid()
    engine = sup.engine_core_pid()
    assert engine and engine != pgid
    t_kill = time.monotonic()
    os.kill(engine, signal.SIGKILL)
    first_false = {}
    while sup.popen.poll() is None and time.monotonic() - t_kill < EXIT_AFTER_FAULT_S:
        for path in ("/readyz", "/livez"):
            code = probe(sup, path)
            if code is not None and code != 200:
                first_false.setdefault(path, time.monotonic() - t_kill)
        time.sleep(0.02)
    code = sup.wait_exit(timeout=10)
    print(f"\nengine killed: /readyz false after {first_false.get('/readyz')} s, /livez false after "
          f"{first_false.get('/livez')} s, supervisor exit {code} after {time.monotonic() - t_kill:.1f} s")
    assert code == serve_mod.EXIT_VLLM_FAILED
    assert "/readyz" in first_false and "/livez" in first_false
    assert first_false["/readyz"] <= first_false["/livez"]
    assert "engine died" in exit_reason(sup) or "exited by itself" in exit_reason(sup)
    assert process_groups_alive(pgid) == []


def test_killing_the_api_server_leaves_no_orphans(start_supervisor):
    # This server also runs with an API key: /v1/models then answers 401 without it, and /readyz must
    # still see the model (the supervisor authenticates its own polls).
    sup = start_supervisor("api-kill", env={"VLLM_API_KEY": "test-key-not-a-secret"})
    sup.wait_ready()
    assert httpx.get(f"http://127.0.0.1:{sup.vllm_port}/v1/models", timeout=10).status_code == 401
    assert sup.get("/status").json()["vllm"]["modelListed"] is True
    pgid = sup.vllm_pgid()
    assert len(process_groups_alive(pgid)) >= 3  # API server, EngineCore, worker (+ resource tracker)
    os.kill(pgid, signal.SIGKILL)  # the API server is the group leader
    code = sup.wait_exit(timeout=EXIT_AFTER_FAULT_S)
    assert code == serve_mod.EXIT_VLLM_FAILED
    assert "exited by itself with code -9 after serving" in exit_reason(sup)
    # Without the group kill, EngineCore and worker survive the API server for 40 s and more.
    assert process_groups_alive(pgid) == []


def test_sigterm_while_loading_exits_within_its_grace_without_orphans(start_supervisor):
    sup = start_supervisor("loading-term")
    pgid = sup.vllm_pgid()
    # Wait until the engine process exists: from here vLLM swallows SIGTERM until its engine is up.
    deadline = time.monotonic() + 120
    while sup.engine_core_pid() is None and time.monotonic() < deadline:
        assert sup.popen.poll() is None, sup.tail()
        time.sleep(0.2)
    assert sup.get("/readyz").status_code == 503 and sup.get("/livez").status_code == 200
    t0 = time.monotonic()
    sup.signal(signal.SIGTERM)
    code = sup.wait_exit(timeout=60)
    took = time.monotonic() - t0
    print(f"\nSIGTERM while loading: exit {code} after {took:.1f} s ({exit_reason(sup)})")
    assert code == 0
    assert took < serve_mod.LOADING_TERM_GRACE_S + 5
    assert process_groups_alive(pgid) == []


def test_vllm_rejecting_its_arguments_ends_with_its_reason(start_supervisor):
    sup = start_supervisor("bad-arg", extra_args=[*TINY_EXTRA_ARGS, "--no-such-flag"])
    code = sup.wait_exit(timeout=180)
    assert code == serve_mod.EXIT_VLLM_FAILED
    reason = exit_reason(sup)
    assert "while loading the model" in reason and "--no-such-flag" in reason
    assert process_groups_alive(sup.vllm_pgid()) == []


def test_a_sigkilled_supervisor_leaves_no_process_of_vllms_tree(start_supervisor):
    """SIGKILL cannot be handled: the kernel's death signal ends vLLM's API server, and without the supervisor's
    tree guard the EngineCore and its worker lived on (nothing in vLLM ends an EngineCore whose API server is
    gone)."""
    sup = start_supervisor("sigkill")
    sup.wait_ready()
    pgid = sup.vllm_pgid()
    engine = sup.engine_core_pid()
    assert engine and engine != pgid and len(process_groups_alive(pgid)) >= 2
    sup.signal(signal.SIGKILL)
    assert sup.wait_exit(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + EXIT_AFTER_FAULT_S
    while process_groups_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process_groups_alive(pgid) == []
