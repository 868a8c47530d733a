"""The `vllm serve` command line a spec implies, per role. One function serves the values (plain mode puts
these arguments in the pod) and the supervisor (which starts vLLM with them), so they cannot disagree."""

from __future__ import annotations

import json
import shlex
from typing import Mapping

from vllmgen import connectors, layouts, loras, sources
from vllmgen.errors import InputError
from vllmgen.roles import DISAGGREGATED_ROLES, SIDECAR_ROLE

#: `--shutdown-timeout` when the spec does not say: long enough for most in-flight requests to finish (llm-d
#: guides settle on 30 s for a single model server, llm-d/llm-d #1653), short of Kubernetes' patience.
SHUTDOWN_TIMEOUT_SECONDS = 30
#: dtypes vLLM takes as `--dtype` (compute types); fp8/int8/int4 are checkpoint quantizations it detects itself.
COMPUTE_DTYPES = ("bfloat16", "float16", "float32")
#: Environment the LeaderWorkerSet controller injects into every container of a group
#: (docs/upstream-facts.md#leaderworkerset-api).
LWS_ENV = ("LWS_LEADER_ADDRESS", "LWS_GROUP_SIZE", "LWS_WORKER_INDEX")


def has_sidecar(spec: dict, role: str) -> bool:
    """Decode pods sit behind the routing sidecar unless it is turned off."""
    return role == SIDECAR_ROLE and spec["routing"]["sidecar"]["enabled"]


def vllm_port(spec: dict, role: str) -> int:
    """Port vLLM listens on: behind the sidecar (8200) on decode pods, the service port (8000) otherwise."""
    return spec["routing"]["targetPort"] if has_sidecar(spec, role) else spec["routing"]["servicePort"]


def model_arg(spec: dict) -> str:
    """What vLLM loads (`sources.model_arg` of the spec's source)."""
    return sources.model_arg(spec["model"]["source"])


def simulator_args(spec: dict, role: str) -> list[str]:
    """The llm-d inference simulator's flags (its image entrypoint runs the simulator)."""
    name = spec["model"]["name"]
    return ["--model", name, "--port", str(vllm_port(spec, role)), "--served-model-name", name]


def group_position(spec: dict, env: Mapping[str, str] | None) -> tuple[int, int, str]:
    """(group size, this pod's index, leader address) from the LeaderWorkerSet environment; the leader is index 0."""
    lay = layouts.of(spec)
    env = env or {}
    missing = [k for k in LWS_ENV if not env.get(k)]
    if missing:
        raise InputError("<environment>", "", f"{', '.join(missing)} not set: {lay.name} pods run inside a "
                         "LeaderWorkerSet, whose controller sets them")
    try:
        group, index = int(env["LWS_GROUP_SIZE"]), int(env["LWS_WORKER_INDEX"])
    except ValueError:
        raise InputError("<environment>", "", "LWS_GROUP_SIZE and LWS_WORKER_INDEX must be integers") from None
    return group, index, env["LWS_LEADER_ADDRESS"]


def is_group_worker(spec: dict, env: Mapping[str, str] | None) -> bool:
    """A headless rank of a multi-node group: it serves no API, the leader (index 0) does."""
    if layouts.of(spec).group_launch != "node-ranks":
        return False
    return group_position(spec, env)[1] != 0


def vllm_args(spec: dict, role: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Arguments after `vllm serve`, model first. In a LeaderWorkerSet group, the group's numbers come from the
    LeaderWorkerSet environment in `env` (LWS_GROUP_SIZE, LWS_WORKER_INDEX, LWS_LEADER_ADDRESS)."""
    group_args: list[str] = []
    lay = layouts.of(spec)
    if lay.group_launch == "data-parallel":
        group, index, leader = group_position(spec, env)
        local = spec["engine"]["dataParallelSizeLocal"]
        group_args = _wide_ep_args(spec, role, str(group * local), str(index * local), leader)
    elif lay.group_launch == "node-ranks":
        group, index, leader = group_position(spec, env)
        group_args = _node_rank_args(spec, str(group), str(index), leader, headless=index != 0)
    return _common_args(spec, role, group_args)


def vllm_shell_command(spec: dict, role: str) -> str:
    """A LeaderWorkerSet group in plain mode: a shell line that computes the group's numbers from the LWS
    environment at start (as llm-d's wide-EP manifests do) and execs vLLM. Clears stale /dev/shm files first
    (llm-d #352)."""
    if layouts.of(spec).group_launch == "node-ranks":
        return _node_rank_shell_command(spec, role)
    local = spec["engine"]["dataParallelSizeLocal"]
    marker = {"size": "__DP_SIZE__", "rank": "__START_RANK__", "addr": "__LEADER__"}
    args = _common_args(spec, role, _wide_ep_args(spec, role, marker["size"], marker["rank"], marker["addr"]))
    line = " ".join(shlex.quote(a) for a in ["vllm", "serve", *args])
    line = (line.replace(marker["size"], f"$((LWS_GROUP_SIZE * {local}))")
                .replace(marker["rank"], f"$((LWS_WORKER_INDEX * {local}))")
                .replace(marker["addr"], '"${LWS_LEADER_ADDRESS}"'))
    return f"find /dev/shm -type f -delete 2>/dev/null; exec {line}"


def _node_rank_shell_command(spec: dict, role: str) -> str:
    """multi-node in plain mode: the node rank and leader address from the LWS environment; workers (index > 0)
    start headless, the leader serves the API."""
    marker = {"rank": "__NODE_RANK__", "addr": "__LEADER__"}
    args = _common_args(spec, role, _node_rank_args(spec, str(layouts.group_size(spec)), marker["rank"],
                                                    marker["addr"], headless=False))
    line = " ".join(shlex.quote(a) for a in ["vllm", "serve", *args])
    line = (line.replace(marker["rank"], '"${LWS_WORKER_INDEX}"')
                .replace(marker["addr"], '"${LWS_LEADER_ADDRESS}"'))
    return ('find /dev/shm -type f -delete 2>/dev/null; HEADLESS=; [ "${LWS_WORKER_INDEX}" = 0 ] || '
            f'HEADLESS=--headless; exec {line} $HEADLESS')


def _node_rank_args(spec: dict, nodes: str, rank: str, leader: str, headless: bool) -> list[str]:
    """vLLM's own multi-node launch (vllm-project/vllm #23691): every node runs `vllm serve` with the group's
    size, its rank and the leader's address; the workers run headless (no API server)."""
    args = ["--nnodes", nodes, "--node-rank", rank, "--master-addr", leader,
            "--master-port", str(spec["multiNode"]["masterPort"])]
    return args + (["--headless"] if headless else [])


def _wide_ep_args(spec: dict, role: str, size: str, rank: str, leader: str) -> list[str]:
    wide, engine = spec["wideEP"], spec["engine"]
    args = [
        "--data-parallel-hybrid-lb",  # each pod serves its own ranks' traffic; the leader coordinates
        "--data-parallel-size", size,
        "--data-parallel-size-local", str(engine["dataParallelSizeLocal"]),
        "--data-parallel-address", leader,
        "--data-parallel-rpc-port", str(wide["rpcPort"]),
        "--data-parallel-start-rank", rank,
    ]
    if wide["expertParallel"]:
        args.append("--enable-expert-parallel")
    backend = wide["all2allBackend"].get(role)
    if backend:
        args += ["--all2all-backend", backend]
    return args


def _common_args(spec: dict, role: str, dp_args: list[str]) -> list[str]:
    model, engine = spec["model"], spec["engine"]
    args = [model_arg(spec), "--served-model-name", model["name"], "--port", str(vllm_port(spec, role))]
    if model.get("revision"):
        args += ["--revision", model["revision"]]
    if model["dtype"] in COMPUTE_DTYPES:
        args += ["--dtype", model["dtype"]]
    if engine["tensorParallelSize"] > 1:
        args += ["--tensor-parallel-size", str(engine["tensorParallelSize"])]
    if engine["pipelineParallelSize"] > 1:
        args += ["--pipeline-parallel-size", str(engine["pipelineParallelSize"])]
    if dp_args:
        args += dp_args
    elif engine["dataParallelSize"] > 1:
        args += ["--data-parallel-size", str(engine["dataParallelSize"]),
                 "--data-parallel-size-local", str(engine["dataParallelSizeLocal"])]
    if "maxModelLen" in engine:
        args += ["--max-model-len", str(engine["maxModelLen"])]
    if "gpuMemoryUtilization" in engine:
        args += ["--gpu-memory-utilization", f"{engine['gpuMemoryUtilization']:g}"]
    if engine["shutdownTimeoutSeconds"] > 0:
        # drain in-flight requests on SIGTERM instead of aborting them (vLLM's default is 0: abort)
        args += ["--shutdown-timeout", str(engine["shutdownTimeoutSeconds"])]
    args += loras.vllm_args(spec)
    connector = connectors.get(spec["routing"]["sidecar"]["connector"])
    if role in DISAGGREGATED_ROLES and connector.vllm_class:
        args += ["--kv-transfer-config", json.dumps(connector.kv_transfer_config(role), separators=(",", ":"))]
    return args + list(engine["extraArgs"])
