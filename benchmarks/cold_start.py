#!/usr/bin/env python3
"""Cold wall time of `vllmgen values --role decode` (a new process each run, median of N) next to
`python -c pass`. Goal: at most 0.35 s. Prints numbers; asserts nothing."""

import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

RUNS = int(os.environ.get("RUNS", "15"))
ROOT = pathlib.Path(__file__).resolve().parent.parent


def wall(cmd, env):
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times)


def main():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "cli"))
    rows = [("python -c pass", [sys.executable, "-c", "pass"])]
    rows.append(("python -m vllmgen values --role decode", [sys.executable, "-m", "vllmgen", "values", "--role", "decode"]))
    script = shutil.which("vllmgen", path=str(pathlib.Path(sys.executable).parent))
    if script:
        rows.append(("vllmgen values --role decode (console script)", [script, "values", "--role", "decode"]))
    print(f"cold wall time, median of {RUNS} runs (min / max)")
    base = None
    for name, cmd in rows:
        med, lo, hi = wall(cmd, env)
        base = base or med
        print(f"  {name:48s} {med * 1000:7.1f} ms  ({lo * 1000:.1f} / {hi * 1000:.1f})  x{med / base:.1f} of python")
    print("goal: vllmgen values --role decode <= 350 ms")


if __name__ == "__main__":
    main()
