"""Start and stop `vllmgen serve` on the real vLLM server (CPU build) for tests and benchmarks.

The environment keeps vLLM small and local (docs/upstream-facts.md#vllm-on-cpu): 1 GiB of KV cache, loopback
only, no hub, caches under a temp dir. Every process started here runs in its own session and is killed as a
group on teardown, vLLM's group included, so nothing outlives a test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
#: Bound for one real vLLM start, for a hung start only: 40-94 s on 2 busy cores, and on a machine at load 12-14
#: vLLM's imports alone once took 220 s.
START_TIMEOUT_S = 600
#: Generous bound for the supervisor's health port to answer: an interpreter start and a few imports, which a
#: saturated machine (a vLLM server loading beside it) has stretched past 20 s.
LISTEN_TIMEOUT_S = 120
#: Where a spec's tiny-model flags come from: fp32 is a CPU compute type; eager skips torch.compile (-15 s).
TINY_EXTRA_ARGS = ["--dtype", "float32", "--enforce-eager", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_env(cache_dir: str | Path) -> dict:
    """Environment for vLLM on the CPU, with every cache under `cache_dir`."""
    cache = Path(cache_dir)
    env = {
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; the default reserves most of the node's memory
        "VLLM_HOST_IP": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
        "XDG_CACHE_HOME": str(cache / "xdg"),
        "HF_HOME": str(cache / "hf"),
        "TMPDIR": str(cache / "tmp"),
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def tiny_spec(model_dir: str | Path, vllm_port: int, health_port: int, *, endpoint_drain_s: int = 3,
              shutdown_timeout_s: int = 30, extra_args: list[str] | None = None, **top) -> dict:
    """A supervised single-node spec for the tiny model on the given ports."""
    spec = {
        "model": {"source": str(model_dir), "name": "tiny"},
        "layout": "single-node",
        "engine": {
            "maxModelLen": 512,
            "shutdownTimeoutSeconds": shutdown_timeout_s,
            "endpointDrainSeconds": endpoint_drain_s,
            "extraArgs": list(TINY_EXTRA_ARGS if extra_args is None else extra_args),
        },
        "routing": {"servicePort": vllm_port},
        "probes": {"mode": "supervised", "healthPort": health_port},
        "startup": {"budgetSeconds": 300},
    }
    spec.update(top)
    return spec


def process_groups_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes in group `pgid`."""
    from vllmgen.supervisor.process import group_members

    return group_members(pgid)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Supervisor:
    """One `vllmgen serve` process (own session) with its stdout (vLLM's log) and stderr (JSON events) in files."""

    def __init__(self, workdir: Path, spec: dict, env: dict, argv: list[str] | None = None):
        """`argv`: the supervisor's command line (default: `python -m vllmgen serve --spec SPEC`, with this
        checkout's package first on PYTHONPATH; given, it runs as is in `env`)."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.spec = spec
        self.spec_path = self.workdir / "spec.json"
        self.spec_path.write_text(json.dumps(spec))
        self.health_port = spec["probes"]["healthPort"]
        self.vllm_port = spec["routing"]["servicePort"]
        self.argv = argv
        self.env = {**os.environ, **env} if argv else {**os.environ, **env, "PYTHONPATH": os.pathsep.join(
            [str(REPO / "cli"), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.out_path = self.workdir / "vllm.log"
        self.err_path = self.workdir / "events.log"
        self.popen: subprocess.Popen | None = None
        self.started_at = 0.0
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.health_port}", timeout=30)

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self, role: str = "standalone") -> "Supervisor":
        self.started_at = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(
                self.argv or [sys.executable, "-m", "vllmgen", "serve", "--spec", str(self.spec_path), "--role", role],
                env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
                cwd=self.workdir,
            )
        return self

    def wait_exit(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def signal(self, sig=signal.SIGTERM) -> None:
        os.kill(self.popen.pid, sig)

    def close(self) -> None:
        """Kill everything this started: the supervisor's group and vLLM's group."""
        pgid = self.vllm_pgid(wait=0)
        if self.popen and self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)
        if pgid:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while process_groups_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- what it says ----------------------------------------------------------------------------------------
    def events(self) -> list[dict]:
        found = []
        for line in self.err_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    pass
        return found

    def event(self, name: str, **match) -> dict | None:
        for e in self.events():
            if e.get("event") == name and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    def vllm_pgid(self, wait: float = 10) -> int | None:
        deadline = time.monotonic() + wait
        while True:
            e = self.event("vllm-started")
            if e:
                return e["pgid"]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def engine_core_pid(self) -> int | None:
        """The EngineCore process: by its title, else by vLLM's log prefix `(EngineCore pid=N)`."""
        pgid = self.vllm_pgid()
        for pid in process_groups_alive(pgid):
            if "VLLM::EngineCore" in cmdline(pid):
                return pid
        m = re.findall(r"\(EngineCore(?:_DP\d+)? pid=(\d+)\)", self.out_path.read_text(errors="replace"))
        return int(m[-1]) if m else None

    # --- its endpoints -----------------------------------------------------------------------------------------
    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def wait_listening(self, timeout: float = LISTEN_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get("/status", timeout=1)
                return
            except httpx.TransportError:
                if self.popen.poll() is not None:
                    raise AssertionError(f"supervisor exited {self.popen.returncode}: {self.tail()}")
                time.sleep(0.05)
        raise AssertionError(f"health port never answered: {self.tail()}")

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> float:
        """Block until /readyz is 200; returns seconds since start."""
        self.wait_listening()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"supervisor exited {self.popen.returncode}: {self.tail()}")
            try:
                if self.get("/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - self.started_at
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout} s: {self.tail()}")

    def completion(self, max_tokens: int = 16, prompt: str = "the model is", timeout: float = 120) -> dict:
        r = httpx.post(f"http://127.0.0.1:{self.vllm_port}/v1/completions", timeout=timeout, json={
            "model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0})
        r.raise_for_status()
        return r.json()

    def tail(self, n: int = 15) -> str:
        lines = self.err_path.read_text(errors="replace").splitlines()[-5:]
        lines += self.out_path.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(lines)


#: Niceness of the traffic process: in a cluster the clients run elsewhere, not on the pod's cores; in the
#: tests they share the CPUs with vLLM and the prober, so they yield to both (vLLM stays saturated: it waits on nothing).
TRAFFIC_NICENESS = 10


def start_traffic(*args: str) -> subprocess.Popen:
    """`python -m tests.support.traffic ARGS` in its own process; read its JSON summary from stdout.
    Saturating load runs at TRAFFIC_NICENESS; the readiness-gated router keeps normal priority (it must see
    /readyz turn 503 within the endpoint drain)."""
    niceness = TRAFFIC_NICENESS if args and args[0] == "saturate" else 0
    log = tempfile.NamedTemporaryFile("w+", prefix="traffic-", suffix=".jsonl", delete=False)
    proc = subprocess.Popen(["nice", "-n", str(niceness), sys.executable, "-m", "tests.support.traffic",
                             *args], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=log,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "cli")])})
    proc.log_path = log.name  # each answer as it comes, and the client's errors
    log.close()
    return proc


def traffic_result(proc: subprocess.Popen, timeout: float) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def kube_probe(port: int, path: str, host: str = "127.0.0.1", timeout: float = 10) -> tuple[float, int | None]:
    """One probe as the kubelet sends it: new TCP connection, GET, read, close. Returns (seconds, status)."""
    import http.client

    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "kube-probe/1.34", "Accept": "*/*", "Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        code = resp.status
    except OSError:
        code = None
    finally:
        conn.close()
    return time.perf_counter() - t0, code


def wait_in_flight(traffic: subprocess.Popen, vllm_port: int, at_least: int, timeout: float = 300) -> int:
    """Wait until vLLM runs `at_least` requests of `traffic` at once; returns how many it runs then. The bound is
    for a hang only (the opening burst reaches vLLM within seconds on any machine); on failure the traffic is
    stopped, so it cannot starve the tests that follow, and its output is in the message."""
    deadline = time.monotonic() + timeout
    seen: list[int] = []
    while (running := running_requests(vllm_port)) < at_least:
        seen.append(running)
        if time.monotonic() > deadline or traffic.poll() is not None:
            traffic.kill()
            traffic.communicate()
            log = Path(traffic.log_path).read_text(errors="replace").splitlines()
            raise AssertionError(f"traffic never had {at_least} requests in flight at vLLM (last readings "
                                 f"{seen[-40:]}, traffic exit {traffic.returncode}, {len(log)} lines from it; "
                                 f"first and last: {log[:5]} {log[-5:]})")
        time.sleep(0.05)
    return running


def running_requests(vllm_port: int) -> int:
    """Requests in flight at vLLM right now (`GET /load`, which `vllmgen serve` turns on for its drain; the
    `vllm:num_requests_running` gauge is not current enough to catch short requests on a quiet machine)."""
    return int(httpx.get(f"http://127.0.0.1:{vllm_port}/load", timeout=10).json()["server_load"])
