"""Benchmark: how long a frozen load holds a pod before it is restarted, with vllmgen next to the fixed startup
ceilings of production-stack, KServe and Dynamo. Prints:

1. (unless --no-live) a real frozen start: `vllmgen serve` on vLLM (CPU build, tiny model) whose process tree is
   stopped with SIGSTOP once its engine process reports in; the seconds from the freeze to the supervisor's exit,
   against its stallSeconds;
2. `vllmgen probe-check` replays of a load frozen FROZEN_AT s after the container started: vllmgen's values for
   the default spec (its computed stall window; the container exits when the supervisor ends the stalled load,
   one sample period later, or the measured overshoot with the live run) and each peer's probes against the
   same frozen vLLM (nothing exits; only the startup ceiling restarts it). For each: when kubelet restarted the
   container and how long the pod was held after the freeze.

Usage: python benchmarks/stall_recovery.py [--no-live] [--stall-seconds 20] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "cli")]

from tests.support.vllm_server import START_TIMEOUT_S, Supervisor, cpu_env, free_port, tiny_spec  # noqa: E402
from vllmgen import values  # noqa: E402
from vllmgen.budget import stall_window  # noqa: E402
from vllmgen.emulator import timeline as tl  # noqa: E402
from vllmgen.spec import load_spec  # noqa: E402
from vllmgen.supervisor.watch import SAMPLE_PERIOD_S  # noqa: E402

DATA = REPO / "tests" / "data" / "timelines"
#: The replayed load freezes this long after its container started.
FROZEN_AT = 60.0
#: The live start is frozen once its engine process reports in (mid-load, before the weights).
FREEZE_AT_LINE = "Initializing a V1 LLM engine"
PEERS = [("production-stack", "production-stack-engine.yaml", "615 s ceiling"),
         ("KServe LLMInferenceService", "kserve-llmisvc.yaml", "600 s ceiling"),
         ("NVIDIA Dynamo worker", "dynamo-worker.yaml", "7200 s ceiling")]


def live_freeze(model_dir: Path, work: Path, stall_s: int | None) -> tuple[float, str]:
    """Seconds from SIGSTOP of vLLM's tree to the supervisor's exit, and its exit reason (stall_s None: the
    computed default window)."""
    spec = tiny_spec(model_dir, free_port(), free_port())
    spec["startup"] = {"budgetSeconds": 600, **({"stallSeconds": stall_s} if stall_s else {})}
    with Supervisor(work / "frozen", spec, cpu_env(work / "cache")).start() as sup:
        deadline = time.monotonic() + START_TIMEOUT_S
        while FREEZE_AT_LINE not in sup.out_path.read_text(errors="replace"):
            if time.monotonic() > deadline or sup.popen.poll() is not None:
                raise SystemExit(f"vLLM never reported its engine process: {sup.tail()}")
            time.sleep(0.1)
        pgid = sup.vllm_pgid()
        os.killpg(pgid, signal.SIGSTOP)
        t0 = time.monotonic()
        code = sup.wait_exit((stall_s or 3600) + 300)
        took = time.monotonic() - t0
        exit_line = sup.event("exit") or {}
        if code != 1:
            raise SystemExit(f"expected exit 1 after the stall, got {code}: {sup.tail()}")
        return took, exit_line.get("reason", "")


def replay(config: Path, timeline_file: Path, *args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "vllmgen", "probe-check", str(config), "--replay", str(timeline_file),
                        "--format", "json", *args], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO / "cli")})
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return json.loads(r.stdout)["runs"][0]["verdict"]


def supervised_timeline(exit_at: float, path: Path) -> Path:
    """The supervised fixture with the container's exit at `exit_at`."""
    t = tl.load(DATA / "frozen-load-supervised.yaml")
    path.write_text(tl.dumps(tl.Timeline(t.endpoints, max(t.duration, exit_at * 4), exit_at=exit_at)))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-live", action="store_true", help="skip the real frozen start")
    ap.add_argument("--stall-seconds", type=int, default=None,
                    help="stallSeconds of the live start (default: the computed window)")
    ap.add_argument("--model", type=Path, help="tiny model folder (default: built in a temp dir)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="stall-recovery-"))
    overshoot = SAMPLE_PERIOD_S
    spec = load_spec()
    stall = stall_window(spec)
    if not args.no_live:
        live_s = args.stall_seconds or stall.seconds
        model = args.model
        if model is None:
            model = work / "model"
            subprocess.run([sys.executable, "-m", "tests.support.tiny_model", str(model)], cwd=REPO, check=True,
                           capture_output=True)
        took, reason = live_freeze(model, work, args.stall_seconds)
        overshoot = max(0.0, took - live_s)
        print(f"live: vLLM frozen mid-load; `vllmgen serve` exited 1 after {took:.1f} s "
              f"(stallSeconds {live_s}{'' if args.stall_seconds else ', computed'}, {took - live_s:+.1f} s)")
        print(f"      reason: {reason}")

    vals = work / "values.yaml"
    vals.write_text(values.render(spec))
    exit_at = FROZEN_AT + stall.seconds + overshoot
    rows = [("vllmgen supervised (default spec)", replay(vals, supervised_timeline(exit_at, work / "sup.yaml"),
                                                         "--role", "standalone"),
             f"stall window {stall.arithmetic()}")]
    for name, manifest, why in PEERS:
        rows.append((name, replay(DATA / manifest, DATA / "frozen-load.yaml"), why))
    print(f"\nload frozen {FROZEN_AT:g} s after the container started (probe-check replays):")
    print(f"  {'configuration':<36}{'restarted at':>14}{'held after freeze':>20}   why")
    for name, v, why in rows:
        at = v["restarted_at"]
        held = "-" if at is None else f"{at - FROZEN_AT:.0f} s"
        print(f"  {name:<36}{'-' if at is None else f'{at:.0f} s':>14}{held:>20}   {why}")


if __name__ == "__main__":
    main()
