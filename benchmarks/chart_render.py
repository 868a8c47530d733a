"""How long rendering + validating every chart combination takes (printed numbers, never asserted).

For each values file the chart tests use (the hand-written ones in charts/vllm/tests/values and, once the spine
is on the branch, every file `vllmgen values` can emit): render through the real Helm engine, strict Helm lint,
and strict Kubernetes schema validation (oldest supported and newest shipped version; LeaderWorkerSets against
schemas/lws-v1.schema.json plus PodTemplateSpec). Prints per-stage totals and the per-combination median.

    PYTHONPATH=cli python benchmarks/chart_render.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "cli"), str(REPO)]



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes over all combinations (default 3)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import helm_python  # noqa: F401  (the shared library loads at import)
    t_import = time.perf_counter() - t0

    from tests import chartcheck as cc
    from tests.test_chart import CASES  # every values file the chart tests use (vllmgen's included)

    versions = cc.kube_versions()
    t0 = time.perf_counter()
    validators = cc.Validators()
    for _, values in CASES:  # build every validator once (schema files read and compiled)
        validators.check(cc.render_objects(values), versions)
    t_build = time.perf_counter() - t0

    stages = {"render": [], "lint": [], "validate": [], "total": []}
    objects = 0
    for _ in range(args.repeat):
        for _, values in CASES:
            a = time.perf_counter()
            objs = cc.render_objects(values)
            b = time.perf_counter()
            problems = cc.lint(values)
            c = time.perf_counter()
            errors = validators.check(objs, versions)
            d = time.perf_counter()
            if problems or errors:
                raise SystemExit(f"invalid combination: {problems or errors}")
            objects += len(objs)
            stages["render"].append(b - a)
            stages["lint"].append(c - b)
            stages["validate"].append(d - c)
            stages["total"].append(d - a)

    n = len(CASES)
    print(f"combinations: {n} values files, {objects // args.repeat} objects, Kubernetes {', '.join(versions)}")
    print(f"import helm_python: {t_import * 1000:.0f} ms; first pass incl. building validators: {t_build:.2f} s")
    print(f"{'stage':<10}{'per pass (s)':>14}{'median per combination (ms)':>30}")
    for stage, times in stages.items():
        print(f"{stage:<10}{sum(times) / args.repeat:>14.3f}{statistics.median(times) * 1000:>30.1f}")


if __name__ == "__main__":
    main()
