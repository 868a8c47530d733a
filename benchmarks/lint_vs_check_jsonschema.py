"""Benchmark: `vllmgen lint` once over N values files vs `check-jsonschema` once per file (as a CI loop or a
pre-commit hook without batching runs it), against the same chart values schema.

Prints both wall times, the speed-up, and whether the schema findings are the same (file, JSON pointer,
message). Also prints check-jsonschema run once over all files, for an honest comparison of the engines.

    python benchmarks/lint_vs_check_jsonschema.py [--files 500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "cli"))

from vllmgen.schemas import chart_values_schema  # noqa: E402
from vllmgen.spec import parse_spec  # noqa: E402
from vllmgen.values import render  # noqa: E402

#: Spec variants the files are generated from (layout x probe mode x API key x tensor parallel).
SPEC_VARIANTS = [
    "model: {source: hf://Qwen/Qwen3-8B, parameters: 8.2e9, dtype: bfloat16}\n",
    "model: {source: hf://Qwen/Qwen3-0.6B, weightsGiB: 1.2}\nprobes: {mode: plain}\n",
    "model: {source: pvc://models/llama-70b, weightsGiB: 140}\nengine: {tensorParallelSize: 4}\n",
    "model: {source: hf://Qwen/Qwen3-8B, weightsGiB: 16}\nengine: {apiKeySecretName: vllm-key}\n"
    "probes: {mode: plain}\n",
]
LAYOUTS = ["simulated", "single-node", "wide-ep"]

#: Schema mistakes a hand edit makes, applied to every third file (text replacements on the values YAML).
BREAKAGES = [
    ("probeMode:", "probeMod:"),                          # misspelled top-level key
    ("  replicas: 1\n", "  replicas: one\n"),             # wrong type
    ("servicePort: 8000", "servicePort: 80000"),          # out of range
    ("      failureThreshold:", "      failureThreshhold:"),  # misspelled probe field
]


def make_files(directory: Path, count: int) -> list[Path]:
    rendered = []
    for text in SPEC_VARIANTS:
        for layout in LAYOUTS:
            rendered.append(render(parse_spec(text, "bench.yaml", layout=layout)))
    files = []
    for i in range(count):
        text = rendered[i % len(rendered)]
        if i % 3 == 0:
            old, new = BREAKAGES[(i // 3) % len(BREAKAGES)]
            text = text.replace(old, new, 1)
        path = directory / f"values-{i:04d}.yaml"
        path.write_text(text)
        files.append(path)
    return files


_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")


def json_path_to_pointer(path: str) -> str:
    """check-jsonschema's `$.a[0]['b.c']` -> `/a/0/b.c`."""
    parts = [m.group(1) or m.group(2) or m.group(3) for m in _SEGMENT.finditer(path[1:])]
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def run_vllmgen(directory: Path, schema: Path) -> tuple[float, set]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "cli"))
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "vllmgen", "lint", "--schema", str(schema), "--format", "json",
                        str(directory)], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if p.returncode not in (0, 1):
        sys.exit(f"vllmgen lint failed ({p.returncode}): {p.stderr or p.stdout}")
    found = set()
    for f in json.loads(p.stdout)["findings"]:
        if f["rule"] == "VG000":
            message = f["message"].split(": ", 1)[1]  # "<pointer>: <message>"
            found.add((Path(f["file"]).name, f["pointer"], message))
    return elapsed, found


def parse_cjs(stdout: str) -> set:
    found = set()
    for e in json.loads(stdout).get("errors", []):
        found.add((Path(e["filename"]).name, json_path_to_pointer(e["path"]), e["message"]))
    return found


def run_check_jsonschema(cjs: str, files: list[Path], schema: Path, per_file: bool) -> tuple[float, set]:
    found = set()
    start = time.perf_counter()
    batches = [[f] for f in files] if per_file else [files]
    for batch in batches:
        p = subprocess.run([cjs, "--schemafile", str(schema), "-o", "json", *map(str, batch)],
                           capture_output=True, text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"check-jsonschema failed ({p.returncode}): {p.stderr}")
        found |= parse_cjs(p.stdout)
    return time.perf_counter() - start, found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = ap.parse_args()
    cjs = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    if not Path(cjs).exists():
        sys.exit("check-jsonschema is not installed (pip install '.[test]')")
    directory = args.keep or Path(tempfile.mkdtemp(prefix="vllmgen-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        schema = directory.parent / f"{directory.name}.values.schema.json"
        schema.write_text(json.dumps(chart_values_schema(), indent=2))
        files = make_files(directory, args.files)
        t_lint, lint_found = run_vllmgen(directory, schema)
        t_batch, batch_found = run_check_jsonschema(cjs, files, schema, per_file=False)
        t_each, each_found = run_check_jsonschema(cjs, files, schema, per_file=True)
        broken = sum(1 for i in range(args.files) if i % 3 == 0)
        print(f"files: {args.files} values files ({broken} with a schema error), schema {schema.name}")
        print(f"vllmgen lint, one run, all rules:     {t_lint:8.2f} s")
        print(f"check-jsonschema, once per file:      {t_each:8.2f} s   ({t_each / t_lint:.1f}x slower)")
        print(f"check-jsonschema, one run, all files: {t_batch:8.2f} s   ({t_batch / t_lint:.1f}x)")
        print(f"schema findings: vllmgen {len(lint_found)}, check-jsonschema {len(each_found)} "
              f"(batched {len(batch_found)})")
        same = lint_found == each_found == batch_found
        print("same schema findings: " + ("yes" if same else "NO"))
        if not same:
            for row in sorted(lint_found ^ each_found)[:20]:
                print("  differs:", row, "(vllmgen only)" if row in lint_found else "(check-jsonschema only)")
            sys.exit(1)
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)
            (directory.parent / f"{directory.name}.values.schema.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
