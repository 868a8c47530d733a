"""The startup budget: how long a pod may take from container start to serving the model before Kubernetes
gives up on it. Computed from the spec, never guessed; every term carries its reason."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vllmgen import layouts

MB = 1_000_000  # bandwidths are in MB/s (10^6 bytes), as disks and networks are quoted
GIB = 1024**3

#: Kubernetes' integer fields (failureThreshold, progressDeadlineSeconds) are int32.
INT32_MAX = 2**31 - 1
#: The longest startup budget vllmgen renders: failureThreshold (budget / 1 s in plain mode) and the rollout's
#: progressDeadlineSeconds (budget + image pull, under an hour) must stay int32.
MAX_BUDGET_SECONDS = INT32_MAX - 3600

#: The llm-d inference simulator loads no weights: it listens within a second or two of its process start.
SIMULATOR_START_SECONDS = 10

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
        parts = " + ".join(f"{t.seconds:.0f} {t.name}" for t in self.terms)
        return f"({parts}) x {self.safety_factor:g} = {self.seconds} s"


def startup_budget(spec: dict) -> Budget:
    start = spec["startup"]
    if "budgetSeconds" in start:
        sec = int(start["budgetSeconds"])
        return Budget(sec, float(sec), 1.0, (Term("explicit", sec, "startup.budgetSeconds"),), explicit=True)
    lay = layouts.of(spec)
    if lay.simulator:
        terms = [Term("simulator start", SIMULATOR_START_SECONDS,
                      "the simulator loads no weights and listens within a second or two")]
    else:
        size = weights_bytes(spec) or 0.0
        gb = size / MB / 1000
        download = 0.0 if start["cached"] else size / (start["downloadMBps"] * MB)
        terms = [
            Term("download", download,
                 "weights are cached or on a PVC" if start["cached"]
                 else f"{gb:.1f} GB at {start['downloadMBps']:g} MB/s"),
            Term("load", size / (start["loadMBps"] * MB), f"{gb:.1f} GB at {start['loadMBps']:g} MB/s"),
            Term("compile", float(start["compileSeconds"]), "torch.compile, graph capture, warm-up"),
            Term("start", float(start["processStartSeconds"]), "interpreter, imports, engine processes"),
        ]
        if lay.group_setup_seconds:
            terms.append(Term("group setup", lay.group_setup_seconds,
                              "DeepEP/NVSHMEM, DeepGEMM JIT, data-parallel handshake across the group"))
    estimate = sum(t.seconds for t in terms)
    factor = float(start["safetyFactor"])
    return Budget(max(1, math.ceil(round(estimate * factor, 6))), estimate, factor, tuple(terms))
