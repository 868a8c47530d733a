"""Benchmark: a served model whose engine freezes: how long until the pod is NotReady and until it is restarted,
with vllmgen's serving watchdog next to the probes of llm-d, production-stack and KServe. Prints:

1. (unless --no-live) a real frozen engine: `vllmgen serve` on vLLM (CPU build, tiny model, its computed serving
   windows) with requests in flight; SIGSTOP on the `VLLM::EngineCore` process. While frozen, vLLM's own
   /health and /v1/models are asked every half second (what the peers' probes would get: recorded as a
   `probe-check` timeline, with their latencies); the supervisor's /readyz is polled. Seconds from the freeze
   to /readyz 503 and to the supervisor's exit 1, against its stallSeconds and restartSeconds.
2. `vllmgen probe-check` replays of an engine frozen FROZEN_AT s after the container started: vllmgen's values
   for the default spec (its computed windows; /readyz turns 503 and the container exits after them plus the
   overshoot measured live, or one reading period) and each peer's probes against the recorded frozen vLLM.
   For each: when kubelet marked the pod NotReady, when it restarted the container.

Peers' probes (their repositories' own files, in the shapes of tests/data/timelines/):
- llm-d: the readiness-probe guide's decode probes (llm-d/llm-d, docs/readiness-probes.md; llm-d-modelservice
  sets no default probes, charts/llm-d-modelservice/templates/_helpers.tpl): /v1/models and /health.
- production-stack: vllm-project/production-stack helm/values.yaml (servingEngineSpec probes) rendered by
  helm/templates/_helpers.tpl: /health on every probe.
- KServe: kserve/kserve config/llmisvcconfig/config-llm-template.yaml (LLMInferenceService): /health.

Usage: python benchmarks/wedge_recovery.py [--no-live] [--model DIR] [--record FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "cli")]

import httpx  # noqa: E402

from tests.support.vllm_server import Supervisor, cpu_env, free_port, running_requests, tiny_spec  # noqa: E402
from vllmgen import serving, values  # noqa: E402
from vllmgen.emulator import timeline as tl  # noqa: E402
from vllmgen.spec import load_spec  # noqa: E402
from vllmgen.supervisor.monitor import POLL_READY_S, WATCH_EVERY_ROUNDS  # noqa: E402

DATA = REPO / "tests" / "data" / "timelines"
#: The replayed engine freezes this long after its container started (the model is served from 30 s).
FROZEN_AT = 120.0
#: The monitor reads /metrics this often: a verdict comes within this of its window.
READING_S = POLL_READY_S * WATCH_EVERY_ROUNDS
#: vLLM's endpoints the peers' probes ask, and how often the live run records them while frozen.
RECORDED = ("/health", "/v1/models")
RECORD_EVERY_S = 0.5
#: Requests in flight at the freeze (each long enough to outlast it).
IN_FLIGHT, TOKENS = 8, 480
PEERS = [("llm-d readiness-probe guide (decode)", "llm-d-guide-decode.yaml"),
         ("production-stack", "production-stack-engine.yaml"),
         ("KServe LLMInferenceService", "kserve-llmisvc.yaml")]


def live_freeze(model_dir: Path, work: Path) -> dict:
    """Freeze a served engine with requests in flight; time the supervisor's verdicts, record vLLM's answers."""
    spec = tiny_spec(model_dir, free_port(), free_port())
    sup = Supervisor(work / "frozen-engine", spec, cpu_env(work / "cache")).start()
    engine = None
    try:
        sup.wait_ready()
        base = f"http://127.0.0.1:{sup.vllm_port}"
        for _ in range(IN_FLIGHT):
            threading.Thread(target=lambda: _ask(base), daemon=True).start()
        while running_requests(sup.vllm_port) < 2:
            time.sleep(0.05)
        engine = sup.engine_core_pid()
        os.kill(engine, signal.SIGSTOP)
        t0 = time.monotonic()
        seen: dict = {p: [] for p in RECORDED}
        not_ready = None
        windows = serving.windows(_filled(spec))
        while sup.popen.poll() is None:
            # vLLM as the peers see it, until just before the supervisor ends it (then it refuses, for its restart)
            for path in RECORDED if time.monotonic() - t0 < windows.restart_s - RECORD_EVERY_S * 4 else ():
                t = time.perf_counter()
                try:
                    code = httpx.get(base + path, timeout=10).status_code
                except httpx.HTTPError:
                    code = None
                seen[path].append((code, time.perf_counter() - t))
            if not_ready is None:
                try:
                    if sup.get("/readyz", timeout=5).status_code == 503:
                        not_ready = time.monotonic() - t0
                except httpx.HTTPError:
                    pass
            time.sleep(RECORD_EVERY_S)
        exited = time.monotonic() - t0
        exit_line = sup.event("exit") or {}
        stall = next((e for e in sup.events() if e.get("event") == "watchdog" and e.get("verdict") == "stalled"), {})
        return {"notReadyAfter": not_ready, "exitAfter": exited, "exitCode": sup.popen.returncode,
                "stalledAfter": stall.get("secondsPending"), "reason": exit_line.get("reason"),
                "windows": windows, "recorded": seen}
    finally:
        if engine:
            try:
                os.kill(engine, signal.SIGCONT)
            except ProcessLookupError:
                pass
        sup.close()


def _ask(base: str) -> None:
    try:
        httpx.post(base + "/v1/completions", timeout=600,
                   json={"model": "tiny", "prompt": "the", "max_tokens": TOKENS, "ignore_eos": True})
    except httpx.HTTPError:
        pass


def _filled(spec: dict) -> dict:
    from vllmgen.spec import parse_spec

    return parse_spec(json.dumps(spec), "<tiny spec>")


def recording(seen: dict, path: Path) -> Path:
    """The frozen engine as the peers' probes see it: the fixture's endpoints, answering what vLLM answered."""
    base = tl.load(DATA / "frozen-engine.yaml")
    codes = {p: sorted({c for c, _ in seen.get(p, [])}, key=str) for p in RECORDED}
    lines = ["# recorded by benchmarks/wedge_recovery.py: " + json.dumps(codes), "version: 1",
             f"duration: {base.duration:g}", "endpoints:"]
    for e in base.endpoints:
        answers = seen.get(e.path, [])
        frozen = 200 if answers and all(c == 200 for c, _ in answers) else "timeout"
        lines += [f"  - path: {e.path}", f"    port: {e.port}", "    answers:", "      - {at: 0, answer: refused}",
                  "      - {at: 30, answer: 200}", f"      - {{at: {FROZEN_AT:g}, answer: {frozen}}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def supervised(not_ready_at: float, exit_at: float, path: Path) -> Path:
    """The supervised fixture with /readyz 503 from `not_ready_at` and the container's exit at `exit_at`."""
    text = (DATA / "frozen-engine-supervised.yaml").read_text()
    text = text.replace("exit_at: 262", f"exit_at: {exit_at:g}").replace("{at: 168, answer: 503}",
                                                                         f"{{at: {not_ready_at:g}, answer: 503}}")
    path.write_text(text)
    return path


def replay(config: Path, timeline_file: Path, *args: str) -> tuple[float | None, float | None]:
    """(kubelet's NotReady, first restart) of one probe-check replay."""
    r = subprocess.run([sys.executable, "-m", "vllmgen", "probe-check", str(config), "--replay", str(timeline_file),
                        "--format", "json", *args], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO / "cli")})
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    run = json.loads(r.stdout)["runs"][0]
    not_ready = next((row["time"] for row in run["timeline"] if row.get("event") == "not-ready"), None)
    return not_ready, run["verdict"]["restarted_at"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-live", action="store_true", help="skip the real frozen engine")
    ap.add_argument("--model", type=Path, help="tiny model folder (default: built in a temp dir)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wedge-recovery-"))
    late_ready, late_exit = READING_S, READING_S
    frozen_vllm = DATA / "frozen-engine.yaml"
    if not args.no_live:
        model = args.model
        if model is None:
            model = work / "model"
            subprocess.run([sys.executable, "-m", "tests.support.tiny_model", str(model)], cwd=REPO, check=True,
                           capture_output=True)
        got = live_freeze(model, work)
        w = got["windows"]
        for path, answers in got["recorded"].items():
            codes = sorted({c for c, _ in answers}, key=str)
            worst = max((s for _, s in answers), default=0.0)
            print(f"live: while frozen, vLLM {path} answered {codes} {len(answers)} times "
                  f"(slowest {worst * 1000:.0f} ms)")
        print(f"live: engine frozen with requests in flight; /readyz 503 after {got['notReadyAfter']:.1f} s "
              f"(stallSeconds {w.stall_s}; the verdict's own count {got['stalledAfter']} s); `vllmgen serve` "
              f"exited {got['exitCode']} after {got['exitAfter']:.1f} s (restartSeconds {w.restart_s})")
        print(f"      reason: {got['reason']}")
        late_ready = max(0.0, (got["stalledAfter"] or got["notReadyAfter"]) - w.stall_s)
        late_exit = max(0.0, got["exitAfter"] - w.restart_s)
        frozen_vllm = recording(got["recorded"], work / "recorded.yaml")

    spec = load_spec()
    w = serving.windows(spec)
    vals = work / "values.yaml"
    vals.write_text(values.render(spec))
    timeline = supervised(FROZEN_AT + w.stall_s + late_ready, FROZEN_AT + w.restart_s + late_exit,
                          work / "supervised.yaml")
    rows = [("vllmgen supervised (default spec)", replay(vals, timeline, "--role", "standalone"),
             f"stall {w.stall_arithmetic()}; restart {w.restart_arithmetic()}")]
    for name, manifest in PEERS:
        rows.append((name, replay(DATA / manifest, frozen_vllm), "/health and /v1/models stay 200"))
    print(f"\nengine frozen {FROZEN_AT:g} s after the container started, model served from 30 s "
          f"(probe-check replays):")
    print(f"  {'probes':<40}{'NotReady after':>16}{'restarted after':>17}   why")
    for name, (nr, rs), why in rows:
        show = (lambda t: "never" if t is None else f"{t - FROZEN_AT:.0f} s")
        print(f"  {name:<40}{show(nr):>16}{show(rs):>17}   {why}")


if __name__ == "__main__":
    main()
