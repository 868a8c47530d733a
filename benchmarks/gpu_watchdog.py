#!/usr/bin/env python3
"""The serving watchdog on a GPU engine: a busy engine, an engine core frozen with requests in flight, and one
frozen while idle, behind the supervisor as the chart runs it (benchmarks/gpu_start.py's pod and model).

On a machine with a GPU and vLLM importable, from the repository root:

    PYTHONPATH=cli:/tmp/site python3 benchmarks/gpu_watchdog.py --work /tmp/gpu-start --cases busy,in-flight
    PYTHONPATH=cli:/tmp/site python3 benchmarks/gpu_watchdog.py --work /tmp/gpu-start --cases idle

Each case starts one supervised pod with the spec's default windows (`serving.stallSeconds`, `restartSeconds`,
`canaryIdleSeconds`) and prints:
- `busy`: 32 streamed requests of 1024 tokens for at least 30 s while /readyz is polled: every /readyz answer and
  the watchdog's verdicts (expected: 200 throughout, no verdict).
- `in-flight`: 8 streamed requests, then SIGSTOP on the `VLLM::EngineCore` process: seconds from the freeze to
  /readyz 503 (expected within stallSeconds + 2 s) and to the supervisor's exit (restartSeconds), with the reason
  from /status and the exit code.
- `idle`: nothing in flight, SIGSTOP on the engine core: seconds from the freeze to /readyz 503 (the canary, within
  canaryIdleSeconds + stallSeconds + 2 s).
vLLM's /health is read alongside: it stays 200 while the engine core is frozen (vllm-project/vllm#39863).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_start as gs  # noqa: E402
from vllmgen import serving  # noqa: E402

CASES = ("busy", "in-flight", "idle")
#: A verdict read from /status is compared with the spec's window plus this: the monitor reads /metrics about once a
#: second and the benchmark polls every POLL_S.
SLACK_S = 2.0


def engine_core(run: gs.Run) -> int | None:
    """The pid of vLLM's engine core process in the run's tree (its process title is `VLLM::EngineCore`)."""
    for pid in run.tree():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if "EngineCore" in cmd or "EngineCore" in comm:
            return pid
    return None


def watch_until(run: gs.Run, health: int, port: int, since: float, limit: float) -> dict:
    """Poll /readyz, /status and vLLM's /health from `since` until the supervisor exits or `limit` s pass."""
    out: dict = {"readyz503After": None, "exitAfter": None, "exitCode": None, "healthWhileFrozen": set()}
    while time.monotonic() - since < limit:
        code, _ = gs.get(f"http://127.0.0.1:{health}/readyz", timeout=1.0)
        h, _ = gs.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
        out["healthWhileFrozen"].add(h)
        if code == 503 and out["readyz503After"] is None:
            out["readyz503After"] = round(time.monotonic() - since, 2)
            _, st = gs.get(f"http://127.0.0.1:{health}/status", timeout=2.0)
            out["statusAt503"] = (st or {}).get("watchdog") if isinstance(st, dict) else st
            out["reasonsAt503"] = (st or {}).get("reasons") if isinstance(st, dict) else None
            print(f"  /readyz 503 {out['readyz503After']} s after the freeze: {out['reasonsAt503']}", flush=True)
        rc = run.proc.poll()
        if rc is not None:
            out["exitAfter"], out["exitCode"] = round(time.monotonic() - since, 2), rc
            print(f"  supervisor exited {rc} {out['exitAfter']} s after the freeze", flush=True)
            break
        time.sleep(gs.POLL_S)
    out["healthWhileFrozen"] = sorted(x for x in out["healthWhileFrozen"] if x is not None)
    return out


def one_case(name: str, a, model: Path, params: int) -> dict:
    port, health = gs.free_port(), gs.free_port()
    spec = gs.make_spec(model, params, port, health, False, a.endpoint_drain, a.tiny)
    w = serving.windows(spec)
    home = a.work / "homes" / "claim-warm"
    home.mkdir(parents=True, exist_ok=True)
    cmd, env, _ = gs.pod(spec, a.work, a.work / "claim", home, "pyz")
    print(f"\n== {name}: stallSeconds {w.stall_s}, restartSeconds {w.restart_s}, canaryIdleSeconds "
          f"{w.canary_idle_s}", flush=True)
    run = gs.Run(cmd, env, a.work / "records" / f"watchdog-{name}.log")
    result: dict = {"name": name, "stallSeconds": w.stall_s, "restartSeconds": w.restart_s,
                    "canaryIdleSeconds": w.canary_idle_s}
    stopped = None
    try:
        ready, _, _ = gs.wait_ready(run, health, a.ready_timeout)
        result["readySeconds"] = round(ready, 2)
        print(f"  Ready at {ready:.2f} s", flush=True)
        outs: dict = {}
        first = threading.Event()
        if name in ("busy", "in-flight"):
            n = 32 if name == "busy" else 8
            for i in range(n):
                threading.Thread(target=gs.stream, args=(port, a.max_tokens, first, outs, i), daemon=True).start()
            first.wait(60)
        if name == "busy":
            t0, seen, verdicts = time.monotonic(), {}, []
            while time.monotonic() - t0 < a.busy_seconds or (len(outs) < 32 and time.monotonic() - t0 < 300):
                code, _ = gs.get(f"http://127.0.0.1:{health}/readyz", timeout=2.0)
                seen[code] = seen.get(code, 0) + 1
                time.sleep(gs.POLL_S)
            _, st = gs.get(f"http://127.0.0.1:{health}/status", timeout=2.0)
            verdicts = ((st or {}).get("watchdog") or {}).get("verdicts") if isinstance(st, dict) else None
            result.update(readyzAnswers={str(k): v for k, v in seen.items()}, verdicts=verdicts,
                          completed=sum(1 for o in outs.values() if o.get("done")), requests=32,
                          seconds=round(time.monotonic() - t0, 1))
            print(f"  busy {result['seconds']} s: /readyz {result['readyzAnswers']}, {result['completed']}/32 "
                  f"completed, watchdog verdicts {verdicts}", flush=True)
            result["drain"] = gs.drain(run, port, health, 4, 256)
            return result
        if name == "idle":
            time.sleep(3)  # whatever Ready's own requests were, they are done
        stopped = engine_core(run)
        if stopped is None:
            raise RuntimeError("no VLLM::EngineCore process in the supervisor's tree")
        os.kill(stopped, signal.SIGSTOP)
        since = time.monotonic()
        print(f"  SIGSTOP engine core pid {stopped}", flush=True)
        limit = (w.restart_s if name == "in-flight" else w.canary_idle_s + w.restart_s) + 30
        result.update(watch_until(run, health, port, since, limit))
        bound = w.stall_s + SLACK_S + (w.canary_idle_s if name == "idle" else 0)
        result["readyz503WithinBound"] = result["readyz503After"] is not None and result["readyz503After"] <= bound
        result["bound"] = bound
    except RuntimeError as exc:
        result["error"] = str(exc)
        print(f"  ERROR {exc}", flush=True)
    finally:
        if stopped is not None:
            try:
                os.kill(stopped, signal.SIGCONT)
            except OSError:
                pass
        run.kill()
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu-start"))
    ap.add_argument("--model", type=Path)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--busy-seconds", type=float, default=30.0)
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--endpoint-drain", type=int, default=10)
    ap.add_argument("--ready-timeout", type=float, default=900.0)
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.work = a.work.resolve()
    a.work.mkdir(parents=True, exist_ok=True)
    model = a.model.resolve() if a.model else a.work / ("tiny-model" if a.tiny else "model")
    params = gs.model_parameters(model) if a.model else gs.build_model(model, gs.TINY if a.tiny else gs.LLAMA)
    doc = {"gpu": gs.gpu_name(), "vllm": gs.vllm_release(), "cases": []}
    for case in (c for c in a.cases.split(",") if c):
        doc["cases"].append(one_case(case, a, model, params))
        if a.json:  # after every case: a later one may outlast the caller's limit
            a.json.write_text(json.dumps(doc, indent=1, default=str))
    results = doc["cases"]
    print("\n== summary (" + doc["gpu"] + f", vLLM {doc['vllm']})")
    for r in results:
        print("  " + json.dumps({k: r.get(k) for k in ("name", "readyz503After", "bound", "exitAfter", "exitCode",
                                                       "healthWhileFrozen", "readyzAnswers", "verdicts", "error")
                                 if k in r}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
