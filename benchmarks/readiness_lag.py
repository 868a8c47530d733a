#!/usr/bin/env python3
"""Readiness lag of real vLLM (CPU build, tiny model) behind `vllmgen serve`, for three probe configurations on
the same pods in the same run: the probes of llm-d's readiness-probe guide (docs/upstream-facts.md, "The llm-d
readiness-probe guide"), vllmgen's plain probes, vllmgen's supervised probes (both from `vllmgen.values` on the
same spec).

Each start: `vllmgen serve` starts vLLM; probe-check's live driver runs the supervised probes live on kubelet's
schedule and records every endpoint any configuration probes (every RECORD_INTERVAL_S; a /startupz long-poll is
recorded as a held request), plus vLLM's own /health every TRUTH_INTERVAL_S: vLLM only listens once the model is
loaded, so its first 200 is when the model is truly ready. Then every configuration is replayed on each start's
recording with PHASES random ticker phases (pod synced 0-60 s before the container started) and random
start-second fractions: lag = Ready - model ready. The recording ends STOP_AFTER_READY_S after the live pod turned
Ready; replays run to REPLAY_AFTER_TRUTH_S past the model being ready, the endpoints keeping their last answers.

Goals: supervised median <= 0.25 s and p99 <= 1 s at <= 0.5 probe req/s; plain median <= 0.7 s.
Prints numbers; asserts nothing. Environment: STARTS (3), PHASES (200), SEED (1), KEEP (a folder to keep the
recorded timelines in)."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "cli"), str(ROOT)]

from tests.support import tiny_model  # noqa: E402
from tests.support.vllm_server import START_TIMEOUT_S, Supervisor, cpu_env, free_port, tiny_spec  # noqa: E402
from vllmgen import spec as spec_mod, values, yamlio  # noqa: E402
from vllmgen.emulator import drivers, model, report, timeline  # noqa: E402

STARTS = int(os.environ.get("STARTS", "3"))
PHASES = int(os.environ.get("PHASES", "200"))
SEED = int(os.environ.get("SEED", "1"))
#: Recording step per endpoint: a change lands within 0.1 s (a long-poll release is exact, and changes of other
#: supervisor endpoints snap to it); denser polling loads the cores the supervisor and vLLM run on.
RECORD_INTERVAL_S = 0.1
#: vLLM's /health is polled this often: "model truly ready" is known within 20 ms (a refused connect is cheap).
TRUTH_INTERVAL_S = 0.02
#: Keep recording this long after Ready: a few readiness/liveness periods of steady state.
STOP_AFTER_READY_S = 12.0
#: Replays run this long past the model being ready: the llm-d guide's 30 s startup period fits in it.
REPLAY_AFTER_TRUTH_S = 60.0
#: Ticker phases: the pod was synced up to this long before its container started (60 = a multiple of every
#: period used here, so each probe's phase is uniform).
MAX_LEAD_S = 60.0

#: The probes llm-d's readiness-probe guide recommends, on this pod's vLLM port.
LLMD_GUIDE_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {{name: llm-d-guide}}
spec:
  containers:
  - name: vllm
    ports: [{{containerPort: {port}, protocol: TCP}}]
    startupProbe:
      httpGet: {{path: /v1/models, port: {port}}}
      initialDelaySeconds: 15
      periodSeconds: 30
      timeoutSeconds: 5
      failureThreshold: 60
    livenessProbe:
      httpGet: {{path: /health, port: {port}}}
      periodSeconds: 10
      timeoutSeconds: 5
      failureThreshold: 3
    readinessProbe:
      httpGet: {{path: /v1/models, port: {port}}}
      periodSeconds: 5
      timeoutSeconds: 2
      failureThreshold: 3
"""


def configurations(spec: dict, vllm_port: int) -> dict[str, model.PodProbes]:
    out = {}
    docs = yamlio.parse_documents(LLMD_GUIDE_MANIFEST.format(port=vllm_port), "llm-d-guide")
    out["llm-d guide"] = model.from_manifest(docs, "llm-d-guide")
    for mode in ("plain", "supervised"):
        s = json.loads(json.dumps(spec))
        s["probes"]["mode"] = mode
        parsed = spec_mod.parse_spec(json.dumps(s), f"{mode}.json")
        doc = yamlio.parse_document(values.render(parsed, ["standalone"]), f"vllmgen {mode}")
        out[f"vllmgen {mode}"] = model.from_values([doc], "standalone")  # rendered with the chart
    return out


def pct(values_: list[float], q: float) -> float:
    v = sorted(values_)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def rates(run: drivers.Run) -> tuple[float, float]:
    """Probe requests per second while loading (t < Ready) and once Ready."""
    k = run.kubelet
    ready = k.first("ready")
    reqs = k.requests(run.duration)
    if ready is None:
        return len(reqs) / run.duration, float("nan")
    before = sum(1 for r in reqs if r.start < ready)
    return before / ready, (len(reqs) - before) / (run.duration - ready)


def one_start(i: int, model_dir: Path, work: Path, cache: Path) -> dict:
    vllm_port, health_port = free_port(), free_port()
    spec = tiny_spec(model_dir, vllm_port, health_port)
    configs = configurations(spec, vllm_port)
    supervised = configs["vllmgen supervised"]
    target = drivers.parse_target("http://127.0.0.1", list(configs.values()))
    sup = Supervisor(work / f"start{i}", spec, cpu_env(cache)).start()
    try:
        result = drivers.live([supervised, *[c for n, c in configs.items() if n != "vllmgen supervised"]],
                              target, START_TIMEOUT_S, record=True, record_interval=RECORD_INTERVAL_S,
                              truth=(vllm_port, "/health"), truth_interval=TRUTH_INTERVAL_S,
                              stop_after_ready=STOP_AFTER_READY_S)
    finally:
        sup.close()
    return {"configs": configs, "live": result.run, "timeline": result.timeline}


def main() -> None:
    rnd = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="readiness-lag-") as tmp:
        tmp = Path(tmp)
        t = time.monotonic()
        model_dir = tiny_model.build(tmp / "model")
        print(f"tiny model built in {time.monotonic() - t:.1f} s; {STARTS} starts x {PHASES} phases", flush=True)
        lags: dict[str, list[float]] = {}
        load_rps: dict[str, list[float]] = {}
        ready_rps: dict[str, list[float]] = {}
        restarts: dict[str, int] = {}
        live_rows = []
        for i in range(STARTS):
            t = time.monotonic()
            got = one_start(i, model_dir, tmp, tmp / "cache")
            tl, live = got["timeline"], got["live"]
            truth = tl.ready_at
            if truth is None or live.kubelet.first("ready") is None:
                print(f"start {i + 1}: vLLM never became ready; skipped", flush=True)
                continue
            if os.environ.get("KEEP"):
                keep = Path(os.environ["KEEP"])
                keep.mkdir(parents=True, exist_ok=True)
                yamlio.write_atomic(keep / f"start{i + 1}.yaml", timeline.dumps(tl))
            v = report.verdict(live)
            live_rps = rates(live)
            # the same configuration replayed at the live run's own phase: the emulator against reality
            again = drivers.replay(live.pod, tl, lead=0.0, wall_offset=live.wall_start)
            live_rows.append((v.lag, live_rps, again.kubelet.first("ready") - live.kubelet.first("ready"),
                              live.kubelet.restarts))
            startupz = next(e for e in tl.endpoints if e.path == "/startupz")
            release = next(a.at for a in startupz.answers if a.kind == "status" and a.status == 200)
            print(f"start {i + 1}: model ready {truth:.2f} s after the process started; /startupz released "
                  f"{(release - truth) * 1000:.0f} ms later; live supervised pod Ready {v.ready_at:.3f} s (lag "
                  f"{v.lag:.3f} s); its replay at the same phase differs by {live_rows[-1][2] * 1000:+.1f} ms; "
                  f"took {time.monotonic() - t:.0f} s", flush=True)
            until = truth + REPLAY_AFTER_TRUTH_S
            for name, pod in got["configs"].items():
                for _ in range(PHASES):
                    run = drivers.replay(pod, tl, lead=rnd.uniform(0, MAX_LEAD_S), wall_offset=rnd.random(),
                                         until=until)
                    ready = run.kubelet.first("ready")
                    lags.setdefault(name, []).append(float("inf") if ready is None else ready - truth)
                    a, b = rates(run)
                    load_rps.setdefault(name, []).append(a)
                    ready_rps.setdefault(name, []).append(b)
                    restarts[name] = restarts.get(name, 0) + run.kubelet.restarts
        if not lags:
            print("no start reached ready; nothing to report")
            return
        n = len(live_rows)
        print()
        print(f"readiness lag after the model is truly ready ({n} real starts x {PHASES} replayed phases each; "
              f"live: {n} runs)")
        print(f"{'configuration':<22} {'lag median':>10} {'lag p99':>8} {'lag max':>8} {'req/s loading':>13} "
              f"{'req/s Ready':>11} {'restarts':>8}")
        for name in lags:
            lv = lags[name]
            print(f"{name:<22} {pct(lv, 0.5):>9.3f}s {pct(lv, 0.99):>7.3f}s {max(lv):>7.3f}s "
                  f"{sum(load_rps[name]) / len(load_rps[name]):>13.2f} "
                  f"{sum(ready_rps[name]) / len(ready_rps[name]):>11.2f} {restarts[name]:>8}")
        ll = [r[0] for r in live_rows]
        print(f"{'vllmgen supervised LIVE':<22} {pct(ll, 0.5):>9.3f}s {pct(ll, 0.99):>7.3f}s {max(ll):>7.3f}s "
              f"{sum(r[1][0] for r in live_rows) / n:>13.2f} {sum(r[1][1] for r in live_rows) / n:>11.2f} "
              f"{sum(r[3] for r in live_rows):>8}")
        print("goals: supervised median <= 0.25 s, p99 <= 1 s at <= 0.5 req/s; plain median <= 0.7 s")


if __name__ == "__main__":
    main()
