"""The startup budget: how long a pod may take from container start to serving the model before Kubernetes
gives up on it, and in supervised mode the stall window after which the supervisor ends a start that no longer
progresses. Computed from the spec, never guessed; every term carries its reason."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vllmgen import caches, layouts, loras, sources

MB = 1_000_000  # bandwidths are in MB/s (10^6 bytes), as disks and networks are quoted
GIB = 1024**3

#: Kubernetes' integer fields (failureThreshold, progressDeadlineSeconds) are int32.
INT32_MAX = 2**31 - 1
#: The longest startup budget vllmgen renders: failureThreshold (budget / 1 s in plain mode) and the rollout's
#: progressDeadlineSeconds (budget + image pull, under an hour) must stay int32.
MAX_BUDGET_SECONDS = INT32_MAX - 3600
#: Scheduling and pulling the vLLM image (about 10 GB) before the container starts; the startup budget only
#: counts from container start.
IMAGE_PULL_SECONDS = 300

#: The llm-d inference simulator loads no weights: it listens within a second or two of its process start.
SIMULATOR_START_SECONDS = 10

#: What one hf:// LoRA adapter is assumed to download (its size is not in the spec): a rank-64 adapter on every
#: linear layer of an 8B model is about 335 MB in bf16 (2 x rank x (in + out) x layers); 500 MB leaves room for
#: larger ranks and bases.
ADAPTER_DOWNLOAD_BYTES = 500 * MB

#: Bytes per parameter by dtype, to derive the weights size from a parameter count.
BYTES_PER_PARAM = {
    "auto": 2.0,  # vLLM's "auto" loads the checkpoint's dtype; today's checkpoints are almost all bf16
    "bfloat16": 2.0,
    "float16": 2.0,
    "float32": 4.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
}


def weights_bytes(spec: dict) -> float | None:
    """Size of the weights in bytes: given, or parameters x bytes per parameter; None when unknown."""
    model = spec["model"]
    if "weightsGiB" in model:
        return model["weightsGiB"] * GIB
    if "parameters" in model:
        return model["parameters"] * BYTES_PER_PARAM[model["dtype"]]
    return None


@dataclass(frozen=True)
class Term:
    name: str
    seconds: float
    reason: str


# --- what the default compile and process-start terms are made of ---------------------------------------------
# Measured: a cold start of vLLM 0.26 on one H100 80 GB, a 1.06e9-parameter Llama in bf16 from local disk, every
# cache empty: 253 s to /health bare, 197-219 s to Ready behind the supervisor (docs/upstream-facts.md#vllm-on-a-gpu).
# Each part is that measurement rounded up with room; the schema's defaults (startup.compileSeconds,
# startup.processStartSeconds) are their sums (tests/test_probe_math.py holds them together).

#: Interpreter start and imports: in the API server (29.5 s) and again in the engine process it spawns (25 s until
#: `Initializing a V1 LLM engine`, 4 s more until the weights load): 58.7 s.
IMPORTS_AND_PROCESS_START_SECONDS = 60
#: The API server's setup: 29.8 s without a log line before `Resolved architecture` (0.01 s with warm caches), and
#: 2.2 s after the engine is up (`Starting vLLM server` to listening): 32 s.
API_SERVER_SETUP_SECONDS = 35
#: Profiling, Dynamo's bytecode transform and Inductor's graph compile (`torch.compile took 24.35 s in total`),
#: sizing the KV cache: 28.5 s.
TORCH_COMPILE_SECONDS = 35
#: Kernel tuning, then CUDA graph capture (PIECEWISE, then FULL): 3.7 s for one model; more sizes and a larger
#: model take longer.
GRAPH_CAPTURE_SECONDS = 10
#: The kernels' warm-up JIT (FlashInfer, tilelang, humming-kernels, Triton and the CUDA driver compiling PTX) until
#: `Kernel JIT monitor activated`: 95-127 s, without a log line. Cached on the cache claim, it all but disappears.
WARMUP_JIT_SECONDS = 130
#: The parts of each spec term, for the budget's explanation.
START_PARTS = (("imports and process start", IMPORTS_AND_PROCESS_START_SECONDS),
               ("API-server setup", API_SERVER_SETUP_SECONDS))
COMPILE_PARTS = (("torch.compile", TORCH_COMPILE_SECONDS), ("CUDA graph capture", GRAPH_CAPTURE_SECONDS),
                 ("warm-up JIT", WARMUP_JIT_SECONDS))
#: Measured to Ready on an H100 by a new pod (HOME fresh) whose cache claim an earlier start filled: 69.6 s,
#: against 192.5 s cold (benchmarks/gpu_start.py, benchmarks/results/gpu_start-h100.json). What a pod with a warm
#: cache claim needs; the budget still covers the first, cold start.
WARM_START_SECONDS = 69.6
COLD_START_SECONDS = 192.5
#: The share of the compile term a start still spends when its compile caches are warm (graph capture and the
#: little no cache keeps): 22.0 s of 123.7 s on that H100 with the claim warm, rounded up. What the supervisor's
#: /status estimate uses once it finds the caches filled; the budget itself stays cold.
WARM_COMPILE_SHARE = 0.25


def _parts(seconds: float, parts: tuple) -> str:
    """`35 torch.compile + 10 CUDA graph capture + 130 warm-up JIT, a cold start on an H100` when the term is the
    parts' sum (the default); for another value, that it is the spec's and what the default is made of."""
    default = sum(sec for _, sec in parts)
    listed = " + ".join(f"{sec:g} {name}" for name, sec in parts)
    if seconds == default:
        return f"{listed}, a cold start on an H100"
    return f"as the spec sets it (the default {default:g} s is {listed}, a cold start on an H100)"


def _warm(spec: dict) -> str:
    if caches.volume(spec) is None:
        return ""
    return (f"; a new pod with those caches warm took {WARM_START_SECONDS:g} s to Ready against "
            f"{COLD_START_SECONDS:g} s cold on an H100")


def _sum_line(terms: tuple[Term, ...], factor: float, seconds: int) -> str:
    """`(164 download + 33 load) x 1.5 = 296 s`: terms summed, times a factor, as rounded."""
    parts = " + ".join(f"{t.seconds:.0f} {t.name}" for t in terms)
    return f"({parts}) x {factor:g} = {seconds} s"


@dataclass(frozen=True)
class Budget:
    seconds: int  # the budget, whole seconds, rounded up
    estimate: float  # the sum of the terms, before the safety factor
    safety_factor: float
    terms: tuple[Term, ...]
    explicit: bool = False

    def arithmetic(self) -> str:
        """One line that shows the sum: `(164 download + 33 load + 90 compile + 60 start) x 1.5 = 521 s`."""
        if self.explicit:
            return f"explicit startup.budgetSeconds = {self.seconds} s"
        return _sum_line(self.terms, self.safety_factor, self.seconds)


def estimate_terms(spec: dict) -> tuple[Term, ...]:
    """The terms of the estimate, from the spec's sizes and bandwidths (computed even under an explicit budget:
    the supervisor's estimate of the time left uses them)."""
    start = spec["startup"]
    lay = layouts.of(spec)
    if lay.simulator:
        return (Term("simulator start", SIMULATOR_START_SECONDS,
                     "the simulator loads no weights and listens within a second or two"),)
    size = weights_bytes(spec) or 0.0
    gb = size / MB / 1000
    download = 0.0 if start["cached"] else size / (start["downloadMBps"] * MB)
    terms = [
        Term("download", download,
             "weights are cached or on a PVC" if start["cached"]
             else f"{gb:.1f} GB at {start['downloadMBps']:g} MB/s"),
        _load_term(spec, size),
        Term("compile", float(start["compileSeconds"]),
             f"{_parts(start['compileSeconds'], COMPILE_PARTS)}; {caches.note(spec)}{_warm(spec)}"),
        Term("start", float(start["processStartSeconds"]), _parts(start["processStartSeconds"], START_PARTS)),
    ]
    fetched = [a for a in loras.of(spec) if a.downloads]
    if fetched:
        # hf:// adapters land in the hub cache: cached only where the model's own hub download is
        in_cache = start["cached"] and sources.parse(spec["model"]["source"]).downloads
        terms.insert(1, Term("adapter download", 0.0 if in_cache
                             else len(fetched) * ADAPTER_DOWNLOAD_BYTES / (start["downloadMBps"] * MB),
                             "adapters are in the model's cached hub folder" if in_cache else
                             f"{len(fetched)} hf:// LoRA adapter(s) x {ADAPTER_DOWNLOAD_BYTES / MB:.0f} MB at "
                             f"{start['downloadMBps']:g} MB/s"))
    if lay.group_setup_seconds:
        terms.append(Term("group setup", lay.group_setup_seconds, lay.group_setup_why))
    return tuple(terms)


def _load_term(spec: dict, size: float) -> Term:
    """Reading the weights into accelerator memory. Where one model is split over a group's pods (node ranks),
    each pod reads only its ranks' share, all pods at once: the load takes one share's time."""
    start, gb = spec["startup"], size / MB / 1000
    nodes = layouts.group_size(spec) if layouts.of(spec).group_launch == "node-ranks" else 1
    if nodes > 1:
        return Term("load", size / nodes / (start["loadMBps"] * MB),
                    f"each of {nodes} nodes reads its share: {gb:.1f} GB / {nodes} at {start['loadMBps']:g} MB/s")
    return Term("load", size / (start["loadMBps"] * MB), f"{gb:.1f} GB at {start['loadMBps']:g} MB/s")


def startup_budget(spec: dict) -> Budget:
    start = spec["startup"]
    if "budgetSeconds" in start:
        sec = int(start["budgetSeconds"])
        return Budget(sec, float(sec), 1.0, (Term("explicit", sec, "startup.budgetSeconds"),), explicit=True)
    terms = estimate_terms(spec)
    estimate = sum(t.seconds for t in terms)
    factor = float(start["safetyFactor"])
    total = round(estimate * factor, 6)
    # bandwidths near 0 make a term overflow to infinity: a budget past any bound, which the spec checks refuse
    seconds = max(1, math.ceil(total)) if math.isfinite(total) else MAX_BUDGET_SECONDS + 1
    return Budget(seconds, estimate, factor, terms)


# --- supervised mode: a ceiling for kubelet, a stall window for the supervisor -----------------------------------
#: In supervised mode kubelet's startup budget is this multiple of the computed one: the supervisor ends a start
#: that stops progressing, so kubelet only has to catch one that still progresses but runs 3x slower than
#: estimated (a third of the bandwidths, three times the compile).
CEILING_FACTOR = 3
#: The longest a healthy start goes without a vLLM log line, a downloaded byte, half a second of CPU time, a MiB
#: read from storage or device memory growth in vLLM's processes. Imports, loading (reads), compiling and graph
#: capture keep a core or the storage busy; the waits that use neither are network round trips (a hub request
#: times out after 10 s and is retried) and engine processes handshaking (seconds). 25 s covers a timed-out hub
#: request, its retry and a handshake; with STALL_MARGIN a frozen load is ended 50 s after the freeze, and the pod
#: is held at most 50 + 1 (sampling) + 5 (kill and exit) + 2 (kubelet sees the exit) = 58 s, 10x less than
#: production-stack's 580 s.
QUIET_START_SECONDS = 25
#: A start is called stalled only after twice the longest quiet stretch a healthy one has.
STALL_MARGIN = 2


def supervised_ceiling(budget: Budget) -> int:
    """Seconds kubelet allows a supervised start: the budget x CEILING_FACTOR (at most what Kubernetes' fields
    hold); an explicit budget as given."""
    if budget.explicit:
        return budget.seconds
    return min(budget.seconds * CEILING_FACTOR, max(budget.seconds, MAX_BUDGET_SECONDS))


@dataclass(frozen=True)
class StallWindow:
    seconds: int
    terms: tuple[Term, ...]
    margin: float
    explicit: bool = False

    def arithmetic(self) -> str:
        """`(25 quiet start) x 2 = 50 s`, or the explicit value."""
        if self.explicit:
            return f"explicit startup.stallSeconds = {self.seconds} s"
        return _sum_line(self.terms, self.margin, self.seconds)


def stall_window(spec: dict) -> StallWindow:
    """How long a loading start may show no progress before the supervisor ends it: the longest quiet stretch of a
    healthy start (plus, in a multi-pod group, peers still pulling the image) x STALL_MARGIN; or
    startup.stallSeconds."""
    start = spec["startup"]
    if "stallSeconds" in start:
        sec = int(start["stallSeconds"])
        return StallWindow(sec, (Term("explicit", sec, "startup.stallSeconds"),), 1.0, explicit=True)
    terms = [Term("quiet start", QUIET_START_SECONDS,
                  "the longest a healthy start goes without a log line, a downloaded byte, CPU time, a storage read "
                  "or device memory growth")]
    if layouts.of(spec).multinode:
        terms.append(Term("peers' image pull", IMAGE_PULL_SECONDS,
                          "ranks wait for their peers without CPU, and a peer may still be pulling the image"))
    quiet = sum(t.seconds for t in terms)
    return StallWindow(math.ceil(quiet * STALL_MARGIN), tuple(terms), float(STALL_MARGIN))
