"""The real Triton Inference Server (the `tritonserver` 2.51 binary bundled in PyPI's nvidia-pytriton): what its
endpoints answer while a model loads, fails to load, is unloaded, or loses its engine. The generated Triton
probes rely on exactly these answers, so they are recorded here from the real server, asserted, and kept as
timelines in tests/data/timelines/triton-*.yaml, which `vllmgen probe-check` replays.

Each test runs one short scenario (2-20 s) with a small Python-backend model (no vLLM: its `initialize()`
sleeps or raises, its `execute()` unloads the model the way NVIDIA's vLLM backend does when the engine health
check fails). Every run is compared with the committed timeline: the same answers, in the same order, per
endpoint. `VLLMGEN_RECORD=1 pytest tests/test_triton_server.py` rewrites the committed files.

The last test loads the model repository vllmgen generates (config.pbtxt, model.json, the exact tritonserver
arguments) into the real server, with a clearly named stand-in for NVIDIA's vLLM backend (not on any package
registry here) that builds vLLM's AsyncEngineArgs from model.json as the real backend does."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.support import triton_server as ts

pytestmark = pytest.mark.triton

TIMELINES = Path(__file__).parent / "data" / "timelines"
#: Set to rewrite the committed timelines from this run instead of comparing with them.
RECORD = os.environ.get("VLLMGEN_RECORD") == "1"
#: The port the pod's Triton HTTP endpoint has (the role's port, 8000 by default); recordings run on free loopback ports.
POD_HTTP_PORT = 8000
MODEL = "m"
LIVE, SERVER_READY, MODEL_READY = "/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL}/ready"
PATHS = [LIVE, SERVER_READY, MODEL_READY]
#: How long each scenario keeps recording after its last event, to show the state holds.
SETTLE_S = 2.0
#: After an unload: long enough for a replay to show readiness turning the pod NotReady (the generated
#: readiness probe fails after 2 x 5 s) and liveness never restarting it (3 x 10 s would need 30 s: it never
#: fails at all, /v2/health/live stays 200).
SETTLE_AFTER_UNLOAD_S = 12.0
#: Load times of the probe model: a fast load, and a slow one (the vLLM CPU model took 38 s in Triton).
FAST_LOAD_S = 2
SLOW_LOAD_S = 15


@pytest.fixture(scope="module")
def install():
    found = ts.find_install()
    if found is None:
        message = (f"tritonserver not installed: pip install --no-deps {ts.TRITON_WHEEL} "
                   "(scripts/setup-dev.sh does)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Scenario:
    """One recording: how the server is started, what the model does, what the test does meanwhile."""

    what: str
    behaviour: dict
    act: Callable  # (server, recorder, control_file) -> None; returns when the interesting part is over
    load_models: list[str] = field(default_factory=lambda: [MODEL])
    control_mode: str = "explicit"
    sigterm: bool = False  # end by SIGTERM and record how long the exit takes
    settle: float = SETTLE_S


def until_ready(s, r, ctl):
    r.wait_until(MODEL_READY, 200, SLOW_LOAD_S + 30)
    r.mark("model ready")


def until_exit(s, r, ctl):
    r.wait_exit(30)
    r.mark("server exited")


def unload_by_api(s, r, ctl):
    until_ready(s, r, ctl)
    time.sleep(1)
    r.mark("POST /v2/repository/models/m/unload")
    assert s.post(f"/v2/repository/models/{MODEL}/unload").status_code == 200
    r.wait_until(MODEL_READY, 400, 10)
    r.wait_sequence(SERVER_READY, [400, 200], 20)
    r.mark("unloaded")


def engine_dies(s, r, ctl):
    until_ready(s, r, ctl)
    time.sleep(1)
    ts.set_control(ctl, unhealthy=True)
    r.mark("engine dead; one inference request")
    import httpx

    try:
        reply = s.post(f"/v2/models/{MODEL}/infer", {"inputs": []}).status_code
    except httpx.TransportError as exc:  # the server died while answering
        reply = type(exc).__name__
    r.mark(f"request answered {reply}")
    if s.control_mode == "explicit":
        r.wait_until(MODEL_READY, 400, 10)
        r.wait_sequence(SERVER_READY, [400, 200], 20)
        r.mark("unloaded")


def load_by_api(s, r, ctl):
    r.wait_until(LIVE, 200, 30)
    time.sleep(1)
    r.mark("POST /v2/repository/models/m/load")
    assert s.post(f"/v2/repository/models/{MODEL}/load").status_code == 200
    r.wait_until(MODEL_READY, 200, 5)


SCENARIOS = {
    "load": Scenario("--load-model with a model that loads in 2 s; then SIGTERM",
                     {"load_seconds": FAST_LOAD_S}, until_ready, sigterm=True),
    "slow-load": Scenario(f"--load-model with a model that loads in {SLOW_LOAD_S} s",
                          {"load_seconds": SLOW_LOAD_S}, until_ready),
    "failed-load": Scenario("--load-model with a model whose initialize() raises",
                            {"load_seconds": 1, "fail": "weights not found"}, until_exit),
    "unload": Scenario("loaded by --load-model, then unloaded through the repository API",
                       {"load_seconds": FAST_LOAD_S}, unload_by_api, settle=SETTLE_AFTER_UNLOAD_S),
    "engine-unhealthy": Scenario("loaded; the engine dies and the next request makes the backend unload the "
                                 "model (what ENABLE_VLLM_HEALTH_CHECK does)",
                                 {"load_seconds": FAST_LOAD_S}, engine_dies, settle=SETTLE_AFTER_UNLOAD_S),
    "health-check-without-explicit": Scenario(
        "as engine-unhealthy, but --model-control-mode=none: the backend's unload is refused",
        {"load_seconds": FAST_LOAD_S}, engine_dies, load_models=[], control_mode="none",
        settle=SETTLE_AFTER_UNLOAD_S),
    "no-load-model": Scenario("explicit mode without --load-model: nothing loaded, then a load through the API",
                              {"load_seconds": FAST_LOAD_S}, load_by_api, load_models=[]),
}


@dataclass
class Recording:
    scenario: Scenario
    recorder: ts.Recorder
    duration: float
    sigterm_exit: float | None
    returncode: int | None
    log: str


def record(name: str, install, tmp_path: Path) -> Recording:
    sc = SCENARIOS[name]
    repo = tmp_path / "repo"
    repo.mkdir()
    control = tmp_path / "control.json"
    ts.write_probe_model(repo, MODEL, control, **sc.behaviour)
    sigterm_exit = None
    with ts.TritonServer(install, repo, tmp_path, load_models=sc.load_models,
                         control_mode=sc.control_mode) as server:
        with ts.Recorder(server, PATHS) as rec:
            sc.act(server, rec, control)
            time.sleep(sc.settle)
            if sc.sigterm:
                rec.mark("SIGTERM")
                sent = time.monotonic()
                os.kill(server.proc.pid, signal.SIGTERM)
                server.proc.wait(ts.STOP_GRACE_S)
                sigterm_exit = round(time.monotonic() - sent, 2)
                rec.wait_exit(5)
            duration = round(server.elapsed(), 2)
        log = server.log_tail(60)
    return Recording(sc, rec, duration, sigterm_exit, server.proc.returncode, log)


def timeline_data(name: str, rec: Recording) -> dict:
    """The recording in the emulator's timeline format (cli/vllmgen/emulator/timeline.py)."""
    r = rec.recorder
    data: dict = {"version": 1, "duration": rec.duration}
    ready_at = r.first(MODEL_READY, 200)
    if ready_at is not None:
        data["ready_at"] = ready_at
    if rec.sigterm_exit is not None:
        data["sigterm_exit"] = rec.sigterm_exit
    data["recorded"] = {
        "server": "tritonserver 2.51.0 (nvidia-pytriton 0.7.0 wheel), Python-backend probe model",
        "scenario": rec.scenario.what,
        "command": f"tritonserver --model-control-mode={rec.scenario.control_mode}"
                   + "".join(f" --load-model={m}" for m in rec.scenario.load_models),
        "poll_interval_s": ts.RECORD_INTERVAL_S,
        "events": r.marks + ([{"t": r.exit["t"], "what": f"process exited with code {r.exit['code']}"}]
                             if r.exit else []),
    }
    data["endpoints"] = [{"path": p, "port": POD_HTTP_PORT, "answers": ts.answers(r.observations[p])}
                         for p in PATHS]
    return data


def sequence(endpoint: dict) -> list:
    return [a["answer"] for a in endpoint["answers"]]


def check_against_committed(name: str, data: dict) -> None:
    from vllmgen import yamlio

    path = TIMELINES / f"triton-{name}.yaml"
    header = (f"# Recorded from the real tritonserver by tests/test_triton_server.py ({name}).\n"
              "# Times: seconds since the server process started. Regenerate: VLLMGEN_RECORD=1 pytest "
              "tests/test_triton_server.py\n")
    if RECORD:
        path.parent.mkdir(parents=True, exist_ok=True)
        yamlio.write_atomic(path, header + yamlio.dump(data))
        return
    committed = yamlio.load_document(path).data
    live = {e["path"]: ts.after_listen(sequence(e)) for e in data["endpoints"]}
    kept = {e["path"]: ts.after_listen(sequence(e)) for e in committed["endpoints"]}
    assert live == kept, f"the real server now answers differently from {path.name}: {live} != {kept}"


@pytest.mark.parametrize("name", ["load", "slow-load"])
def test_load_model_refuses_connections_until_the_model_is_ready(name, install, tmp_path):
    rec = record(name, install, tmp_path)
    r, data = rec.recorder, timeline_data(name, rec)
    seqs = {e["path"]: sequence(e) for e in data["endpoints"]}
    # nothing listens while --load-model loads; then live and model-ready answer 200 together
    assert seqs[MODEL_READY][:2] == ["refused", 200], seqs
    assert seqs[LIVE][:2] == ["refused", 200], seqs
    ready_at = r.first(MODEL_READY, 200)
    assert ready_at >= rec.scenario.behaviour["load_seconds"]
    assert abs(r.first(LIVE, 200) - ready_at) < 1.0
    if rec.sigterm_exit is not None:
        assert rec.returncode == 0 and rec.sigterm_exit < 5, rec.log
    check_against_committed(name, data)


def test_failed_load_exits_and_never_turns_ready(install, tmp_path):
    rec = record("failed-load", install, tmp_path)
    data = timeline_data("failed-load", rec)
    assert rec.recorder.exit["code"] == 1, rec.log
    assert "weights not found" in rec.log
    assert all(sequence(e) == ["refused"] for e in data["endpoints"]), data["endpoints"]
    check_against_committed("failed-load", data)


@pytest.mark.parametrize("name", ["unload", "engine-unhealthy"])
def test_after_an_unload_only_the_model_endpoint_stays_not_ready(name, install, tmp_path):
    rec = record(name, install, tmp_path)
    data = timeline_data(name, rec)
    seqs = {e["path"]: sequence(e) for e in data["endpoints"]}
    assert seqs[MODEL_READY] == ["refused", 200, 400], seqs  # model-aware, for good
    assert seqs[SERVER_READY] == ["refused", 200, 400, 200], seqs  # 200 again while the model is gone
    assert seqs[LIVE] == ["refused", 200], seqs  # never restarts the pod
    check_against_committed(name, data)


def test_health_check_needs_explicit_model_control(install, tmp_path):
    """Without explicit model control the backend's unload is refused. Then either the model stays "ready"
    with a dead engine or the server aborts with SIGABRT (each about half of the runs here): never a clean
    NotReady. The committed timeline is a run where the model stayed ready."""
    rec = record("health-check-without-explicit", install, tmp_path)
    data = timeline_data("health-check-without-explicit", rec)
    seqs = {e["path"]: sequence(e) for e in data["endpoints"]}
    stays_ready = seqs[MODEL_READY] == ["refused", 200]
    crashed = rec.recorder.exit is not None and rec.recorder.exit["code"] != 0  # seen: -SIGABRT
    aborted = seqs[MODEL_READY] == ["refused", 200, "refused"] and crashed
    assert stays_ready or aborted, (seqs, rec.recorder.exit)
    assert 400 not in seqs[MODEL_READY]
    if stays_ready:
        assert "explicit model load / unload is not allowed" in rec.log
        check_against_committed("health-check-without-explicit", data)


def test_server_ready_is_200_with_no_model_loaded(install, tmp_path):
    rec = record("no-load-model", install, tmp_path)
    data = timeline_data("no-load-model", rec)
    seqs = {e["path"]: ts.after_listen(sequence(e)) for e in data["endpoints"]}
    assert seqs[SERVER_READY] == [200, 400, 200], seqs  # 200 before anything is loaded
    assert seqs[MODEL_READY] == [400, 200], seqs
    r = rec.recorder
    assert r.first(SERVER_READY, 200) < r.first(MODEL_READY, 200) - 1
    check_against_committed("no-load-model", data)


# --- the generated model repository in the real server -----------------------------------------------------

#: Stand-in for NVIDIA's vLLM backend (triton-inference-server/vllm_backend, not on any registry here). It does
#: what the real backend does before it starts the engine: reads model.json from the model directory and builds
#: vLLM's AsyncEngineArgs from it, reads the config.pbtxt parameters, and requires the decoupled policy. It
#: starts no engine; it writes what it saw to VLLMGEN_STANDIN_REPORT for the test.
STANDIN_VLLM_BACKEND = textwrap.dedent(
    '''
    """vllmgen test stand-in for NVIDIA's vLLM backend: validates the model repository, starts no engine."""
    import json
    import locale
    import os

    import triton_python_backend_utils as pb_utils


    class TritonPythonModel:
        def initialize(self, args):
            locale.setlocale(locale.LC_ALL, "")  # the embedded interpreter starts in ASCII; vLLM needs UTF-8
            from vllm.engine.arg_utils import AsyncEngineArgs

            config = json.loads(args["model_config"])
            assert pb_utils.using_decoupled_model_transaction_policy(config), "backend needs decoupled"
            with open(os.path.join(pb_utils.get_model_dir(), "model.json")) as fh:
                engine = json.load(fh)
            built = AsyncEngineArgs(**engine)
            report = {
                "model_name": args["model_name"],
                "instance_kind": args["model_instance_kind"],
                "parameters": {k: v["string_value"] for k, v in config.get("parameters", {}).items()},
                "engine_args": {k: getattr(built, k) for k in engine},
            }
            with open(os.environ["VLLMGEN_STANDIN_REPORT"], "w") as fh:
                json.dump(report, fh)

        def execute(self, requests):
            return None
    '''
).lstrip()


def test_generated_repository_and_arguments_load_in_the_real_server(install, tmp_path):
    import json

    from vllmgen.servers import triton
    from vllmgen.spec import parse_spec

    spec = parse_spec("model: {source: /models/tiny, name: acme/tiny-chat, weightsGiB: 0.001, dtype: float32}\n"
                      "engine: {maxModelLen: 512, extraArgs: [--enable-prefix-caching]}\n",
                      "tiny.yaml", server="triton")
    repo, backends = ts.generated_repository_with_standin(install, spec, tmp_path, STANDIN_VLLM_BACKEND)
    report = tmp_path / "standin-report.json"

    # the generated arguments, verbatim except what a test on a shared machine must change: free loopback
    # ports, the repository's temp path, and $(POD_NAME), which Kubernetes would expand
    args = [a.replace("$(POD_NAME)", "test-pod") for a in triton.args(spec, repository=str(repo))]
    ports = {"--http-port": ts.free_port(), "--grpc-port": ts.free_port(), "--metrics-port": ts.free_port()}
    args = [f"{a.split('=')[0]}={ports[a.split('=')[0]]}" if a.split("=")[0] in ports else a for a in args]
    argv = [str(install.binary), *args, f"--backend-directory={backends}", "--allow-gpu-metrics=false",
            f"--http-address={ts.LOOPBACK}", f"--grpc-address={ts.LOOPBACK}", f"--metrics-address={ts.LOOPBACK}"]
    server = ts.TritonServer(install, repo, tmp_path, http_port=ports["--http-port"], argv_override=argv,
                             env_extra={"VLLMGEN_STANDIN_REPORT": str(report)})
    with server:
        ready_path = triton.ready_path(spec)
        server.wait_for(ready_path, 200, 120)
        assert server.status(triton.LIVE_PATH) == 200
        metrics = __import__("httpx").get(f"http://{ts.LOOPBACK}:{ports['--metrics-port']}/metrics", timeout=5)
        assert metrics.status_code == 200 and "nv_inference_request_success" in metrics.text
        log = server.log_tail(200)
    seen = json.loads(report.read_text())
    assert seen["model_name"] == "acme-tiny-chat"
    assert seen["instance_kind"] == "MODEL"
    assert seen["parameters"] == {"ENABLE_VLLM_HEALTH_CHECK": "true", "REPORT_CUSTOM_METRICS": "true"}
    assert seen["engine_args"] == json.loads(triton.model_json(spec)), seen
    assert "shm-region-prefix-name" in " ".join(argv) and "vllmgen-acme-tiny-chat-test-pod" in " ".join(argv)
    assert "successfully loaded 'acme-tiny-chat'" in log


def test_metrics_port_answers_every_path_and_grpc_port_no_http(install, tmp_path):
    """Why probes belong on the HTTP port (lint VG016): Triton's metrics port answers 200 to any path, also
    /v2/models/NAME/ready after the model is gone, and its gRPC port gives an HTTP/1 probe no answer at all."""
    import httpx

    repo = tmp_path / "repo"
    repo.mkdir()
    ts.write_probe_model(repo, MODEL, tmp_path / "control.json", load_seconds=0)
    with ts.TritonServer(install, repo, tmp_path, load_models=[MODEL]) as server:
        server.wait_for(MODEL_READY, 200, 30)
        assert server.post(f"/v2/repository/models/{MODEL}/unload").status_code == 200
        deadline = time.monotonic() + 20
        while server.status(MODEL_READY) != 400 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.status(MODEL_READY) == 400
        with httpx.Client(timeout=2) as client:
            on_metrics = client.get(f"http://{ts.LOOPBACK}:{server.metrics_port}{MODEL_READY}")
            assert on_metrics.status_code == 200  # not the model's state
            with pytest.raises(httpx.TransportError):
                client.get(f"http://{ts.LOOPBACK}:{server.grpc_port}/v2/health/live")


def test_probe_check_live_on_the_real_server(install, tmp_path):
    """`vllmgen probe-check --url` runs the generated Triton probes live against the real server as it loads,
    and `--until-ready` returns as soon as the pod would be Ready (a CI wait without a sleep)."""
    import json

    from typer.testing import CliRunner

    from vllmgen import spec as specmod, values
    from vllmgen.cli import app

    spec = specmod.parse_spec("model: {source: /models/m, name: m, weightsGiB: 0.001}\nstartup: {budgetSeconds: 60}\n",
                              "m.yaml", server="triton")
    values_file = tmp_path / "values.yaml"
    values_file.write_text(values.render(spec))
    repo = tmp_path / "repo"
    repo.mkdir()
    ts.write_probe_model(repo, MODEL, tmp_path / "control.json", load_seconds=FAST_LOAD_S)
    record = tmp_path / "live.yaml"
    with ts.TritonServer(install, repo, tmp_path, load_models=[MODEL]) as server:
        result = CliRunner().invoke(app, [
            "probe-check", str(values_file), "--role", "standalone", "--url", f"http://{ts.LOOPBACK}",
            "--port-map", f"{POD_HTTP_PORT}={server.http_port}", "--duration", "60", "--until-ready",
            "--record", str(record), "--format", "json"])
        assert result.exit_code == 0, result.output
        assert server.status(MODEL_READY) == 200
    (run,) = json.loads(result.output)["runs"]
    verdict = run["verdict"]
    assert verdict["ready_at"] is not None and verdict["ready_at"] >= FAST_LOAD_S
    assert verdict["restarts"] == 0
    probed = {row["endpoint"] for row in run["timeline"] if "probe" in row}
    assert probed <= {f":{POD_HTTP_PORT}{MODEL_READY}", f":{POD_HTTP_PORT}{LIVE}"}
    assert MODEL_READY in record.read_text()
