"""The inference gateway in front of a release, from the spec: an InferencePool (Gateway API Inference Extension)
that selects the release's serving pods, the endpoint picker (EPP) the pool names and how it schedules, and an
HTTPRoute from a named Gateway. The chart renders the objects (`templates/inferencepool.yaml`, `httproute.yaml`,
`endpointpicker-*.yaml`); this module decides what goes into them.

Upstream facts: docs/upstream-facts.md#inferencepool, #endpoint-picker and #httproute.
"""

from __future__ import annotations

import copy

from vllmgen import images, layouts
from vllmgen.roles import DISAGGREGATED_ROLES

#: The APIs of the objects rendered: InferencePool v1 (GA) and HTTPRoute v1 (standard channel).
POOL_API_VERSION = "inference.networking.k8s.io/v1"
ROUTE_API_VERSION = "gateway.networking.k8s.io/v1"
POOL_GROUP = POOL_API_VERSION.split("/")[0]

#: The EPP's ports, its runner's defaults: ext-proc gRPC (the gateway calls it per request), gRPC health (its
#: probes), Prometheus metrics.
EXT_PROC_PORT = 9002
HEALTH_PORT = 9003
METRICS_PORT = 9090
#: Port names on the EPP container and Service.
EXT_PROC_PORT_NAME = "grpc-ext-proc"
HEALTH_PORT_NAME = "grpc-health"
METRICS_PORT_NAME = "http-metrics"
#: The gRPC health service a single-replica EPP answers (it reports serving once it has synced the pool).
HEALTH_SERVICE = "inference-extension"
#: What the gateway does when the EPP does not answer: send the request to some pod of the pool anyway (upstream's
#: chart default) rather than refuse it (the CRD's default, FailClose).
FAILURE_MODE = "FailOpen"

#: EPP probes (gRPC health on HEALTH_PORT). Readiness is asked often so a restarted EPP takes traffic again within
#: seconds; liveness waits for the process to listen and restarts it after three missed periods.
READINESS_PERIOD_S = 2
LIVENESS_INITIAL_DELAY_S = 5
LIVENESS_PERIOD_S = 10
#: One replica: the prefix-cache index and in-flight counts live in the EPP process, so two replicas would each
#: see half the traffic; a replacement starts fresh (rollout `Recreate`).
REPLICAS = 1

#: The upstream chart's resources for the EPP, validated there at high QPS (p90 scheduling within 100 ms): CPU
#: unlimited so it can burst through scheduling spikes, memory capped so a leak cannot starve the node.
RESOURCES = {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"memory": "16Gi"}}
#: The simulated layout runs on laptop and CI clusters with a handful of pods and little traffic: the picker must
#: fit beside them (4 requested cores would not): a quarter core and 256 MiB for a Go controller watching a few
#: pods, no CPU limit as upstream, memory capped at 4x the request for the heap to grow under a burst.
SIMULATED_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}

#: The EndpointPickerConfig format the pinned EPP reads.
CONFIG_API_VERSION = "inference.networking.x-k8s.io/v1alpha1"
CONFIG_KIND = "EndpointPickerConfig"

#: Scheduling when every pod in the pool serves whole requests: the upstream chart's default profile, load-aware
#: (queue depth, KV-cache use) and prefix-cache-aware, weights 2:2:3.
LOAD_AND_PREFIX = "load-and-prefix"
#: Prefill/decode disaggregation: a decode pod is picked, then a prefill pod, whose address goes to the decode
#: pod's routing sidecar in the prefill header.
PREFILL_DECODE = "prefill-decode"
#: (scorer, weight) of each scheduling profile.
LOAD_AND_PREFIX_SCORERS = (("queue-scorer", 2), ("kv-cache-utilization-scorer", 2), ("prefix-cache-scorer", 3))
PREFILL_DECODE_SCORERS = (("prefix-cache-scorer", 2), ("queue-scorer", 1))
#: Every request's prefill runs on a prefill pod, as llm-d's P/D guide configures it; the alternative decider
#: (`prefix-based-pd-decider`) keeps short or cached prompts on the decode pod.
PD_DECIDER = "always-disagg-pd-decider"


def pool_by_default(running: list[str]) -> bool:
    """A pool unless asked otherwise when the roles that render pods (`running`: a fixed count above 0, or
    autoscaling) are prefill and decode, and no standalone pods beside them (see `roles_error`): prefill pods get
    work only through the endpoint picker's prefill header. Whole-request pods are served by their Service without
    one."""
    return set(running) == set(DISAGGREGATED_ROLES)


def roles_error(spec: dict, roles: list[str]) -> str:
    """Why these roles cannot share the spec's InferencePool ("" when they can)."""
    if spec["routing"]["inferencePool"] and scheduling(roles) == PREFILL_DECODE and "standalone" in roles:
        return ("with prefill and decode in the same InferencePool, the endpoint picker would also send prefill and "
                "decode work to standalone pods (labelled `both`), which run no KV connector: render standalone "
                "in a release of its own")
    return ""


def scheduling(roles: list[str]) -> str:
    return PREFILL_DECODE if all(r in roles for r in DISAGGREGATED_ROLES) else LOAD_AND_PREFIX


def picker_config(roles: list[str]) -> dict:
    """The EndpointPickerConfig for a pool over these roles."""
    config: dict = {"apiVersion": CONFIG_API_VERSION, "kind": CONFIG_KIND}
    if scheduling(roles) == LOAD_AND_PREFIX:
        config["plugins"] = [{"type": name} for name, _ in LOAD_AND_PREFIX_SCORERS]
        config["schedulingProfiles"] = [{"name": "default", "plugins": _refs(LOAD_AND_PREFIX_SCORERS)}]
        return config
    scorers = [{"type": name} for name, _ in PREFILL_DECODE_SCORERS]
    config["plugins"] = [
        {"type": "disagg-headers-handler"},  # sets the prefill header the decode pod's sidecar reads
        {"type": "prefill-filter"},
        {"type": "decode-filter"},
        *scorers,
        {"type": "max-score-picker"},
        {"type": PD_DECIDER},
        {"type": "disagg-profile-handler", "parameters": {"deciders": {"prefill": PD_DECIDER}}},
    ]
    config["schedulingProfiles"] = [
        {"name": role, "plugins": [{"pluginRef": f"{role}-filter"}, {"pluginRef": "max-score-picker"},
                                   *_refs(PREFILL_DECODE_SCORERS)]}
        for role in DISAGGREGATED_ROLES
    ]
    return config


def _refs(scorers) -> list[dict]:
    return [{"pluginRef": name, "weight": weight} for name, weight in scorers]


def probes() -> dict:
    """The EPP container's probes (Kubernetes Probe objects)."""
    grpc = {"port": HEALTH_PORT, "service": HEALTH_SERVICE}
    return {
        "readiness": {"grpc": dict(grpc), "periodSeconds": READINESS_PERIOD_S},
        "liveness": {"grpc": dict(grpc), "initialDelaySeconds": LIVENESS_INITIAL_DELAY_S,
                     "periodSeconds": LIVENESS_PERIOD_S},
    }


def endpoint_picker_image(spec: dict) -> str:
    return spec["routing"]["endpointPicker"].get("image") or images.ref(images.ENDPOINT_PICKER)


def routing_blocks(spec: dict, roles: list[str], grace_seconds: int) -> tuple[dict, dict]:
    """The `routing` keys for the pool, its picker and the route ({} when the spec asks for no pool), and a
    comment per key path below `routing`. `grace_seconds` is the serving pods' termination grace period."""
    r = spec["routing"]
    if not r["inferencePool"]:
        return {}, {}
    out: dict = {"inferencePool": {"create": True, "failureMode": FAILURE_MODE}}
    c: dict = {
        ("inferencePool",): (f"an InferencePool over this release's serving pods ({', '.join(roles)}) on port "
                             f"{r['servicePort']}: the routing sidecar on decode pods, the server itself elsewhere"),
        ("inferencePool", "failureMode"): "when the endpoint picker does not answer, the gateway still routes",
    }
    how = scheduling(roles)
    out["epp"] = {
        "image": endpoint_picker_image(spec),
        "replicas": REPLICAS,
        "extProcPort": EXT_PROC_PORT,
        "healthPort": HEALTH_PORT,
        "metricsPort": METRICS_PORT,
        "pluginsConfig": picker_config(roles),
        "probes": probes(),
        "terminationGracePeriodSeconds": grace_seconds,
        # a copy: the caller owns what it gets and may edit it
        "resources": copy.deepcopy(SIMULATED_RESOURCES if layouts.of(spec).simulator else RESOURCES),
    }
    c[("epp",)] = "llm-d's endpoint picker: the gateway asks it which pod of the pool takes each request"
    c[("epp", "pluginsConfig")] = (
        "prefill/decode: a decode pod is picked, then a prefill pod whose address the decode pod's sidecar gets in "
        "the prefill header" if how == PREFILL_DECODE else
        "every pod serves whole requests: picked by queue depth, KV-cache use and prefix-cache hits")
    c[("epp", "replicas")] = "one: its prefix-cache index and in-flight counts live in the process"
    c[("epp", "terminationGracePeriodSeconds")] = "as long as the pods it routes to take to drain"
    c[("epp", "resources")] = (
        "sized to fit a laptop or CI cluster beside the simulated pods" if layouts.of(spec).simulator else
        "the upstream chart's: 4 cores to burst beyond (no CPU limit), memory capped at twice the request")
    gateway = r["gateway"]
    if gateway.get("name"):
        ref = {"name": gateway["name"]}
        if gateway.get("namespace"):
            ref["namespace"] = gateway["namespace"]
        out["httpRoute"] = {"create": True}
        out["parentRefs"] = [ref]
        c[("httpRoute",)] = f"an HTTPRoute from Gateway {gateway['name']}: every request goes to the InferencePool"
    return out, c
