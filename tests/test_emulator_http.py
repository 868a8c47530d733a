"""Live mode's HTTP client against a loopback server that records every request head: it must send what kubelet
sends (pkg/probe/http request.go `newProbeRequest` and `v1HeaderToHTTPHeader`, through Go's net/http with
keep-alives and compression disabled) and treat redirects (`RedirectChecker`), stalled bodies and the body
limit (`DoHTTPProbe`, `runProbeWithRetries`) as kubelet does. Broken answers reach the verdict as probe failures
through the real command (`python -m vllmgen probe-check`)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.values_files import complete_text
from vllmgen.emulator import httpprobe

#: Go's Request.write for kubelet's request with no probe headers (request.go defaults, transport without
#: keep-alives or compression): Host, User-Agent, the rest sorted, Connection.
KUBE_AGENT = re.compile(r"kube-probe/\d+\.\d+")
#: How long the fake server holds a stalled answer at most (well above every probe timeout here).
HOLD_S = 8.0


class RecordingServer:
    """A loopback HTTP/1.1 server that records each request's head and answers by path (see `_answer`)."""

    def __init__(self, other_port: int | None = None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.other_port = other_port
        self.heads: list[list[str]] = []
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            self.heads.append(lines)
            self._answer(conn, lines[0].split(" ")[1])

    def _answer(self, conn: socket.socket, path: str):
        def send(status: str, headers: str = "", body: bytes = b"") -> None:
            conn.sendall(f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body)

        def hold() -> None:
            self._stop.wait(HOLD_S)

        if path in ("/ok", "/hdr"):
            send("200 OK", body=b"ok")
        elif path == "/503":
            send("503 Service Unavailable")
        elif path == "/redir-rel":
            send("302 Found", "Location: /ok\r\n")
        elif path == "/redir-port":
            send("302 Found", f"Location: http://127.0.0.1:{self.other_port}/ok\r\n")
        elif path == "/redir-other":
            send("302 Found", "Location: http://probe-target.invalid/ok\r\n")
        elif path == "/loop":
            send("302 Found", "Location: /loop\r\n")
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            send("302 Found", f"Location: /chain/{n - 1}\r\n") if n else send("200 OK")
        elif path == "/stall":  # the headers and a bit of the body, then nothing
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            hold()
        elif path == "/big":  # more than kubelet reads (10 KiB), then nothing
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 12288)
            hold()
        elif path == "/nohttp":
            conn.sendall(b"hello\r\n")
        elif path == "/switch":
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        elif path == "/reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            send("404 Not Found")

    def requests_to(self, path: str) -> list[list[str]]:
        return [h for h in self.heads if h[0].split(" ")[1] == path]

    def close(self):
        self._stop.set()
        self.sock.close()


@pytest.fixture
def servers():
    other = RecordingServer()
    main = RecordingServer(other_port=other.port)
    yield main, other
    main.close()
    other.close()


def probe(url: str, headers=(), timeout: float = 2.0, attempts: int = httpprobe.PROBE_ATTEMPTS):
    async def go():
        prober = httpprobe.Prober()
        try:
            return await prober.probe(url, tuple(headers), timeout, attempts)
        finally:
            await prober.aclose()

    return asyncio.run(go())


def test_request_line_and_headers_are_kubelets(servers):
    srv, _ = servers
    url = f"http://127.0.0.1:{srv.port}/hdr"
    got, _ = probe(url)
    assert got.success is True
    head = srv.requests_to("/hdr")[-1]
    assert head[0] == "GET /hdr HTTP/1.1"
    assert head[1:] == [f"Host: 127.0.0.1:{srv.port}", head[2], "Accept: */*", "Connection: close"]
    assert KUBE_AGENT.fullmatch(head[2].removeprefix("User-Agent: "))
    # v1HeaderToHTTPHeader: names canonicalised, a repeated name sends every value, a user-agent entry replaces
    # the default, an empty Accept removes the header; Go writes the rest sorted by name
    probe(url, [("user-agent", "custom/1"), ("x-b", "1"), ("X-B", "2"), ("Accept", ""), ("a-first", "v")])
    assert srv.requests_to("/hdr")[-1][1:] == [
        f"Host: 127.0.0.1:{srv.port}", "User-Agent: custom/1", "A-First: v", "X-B: 1", "X-B: 2",
        "Connection: close"]
    # a Host header sets the request's host (req.Host = headers.Get("Host"))
    probe(url, [("Host", "model.example")])
    assert srv.requests_to("/hdr")[-1][1] == "Host: model.example"
    for head in srv.heads:  # neither gzip nor keep-alive, ever
        assert not any(line.lower().startswith("accept-encoding") for line in head)
        assert "Connection: close" in head and not any("keep-alive" in line.lower() for line in head)


def test_redirects_as_kubelet(servers):
    srv, other = servers
    base = f"http://127.0.0.1:{srv.port}"
    # same host: followed, with Go's Referer naming the previous URL and the original headers
    got, _ = probe(base + "/redir-rel", [("X-Probe", "1")])
    assert (got.kind, got.status, got.success) == ("status", 200, True)
    assert srv.requests_to("/ok")[-1][1:] == [f"Host: 127.0.0.1:{srv.port}", srv.requests_to("/ok")[-1][2],
                                               "Accept: */*", f"Referer: {base}/redir-rel", "X-Probe: 1",
                                               "Connection: close"]
    # same host name on another port: followed too (RedirectChecker compares host names)
    got, _ = probe(base + "/redir-port")
    assert got.status == 200 and other.requests_to("/ok")[-1][1] == f"Host: 127.0.0.1:{other.port}"
    # another host: not followed, and the 3xx counts as success (probe.Warning)
    before = len(srv.heads)
    got, _ = probe(base + "/redir-other")
    assert (got.status, got.success) == (302, True) and len(srv.heads) == before + 1
    # nine redirects are followed; the tenth is an error, a failure
    got, _ = probe(base + "/chain/9")
    assert (got.status, got.success) == (200, True)
    before = len(srv.heads)
    got, _ = probe(base + "/chain/10")
    assert (got.kind, got.success) == ("error", False) and "stopped after 10 redirects" in got.detail
    assert len(srv.heads) == before + 10
    got, _ = probe(base + "/loop")
    assert (got.kind, got.success) == ("error", False)


def test_body_limit_and_stalled_body(servers):
    srv, _ = servers
    base = f"http://127.0.0.1:{srv.port}"
    # ReadAtMost stops at 10 KiB: a body that goes on (and then stalls) is not waited for
    started = time.monotonic()
    got, tried = probe(base + "/big", timeout=5.0)
    assert (got.status, got.success, len(tried)) == (200, True, 1)
    assert time.monotonic() - started < 5.0
    # a body that stalls after the headers: an error, not a failure; 3 attempts, each its whole timeout; discarded
    started = time.monotonic()
    got, tried = probe(base + "/stall", timeout=1.0)
    assert got.kind == "stall" and got.success is None
    assert [o.kind for _, o in tried] == ["stall"] * 3 and len(srv.requests_to("/stall")) == 3
    assert time.monotonic() - started >= 3.0


@pytest.mark.parametrize("path", ["/nohttp", "/switch", "/reset"])
def test_broken_answers_are_failures(servers, path):
    srv, _ = servers
    got, tried = probe(f"http://127.0.0.1:{srv.port}{path}")
    assert (got.kind, got.success, len(tried)) == ("error", False, 1)


def test_refused_and_status_failures(servers):
    srv, _ = servers
    got, _ = probe(f"http://127.0.0.1:{srv.port}/503")
    assert (got.kind, got.status, got.success) == ("status", 503, False)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: refused
    try:
        got, _ = probe(f"http://127.0.0.1:{closed.getsockname()[1]}/ok")
    finally:
        closed.close()
    assert (got.kind, got.success) == ("refused", False)


# --- through the real command -----------------------------------------------------------------------------

def vllmgen(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vllmgen", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def readiness_values(tmp_path: Path, path: str, headers: str = "") -> Path:
    f = tmp_path / "values.yaml"
    f.write_text(complete_text(f"standalone:\n  probes:\n    readiness: {{httpGet: {{path: {path}, port: 8000{headers}}}, "
                 f"periodSeconds: 1}}\n"))
    return f


@pytest.mark.parametrize("path", ["/loop", "/nohttp", "/switch", "/reset"])
def test_broken_servers_give_a_never_ready_verdict(tmp_path, servers, path):
    """A redirect loop, a reply that is not HTTP, a 101 and a reset are probe failures of a server that is there:
    the verdict is never Ready (exit 0), not "nothing answered" (exit 2)."""
    srv, _ = servers
    res = vllmgen("probe-check", readiness_values(tmp_path, path), "--url", f"http://127.0.0.1:{srv.port}",
                  "--duration", "2.5", "--format", "json")
    assert res.returncode == 0, res.stderr
    run = json.loads(res.stdout)["runs"][0]
    assert run["verdict"]["ready_at"] is None
    probes = [r for r in run["timeline"] if r.get("probe") == "readiness"]
    assert probes and all(r["result"] == "Failure" for r in probes if r["result"] != "in flight")


def test_live_probes_carry_the_probes_headers(tmp_path, servers):
    srv, _ = servers
    values = readiness_values(tmp_path, "/hdr", ", httpHeaders: [{name: x-model, value: m1}]")
    res = vllmgen("probe-check", values, "--url", f"http://127.0.0.1:{srv.port}", "--duration", "1.5",
                  "--until-ready")
    assert res.returncode == 0, res.stderr
    head = srv.requests_to("/hdr")[0]
    assert head[1:] == [f"Host: 127.0.0.1:{srv.port}", head[2], "Accept: */*", "X-Model: m1",
                        "Connection: close"]


# --- bounded work (issue 19) ------------------------------------------------------------------------------

def timeline_file(tmp_path: Path, duration: float, answers: str) -> Path:
    f = tmp_path / "t.yaml"
    f.write_text(f"version: 1\nduration: {duration}\nendpoints:\n- path: /r\n  answers: {answers}\n")
    return f


def test_huge_lead_and_duration_end_promptly(tmp_path):
    values = readiness_values(tmp_path, "/r")
    line = timeline_file(tmp_path, 30, "[{at: 0, answer: 200}]")
    res = vllmgen("probe-check", values, "--replay", line, "--lead", "1e20", "--format", "json", timeout=60)
    assert res.returncode == 0, res.stderr
    # the ticker's phase is what the lead means: 1e20 is a whole number of periods, so ticks fall at whole seconds
    run = json.loads(res.stdout)["runs"][0]
    # (the manual run at the PLEG sync at 1.0 resets the ticker; the sync readiness's initial Failure asks for waits
    # for the relist at 2.0 and finds the pod Ready: no second run)
    assert [r["time"] for r in run["timeline"] if r.get("probe")][:3] == [1.0, 2.0, 3.0]
    res = vllmgen("probe-check", values, "--replay", timeline_file(tmp_path, "1e9", "[{at: 0, answer: 200}]"),
                  timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == (f"error: {tmp_path / 't.yaml'}:2: /duration: 1e+09 s is more than a replay "
                                  "emulates (at most 21600 s)")
    res = vllmgen("probe-check", values, "--replay", line, "--lead", "inf", timeout=60)
    assert res.returncode == 2 and "--lead" in res.stderr


def test_thousands_of_holds_in_a_row(tmp_path):
    holds = ", ".join(f"{{at: {i * 0.01:.2f}, answer: hold, hold: 5}}" for i in range(3000))
    line = timeline_file(tmp_path, 60, f"[{holds}, {{at: 30, answer: 200}}]")
    res = vllmgen("probe-check", readiness_values(tmp_path, "/r"), "--replay", line, "--format", "json",
                  timeout=60)
    assert res.returncode == 0, res.stderr
    # a request is held from answer to answer until the 200 at 30 s, past its 1 s timeout: the probe sent at 30 s
    # is the first to succeed
    assert json.loads(res.stdout)["runs"][0]["verdict"]["ready_at"] == pytest.approx(30.001, abs=1e-3)


def test_broken_and_stalled_answers_are_recorded_and_replayed(servers):
    """A recording keeps what kubelet distinguishes: a failure after connecting (`error`) and a stalled body
    (`stall`, discarded), so the replay of the recording agrees with the live run."""
    from vllmgen.emulator import drivers
    from vllmgen.emulator.model import PodProbes, ProbeSpec

    srv, _ = servers
    pod = PodProbes(name="broken", readiness=ProbeSpec("readiness", "/nohttp", srv.port, period=1),
                    liveness=ProbeSpec("liveness", "/stall", srv.port, period=1, timeout=1))
    # liveness is first probed at 1 s (PLEG's sync started the container): 3 stalled attempts end at 4 s
    result = drivers.live([pod], drivers.parse_target("http://127.0.0.1", [pod]), 4.6, record=True,
                          record_interval=0.5)
    assert result.answered and result.run.kubelet.first("ready") is None
    assert {a.kind for a in result.timeline.find(srv.port, "/nohttp").answers} == {"error"}
    assert {a.kind for a in result.timeline.find(srv.port, "/stall").answers} == {"stall"}
    again = drivers.replay(pod, result.timeline)
    assert again.kubelet.first("ready") is None and again.kubelet.kills == 0
    for run in (result.run, again):
        assert [r.result for r in run.kubelet.records if r.kind == "liveness"][0] == "Error"
