"""The spec space at scale: specs generated from schemas/model-spec.schema.json (every string field also drawn
from the hostile set) and realistic specs (every pair of feature levels), each through the whole pipeline of
tests/spec_pipeline.py: validate -> values -> the real Helm engine -> strict Kubernetes schemas (1.30 and newest)
and the upstream CRDs -> the supervisor's --print-command under vLLM's own parser -> the mounted spec read back.

Prints counts of crashes (a traceback), accepted-but-failing (validate accepted, a later stage failed) and
refused (validate's clear refusal, exit 2), by class. Printed numbers, never asserted.

    PYTHONPATH=cli python benchmarks/spec_space.py [--generated 16000] [--realistic 4000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "cli"), str(REPO), str(REPO / "tests")]


def _sample(kind: str, count: int, salt: int) -> list:
    """`count` outcomes of one strategy, drawn by hypothesis under the seed `salt` (no shrinking: nothing is raised)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fix_seed
    from hypothesis import strategies as st

    import spec_pipeline
    import strategies
    from vllmgen.yamlio import dump

    results: list = []
    strategy = (st.tuples(strategies.schema_specs(), st.booleans()) if kind == "generated"
                else strategies.realistic_specs())

    @fix_seed(salt)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case):
        if len(results) >= count:
            return
        if kind == "generated":
            spec, as_json = case
            import json

            text, hatches = (json.dumps(spec, ensure_ascii=False) if as_json else dump(spec)), None
        else:
            spec, hatches = case
            text = dump(spec)
        out = spec_pipeline.run(text, hatches)
        results.append((out.kind, out.klass, text if out.kind in ("crash", "failing") else ""))

    one()
    return [(kind, *r) for r in results]


def _job(task):
    return _sample(*task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=16000, help="specs from the schema (default 16000)")
    parser.add_argument("--realistic", type=int, default=4000, help="realistic specs (default 4000)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--chunk", type=int, default=250, help="specs per task (default 250)")
    parser.add_argument("--show", type=int, default=2, help="failing specs printed per class (default 2)")
    parser.add_argument("--time-limit", type=float, default=0, help="stop after this many seconds and report "
                        "the specs done (default: none)")
    args = parser.parse_args()

    tasks = []
    for kind, total in (("generated", args.generated), ("realistic", args.realistic)):
        for i, start in enumerate(range(0, total, args.chunk)):
            tasks.append((kind, min(args.chunk, total - start), 1000 * (kind == "realistic") + i))
    t0 = time.perf_counter()
    outcomes: list = []
    stopped = False
    # generated and realistic tasks interleaved, so a time limit leaves a sample of both
    tasks.sort(key=lambda t: (t[2] % 1000) / max(1, sum(k == t[0] for k, _, _ in tasks)))
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for batch in pool.imap_unordered(_job, tasks):
            outcomes.extend(batch)
            if args.time_limit and time.perf_counter() - t0 > args.time_limit:
                stopped = True
                pool.terminate()
                break
    elapsed = time.perf_counter() - t0

    print(f"{len(outcomes)} specs in {elapsed:.0f} s ({args.jobs} processes)"
          f"{'; stopped at the time limit' if stopped else ''}")
    for kind in ("generated", "realistic"):
        mine = [o for o in outcomes if o[0] == kind]
        counts = collections.Counter(o[1] for o in mine)
        print(f"\n{kind}: {len(mine)} specs: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in
                                                          ("passed", "refused", "failing", "crash")))
        for outcome in ("crash", "failing", "refused"):
            classes = collections.Counter(o[2] for o in mine if o[1] == outcome)
            if not classes:
                continue
            print(f"  {outcome} by class:")
            for klass, n in classes.most_common(25 if outcome == "refused" else None):
                print(f"    {n:6d}  {klass}")
                if outcome != "refused":
                    for text in [o[3] for o in mine if o[1] == outcome and o[2] == klass][:args.show]:
                        print("            " + text.replace("\n", "\n            ")[:1500])


if __name__ == "__main__":
    main()
