"""`vllmgen serve` leaves nothing behind, on the real process tree (a stand-in vLLM that ignores SIGTERM and
leaves a setsid() child): a SIGKILLed supervisor takes vLLM's API server with it and a restarted one reaps the
rest; SIGHUP stops orderly; a descendant outside vLLM's group dies with the tree; an unusable
VLLMGEN_VLLM_COMMAND exits 2; the drain never outlasts the drain window; idle connections cannot starve probes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.vllm_server import REPO, free_port, tiny_spec
from vllmgen.supervisor import process

STANDIN = f"{sys.executable} {REPO / 'tests' / 'support' / 'standin_vllm.py'}"
#: Generous bounds: these tests must pass while other processes use every core.
SETTLE_S = 60


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def _wait(predicate, timeout: float = SETTLE_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class Sup:
    def __init__(self, tmp_path: Path, spec: dict, env: dict | None = None):
        self.spec_path = tmp_path / "spec.json"
        self.spec_path.write_text(json.dumps(spec))
        self.health_port = spec["probes"]["healthPort"]
        self.vllm_port = spec["routing"]["servicePort"]
        self.pidfile = tmp_path / "child.pid"
        self.engine_pidfile = tmp_path / "engine.pid"
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "cli"), process.COMMAND_ENV: STANDIN,
                    "STANDIN_CHILD_PIDFILE": str(self.pidfile), "STANDIN_ENGINE_PIDFILE": str(self.engine_pidfile),
                    **(env or {})}
        self.popen: subprocess.Popen | None = None
        self.stderr_path = tmp_path / "stderr.log"

    def start(self) -> "Sup":
        self.pidfile.unlink(missing_ok=True)
        self.popen = subprocess.Popen([sys.executable, "-m", "vllmgen", "serve", "--spec", str(self.spec_path)],
                                      env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.stderr_path, "w"),
                                      start_new_session=True)
        return self

    def get(self, path: str) -> int | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.health_port}{path}", timeout=5).status_code
        except httpx.HTTPError:
            return None

    def events(self) -> list[dict]:
        return [json.loads(l) for l in self.stderr_path.read_text().splitlines() if l.startswith("{")]

    def started(self) -> dict:
        assert _wait(lambda: any(e["event"] == "vllm-started" for e in self.events())), self.stderr_path.read_text()
        return [e for e in self.events() if e["event"] == "vllm-started"][-1]

    def child_pid(self) -> int:
        assert _wait(lambda: self.pidfile.exists() and self.pidfile.read_text().strip()), "stand-in never started"
        return int(self.pidfile.read_text())

    def engine_pid(self) -> int:
        """The stand-in's EngineCore-like child: in vLLM's group, blind to its parent's death."""
        path = self.engine_pidfile
        assert _wait(lambda: path.exists() and path.read_text().strip()), "stand-in never started"
        return int(path.read_text())

    def guards(self) -> list[int]:
        """The supervisor's tree guard (a child carrying the tree's mark on its command line), if any."""
        mark = f"{process.TREE_MARK_ENV}={process.tree_mark(self.vllm_port, self.popen.pid)}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and mark in (entry / "cmdline").read_bytes().split(b"\0") and \
                        int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == self.popen.pid:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def close(self):
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


@pytest.fixture
def sup(tmp_path):
    started = []

    def make(env=None, **kw):
        spec = tiny_spec(tmp_path, free_port(), free_port(), **kw)
        s = Sup(tmp_path, spec, env)
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()


def _cleanup(*pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_killed_supervisor_and_guard_take_vllm_with_them_and_a_restart_reaps_the_rest(sup):
    """The supervisor and its tree guard SIGKILLed at once (the OOM killer could): the kernel's death signal
    still ends vLLM's API server, and a restarted supervisor ends what was left of the tree."""
    s = sup().start()
    vllm_pid, child, engine = s.started()["pid"], s.child_pid(), s.engine_pid()
    assert _wait(lambda: s.get("/readyz") == 200)
    (guard,) = s.guards()
    os.kill(guard, signal.SIGKILL)
    os.kill(s.popen.pid, signal.SIGKILL)
    s.popen.wait(10)
    try:
        # the kernel's parent-death signal ends vLLM's API server: its port is free again
        assert _wait(lambda: not _alive(vllm_pid)), "vLLM outlived its supervisor"
        assert _alive(child) and _alive(engine)  # its children escape the death signal...
        s.start()  # ...until a restarted supervisor reaps what was left on its port
        assert _wait(lambda: any(e["event"] == "reaped" for e in s.events())), s.stderr_path.read_text()
        assert _wait(lambda: not _alive(child) and not _alive(engine))
        assert _wait(lambda: s.get("/readyz") == 200), s.stderr_path.read_text()
    finally:
        _cleanup(vllm_pid, child, engine)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGQUIT, signal.SIGUSR1])
def test_no_process_of_the_tree_outlives_a_supervisor_killed_by_a_signal(sup, sig):
    """SIGKILL cannot be handled, and SIGQUIT and SIGUSR1 end a Python process without its cleanup: the
    death signal ended vLLM's API server only, and its EngineCore-like child (and a setsid() one) lived on.
    The tree's guard now ends every process carrying the tree's mark."""
    s = sup().start()
    vllm_pid, child, engine = s.started()["pid"], s.child_pid(), s.engine_pid()
    assert _wait(lambda: s.get("/readyz") == 200)
    guards = s.guards()
    os.kill(s.popen.pid, sig)
    assert s.popen.wait(SETTLE_S) == -sig
    try:
        for pid, name in ((vllm_pid, "vLLM's API server"), (engine, "the EngineCore-like child"),
                          (child, "the setsid() child"), *((g, "the tree guard") for g in guards)):
            assert _wait(lambda: not _alive(pid)), f"{name} outlived a supervisor killed by {sig.name}"
    finally:
        _cleanup(vllm_pid, child, engine, *guards)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_ends_the_whole_tree_even_outside_vllms_group(sup, sig):
    s = sup(endpoint_drain_s=1, shutdown_timeout_s=2).start()
    vllm_pid, child = s.started()["pid"], s.child_pid()
    assert _wait(lambda: os.getpgid(child) != s.started()["pgid"])  # it left vLLM's process group
    assert _wait(lambda: s.get("/readyz") == 200)
    s.popen.send_signal(sig)
    assert s.popen.wait(SETTLE_S) == 0, s.stderr_path.read_text()
    try:
        assert not _alive(vllm_pid) and not _alive(child)
        (exit_event,) = [e for e in s.events() if e["event"] == "exit"]
        assert exit_event["reason"].startswith(signal.Signals(sig).name)
    finally:
        _cleanup(vllm_pid, child)


def test_the_drain_never_outlasts_the_drain_window(sup):
    """vLLM never idles (/load stays 1) and ignores SIGTERM: the supervisor still exits inside the drain window
    (= terminationGracePeriodSeconds), measured from its own log of the signal."""
    s = sup(endpoint_drain_s=1, shutdown_timeout_s=2).start()
    vllm_pid, child = s.started()["pid"], s.child_pid()
    assert _wait(lambda: s.get("/readyz") == 200)
    t0 = time.monotonic()
    s.popen.send_signal(signal.SIGTERM)
    s.popen.wait(SETTLE_S)
    took = time.monotonic() - t0
    try:
        window = [e for e in s.events() if e["event"] == "phase" and "drainWindowSeconds" in e][0]
        exit_event = [e for e in s.events() if e["event"] == "exit"][0]
        # the supervisor's own account from the signal to its exit line; the wall clock as a coarse bound
        assert exit_event["secondsSinceSignal"] <= window["drainWindowSeconds"], exit_event
        assert took < window["drainWindowSeconds"] + SETTLE_S
        assert not _alive(vllm_pid) and not _alive(child)
    finally:
        _cleanup(vllm_pid, child)


def test_an_unbalanced_quote_in_the_vllm_command_exits_2(sup):
    s = sup(env={process.COMMAND_ENV: "python3 -c 'import sys"})
    s.start()
    assert s.popen.wait(SETTLE_S) == 2
    (exit_event,) = [e for e in s.events() if e["event"] == "exit"]
    assert process.COMMAND_ENV in exit_event["reason"] and "quotation" in exit_event["reason"]
    assert "Traceback" not in s.stderr_path.read_text()


def test_idle_connections_cannot_starve_the_probes(sup):
    s = sup().start()
    vllm_pid, child = s.started()["pid"], s.child_pid()
    assert _wait(lambda: s.get("/readyz") == 200)
    rss_before = _rss_kib(s.popen.pid)
    idle = [socket.create_connection(("127.0.0.1", s.health_port)) for _ in range(300)]
    try:
        time.sleep(1)
        assert s.get("/readyz") == 200  # a probe still gets its answer
        assert _rss_kib(s.popen.pid) - rss_before < 64 * 1024, "idle connections grow the supervisor's memory"
    finally:
        for c in idle:
            c.close()
        _cleanup(vllm_pid, child)


class SlowClients:
    """`count` connections to a port that never finish a request: half send nothing, half trickle one header
    line each round (each line used to restart the server's read timeout). One closed by the server is opened
    again, so the pressure holds for as long as they run."""

    def __init__(self, port: int, count: int):
        self.port = port
        self.socks = [self._open() for _ in range(count)]
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.setblocking(False)
        return s

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.2):
            n += 1
            for i, s in enumerate(self.socks):
                try:
                    if i % 2:
                        s.send(b"GET /readyz HTTP/1.1\r\n" if n == 1 else f"X-Slow-{n}: 1\r\n".encode())
                    elif s.recv(1, socket.MSG_PEEK) == b"":
                        raise ConnectionError  # closed by the server
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    try:
                        self.socks[i] = self._open()
                        self.reopened += 1
                    except OSError:
                        pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        for s in self.socks:
            s.close()


def test_hundreds_of_slow_clients_cannot_black_out_the_probes(sup):
    """600 connections that never finish their request (530 used to refuse every probe: the server was full and
    closed each new connection at once): each probe still gets its answer while they hold on."""
    s = sup().start()
    vllm_pid, child = s.started()["pid"], s.child_pid()
    assert _wait(lambda: s.get("/readyz") == 200)
    try:
        with SlowClients(s.health_port, 600):
            answers = {path: [s.get(path) for _ in range(5)] for path in ("/readyz", "/livez", "/startupz")}
        assert answers == {path: [200] * 5 for path in answers}, answers
    finally:
        _cleanup(vllm_pid, child)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
