"""CPU, memory and ephemeral storage of each container, computed from the spec, each term with its reason. Without
requests a GPU pod runs at BestEffort QoS, the first evicted under node pressure; the numbers here are what vLLM
holds on the host, so the scheduler places the pod where that fits."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vllmgen import layouts, quantities, sources
from vllmgen.budget import GIB, weights_bytes
from vllmgen.caches import MODEL_CACHE

#: API server and engine-core processes: Python, torch, the tokenizer (1.2 GiB measured on CPU with a tiny model,
#: docs/upstream-facts.md#vllm-on-cpu; CUDA builds import more).
FRONTEND_GIB = 2.0
#: One worker process per rank (accelerator): torch, the CUDA context, NCCL buffers, pinned staging (1.7 GiB
#: measured for the CPU worker with a 1 GiB KV cache).
RANK_GIB = 3.0
#: Weights pass through host memory on their way to the accelerator one checkpoint shard at a time per rank;
#: 5 GB is the Hugging Face hub's default shard size (transformers `save_pretrained(max_shard_size="5GB")`).
SHARD_BYTES = 5e9
#: A memory limit this much above the request: the estimate may be short (a bigger shard, a tokenizer cache), and
#: the OOM killer should stop this container only when it is clearly past it.
MEMORY_LIMIT_FACTOR = 1.5
#: The API server (HTTP, tokenization) and the engine core's busy loop each keep about a core busy.
FRONTEND_CPUS = 1.0
#: Each rank's worker drives its accelerator from a busy thread, plus NCCL/DeepEP proxy threads; with the frontend
#: a one-GPU pod asks for 3 CPUs, which fits the smallest one-GPU cloud nodes (4 vCPUs).
CPUS_PER_RANK = 2.0
#: CPU limits throttle a busy-polling engine loop and cost latency; a limit well above the request only caps a
#: runaway.
CPU_LIMIT_FACTOR = 2.0
#: hf:// downloads land in an emptyDir this much larger than the weights (hub temp files, tokenizer, config).
DOWNLOAD_HEADROOM = 1.25
#: The weights' size when the spec does not give it (an explicit startup budget): generous, so the download
#: emptyDir (x DOWNLOAD_HEADROOM = 100 GiB) and the staging term do not starve a mid-size model.
UNKNOWN_WEIGHTS_BYTES = 80 * GIB
#: Writable scratch besides the weights: compile and kernel caches, logs, temporary files.
SCRATCH_GIB = 5.0
#: `engine.extraArgs` flags that make vLLM hold weights or KV in host memory (GiB) -> what the number is per.
HOST_MEMORY_FLAGS = {
    "--cpu-offload-gb": "per accelerator",  # weights kept in host memory
    "--swap-space": "per accelerator",  # CPU KV swap space (vLLM before 0.18)
    "--kv-offloading-size": "per data-parallel rank",  # CPU KV offloading buffer, summed over TP ranks
}

#: The llm-d inference simulator and the routing sidecar: small Go servers.
SIMULATOR = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
SIDECAR = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "512Mi"}}
SIMULATOR_WHY = "the llm-d inference simulator: a small Go server, no weights"
SIDECAR_WHY = ("the routing sidecar: a Go proxy in front of decode vLLM; the CPU limit leaves room for streaming "
               "responses at load")


@dataclass(frozen=True)
class Sizing:
    requests: dict
    limits: dict
    why: str  # one line for the values comment: the arithmetic

    def as_dict(self) -> dict:
        return {"limits": dict(self.limits), "requests": dict(self.requests)}


def _gi(nbytes: float) -> str:
    return f"{max(1, math.ceil(nbytes / GIB))}Gi"


def _cpus(cores: float) -> str:
    return f"{cores:g}" if cores == int(cores) else f"{math.ceil(cores * 1000)}m"


def flag_value(args: list[str], flag: str) -> float | None:
    """The number after `flag` (`--flag N` or `--flag=N`) in extra arguments; None when absent or not a number."""
    for i, arg in enumerate(args):
        text = arg.split("=", 1)[1] if arg.startswith(flag + "=") else \
            args[i + 1] if arg == flag and i + 1 < len(args) else None
        if text is not None:
            try:
                return float(text)
            except ValueError:
                return None
    return None


def quantity_bytes(text: str) -> float:
    """A Kubernetes quantity (`2Gi`, `512Mi`, `2G`, `1.5e9`) in bytes."""
    return float(quantities.value(text))


def server(spec: dict, dshm: str | None) -> Sizing:
    """The server container: memory from what vLLM holds in host memory, CPU from the ranks, ephemeral storage
    for downloads and scratch. `dshm` is the in-memory /dev/shm size limit (it counts against the pod's memory)."""
    if layouts.of(spec).simulator:
        return Sizing(SIMULATOR["requests"], SIMULATOR["limits"], SIMULATOR_WHY)
    engine = spec["engine"]
    ranks = engine["tensorParallelSize"] * engine["dataParallelSizeLocal"]
    size = weights_bytes(spec) or UNKNOWN_WEIGHTS_BYTES
    staging = min(size, SHARD_BYTES * ranks)
    terms = [("frontend", FRONTEND_GIB * GIB), (f"ranks ({ranks} x {RANK_GIB:g})", ranks * RANK_GIB * GIB),
             ("weights staging", staging)]
    for flag, per in HOST_MEMORY_FLAGS.items():
        gib = flag_value(engine["extraArgs"], flag)
        if gib:
            times = ranks if per == "per accelerator" else engine["dataParallelSizeLocal"]
            terms.append((f"{flag} ({times} x {gib:g})", gib * times * GIB))
    if dshm:
        terms.append(("/dev/shm in memory", quantity_bytes(dshm)))
    memory = sum(b for _, b in terms)
    cpus = FRONTEND_CPUS + CPUS_PER_RANK * ranks
    requests = {"cpu": _cpus(cpus), "memory": _gi(memory)}
    limits = {"cpu": _cpus(cpus * CPU_LIMIT_FACTOR), "memory": _gi(memory * MEMORY_LIMIT_FACTOR)}
    disk = SCRATCH_GIB * GIB
    why_disk = f"{SCRATCH_GIB:g} GiB scratch"
    if sources.parse(spec["model"]["source"]).downloads and spec["caches"]["claim"] != MODEL_CACHE:
        disk += size * DOWNLOAD_HEADROOM
        why_disk = f"weights x {DOWNLOAD_HEADROOM:g} downloaded + " + why_disk
    requests["ephemeral-storage"] = _gi(disk)
    parts = " + ".join(f"{math.ceil(b / GIB * 10) / 10:g} {name}" for name, b in terms)
    why = (f"memory GiB = {parts}, limit x {MEMORY_LIMIT_FACTOR:g}; cpu = {FRONTEND_CPUS:g} frontend + {ranks} "
           f"ranks x {CPUS_PER_RANK:g}, limit x {CPU_LIMIT_FACTOR:g}; ephemeral storage = {why_disk}")
    return Sizing(requests, limits, why)


def sidecar() -> Sizing:
    return Sizing(SIDECAR["requests"], SIDECAR["limits"], SIDECAR_WHY)
