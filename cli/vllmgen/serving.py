"""The serving watchdog's windows: how long an engine with work may go without progress before the supervisor
turns /readyz 503 (stall), and before it restarts the container (restart); and the idle canary's period.
Plain functions of the spec with named constants, one reason each (the supervisor's verdicts are in
vllmgen.supervisor.watchdog).

Why a watchdog at all: with vLLM's engine core process frozen (a hung collective, a stuck kernel, SIGSTOP),
vLLM's /health keeps answering 200 and /v1/models lists the model while every completion hangs
(vllm-project/vllm#39863, #46811). The engine's own counters in /metrics (steps, prompt and generation tokens,
KV usage) stop moving instead, while its request gauges still say it has work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vllmgen.budget import BYTES_PER_PARAM, weights_bytes

#: Longest engine step without any counter moving, apart from prefill: a structured-output grammar compiled
#: for a new schema, a LoRA adapter loaded from disk at runtime, a kernel compiled for a first-seen shape, a
#: scheduler starved of CPU on a saturated node. Each is seconds; 10 s covers them with room.
STEP_FLOOR_SECONDS = 10
#: Prefill compute one accelerator delivers at the least, in FLOP/s: a tenth of an L4's dense bf16 peak
#: (121 TFLOP/s), a twentieth of an A100's (312); a prefill is compute-bound (2 FLOPs per parameter per token).
PREFILL_FLOPS_FLOOR = 10e12
#: A prefill runs 2 FLOPs per parameter per prompt token (one multiply-add per weight).
FLOPS_PER_PARAM_TOKEN = 2
#: Parameters assumed when the spec gives neither model.parameters nor model.weightsGiB: a 70B dense model, the
#: largest commonly served from one pod.
UNKNOWN_PARAMETERS = 70e9
#: Context assumed when engine.maxModelLen is not given (vLLM then takes the model's own, often 32k-128k).
UNKNOWN_CONTEXT_TOKENS = 131072
#: The stall verdict waits twice the longest legitimate step: one slow step is never called a stall.
STALL_MARGIN = 2
#: The restart verdict waits this multiple of the stall window: NotReady already stopped new traffic, and a
#: restart costs a whole model load; an engine frozen 3x longer than its longest legitimate step is not slow.
RESTART_FACTOR = 3
#: Idle canary: after this long without engine progress and with nothing in flight, one 1-token completion
#: checks that the engine still steps (2 requests a minute while idle, none while busy).
CANARY_IDLE_SECONDS = 30


@dataclass(frozen=True)
class Windows:
    stall_s: int  # work in flight and no progress this long: /readyz 503
    restart_s: int  # ... this long: the supervisor exits 1 (container restart)
    canary_idle_s: int | None  # no progress this long while idle: a canary; None = canary off
    prefill_s: float  # the longest legitimate prefill (part of the stall window)
    explicit_stall: bool = False
    explicit_restart: bool = False

    def stall_arithmetic(self) -> str:
        """`(10 step floor + 1.4 prefill) x 2 = 23 s`, or the explicit value."""
        if self.explicit_stall:
            return f"explicit serving.stallSeconds = {self.stall_s} s"
        return f"({STEP_FLOOR_SECONDS} step floor + {self.prefill_s:.1f} prefill) x {STALL_MARGIN} = {self.stall_s} s"

    def restart_arithmetic(self) -> str:
        if self.explicit_restart:
            return f"explicit serving.restartSeconds = {self.restart_s} s"
        return f"{RESTART_FACTOR} x stall {self.stall_s} s = {self.restart_s} s"


def parameters(spec: dict) -> float:
    """The model's parameter count: given, else from its weights' size, else UNKNOWN_PARAMETERS."""
    model = spec["model"]
    if "parameters" in model:
        return float(model["parameters"])
    size = weights_bytes(spec)
    return size / BYTES_PER_PARAM["auto"] if size else UNKNOWN_PARAMETERS


def prefill_seconds(spec: dict) -> float:
    """The longest prefill the spec allows: a prompt of the whole context, at PREFILL_FLOPS_FLOOR per
    tensor-parallel accelerator (chunked prefill splits it into steps, but the counters may only move when
    the prompt's first token comes out)."""
    eng = spec["engine"]
    tokens = eng.get("maxModelLen", UNKNOWN_CONTEXT_TOKENS)
    flops = FLOPS_PER_PARAM_TOKEN * parameters(spec) * tokens
    return flops / (PREFILL_FLOPS_FLOOR * eng["tensorParallelSize"])


def windows(spec: dict) -> Windows:
    serving = spec.get("serving", {})
    prefill = prefill_seconds(spec)
    stall = int(serving["stallSeconds"]) if "stallSeconds" in serving else \
        math.ceil(round((STEP_FLOOR_SECONDS + prefill) * STALL_MARGIN, 6))
    restart = int(serving["restartSeconds"]) if "restartSeconds" in serving else stall * RESTART_FACTOR
    canary = int(serving.get("canaryIdleSeconds", CANARY_IDLE_SECONDS)) if serving.get("canary", True) else None
    return Windows(stall, max(restart, stall), canary, prefill, "stallSeconds" in serving,
                   "restartSeconds" in serving)


def note(w: Windows) -> str:
    """One comment for the values: what the watchdog does and its windows' arithmetic."""
    canary = (f"after {w.canary_idle_s} s idle a 1-token canary (user `vllmgen-canary`) must answer within the "
              f"stall window" if w.canary_idle_s else "no idle canary (serving.canary false)")
    return (f"serving watchdog: requests in the engine and no engine progress (steps, tokens, KV usage in "
            f"/metrics) for the stall window {w.stall_arithmetic()} -> /readyz 503; for the restart window "
            f"{w.restart_arithmetic()} -> the supervisor exits 1 and the container restarts; {canary}")
