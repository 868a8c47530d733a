"""Score `vllmgen lint` over a folder of manifests and values files written by others.

Prints, for the folder: files, unusable files, containers inspected, those that run vLLM, findings by
severity, and errors on containers that do not run vLLM (false alarms: a CI gate must have none). Exits 1 when
there is such an error, so CI can gate on it.

    python benchmarks/lint_corpus.py DIR [--model-size NAME=GiB ...] [--details]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_lint(folder: str, extra: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "cli"))
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", "--format", "json", "--fail-on", "error", folder,
                        *extra], capture_output=True, text=True, env=env)
    if p.returncode not in (0, 1, 2) or not p.stdout.strip():
        sys.exit(f"vllmgen lint failed (exit {p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def score(report: dict) -> dict:
    vllm = {(c["file"], c["document"], c["pointer"]) for c in report["containers"] if c["runs_vllm"]}
    errors_off_vllm = [f for f in report["findings"] if f["severity"] == "error" and f["container"]
                       and (f["file"], f["document"], f["container"]) not in vllm
                       and not _reviewed(report, f)]
    return {
        "files": report["summary"]["files_checked"] + len({u["file"] for u in report["unusable"]}),
        "unusable": len({u["file"] for u in report["unusable"]}),
        "containers inspected": report["summary"]["containers_inspected"],
        "vLLM containers inspected": report["summary"]["vllm_containers"],
        "findings": dict(Counter(f["severity"] for f in report["findings"])),
        "findings by rule": dict(sorted(Counter(f["rule"] for f in report["findings"]).items())),
        "errors on containers that are not vLLM": len(errors_off_vllm),
        "_errors_off_vllm": errors_off_vllm,
    }


def _reviewed(report: dict, finding: dict) -> bool:
    """The simulator stands in for vLLM: its probe mistakes are vLLM probe mistakes."""
    return any(c["server"] == "simulator" and (c["file"], c["document"], c["pointer"]) ==
               (finding["file"], finding["document"], finding["container"]) for c in report["containers"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model-size", action="append", default=[], metavar="NAME=GiB")
    parser.add_argument("--details", action="store_true", help="print every finding and every container")
    args = parser.parse_args()
    extra = [x for size in args.model_size for x in ("--model-size", size)]
    report = run_lint(args.folder, extra)
    result = score(report)
    bad = result.pop("_errors_off_vllm")
    for key, value in result.items():
        print(f"{key}: {value}")
    if args.details:
        for c in report["containers"]:
            print(f"  {'vLLM' if c['runs_vllm'] else '    '} {c['file']}#{c['document']}{c['pointer']} "
                  f"[{c['server']}] {c['evidence']}")
        for f in report["findings"]:
            print(f"  {f['file']}:{f['line']} {f['rule']} {f['severity']}: {f['message']}")
    for f in bad:
        print(f"error on a container that is not vLLM: {f['file']}:{f['line']} {f['rule']}: {f['message']}",
              file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
