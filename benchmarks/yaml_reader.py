"""Benchmark: seconds vllmgen's YAML reader (vllmgen.yamlio) takes per input, with libyaml's parser (when
ruamel.yaml.clib is installed) and with ruamel's pure-Python parser, and `vllmgen values --spec` end to end on a
1 MiB comment (process start included).

Inputs: comments, legal manifests and values files up to the 4 MiB read limit, dense flow lists, nesting and
alias bombs. Each time is the best of --repeat runs.

    python benchmarks/yaml_reader.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cli"))

from vllmgen import yamlio  # noqa: E402
from vllmgen.errors import InputError  # noqa: E402
from vllmgen.spec import parse_spec  # noqa: E402
from vllmgen.values import render  # noqa: E402

MIB = 1024 * 1024
SPEC = "model:\n  source: hf://Qwen/Qwen3-8B\n  parameters: 8.2e9\n"


def repeated(text: str, size: int) -> str:
    return "---\n".join([text] * max(1, size // (len(text) + 4)))


def inputs() -> dict[str, str]:
    deployment = (ROOT / "tests" / "data" / "lint" / "good" / "standalone-deployment.yaml").read_text()
    commented = "".join(f"{line}  # note\n" if line.strip() and not line.startswith("#") else line + "\n"
                        for line in deployment.splitlines())
    values = render(parse_spec(SPEC, "bench.yaml"))
    comment = "#" + "x" * MIB
    return {
        "values file (one)": values,
        "1 MiB comment, top": comment + "\n" + SPEC,
        "1 MiB comment, between keys": SPEC.replace("  parameters", f"  {comment}\n  parameters"),
        "1 MiB comment, after a value": SPEC.replace("Qwen3-8B\n", f"Qwen3-8B  {comment}\n"),
        "1 MiB manifest": repeated(deployment, MIB),
        "4 MiB manifest, commented": repeated(commented, 4 * MIB - 1024),
        "4 MiB values files": repeated(values, 4 * MIB - 1024),
        "1 MiB flow list [1,1,...]": "a: [" + ",".join(["1"] * (MIB // 2 - 4)) + "]\n",
        "4 MiB nesting bomb [[[[": "[" * (4 * MIB - 1),
        "alias bomb (billion laughs)": "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"l{i}: &l{i} [" + ",".join([f"*{'a' if i == 0 else 'l' + str(i - 1)}"] * 10) + "]\n" for i in range(12)),
    }


def pure(text: str, file: str):
    return yamlio._Builder(file).build(yamlio._pure_events(text, file))


def best(read, text: str, repeat: int) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            docs = read(text, "bench.yaml")
            outcome = f"{len(docs)} doc{'s' if len(docs) != 1 else ''}"
        except InputError as exc:
            outcome = "refused: " + exc.message[:40]
        times.append(time.perf_counter() - start)
    return min(times), outcome


def cli_seconds(text: str, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(text)
        env = dict(os.environ, PYTHONPATH=str(ROOT / "cli"))
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vllmgen", "values", "--spec", str(spec)], env=env, check=True,
                           capture_output=True)
            times.append(time.perf_counter() - start)
        return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    libyaml = yamlio._libyaml_parser() is not None
    print(f"libyaml parser (ruamel.yaml.clib): {'installed' if libyaml else 'not installed'}; "
          f"best of {args.repeat}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'input':32} {'MiB':>5} {'reader':>9} {'pure':>9}  outcome")
    for name, text in inputs().items():
        size = len(text.encode()) / MIB
        t_pure, outcome = best(pure, text, args.repeat)
        t_reader = f"{best(yamlio.parse_documents, text, args.repeat)[0]:8.3f}s" if libyaml else "        -"
        print(f"{name:32} {size:5.2f} {t_reader} {t_pure:8.3f}s  {outcome}")
    for where in ("top", "between keys", "after a value"):
        text = inputs()[f"1 MiB comment, {where}"]
        print(f"vllmgen values --spec, 1 MiB comment {where}: {cli_seconds(text, args.repeat):.2f} s end to end")


if __name__ == "__main__":
    main()
