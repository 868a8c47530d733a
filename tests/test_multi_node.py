"""The multi-node layout: one model split by tensor x pipeline parallelism over a LeaderWorkerSet group.

- the spec: tensor x pipeline must fill nodes x accelerators per node, refused naming the field otherwise;
- the launch: what the leader and a worker run (supervised, and the plain pod's shell line run by a real shell)
  is read by vLLM 0.32.0's own `vllm serve` parser: the group's size, the node rank, the leader's address, and
  `--headless` on workers only;
- the budget: each node loads its share of the weights, and the group's setup is a term;
- two supervisors on this machine as a leader and a worker pod (stand-in ranks, tests/support/standin_rank.py): a
  worker is live but not Ready while the group forms, Ready once the leader is, NotReady and then not live when
  the leader is gone, and on SIGTERM it keeps its ranks until the leader has drained and exited;
- the rendered group: only leaders get traffic (Service, InferencePool), lint reads it clean and probe-check
  emulates its leader.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.vllm_server import REPO, free_port
from vllmgen import budget, engine, values
from vllmgen.errors import InputError, InputErrors
from vllmgen.spec import parse_spec
from vllmgen.supervisor import process

SPEC = ("layout: multi-node\nmodel: {source: hf://meta-llama/Llama-3.1-405B-Instruct, parameters: 405e9, "
        "dtype: bfloat16}\nengine: {tensorParallelSize: 8, pipelineParallelSize: 2}\n")
LEADER = {"LWS_LEADER_ADDRESS": "llama-0.llama", "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "0"}
WORKER = {**LEADER, "LWS_WORKER_INDEX": "1"}
#: Generous bounds: these tests must pass while other processes use every core.
SETTLE_S = 90


@pytest.fixture(scope="module")
def vllm_parser():
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


def test_the_default_spec_splits_across_two_nodes_by_pipeline():
    """vLLM's advice: tensor parallel inside a node, pipeline parallel across nodes; the default spec's single
    accelerator per node gives 2 pipeline stages on 2 nodes."""
    from vllmgen.spec import load_spec

    spec = load_spec(None, layout="multi-node")
    assert (spec["engine"]["pipelineParallelSize"], spec["multiNode"]["nodes"], spec["accelerator"]["countPerPod"]) \
        == (2, 2, 1)
    assert load_spec(None)["engine"]["pipelineParallelSize"] == 1


def test_two_8_gpu_nodes_for_405b():
    spec = parse_spec(SPEC, "405b.yaml")
    assert spec["accelerator"]["countPerPod"] == 8 and spec["multiNode"]["nodes"] == 2
    block = values.values_dict(spec)["standalone"]
    assert block["parallelism"]["workers"] == 2 and block["parallelism"]["pipeline"] == 2
    assert block["resources"]["limits"]["nvidia.com/gpu"] == 8


@pytest.mark.parametrize("text,pointer,phrase", [
    # 8 x 2 ranks but 3 nodes x 8 GPUs
    (SPEC + "multiNode: {nodes: 3}\naccelerator: {countPerPod: 8}\n", "/engine/tensorParallelSize",
     "3 nodes x 8 accelerators per node"),
    (SPEC.replace("pipelineParallelSize: 2", "pipelineParallelSize: 2, dataParallelSizeLocal: 2"),
     "/engine/dataParallelSize", "one model replica per LeaderWorkerSet group"),
    ("model: {source: hf://a/b, weightsGiB: 1}\nengine: {pipelineParallelSize: 2}\n", "/engine/pipelineParallelSize",
     "use layout multi-node"),
    (SPEC + "image: {repository: vllm/vllm-openai, tag: v0.10.2}\n", "/layout", "needs --nnodes"),
])
def test_a_group_that_cannot_hold_the_model_is_refused_naming_the_field(text, pointer, phrase):
    with pytest.raises((InputError, InputErrors)) as exc:
        parse_spec(text, "spec.yaml")
    errors = exc.value.errors if isinstance(exc.value, InputErrors) else [exc.value]
    found = {e.pointer: e.message for e in errors}
    assert pointer in found and phrase in found[pointer], found


def test_the_budget_counts_each_nodes_share_of_the_weights_and_the_group_setup():
    two = {t.name: t.seconds for t in budget.estimate_terms(parse_spec(SPEC, "a.yaml"))}
    four = {t.name: t.seconds for t in budget.estimate_terms(
        parse_spec(SPEC.replace("pipelineParallelSize: 2", "pipelineParallelSize: 4") + "multiNode: {nodes: 4}\n",
                   "b.yaml"))}
    assert four["load"] == pytest.approx(two["load"] / 2)
    assert two["group setup"] > 0 and two["download"] == four["download"]  # every node downloads the whole model


@pytest.mark.parametrize("env", [LEADER, WORKER], ids=["leader", "worker"])
def test_vllm_parses_what_the_leader_and_a_worker_run(env, vllm_parser):
    spec = parse_spec(SPEC, "405b.yaml")
    ns = vllm_parser.parse_args(engine.vllm_args(spec, "standalone", env))
    assert (ns.tensor_parallel_size, ns.pipeline_parallel_size) == (8, 2)
    assert (ns.nnodes, ns.node_rank, ns.master_addr) == (2, int(env["LWS_WORKER_INDEX"]), "llama-0.llama")
    assert ns.master_port == spec["multiNode"]["masterPort"]
    assert ns.headless is (env is WORKER)


@pytest.mark.parametrize("env", [LEADER, WORKER], ids=["leader", "worker"])
def test_the_plain_pods_shell_line_runs_the_same_launch(env, tmp_path, vllm_parser):
    """The plain pod's command, run by a real shell with LWS's environment and a stand-in `vllm` that writes
    its arguments: vLLM's parser reads them, and they are the supervisor's."""
    spec = parse_spec(SPEC + "probes: {mode: plain}\n", "plain.yaml")
    block = values.values_dict(spec)["standalone"]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    out = tmp_path / "argv.json"
    stub = bindir / "vllm"
    stub.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[2:], open({str(out)!r}, 'w'))\n")
    stub.chmod(0o755)
    line = block["args"][-1].replace("find /dev/shm -type f -delete 2>/dev/null; ", "")
    subprocess.run([*block["command"], line], env={"PATH": f"{bindir}:/usr/bin:/bin", **env}, check=True,
                   timeout=60)
    ns = vllm_parser.parse_args(json.loads(out.read_text()))
    assert vars(ns) == vars(vllm_parser.parse_args(engine.vllm_args(spec, "standalone", env)))
    assert ns.headless is (env is WORKER) and ns.node_rank == int(env["LWS_WORKER_INDEX"])


# --- two supervised "nodes" on this machine ----------------------------------------------------------------------

STANDIN = f"{sys.executable} {REPO / 'tests' / 'support' / 'standin_rank.py'}"


def _wait(predicate, timeout: float = SETTLE_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


class Node:
    """`vllmgen serve` as one pod of the group: its health server on its own loopback address (each pod has its
    own IP), the group's numbers from LWS's environment."""

    def __init__(self, tmp_path: Path, spec: dict, index: int, host: str):
        self.dir = tmp_path / f"node{index}"
        self.dir.mkdir()
        (self.dir / "spec.json").write_text(json.dumps(spec))
        self.url = f"http://{host}:{spec['probes']['healthPort']}"
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "cli"), process.COMMAND_ENV: STANDIN,
                    "VLLMGEN_HEALTH_HOST": host, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
                    "LWS_LEADER_ADDRESS": "127.0.0.1", "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": str(index)}
        self.stderr = self.dir / "stderr.log"
        self.popen = subprocess.Popen([sys.executable, "-m", "vllmgen", "serve", "--spec",
                                       str(self.dir / "spec.json")], env=self.env, stdout=subprocess.DEVNULL,
                                      stderr=open(self.stderr, "w"), start_new_session=True)

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(self.url + path, timeout=5)
        except httpx.HTTPError:
            return None

    def code(self, path: str) -> int | None:
        r = self.get(path)
        return r.status_code if r is not None else None

    def events(self) -> list[dict]:
        return [json.loads(l) for l in self.stderr.read_text().splitlines() if l.startswith("{")]

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(30)


@pytest.fixture
def group_spec() -> dict:
    return {"layout": "multi-node", "model": {"source": "hf://org/tiny", "weightsGiB": 0.1, "name": "tiny"},
            "engine": {"pipelineParallelSize": 2, "endpointDrainSeconds": 1, "shutdownTimeoutSeconds": 60},
            "routing": {"servicePort": free_port()}, "probes": {"mode": "supervised", "healthPort": free_port()},
            "startup": {"budgetSeconds": 300, "cached": True}}


def test_a_worker_waits_for_the_group_serves_with_it_and_is_restarted_when_the_leader_is_gone(tmp_path, group_spec):
    worker = Node(tmp_path, group_spec, 1, "127.0.0.2")
    leader = None
    try:
        assert _wait(lambda: (worker.get("/status") or httpx.Response(0)).status_code == 200), worker.stderr.read_text()
        status = worker.get("/status").json()
        assert status["group"]["rank"] == 1 and status["group"]["nodes"] == 2
        assert "form" in status["group"]["waitsFor"]
        # forming: never called dead, however long the leader takes
        assert worker.code("/livez") == 200 and worker.code("/readyz") == 503
        time.sleep(3)
        assert worker.code("/livez") == 200 and worker.code("/readyz") == 503

        leader = Node(tmp_path, group_spec, 0, "127.0.0.1")
        assert _wait(lambda: leader.code("/readyz") == 200), leader.stderr.read_text()
        assert _wait(lambda: worker.code("/readyz") == 200), worker.stderr.read_text()
        assert worker.get("/status").json()["group"]["waitsFor"] is None
        started = [e for e in leader.events() if e["event"] == "vllm-started"][-1]["command"]
        assert "--headless" not in started and "--headless" in \
            [e for e in worker.events() if e["event"] == "vllm-started"][-1]["command"]

        # the leader's pod is gone: the worker turns NotReady, then its liveness fails (kubelet restarts it and
        # LeaderWorkerSet recreates the group)
        leader.stop()
        assert _wait(lambda: worker.code("/readyz") == 503)
        assert "leader" in worker.get("/status").json()["group"]["waitsFor"]
        assert _wait(lambda: worker.code("/livez") == 503), worker.get("/status").json()
        # SIGTERM now: no leader to wait for, the worker stops at once
        worker.popen.send_signal(signal.SIGTERM)
        assert worker.popen.wait(SETTLE_S) == 0
        assert [e for e in worker.events() if e["event"] == "vllm-sigterm"][-1]["leaderGone"] is True
    finally:
        worker.stop()
        if leader:
            leader.stop()


def test_a_worker_keeps_its_ranks_until_the_leader_has_drained(tmp_path, group_spec):
    leader = Node(tmp_path, group_spec, 0, "127.0.0.1")
    worker = Node(tmp_path, group_spec, 1, "127.0.0.2")
    try:
        assert _wait(lambda: leader.code("/readyz") == 200 and worker.code("/readyz") == 200), \
            worker.stderr.read_text()
        # the whole group is deleted: the worker got its SIGTERM first
        worker.popen.send_signal(signal.SIGTERM)
        assert _wait(lambda: (s := worker.get("/status")) is not None and s.json()["draining"])
        status = worker.get("/status").json()
        assert "leader to drain" in status["group"]["waitsFor"] and worker.popen.poll() is None
        leader.popen.send_signal(signal.SIGTERM)
        assert leader.popen.wait(SETTLE_S) == 0
        assert worker.popen.wait(SETTLE_S) == 0
        assert [e for e in worker.events() if e["event"] == "vllm-sigterm"][-1]["leaderGone"] is True
    finally:
        worker.stop()
        leader.stop()


@pytest.mark.parametrize("mode", ["supervised", "plain"])
def test_vllmgen_lint_reads_the_rendered_group_as_one_model_over_the_nodes(mode, tmp_path):
    """The values render through the chart; lint sees tensor 8 x pipeline 2 over 2 pods x 8 GPUs (no accelerator,
    data-parallel or restart finding)."""
    from vllmgen.lint.runner import Linter

    path = tmp_path / "values.yaml"
    path.write_text(values.render(parse_spec(SPEC + f"probes: {{mode: {mode}}}\n", "405b.yaml"), None))
    result = Linter().lint_paths([str(path)])
    assert not result.unusable and [f.rule for f in result.findings] == []


def test_only_leaders_get_traffic_from_the_service_and_the_inference_pool():
    """Workers run headless ranks with no API server: the Service and the InferencePool select leaders only
    (the LWS controller labels a group's pods with their index, 0 on the leader)."""
    from tests import chartcheck as cc

    spec = parse_spec(SPEC + "routing: {inferencePool: true}\n", "405b.yaml")
    objs = cc.render_objects(values.values_dict(spec), "llama", "default")
    (service,) = [o for o in objs if o["kind"] == "Service" and o["metadata"]["name"].endswith("-standalone")]
    (pool,) = [o for o in objs if o["kind"] == "InferencePool"]
    for selector in (service["spec"]["selector"], pool["spec"]["selector"]["matchLabels"]):
        assert selector["leaderworkerset.sigs.k8s.io/worker-index"] == "0"


def test_probe_check_emulates_the_rendered_groups_leader(tmp_path):
    """probe-check renders the multi-node values and replays a recorded supervised start against the leader."""
    path = tmp_path / "values.yaml"
    path.write_text(values.render(parse_spec(SPEC, "405b.yaml"), None))
    run = subprocess.run([sys.executable, "-m", "vllmgen", "probe-check", str(path), "--replay",
                          str(REPO / "tests" / "data" / "timelines" / "vllmgen-serve-start.yaml")],
                         env={**os.environ, "PYTHONPATH": str(REPO / "cli")}, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Ready at" in run.stdout and "restarts: 0" in run.stdout
