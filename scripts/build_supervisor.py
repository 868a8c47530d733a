#!/usr/bin/env python3
"""Build the supervisor the chart carries: charts/vllm/files/vllmgen.pyz, a zipapp of the vllmgen modules that
`vllmgen serve` runs, which the chart mounts from a ConfigMap and the vLLM image's own `python3` runs.

What goes in is the package minus what only the other commands use (their modules need ruamel.yaml, which vLLM
images do not have, or are not needed to serve); what `vllmgen serve` imports needs only the standard library and
packages vLLM itself depends on (typer, jsonschema, httpx; docs/upstream-facts.md#vllm-images-and-what-the-chart-delivered-supervisor-may-import), which
tests/test_supervisor_zipapp.py checks in an environment that has nothing else. The archive is deterministic (sorted members, fixed timestamps and modes), so
the committed file changes only when its contents do; the test fails when it is stale.

Usage: python scripts/build_supervisor.py          (rewrite the zipapp)
       python scripts/build_supervisor.py --check  (exit 1 when the committed zipapp is stale)
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "cli" / "vllmgen"
#: Where the chart reads it (`.Files.Get` in charts/vllm/templates/_switches.tpl, helper vllm.supervisorZipapp).
OUTPUT = REPO / "charts" / "vllm" / "files" / "vllmgen.pyz"
#: Package paths (relative to cli/vllmgen, "/" for folders) that only the other commands use.
LEFT_OUT = (
    "lint/",  # vllmgen lint
    "emulator/",  # vllmgen probe-check
    "data/",  # the embedded default spec (YAML) for `vllmgen values`: the supervisor reads a mounted spec
    "values.py", "resources.py", "reference.py", "schemas.py", "workloads.py",  # values, docs, lint readers
    "calibrate.py",  # vllmgen calibrate
    "schemas/values.schema.json", "schemas/lws-v1.schema.json",  # the chart's and LeaderWorkerSet's schemas
    "schemas/k8s.schema.json",  # the Kubernetes structures the chart's escape hatches take
)
#: The zipapp's entry point: `python3 vllmgen.pyz serve ...` runs the CLI's `serve` command and nothing else.
MAIN = (
    "# The supervisor the vllm chart carries, built by scripts/build_supervisor.py from the vllmgen package.\n"
    "# python3 vllmgen.pyz serve --spec SPEC.json --role ROLE   (or --help, --version)\n"
    "from vllmgen.cli import zipapp_main\n"
    "\n"
    "zipapp_main()\n"
)
#: ZIP's earliest timestamp: the archive does not change with checkout times.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
#: rw-r--r-- for every member.
FILE_MODE = 0o644


def members(package: Path = PACKAGE) -> dict[str, bytes]:
    """{archive name: contents}: `__main__.py` and the package's files `vllmgen serve` needs (symlinks followed)."""
    out = {"__main__.py": MAIN.encode()}
    files = [Path(folder, name) for folder, _, names in os.walk(package, followlinks=True) for name in names]
    for path in sorted(files):
        rel = path.relative_to(package).as_posix()
        if "__pycache__" in rel or path.suffix == ".pyc":
            continue
        if any(rel == skip or (skip.endswith("/") and rel.startswith(skip)) for skip in LEFT_OUT):
            continue
        out[f"vllmgen/{rel}"] = path.read_bytes()
    return out


def build(contents: dict[str, bytes]) -> bytes:
    """The zipapp's bytes: deflated members in name order, fixed dates and modes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(contents):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = FILE_MODE << 16
            zf.writestr(info, contents[name], compresslevel=9)
    return buf.getvalue()


def read(path: Path = OUTPUT) -> dict[str, bytes]:
    """{archive name: contents} of a built zipapp."""
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def main(argv: list[str]) -> int:
    wanted = members()
    if argv == ["--check"]:
        if not OUTPUT.exists() or read() != wanted:
            print(f"{OUTPUT.relative_to(REPO)} is stale: run python scripts/build_supervisor.py", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    data = build(wanted)
    OUTPUT.write_bytes(data)
    print(f"{OUTPUT.relative_to(REPO)}: {len(wanted)} files, {len(data)} bytes ({len(data) / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
