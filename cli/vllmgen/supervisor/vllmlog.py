"""vLLM's own log lines that mark where a start is (docs/upstream-facts.md#vllm-startup-log-lines).

`marker(line)` is a pure function: the startup phase a line begins, and the numbers vLLM reported in it. Only
INFO lines (a default log level prints them) and the CUDA graph capture's progress bar are used, as vLLM 0.26 and
0.32 write them with either model runner (V1 `gpu_model_runner.py`, V2 `gpu/model_runner.py`, the GPU default);
a line that matches nothing is still output, which is progress, but no phase change. Lines come prefixed
(`(Worker pid=7) INFO 11-27 06:31:00 [file.py:501] ...`), so the patterns search rather than match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Startup phases in the order a start goes through them. `download` happens inside `weights-load` (vLLM
#: downloads the checkpoint after it built the model, before it reads the shards), so the two may alternate; so may
#: `graph-capture` and `warm-up`: the kernels' warm-up JIT runs after the capture on vLLM 0.26 and before it on
#: 0.32 (V2 runner), and a short warm-up (kernel tuning) precedes the capture on both.
PHASES = ("process-start", "download", "weights-load", "compile", "graph-capture", "warm-up", "api-start")


@dataclass(frozen=True)
class Marker:
    phase: str  # the phase this line begins
    reported: dict  # numbers vLLM logged in it: name -> seconds (or GiB)
    files_local: bool = False  # vLLM reads the checkpoint files now: any download is over


_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


@dataclass(frozen=True)
class _Rule:
    pattern: str
    phase: str  # the phase a matching line begins
    names: tuple[str, ...] = ()  # names of the numbers the pattern captures
    files_local: bool = False


#: Sources: vLLM v0.26.0 and v0.32.0, the file and function named above each rule.
_RULES = (
    # V1 runners (vllm/v1/worker/gpu_model_runner.py, cpu_model_runner.py): load_model
    _Rule(r"Starting to load model ", "weights-load"),
    # the V2 runner (vllm/v1/worker/gpu/model_runner.py: load_model) logs only this one; V1 logs it after the above
    _Rule(r"Loading model from scratch\.\.\.", "weights-load"),
    # vllm/model_executor/model_loader/weight_utils.py: download_weights_from_hf (logged when it took > 0.5 s)
    _Rule(r"Time spent downloading weights for .*: " + _NUMBER + r" seconds", "weights-load", ("downloadSeconds",),
          files_local=True),
    # weight_utils.py: the filesystem check and the shard iterators' progress bars, once the files are local
    _Rule(r"Filesystem type for checkpoints: ", "weights-load", files_local=True),
    _Rule(r"Loading (?:safetensors|pt|np_cache) checkpoint shards", "weights-load", files_local=True),
    # vllm/model_executor/model_loader/default_loader.py: load_weights
    _Rule(r"Loading weights took " + _NUMBER + r" seconds", "compile", ("loadWeightsSeconds",)),
    # both GPU runners' load_model, after the weights are on the device: `GiB memory and` (V1; V2 on 0.32),
    # `GiB and` (V2 on 0.26)
    _Rule(r"Model loading took " + _NUMBER + r" GiB (?:memory )?and " + _NUMBER + r" seconds", "compile",
          ("modelGiB", "modelLoadingSeconds")),
    # vllm/v1/core/kv_cache_utils.py: the KV cache is sized once profiling (and torch.compile) is done; then the
    # worker's compile_or_warm_up_model tunes kernels (vllm/model_executor/warmup/kernel_warmup.py)
    _Rule(r"KV cache size: [0-9,]+ tokens", "warm-up"),
    # the capture's progress bar (no level): vllm/v1/worker/gpu/cudagraph_utils.py (V2) `Capturing CUDA graphs
    # (PIECEWISE)`, gpu_model_runner.py (V1) `Capturing CUDA graphs (decode, FULL)`
    _Rule(r"Capturing CUDA graphs", "graph-capture"),
    # both runners' capture_model; on 0.26 the V2 runner's warm-up JIT (gpu_worker.py: warmup_kernels) follows
    _Rule(r"Graph capturing finished in " + _NUMBER + r" secs", "warm-up", ("graphCaptureSeconds",)),
    # vllm/utils/jit_monitor.py: activate, called by gpu_worker.py once every warm-up is done
    _Rule(r"Kernel JIT monitor activated", "api-start"),
    # vllm/v1/engine/core.py: _initialize_kv_caches; the engine is up, the API server starts next
    _Rule(r"init engine \(profile, create kv cache, warmup model\) took " + _NUMBER + r" s", "api-start",
          ("initEngineSeconds",)),
    # vllm/entrypoints/launchers/api_server/entry.py (0.32), entrypoints/openai/api_server.py (0.26): just before
    # it listens
    _Rule(r"Starting vLLM server on ", "api-start"),
)
_COMPILED = tuple((re.compile(r.pattern), r) for r in _RULES)
#: vLLM's loggers write this word before the message; lines without it (warnings, progress bars) are checked only
#: against the progress-bar patterns, which have no level.
_CHEAP_FILTER = ("INFO", "checkpoint shards", "Capturing CUDA graphs")


def marker(line: str) -> Marker | None:
    """The phase `line` begins, with the numbers it reports; None for any other line."""
    if not any(word in line for word in _CHEAP_FILTER):
        return None
    for pattern, rule in _COMPILED:
        m = pattern.search(line)
        if m:
            return Marker(rule.phase, {n: float(v) for n, v in zip(rule.names, m.groups())}, rule.files_local)
    return None
