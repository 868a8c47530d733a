"""Autoscaling a role on vLLM's own metrics: which metrics, and the HorizontalPodAutoscaler behaviour derived from
how long a new pod takes to load (the startup budget, budget.py) and how long a removed one takes to drain (the
drain window, probes.py). Plain functions and named constants, one reason each.

One `behavior` serves both autoscalers: an `autoscaling/v2` HorizontalPodAutoscaler carries it as `spec.behavior`,
a KEDA ScaledObject as `spec.advanced.horizontalPodAutoscalerConfig.behavior` (KEDA copies it into the HPA it
manages). How the HPA applies it: docs/upstream-facts.md#horizontalpodautoscaler-behavior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Metric:
    name: str  # the Prometheus series vLLM exports on /metrics (docs/upstream-facts.md#vllm-metrics)
    meaning: str
    max_target: Optional[float] = None  # the largest meaningful target (a fraction stops at 1)


#: The gauges of vLLM's that say how busy a pod is, per pod (summed over its engines). Counters and histograms
#: need a rate over time, which a per-pod average target cannot express.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("vllm:num_requests_waiting", "requests accepted but not yet scheduled: the first sign a pod is full"),
    Metric("vllm:num_requests_running", "requests in the running batch"),
    Metric("vllm:kv_cache_usage_perc", "fraction of the KV-cache blocks in use (1 = full)", max_target=1.0),
)}
#: Queued requests: zero while a pod keeps up, growing as soon as it does not, whatever the model.
DEFAULT_METRIC = "vllm:num_requests_waiting"
#: Digits kept after the decimal point of a target (the schema's smallest target is 10^-TARGET_DECIMALS).
TARGET_DECIMALS = 6
#: `keda`: a ScaledObject whose Prometheus trigger KEDA queries itself. `hpa`: an HPA on a Pods metric that a
#: metrics adapter serves.
AUTOSCALERS = ("keda", "hpa")

# --- Kubernetes' own numbers (kubernetes/kubernetes: pkg/apis/autoscaling/validation, pkg/apis/autoscaling/v2
# defaults; docs/upstream-facts.md#horizontalpodautoscaler-behavior) ----------------------------------------------
#: A scaling policy's periodSeconds may not exceed 30 min.
MAX_POLICY_PERIOD_S = 1800
#: stabilizationWindowSeconds may not exceed one hour.
MAX_STABILIZATION_S = 3600
#: What the HPA does when `scaleUp` is left out: add 4 pods, or double, whichever is more, every 15 s.
DEFAULT_SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                 {"type": "Percent", "value": 100, "periodSeconds": 15}],
}
#: The scale-down stabilization the HPA uses when none is given.
DEFAULT_SCALE_DOWN_STABILIZATION_S = 300

# --- the behaviour vllmgen derives ------------------------------------------------------------------------------
#: Scale up on the first sample above target: the policies below already bound what is added while the pods of
#: a step load; a stabilization window would only add its length to every reaction.
SCALE_UP_STABILIZATION_S = 0
#: One scale-up step is Kubernetes' own (4 pods, or double): the metric cannot show the capacity new pods add
#: until they serve, so a bigger step is a guess from a queue the loading pods are about to take.
SCALE_UP_PODS = DEFAULT_SCALE_UP["policies"][0]["value"]
SCALE_UP_PERCENT = DEFAULT_SCALE_UP["policies"][1]["value"]
#: Scale down one replica at a time, one per drain window: the next pod goes only once the last one has
#: finished its requests and the others have taken over its share.
SCALE_DOWN_PODS = 1


def adapter_metric_name(metric: str) -> str:
    """The name a metrics adapter serves a vLLM series under: `vllm:num_requests_waiting` ->
    `vllm_num_requests_waiting` (a custom-metrics API name is a path segment; the guide's prometheus-adapter rule
    renames it so)."""
    return metric.replace(":", "_")


def budget_behind(allowance_s: int, period_s: int, ceiling_factor: int = 1) -> int:
    """The least whole startup budget B a startup probe allowing `allowance_s` can have been sized for.

    failureThreshold rounds B x ceiling_factor up to whole periods (probes.startup_failures), so the allowance is
    below B x ceiling_factor + period: B >= (allowance - period + 1) / ceiling_factor. `ceiling_factor` is how many
    budgets the probe holds (the supervisor's long-poll gets a ceiling, budget.CEILING_FACTOR; 1 otherwise)."""
    factor = max(1, ceiling_factor)
    return max(0, -(-(allowance_s - period_s + 1) // factor))


def scale_up_period(loading_s: int) -> int:
    """Seconds over which the HPA counts the pods it added against one step's worth (SCALE_UP_PODS, or
    SCALE_UP_PERCENT more): within the time a new pod is expected to load, never more than one step is added,
    however the HPA splits it. Kubernetes caps it at MAX_POLICY_PERIOD_S."""
    return max(1, min(loading_s, MAX_POLICY_PERIOD_S))


def scale_down_period(drain_s: int) -> int:
    """Seconds between two removals: one drain window (terminationGracePeriodSeconds), capped by Kubernetes."""
    return max(1, min(drain_s, MAX_POLICY_PERIOD_S))


def scale_down_stabilization(loading_s: int) -> int:
    """Scale down only after the load stayed low this long: a removed pod costs a whole load to get back, and
    never less than Kubernetes' default against flapping."""
    return min(max(loading_s, DEFAULT_SCALE_DOWN_STABILIZATION_S), MAX_STABILIZATION_S)


def behavior(loading_s: int, drain_s: int) -> dict:
    """The HPA `behavior` for a role whose pods take `loading_s` to load and `drain_s` to drain."""
    up = scale_up_period(loading_s)
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": SCALE_UP_STABILIZATION_S,
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": SCALE_UP_PODS, "periodSeconds": up},
                         {"type": "Percent", "value": SCALE_UP_PERCENT, "periodSeconds": up}],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": scale_down_stabilization(loading_s),
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": SCALE_DOWN_PODS, "periodSeconds": scale_down_period(drain_s)}],
        },
    }


def scale_up_window(scale_up: Optional[dict]) -> Optional[int]:
    """Seconds after a scale-up before the HPA may add pods again, read from a `behavior.scaleUp` as written
    (None or missing fields: Kubernetes' defaults). None when scale-up is disabled.

    The HPA limits each step by the pods it added within each policy's periodSeconds, so after a step that used
    a policy's whole allowance it adds again once that period has passed. With selectPolicy Max (the default)
    the most permissive policy wins, so adding resumes when the shortest period has passed; with Min the most
    restrictive one does, so it resumes when the longest has."""
    rules = scale_up if isinstance(scale_up, dict) else {}
    select = rules.get("selectPolicy") or DEFAULT_SCALE_UP["selectPolicy"]
    if select == "Disabled":
        return None
    policies = rules.get("policies") or DEFAULT_SCALE_UP["policies"]
    if not isinstance(policies, list):
        return None  # not a list of policies: the API server refuses it, there is no window to read
    periods = [int(p["periodSeconds"]) for p in policies if isinstance(p, dict)
               and isinstance(p.get("periodSeconds"), int) and not isinstance(p.get("periodSeconds"), bool)]
    if not periods:
        return None
    return min(periods) if select == "Max" else max(periods)


def notes(loading_s: int, drain_s: int, drain_arithmetic: str, unit: str) -> dict[str, str]:
    """One line per derived block, for the values comments. `unit` names what a replica is (`pod`, `group`)."""
    up, down = scale_up_period(loading_s), scale_down_period(drain_s)
    stable = scale_down_stabilization(loading_s)
    why_stable = (f"a removed {unit} costs {loading_s} s to get back" if stable == loading_s else
                  f"Kubernetes' default against flapping; a removed {unit} is back within {loading_s} s"
                  if loading_s < stable else
                  f"Kubernetes' longest; a removed {unit} costs {loading_s} s to get back")
    period = (f"per {up} s, the startup budget (the time a new {unit} is expected to load)" if up == loading_s else
              f"per {up} s, Kubernetes' longest period (the startup budget is {loading_s} s, so a {unit} still "
              f"loading after {up} s may see another step)")
    return {
        "scaleUp": (f"react to the first sample; at most +{SCALE_UP_PODS} {unit}s or +{SCALE_UP_PERCENT}% "
                    f"(Kubernetes' own step) {period}, counted over the {unit}s added within it: no more for load "
                    f"the loading {unit}s are about to take"),
        "scaleDown": (f"{SCALE_DOWN_PODS} {unit} per {down} s, the drain window ({drain_arithmetic}): the next "
                      f"goes only after the last one finished its requests; only after the load stayed low for "
                      f"{stable} s ({why_stable})"),
    }


def deployed(role: dict) -> bool:
    """A spec role that renders pods: a fixed count above 0, or autoscaling."""
    return "autoscaling" in role or role.get("replicas", 0) > 0


def describe(role: dict) -> str:
    """`x3`, or `1-8 by keda on vllm:num_requests_waiting (target 4)`."""
    auto = role.get("autoscaling")
    if not auto:
        return f"x{role.get('replicas', 0)}"
    return (f"{auto['minReplicas']}-{auto['maxReplicas']} by {auto['autoscaler']} on {auto['metric']} "
            f"(target {format_target(auto['target'])})")


def format_target(target: float) -> str:
    """A target as a plain decimal, which is both a Kubernetes quantity and a KEDA threshold: `4`, `0.8`."""
    return f"{target:.{TARGET_DECIMALS}f}".rstrip("0").rstrip(".")
