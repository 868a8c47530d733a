"""Run the real Triton Inference Server in tests.

PyPI's `nvidia-pytriton` wheel bundles the real `tritonserver` binary, `libtritonserver`, the Python backend
(`libtriton_python.so`, `triton_python_backend_utils.py`) and Python-backend stubs per Python version. Only the
binary and those files are used here (the wheel's own Python API is not imported: it pins NumPy < 2, which the
vLLM CPU build cannot use, so scripts/setup-dev.sh installs the wheel with `--no-deps`).

What this module gives tests (facts in docs/upstream-facts.md#triton-with-the-vllm-backend):
- `find_install()`: where the wheel put the binary, libraries, backend and the stub for this Python.
- `backend_dir(...)`: `BACKENDS/python/{libtriton_python.so, triton_python_backend_utils.py,
  triton_python_backend_stub}`, the stub of this interpreter's version copied next to the library.
- `write_probe_model(...)`: a small Python-backend model whose `initialize()` sleeps or raises as a control
  file says, and whose `execute()` can act like the vLLM backend's engine health check (unload itself).
- `TritonServer`: start on loopback ports in its own process group, poll endpoints, stop (SIGTERM, then SIGKILL
  of the group). Always used as a context manager so nothing outlives a test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import statistics
import sysconfig
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The wheel that carries the real server (Triton 2.51.0); pinned because the layout below is its layout.
TRITON_WHEEL = "nvidia-pytriton==0.7.0"
#: Loopback only: tests never listen on other interfaces.
LOOPBACK = "127.0.0.1"
#: How long an HTTP request to the server may take before it counts as no answer. Triton answers its health
#: endpoints in milliseconds; 10 s keeps a loopback request delayed by a saturated machine (other processes on
#: every core) from being recorded as a server that stopped answering.
REQUEST_TIMEOUT_S = 10.0
#: Grace between SIGTERM and SIGKILL when a test stops the server (Triton exits in 0.1-3 s when idle).
STOP_GRACE_S = 10.0
#: Sentinel status for "nothing listens on the port" (connection refused), as a probe would see it.
REFUSED = "refused"
#: Sentinel status for "connected but no answer in time".
TIMEOUT = "timeout"


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    libs_dir: Path
    python_backend: Path
    stub: Path


def find_install() -> TritonInstall | None:
    """The tritonserver files of the installed `nvidia-pytriton` wheel, or None when it is not installed."""
    import importlib.metadata as md

    try:
        dist = md.distribution("nvidia-pytriton")
    except md.PackageNotFoundError:
        return None
    root = Path(dist.locate_file("pytriton")) / "tritonserver"
    libs = Path(dist.locate_file("nvidia_pytriton.libs"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = TritonInstall(
        binary=root / "bin" / "tritonserver",
        libs_dir=libs,
        python_backend=root / "backends" / "python",
        stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
    )
    needed = [install.binary, install.libs_dir, install.python_backend / "libtriton_python.so", install.stub]
    return install if all(p.exists() for p in needed) else None


def generated_repository_with_standin(install, spec: dict, root, backend_model_py: str):
    """Write the model repository vllmgen generates for `spec` under root/models, and a backends folder under
    root/backends whose `vllm` backend is the given stand-in model.py (NVIDIA's vLLM backend is on no registry
    here). Returns (repository, backends)."""
    from pathlib import Path

    from vllmgen.servers import triton

    root = Path(root)
    repo = root / "models"
    for rel, text in triton.repository_files(spec).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    backends = backend_dir(install, root / "backends")
    (backends / "vllm").mkdir()
    (backends / "vllm" / "model.py").write_text(backend_model_py)
    return repo, backends


def backend_dir(install: TritonInstall, dest: Path) -> Path:
    """Lay out a `--backend-directory` holding the Python backend with this interpreter's stub."""
    python = dest / "python"
    python.mkdir(parents=True, exist_ok=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy2(install.python_backend / name, python / name)
    shutil.copy2(install.stub, python / "triton_python_backend_stub")
    return dest


def server_env(install: TritonInstall) -> dict[str, str]:
    """Environment for tritonserver: the wheel's bundled libraries and this interpreter's libpython on the
    loader path, and this interpreter's `bin` first on PATH (the stub runs models in that environment)."""
    env = dict(os.environ)
    libdirs = [str(install.libs_dir)]
    libpython_dir = sysconfig.get_config_var("LIBDIR")
    if libpython_dir:
        libdirs.append(libpython_dir)
    if env.get("LD_LIBRARY_PATH"):
        libdirs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libdirs)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# --- a Python-backend model that loads, fails and unloads on demand ------------------------------------------

#: model.py of the probe model. The control file (JSON) is read when the model loads and on every request:
#:   {"load_seconds": S}  initialize() sleeps S seconds (a slow weights load)
#:   {"fail": "message"}   initialize() raises (a failed load)
#:   {"unhealthy": true}   the next request finds the "engine" dead and the model unloads itself through
#:                         `pb_utils.unload_model`, exactly what NVIDIA's vLLM backend does when its engine health
#:                         check (ENABLE_VLLM_HEALTH_CHECK) fails.
PROBE_MODEL_PY = textwrap.dedent(
    '''
    import json
    import time

    import triton_python_backend_utils as pb_utils


    def _control(config):
        path = config["parameters"]["CONTROL_FILE"]["string_value"]
        with open(path) as fh:
            return path, json.load(fh)


    class TritonPythonModel:
        def initialize(self, args):
            self.config = json.loads(args["model_config"])
            self.control_path, control = _control(self.config)
            pb_utils.Logger.log_info(f"probe model: initialize with {control}")
            time.sleep(float(control.get("load_seconds", 0)))
            if control.get("fail"):
                raise pb_utils.TritonModelException(str(control["fail"]))

        def execute(self, requests):
            with open(self.control_path) as fh:
                control = json.load(fh)
            responses = []
            for _ in requests:
                if control.get("unhealthy"):
                    pb_utils.unload_model(self.config["name"])  # non-blocking, as the vLLM backend calls it
                    error = pb_utils.TritonError("Model is unavailable due to unhealthy engine")
                    responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                else:
                    responses.append(pb_utils.InferenceResponse(output_tensors=[]))
            return responses

        def finalize(self):
            pb_utils.Logger.log_info("probe model: finalize")
    '''
).lstrip()


def probe_model_config(name: str, control: Path) -> str:
    """config.pbtxt of the probe model: one optional input, no outputs needed for readiness."""
    return textwrap.dedent(
        f'''
        name: "{name}"
        backend: "python"
        max_batch_size: 0
        input [ {{ name: "INPUT0", data_type: TYPE_FP32, dims: [ 1 ], optional: true }} ]
        output [ {{ name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 1 ] }} ]
        instance_group [ {{ count: 1, kind: KIND_CPU }} ]
        parameters: {{ key: "CONTROL_FILE", value: {{ string_value: "{control}" }} }}
        '''
    ).lstrip()


def write_probe_model(repo: Path, name: str, control: Path, **behaviour) -> Path:
    """Write `repo/name/{config.pbtxt, 1/model.py}` and the control file with `behaviour`."""
    model = repo / name
    (model / "1").mkdir(parents=True, exist_ok=True)
    (model / "config.pbtxt").write_text(probe_model_config(name, control))
    (model / "1" / "model.py").write_text(PROBE_MODEL_PY)
    set_control(control, **behaviour)
    return model


def set_control(control: Path, **behaviour) -> None:
    tmp = control.with_suffix(".tmp")
    tmp.write_text(json.dumps(behaviour))
    tmp.replace(control)


# --- the server ------------------------------------------------------------------------------------------------


@dataclass
class TritonServer:
    """One tritonserver process on loopback ports, in its own process group; use with `with`."""

    install: TritonInstall
    repo: Path
    workdir: Path
    load_models: list[str] = field(default_factory=list)
    control_mode: str = "explicit"
    extra_args: list[str] = field(default_factory=list)
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    argv_override: list[str] | None = None  # run exactly this command line instead of argv()
    env_extra: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    started_at: float = 0.0

    def argv(self) -> list[str]:
        backends = backend_dir(self.install, self.workdir / "backends")
        argv = [
            str(self.install.binary),
            f"--model-repository={self.repo}",
            f"--backend-directory={backends}",
            f"--model-control-mode={self.control_mode}",
            *[f"--load-model={m}" for m in self.load_models],
            f"--http-address={LOOPBACK}",
            f"--grpc-address={LOOPBACK}",
            f"--metrics-address={LOOPBACK}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            # distinct per server: tests may run several against one /dev/shm
            f"--backend-config=python,shm-region-prefix-name=vllmgen-test-{self.http_port}",
        ]
        return argv + list(self.extra_args)

    def start(self) -> "TritonServer":
        self.log_path = self.workdir / "tritonserver.log"
        self._log = open(self.log_path, "wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv_override or self.argv(),
            env=server_env(self.install) | self.env_extra,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,  # own process group: stop() kills the stub processes too
        )
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.http_port}{path}"

    def client(self):
        """An HTTP client for this thread, without keep-alive: a new connection per request, as kubelet probes."""
        import threading

        import httpx

        local = self.__dict__.setdefault("_local", threading.local())
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=REQUEST_TIMEOUT_S, limits=httpx.Limits(max_keepalive_connections=0))
        return local.client

    def status(self, path: str, method: str = "GET") -> int | str:
        """HTTP status of one request, or REFUSED / TIMEOUT as a kubelet probe would experience it."""
        import httpx

        try:
            return self.client().request(method, self.url(path)).status_code
        except httpx.TimeoutException:
            return TIMEOUT
        except httpx.TransportError:  # refused, or the server died mid-request: a probe fails at once either way
            return REFUSED

    def post(self, path: str, body: dict | None = None, timeout: float = 120.0):
        import httpx

        return httpx.post(self.url(path), json=body or {}, timeout=timeout)

    def wait_for(self, path: str, status: int, timeout: float) -> float:
        """Poll until `path` answers `status`; the server's age when it did. Fails loudly on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status(path) == status:
                return self.elapsed()
            if self.proc.poll() is not None:
                raise AssertionError(f"tritonserver exited with {self.proc.returncode}:\n{self.log_tail()}")
            time.sleep(0.05)
        raise AssertionError(f"{path} did not answer {status} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        # whatever is left of the group (stub processes) goes too
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = self.proc.wait()
        self._log.close()
        return rc

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- recording what the endpoints answer over time --------------------------------------------------------------

#: Poll interval of the recorder: 0.1 s resolves Triton's transitions (unload takes about 1.4 s) while
#: costing the server nothing measurable.
RECORD_INTERVAL_S = 0.1


class Recorder:
    """Polls `paths` on a server in a background thread. Keeps every request as an observation
    (start, end, kind, status; times in seconds since the server process started), the transitions (when a
    path's answer changed), and the process exit."""

    def __init__(self, server: TritonServer, paths: list[str], interval: float = RECORD_INTERVAL_S):
        import threading

        self.server, self.paths, self.interval = server, list(paths), interval
        self.observations: dict[str, list[tuple[float, float, str, int | None]]] = {p: [] for p in paths}
        self.transitions: list[dict] = []  # {t, path, status} in time order
        self.exit: dict | None = None  # {t, code} when the process ended by itself
        self.marks: list[dict] = []  # {t, what}: actions the scenario took
        self._last: dict[str, object] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def mark(self, what: str) -> None:
        self.marks.append({"t": round(self.server.elapsed(), 2), "what": what})

    def _run(self) -> None:
        while not self._stop.is_set():
            for path in self.paths:
                start = self.server.elapsed()
                status = self.server.status(path)
                end = self.server.elapsed()
                kind = status if status in (REFUSED, TIMEOUT) else "status"
                self.observations[path].append((start, end, kind, None if kind != "status" else status))
                if self._last.get(path, None) != status:
                    self._last[path] = status
                    self.transitions.append({"t": round(start, 2), "path": path, "status": status})
            rc = self.server.proc.poll()
            if rc is not None and self.exit is None:
                self.exit = {"t": round(self.server.elapsed(), 2), "code": rc}
                return
            self._stop.wait(self.interval)

    def states(self) -> list[tuple[str, object]]:
        """The order in which answers changed, without times: [(path, status), ...]."""
        return [(x["path"], x["status"]) for x in self.transitions]

    def first(self, path: str, status) -> float | None:
        return next((x["t"] for x in self.transitions if x["path"] == path and x["status"] == status), None)

    def wait_until(self, path: str, status, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._last.get(path) == status:
                return self.server.elapsed()
            if self.exit is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{path} never answered {status} (exit: {self.exit}):\n{self.server.log_tail()}")

    def wait_sequence(self, path: str, tail: list, timeout: float) -> float:
        """Wait until the answers `path` went through end with `tail` (e.g. [400, 200])."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [x["status"] for x in self.transitions if x["path"] == path]
            if seen[-len(tail):] == tail:
                return self.server.elapsed()
            time.sleep(0.02)
        raise AssertionError(f"{path} did not go through {tail}: {self.transitions}")

    def wait_exit(self, timeout: float) -> dict:
        self._thread.join(timeout)
        if self.exit is None:
            raise AssertionError(f"tritonserver did not exit within {timeout} s:\n{self.server.log_tail()}")
        return self.exit

    def __enter__(self) -> "Recorder":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


# --- timelines (the emulator's format, cli/vllmgen/emulator/timeline.py) -------------------------------------

def answers(observations: list[tuple]) -> list[dict]:
    """Merge one endpoint's polls into timeline answers: each answer holds from the first poll that saw it."""
    out: list[dict] = []
    latencies: list[float] = []

    def close():
        if latencies and out and isinstance(out[-1]["answer"], int):
            out[-1]["latency"] = round(statistics.median(latencies), 4)
        latencies.clear()

    for start, end, kind, status in observations:
        answer = status if kind == "status" else kind
        if not out or out[-1]["answer"] != answer:
            close()
            out.append({"at": 0.0 if not out else round(start, 2), "answer": answer})
        latencies.append(end - start)
    close()
    return out


def after_listen(seq: list) -> list:
    """A sequence without its leading "refused": whether the first poll came before the server listened
    depends on scheduling when nothing is loaded at start."""
    return seq[1:] if len(seq) > 1 and seq[0] == "refused" else seq
