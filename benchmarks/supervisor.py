"""Benchmark of `vllmgen serve` on the real vLLM server (CPU build, tiny local model). Prints:

1. supervisor overhead before vLLM starts (exec of `vllmgen serve` -> vLLM spawned), over several runs;
2. the delay between vLLM turning ready (its own /health first 200, polled every 5 ms) and a held /startupz
   answering 200;
3. probe latency p50/p99/max of /readyz and /livez while vLLM is saturated with concurrent completions, next
   to vLLM's own /health in the same run (one new connection per probe, as the kubelet does).

Goals: overhead <= 0.5 s, /startupz <= 0.1 s after ready, probe p99 <= 20 ms under load.
Usage: python benchmarks/supervisor.py [--clients 16] [--seconds 20] [--model DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "cli")]

import httpx  # noqa: E402

from tests.support.vllm_server import (Supervisor, cpu_env, free_port, kube_probe, start_traffic,  # noqa: E402
                                      tiny_spec, traffic_result)

#: Runs of the overhead measurement (a fake vLLM: `sleep`), so the figure is not one lucky sample.
OVERHEAD_RUNS = 5
#: Interval of the probe sampler under load.
SAMPLE_EVERY_S = 0.05
#: A probe slower than this counts as slow in the stall diagnosis (the p99 goal is 20 ms).
SLOW_PROBE_S = 0.05
#: Tokens per completion in the load (long enough to keep the engine busy).
LOAD_TOKENS = 128


def pct(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49] * 1000:7.2f} ms   p99 {q[98] * 1000:7.2f} ms   max {max(values) * 1000:7.2f} ms"


def measure_overhead(model_dir: Path, work: Path) -> list[tuple[float, float]]:
    """Seconds from exec of `vllmgen serve` to its vLLM child spawned (vLLM replaced by `sleep`: the figure is
    the supervisor's own cost: interpreter start, imports, spec, health server, spawn)."""
    from datetime import datetime

    took = []
    for i in range(OVERHEAD_RUNS):
        spec = tiny_spec(model_dir, free_port(), free_port())
        sup = Supervisor(work / f"overhead-{i}", spec, {"VLLMGEN_VLLM_COMMAND": "sleep 60"})
        t0 = time.time()
        sup.start()
        event = None
        while event is None:
            time.sleep(0.01)
            event = sup.event("vllm-started")
        took.append((datetime.fromisoformat(event["ts"]).timestamp() - t0, event["cpuSeconds"]))
        sup.signal(signal.SIGTERM)
        sup.wait_exit(timeout=30)
        sup.close()
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--model", type=Path, help="an existing tiny model folder (default: build one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs of every run)")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vllmgen-bench-supervisor-"))
    model = a.model
    if model is None:
        model = work / "tiny"
        subprocess.run([sys.executable, "-m", "tests.support.tiny_model", str(model)], cwd=REPO, check=True,
                       capture_output=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared machine); "
          f"vLLM niceness {os.environ.get('VLLMGEN_VLLM_NICENESS', 'default')}")

    # 1. overhead
    overhead = measure_overhead(model, work)
    wall, cpu = [w for w, _ in overhead], [c for _, c in overhead]
    print(f"supervisor overhead before vLLM starts ({OVERHEAD_RUNS} runs): wall median {statistics.median(wall):.3f} s, "
          f"max {max(wall):.3f} s; its CPU time median {statistics.median(cpu):.3f} s (= wall on an idle core)  "
          f"[goal <= 0.5 s]")

    # 2. a real start: held /startupz vs vLLM's own readiness
    spec = tiny_spec(model, free_port(), free_port(), endpoint_drain_s=2, shutdown_timeout_s=30)
    sup = Supervisor(work / "real", spec, cpu_env(work / "cache"))
    try:
        t_start = time.monotonic()
        sup.start()
        sup.wait_listening()
        t_spawn = None
        vllm_ready = {}

        def watch_vllm():
            with httpx.Client(timeout=1) as c:
                while "t" not in vllm_ready and sup.popen.poll() is None:
                    try:
                        if c.get(f"http://127.0.0.1:{sup.vllm_port}/health").status_code == 200:
                            vllm_ready["t"] = time.monotonic()
                    except httpx.TransportError:
                        pass
                    time.sleep(0.005)

        watcher = threading.Thread(target=watch_vllm, daemon=True)
        watcher.start()
        held = 0
        while True:
            r = sup.get("/startupz", params={"timeout": 10}, timeout=15)
            held += 1
            if r.status_code == 200:
                t_startupz = time.monotonic()
                break
            if sup.popen.poll() is not None:
                print(sup.tail())
                return 1
        watcher.join(timeout=5)
        e = sup.event("vllm-started")
        print(f"real start: vLLM spawned {e['t']:.3f} s after the supervisor's first log line; model served "
              f"{vllm_ready['t'] - t_start:.1f} s after launch; {held} /startupz requests while loading")
        print(f"held /startupz answered 200 {(t_startupz - vllm_ready['t']) * 1000:.1f} ms after vLLM's /health "
              f"first answered 200  [goal <= 100 ms]")

        # 3. probes under saturation
        loader = start_traffic("saturate", f"http://127.0.0.1:{sup.vllm_port}", str(a.clients), str(a.seconds),
                               str(LOAD_TOKENS))
        time.sleep(2.0)  # let the load ramp up
        urls = {"/readyz (supervisor)": (sup.health_port, "/readyz"),
                "/livez (supervisor)": (sup.health_port, "/livez"),
                "/health (vLLM)": (sup.vllm_port, "/health")}
        lat = {k: [] for k in urls}
        codes = {k: {} for k in urls}
        deadline = time.monotonic() + a.seconds - 4
        while time.monotonic() < deadline:
            order = list(urls.items())
            random.shuffle(order)  # no probe always first after the pause (wake-up costs land on all alike)
            for name, (port, path) in order:
                took, code = kube_probe(port, path)
                lat[name].append(took)
                codes[name][code] = codes[name].get(code, 0) + 1
            time.sleep(SAMPLE_EVERY_S)
        stats = traffic_result(loader, timeout=a.seconds + 120)
        print(f"load: {a.clients} concurrent clients x {LOAD_TOKENS} tokens for {a.seconds:.0f} s: "
              f"{stats['completions']} completions, {stats['errors']} errors, "
              f"{stats['tokens'] / stats['seconds']:.0f} tokens/s; load average now {os.getloadavg()[0]:.1f}")
        for name in urls:
            print(f"  {name:22s} n={len(lat[name]):4d}  {pct(lat[name])}  codes {codes[name]}  [goal p99 <= 20 ms]")
        # Stalls of the whole machine (or of this prober) hit every endpoint of the same round: count them apart.
        slow = [[lat[name][i] > SLOW_PROBE_S for name in urls] for i in range(len(lat[next(iter(urls))]))]
        print(f"  rounds with a probe slower than {SLOW_PROBE_S * 1000:.0f} ms: {sum(map(any, slow))}, of which "
              f"{sum(all(r) for r in slow)} had all three slow (machine or prober stall, not the supervisor)")

        # 4. drain timing, for the record
        t_sig = time.monotonic()
        sup.signal(signal.SIGTERM)
        code = sup.wait_exit(timeout=120)
        print(f"SIGTERM when idle: exit {code} after {time.monotonic() - t_sig:.1f} s "
              f"(endpoint drain {spec['engine']['endpointDrainSeconds']} s + vLLM stop)")
    finally:
        sup.close()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
