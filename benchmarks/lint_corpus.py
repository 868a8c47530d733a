"""Score `vllmgen lint` over folders of manifests and values files written by others.

Prints, for each folder: files, unusable files and documents, containers inspected, every vLLM container inspected
(file, document, JSON pointer, what it is reviewed as and why), findings by severity and rule, the genuine errors
found and missed, and every false error. Exits 1 when there is a false error, so CI can gate on it.

What is a genuine error (the rule this benchmark applies): an error finding is genuine when
1. a person reading the file judged it so: its folder's entry in `lint_corpus_expected.yaml` (beside this
   script) lists the rule for that file, with the reason; and
2. when it is about a container, that container is one lint identifies as running vLLM (or the llm-d simulator
   standing in for it) from positive evidence: its command line, its image's entrypoint or its controller's
   contract. An error on any other container is false whatever the list says.
Every other error is false: on a file with no genuine error there must be no error at all, and on a file with
one, no error of another rule. Warnings and notes are counted, not judged. A folder with no entry in the list
has no genuine error.

    python benchmarks/lint_corpus.py DIR [DIR ...] [--model-size NAME=GiB ...] [--details]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = Path(__file__).with_name("lint_corpus_expected.yaml")


def run_lint(folder: str, extra: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "cli"))
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", "--format", "json", "--fail-on", "error", folder,
                        *extra], capture_output=True, text=True, env=env)
    if p.returncode not in (0, 1, 2) or not p.stdout.strip():
        sys.exit(f"vllmgen lint failed (exit {p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def _relative(folder: str, file: str) -> str:
    try:
        return Path(file).resolve().relative_to(Path(folder).resolve()).as_posix()
    except ValueError:
        return file


def score(report: dict, folder: str, expected: dict) -> dict:
    """Counts for one folder, and the false and missed errors (lists)."""
    vllm = {(c["file"], c["document"], c["pointer"]) for c in report["containers"] if c["runs_vllm"]
            or c["server"] == "simulator"}
    genuine, false = [], []
    for f in report["findings"]:
        if f["severity"] != "error":
            continue
        listed = f["rule"] in expected.get(_relative(folder, f["file"]), {})
        on_vllm = not f["container"] or (f["file"], f["document"], f["container"]) in vllm
        (genuine if listed and on_vllm else false).append(f)
    found = {(_relative(folder, f["file"]), f["rule"]) for f in genuine}
    missed = [(file, rule, why) for file, rules in expected.items() for rule, why in rules.items()
              if (file, rule) not in found]
    files_with_genuine = {_relative(folder, f["file"]) for f in genuine}
    return {
        "files checked": report["summary"]["files_checked"],
        "unusable inputs (files or documents)": len(report["unusable"]),
        "containers inspected": report["summary"]["containers_inspected"],
        "vLLM containers inspected": report["summary"]["vllm_containers"],
        "findings": dict(Counter(f["severity"] for f in report["findings"])),
        "findings by rule": dict(sorted(Counter(f["rule"] for f in report["findings"]).items())),
        "files with a genuine error": len(files_with_genuine),
        "genuine errors": len(genuine),
        "genuine errors missed": len(missed),
        "false errors": len(false),
        "false errors on files with no genuine error": sum(
            1 for f in false if _relative(folder, f["file"]) not in files_with_genuine),
        "_false": false,
        "_missed": missed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", metavar="DIR")
    parser.add_argument("--model-size", action="append", default=[], metavar="NAME=GiB")
    parser.add_argument("--details", action="store_true", help="print every finding too")
    args = parser.parse_args()
    extra = [x for size in args.model_size for x in ("--model-size", size)]
    expected_all = yaml.safe_load(EXPECTED.read_text()) or {}
    bad = 0
    for folder in args.folders:
        report = run_lint(folder, extra)
        result = score(report, folder, expected_all.get(Path(folder).resolve().name, {}) or {})
        false, missed = result.pop("_false"), result.pop("_missed")
        print(f"== {folder}")
        for key, value in result.items():
            print(f"{key}: {value}")
        print("vLLM containers inspected:")
        for c in report["containers"]:
            if c["runs_vllm"]:
                print(f"  {_relative(folder, c['file'])}#{c['document']}{c['pointer']} [{c['server']}] "
                      f"{c['evidence']}")
        for u in report["unusable"]:
            print(f"  unusable: {_relative(folder, u['file'])}:{u['line']}: {u['message']}")
        if args.details:
            for f in report["findings"]:
                print(f"  {_relative(folder, f['file'])}:{f['line']} {f['rule']} {f['severity']}: {f['message']}")
        for file, rule, why in missed:
            print(f"  genuine error missed: {file} {rule} ({why})")
        for f in false:
            print(f"false error: {_relative(folder, f['file'])}:{f['line']} {f['rule']}: {f['message']}",
                  file=sys.stderr)
        bad += len(false)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
