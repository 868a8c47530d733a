"""VG034: an autoscaler that may add pods again before the pods of its last scale-up can have loaded.

An HPA (or the HPA a KEDA ScaledObject manages) spaces its scale-up steps by the `periodSeconds` of its scale-up
policies (autoscaling.scale_up_window; left out: Kubernetes' 15 s). A new vLLM pod serves nothing until its model
is loaded: the startup budget, which its startup probe was sized for (autoscaling.budget_behind reads the least
budget a probe can stand for; the supervisor's `/startupz` long-poll gets a ceiling of CEILING_FACTOR budgets). A
step taken earlier adds pods for a queue the loading ones are about to take. The target is found by kind and
name among every document of the run: a chart rendered with `helm template --output-dir` keeps the HPA and the
Deployment in different files. vllmgen values are checked role block by role block, against the budget of
their embedded spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from vllmgen import autoscaling, workloads
from vllmgen.budget import CEILING_FACTOR, startup_budget
from vllmgen.lint.loader import KUBERNETES, LoadedFile
from vllmgen.lint.rules import Hit
from vllmgen.lint.spec_check import load_errors
from vllmgen.roles import ROLES

RULE = "VG034"
#: The supervisor's startup endpoint: a long-poll whose probe kubelet gets as a ceiling of CEILING_FACTOR budgets.
SUPERVISOR_STARTUP_PATH = "/startupz"
#: Where each autoscaler kind keeps its HPA `behavior`.
BEHAVIOR_PATHS = {
    "HorizontalPodAutoscaler": ("spec", "behavior"),
    "ScaledObject": ("spec", "advanced", "horizontalPodAutoscalerConfig", "behavior"),  # keda.sh
}


@dataclass(frozen=True)
class Loading:
    """How long a new pod is expected to load, and where that number comes from."""

    seconds: int
    source: str


@dataclass(frozen=True)
class Target:
    """A workload an autoscaler may name, and how long a new pod of it is expected to load."""

    kind: str
    name: str
    namespace: Optional[str]
    loading: Loading


def probe_loading(probe: workloads.Probe) -> Loading:
    """The least startup budget a startup probe can stand for (autoscaling.budget_behind)."""
    allowance = probe.budget()
    if probe.http_path == SUPERVISOR_STARTUP_PATH:
        return Loading(autoscaling.budget_behind(allowance, probe.get("periodSeconds"), CEILING_FACTOR),
                       f"its startupProbe allows {allowance} s, the supervisor's ceiling of {CEILING_FACTOR} budgets")
    return Loading(autoscaling.budget_behind(allowance, probe.get("periodSeconds")),
                   f"its startupProbe allows {allowance} s")


def targets(files: Iterable[LoadedFile]) -> dict[tuple[str, str], list[Target]]:
    """(kind, name) -> the workloads of that kind and name in `files` whose pods have a startup probe."""
    found: dict[tuple[str, str], list[Target]] = {}
    for lf in files:
        for ld in lf.docs:
            if ld.kind != KUBERNETES:
                continue
            for w in workloads.read(ld.doc).workloads:
                loads = [probe_loading(c.probes["startup"]) for t in w.templates for c in t.running
                         if "startup" in c.probes]
                if w.meta.name and loads:
                    found.setdefault((w.kind, w.meta.name), []).append(
                        Target(w.kind, w.meta.name, _namespace(_at(ld.data, w.path)),
                               max(loads, key=lambda load: load.seconds)))
    return found


def autoscaler_hits(data: Any, known: dict[tuple[str, str], list[Target]]) -> Iterator[Hit]:
    """VG034 for every HorizontalPodAutoscaler and ScaledObject in one document (lists opened)."""
    for path, obj in workloads.objects(data):
        kind = obj.get("kind")
        if not isinstance(kind, str) or kind not in BEHAVIOR_PATHS or not isinstance(obj.get("spec"), dict):
            continue
        ref = obj["spec"].get("scaleTargetRef")
        if not isinstance(ref, dict):
            continue
        # KEDA's scaleTargetRef defaults to a Deployment
        target_kind = ref.get("kind") or ("Deployment" if kind == "ScaledObject" else None)
        if not isinstance(target_kind, str) or not isinstance(ref.get("name"), str):
            continue
        namespace = _namespace(obj)
        matches = [t for t in known.get((target_kind, ref["name"]), [])
                   if namespace is None or t.namespace is None or t.namespace == namespace]
        if not matches:
            continue
        target = max(matches, key=lambda t: t.loading.seconds)
        behavior, behavior_path = _get(obj, BEHAVIOR_PATHS[kind])
        scale_up, scale_up_path = _get(behavior, ("scaleUp",)) if isinstance(behavior, dict) else (None, ())
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        where = path + (behavior_path + scale_up_path if scale_up is not None else
                        behavior_path if behavior is not None else ("spec",))
        yield from _check(f"{kind} {name or '?'}", f"{target.kind} {target.name}", scale_up, target.loading, where)


def values_hits(data: dict) -> Iterator[Hit]:
    """VG034 for vllmgen values: each role's autoscaling behaviour against the startup budget of the embedded spec
    (without one, the budget behind the role's startup probe)."""
    spec = load_errors(data["spec"])[0] if isinstance(data.get("spec"), dict) and data["spec"] else None
    for role in ROLES:
        block = data.get(role)
        if not isinstance(block, dict) or not isinstance(block.get("autoscaling"), dict):
            continue
        probes = block.get("probes")
        startup = probes.get("startup") if isinstance(probes, dict) else None
        if not isinstance(startup, dict):
            continue
        loading = (Loading(startup_budget(spec).seconds, "the embedded spec's startup budget") if spec else
                   probe_loading(workloads.read_probe("startup", startup, (role, "probes", "startup"))))
        behavior = block["autoscaling"].get("behavior")
        if not isinstance(behavior, dict):
            behavior = {}
        where = (role, "autoscaling", "behavior") + (("scaleUp",) if "scaleUp" in behavior else ())
        yield from _check(f"{role}.autoscaling", f"role {role}", behavior.get("scaleUp"), loading, where)


def _check(who: str, target: str, scale_up: Optional[dict], loading: Loading, where: tuple) -> Iterator[Hit]:
    window = autoscaling.scale_up_window(scale_up)
    # Kubernetes cannot space steps further than its longest policy period: asking for more is not a fix
    need = autoscaling.scale_up_period(loading.seconds)
    if window is None or window >= need:
        return
    capped = " (the longest Kubernetes accepts)" if need < loading.seconds else ""
    yield Hit(RULE, where,
              f"{who} may add pods again {window} s after a scale-up, but a new pod of {target} is expected to "
              f"load for about {loading.seconds} s ({loading.source}): it adds pods for load the loading ones are "
              f"about to take",
              f"periodSeconds: {need} on every scaleUp policy{capped} (`vllmgen values` derives the behaviour "
              f"from the spec)")


def _namespace(obj: Any) -> Optional[str]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) and ns else None


def _at(data: Any, path: tuple) -> Any:
    for step in path:
        data = data[step]
    return data


def _get(node: Any, steps: tuple) -> tuple[Any, tuple]:
    """The value at `steps` under `node` (None when absent) and the path to it."""
    for step in steps:
        if not isinstance(node, dict) or step not in node:
            return None, steps
        node = node[step]
    return node, steps
