"""The lint rules. Each is data (id, severity, one-line reason, fix) plus a pure check over a
`ContainerView` (or, for document-wide rules, over a document). The facts each rests on are cited.

Sources: docs/upstream-facts.md (what vLLM's /health and /v1/models answer when; llm-d's sidecar 8000 ->
vLLM 8200 and LeaderWorkerSet sizes; kubelet probe timing and defaults; incidents in other projects).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional

from vllmgen import cleartext, loras, workloads
from vllmgen.lint.refusals import R_REFUSALS
from vllmgen.lint.triton_rules import R_TRITON, TRITON_CHECKS
from vllmgen.lint.commandline import flag_value, flag_values, has_flag, to_int
from vllmgen.lint.findings import Hit, Rule, probe_name
from vllmgen.lint.identify import VLLM
from vllmgen.lint.view import ContainerView
from vllmgen.probes import VLLM_TEARDOWN_S
from vllmgen.workloads import Probe
from vllmgen.trees import value_at

#: Ready may trail the loaded model by up to one period of the probe that gates it (readiness is re-run at
#: once after startup succeeds: docs/upstream-facts.md#probe-timing). 10 s is the kubelet's default period;
#: the llm-d guide's 30 s startup period costs up to 30 s of idle, loaded GPUs per pod per rollout and CI run.
READY_LAG_BOUND_S = 10
#: With no model spec to estimate from, the least time any vLLM start takes: the slowest start of a
#: 243k-parameter model measured on 2 CPU cores (up to 94 s: docs/upstream-facts.md#vllm-startup); real
#: models only take longer.
UNKNOWN_LOAD_FLOOR_S = 90
#: Paths vLLM's auth middleware guards under --api-key (docs/upstream-facts.md#vllm-endpoints): probes get 401.
API_KEY_GUARDED = ("/v1/", "/v1", "/inference/")
#: Paths vLLM's normal server answers 404 (docs/upstream-facts.md#vllm-endpoints): they exist on the
#: supervisor's port (or vLLM's DP supervisor mode, or some simulator versions), never on `vllm serve`'s own port.
NOT_ON_VLLM = ("/ready", "/readyz", "/livez", "/startupz", "/healthz", "/health/ready")
#: What vLLM's data-parallel supervisor answers on its own port (docs/upstream-facts.md#vllm-endpoints).
ON_DP_SUPERVISOR = ("/health", "/ready", "/readyz")
#: Environment variables the Hugging Face hub client reads a token from.
HF_TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "HF_HUB_TOKEN",
                 "HUGGINGFACE_TOKEN")
#: A Hugging Face user access token (`hf_` + 34 letters and digits; 30+ accepted).
HF_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")

R = {r.id: r for r in (
    Rule("VG000", "schema", "error",
         "a values file must match the chart's values schema (or `helm install` refuses it), a model spec the "
         "spec schema and its cross-field rules (or `vllmgen values` refuses it), a workload the shape the API "
         "server accepts (or `kubectl apply` refuses it)",
         "correct the named field (`vllmgen values` writes values that match)"),
    Rule("VG001", "probe-port", "error",
         "a probe must reach vLLM itself or the supervisor's `health` port; on decode pods 8000 is the routing "
         "sidecar, which answers /health itself",
         "target the port named `vllm` (or `health` for supervised probes)"),
    Rule("VG002", "health-not-model-aware", "info",
         "/health on current vLLM means 'loaded' (the port only listens after loading) but stays 200 while the "
         "engine sleeps or drains",
         "fine for plain vLLM; supervised probes (/readyz on port `health`) also see sleep and drain"),
    Rule("VG003", "liveness-on-models", "warning",
         "/v1/models is a static list: it stays 200 after the engine dies and answers 401 under --api-key",
         "put liveness on /health (or /livez on port `health`)"),
    Rule("VG004", "models-probe-with-api-key", "error",
         "with --api-key vLLM answers 401 on /v1/*, so a /v1/models probe never succeeds",
         "probe /health (not behind the key) or use supervised probes, which authenticate themselves"),
    Rule("VG005", "missing-startup-probe", "error",
         "without a startupProbe, liveness runs during the load and restarts the pod before the model is served",
         "add a startupProbe whose failureThreshold x periodSeconds covers the load time"),
    Rule("VG006", "startup-budget-short", "error",
         "the startupProbe gives up before the estimated load time, so the pod is restarted mid-load",
         "raise failureThreshold (vllmgen values computes it from the spec)"),
    Rule("VG007", "timeout-over-period", "warning",
         "timeoutSeconds > periodSeconds: the kubelet runs one probe at a time, so a hanging endpoint stretches "
         "every period and failures count more slowly than failureThreshold x periodSeconds says",
         "keep timeoutSeconds <= periodSeconds (the supervisor's /startupz long-poll uses timeout == period)"),
    Rule("VG008", "ready-lag", "warning",
         f"the probe that gates Ready looks so rarely that Ready trails the loaded model by more than "
         f"{READY_LAG_BOUND_S} s",
         "periodSeconds: 1 on the startupProbe (raise failureThreshold to keep the budget), or the supervisor's "
         "/startupz long-poll"),
    Rule("VG009", "accelerator-count", "error",
         "accelerators per pod must equal tensor x data-local parallel size: fewer and vLLM cannot start, more "
         "and they sit idle",
         "request tensor x dataLocal accelerators (vllmgen values fills it in)"),
    Rule("VG010", "wide-ep-data-parallel", "error",
         "in a LeaderWorkerSet the data-parallel size must equal group size x local size, or ranks wait for peers "
         "that never come",
         "--data-parallel-size $((LWS_GROUP_SIZE * DP_SIZE_LOCAL)), or make the numbers agree"),
    Rule("VG011", "hf-token-cleartext", "error",
         "a Hugging Face token in clear text is readable by anyone who can read the manifest or its Git history",
         "keep it in a Secret: env valueFrom.secretKeyRef (vllmgen: model.authSecretName)"),
    Rule("VG012", "endpoint-not-on-vllm", "error",
         "vLLM's own server answers 404 on this path, so the probe never succeeds",
         "use /health on port `vllm`, or the supervisor's /startupz, /readyz, /livez on port `health`"),
    Rule("VG017", "values-spec-drift", "error",
         "vllmgen values carry the spec the supervisor reads; a rendered field edited afterwards (a port, the "
         "accelerators, the command line, the model) makes the pod and what runs in it disagree",
         "regenerate the values with `vllmgen values` (or change the spec, not the rendered field)"),
    # the inference gateway (docs/upstream-facts.md#inferencepool, #endpoint-picker)
    Rule("VG018", "prefill-not-in-pool", "warning",
         "prefill pods get work only when an endpoint picker names them to a decode pod's sidecar, and a picker "
         "sees only the pods of its InferencePool: prefill pods no pool selects sit idle",
         "select them with the InferencePool of their decode pods (vllmgen: routing.inferencePool, on by default "
         "with prefill and decode); lint the pool's manifest together with the pods"),
    Rule("VG019", "pool-matches-no-server", "error",
         "an InferencePool routes to the pods its selector matches, on its target ports, on every one of them: a "
         "selector that matches no serving pod, or a port a selected pod does not declare, sends requests nowhere",
         "select the serving pods' labels and target the port they serve on (the routing sidecar's on decode "
         "pods, the server's own on prefill and standalone pods)"),
    Rule("VG030", "duplicate-key", "error",
         "a key written twice in one mapping: Helm and most YAML readers silently keep the later value, kubectl's "
         "strict decoding refuses the file",
         "keep one of the two (the later one is what Helm renders)"),
    Rule("VG031", "drain-over-grace", "error",
         "after SIGTERM a pod needs its endpoint drain (the preStop sleep), vLLM's --shutdown-timeout and vLLM's "
         "teardown before the kubelet's SIGKILL at terminationGracePeriodSeconds, or in-flight requests are cut",
         "raise terminationGracePeriodSeconds to at least preStop + --shutdown-timeout + teardown"),
    Rule("VG032", "cuda-visible-devices", "error",
         "CUDA_VISIBLE_DEVICES limits vLLM to the devices it lists, numbered from 0 inside the container: fewer "
         "than tensor x pipeline x data-local and vLLM cannot start, an index beyond the pod's GPUs names none",
         "drop CUDA_VISIBLE_DEVICES (the device plugin already exposes the pod's GPUs) or list enough of them"),
    Rule("VG033", "accelerators-not-requested", "warning",
         "a vLLM container that picks GPUs with CUDA_VISIBLE_DEVICES but requests none: the scheduler reserves "
         "nothing, so other pods may be given the same GPUs",
         "request the GPUs it uses (nvidia.com/gpu or a DRA claim) instead of naming them"),
    Rule("VG034", "scale-up-before-loaded", "warning",
         "an autoscaler that may add pods again before the pods of its last scale-up can load keeps adding pods "
         "for load those pods are about to take (Kubernetes' default scale-up repeats every 15 s)",
         "periodSeconds of every scaleUp policy at least the target's startup budget (`vllmgen values` derives "
         "the behaviour from the spec)"),
    Rule("VG035", "lora-modules-without-enable-lora", "error",
         "vLLM loads the --lora-modules adapters before it listens and fails its start when one cannot be loaded; "
         "without --enable-lora the engine has no LoRA support, so every adapter fails",
         "add --enable-lora (model.loras in a vllmgen spec sets both)"),
    Rule("VG036", "more-adapters-than-max-loras", "warning",
         "--max-loras (1 unless given) is how many adapters the engine keeps loaded and one batch may mix; "
         "with more adapters, requests for the others wait while adapters are evicted and reloaded from disk",
         "raise --max-loras to the number of adapters (vllmgen computes it from model.loras)"),
    Rule("VG037", "adapter-rank-over-max-lora-rank", "error",
         "vLLM refuses an adapter whose rank exceeds --max-lora-rank (16 unless given), and one refused "
         "--lora-modules adapter fails the whole start",
         "raise --max-lora-rank to a value vLLM accepts that holds the rank (vllmgen computes it from the ranks "
         "in model.loras)"),
    Rule("VG050", "api-key-cleartext", "error",
         "an API key written into the manifest is readable by anyone who can read the manifest, its Git history "
         "or the pod's spec (`kubectl get pod -o yaml`), and rotating it means editing every copy",
         "keep the key in a Secret: env VLLM_API_KEY from a secretKeyRef (vLLM reads it), or `--api-key "
         "$(VLLM_API_KEY)` with that env"),
    Rule("VG052", "startup-budget-below-download", "error",
         "a start that downloads a large model from the hub takes far longer than its load alone; when no volume "
         "keeps the hub cache, every restart downloads again, so a startupProbe shorter than the download kills "
         "every start",
         "keep the hub cache on a volume (or download in an init container), or cover the download in the budget"),
    Rule("VG070", "group-not-restarted-together", "error",
         "the pods of a LeaderWorkerSet group run one vLLM (tensor/pipeline ranks across nodes, or data-parallel "
         "ranks that wait for each other): a group that lost one rank serves nothing, and a rank restarted alone "
         "cannot rejoin the running ones, so the group stays broken while every pod but one looks healthy",
         "restartPolicy: RecreateGroupOnPodRestart (LWS's current default; vllmgen writes it)"),
    Rule("VG051", "pool-pods-not-linted", "info",
         "an InferencePool whose pods are in files not linted (a gateway chart's render, linted apart from the "
         "model servers' manifests) cannot be checked against them",
         "lint the pool's manifest together with the manifests of the pods it selects"),
)}
R.update(R_REFUSALS)  # what the API server refuses (lint/refusals.py)
R.update(R_TRITON)  # Triton Inference Server with the vLLM backend (lint/triton_rules.py)
R = dict(sorted(R.items()))  # listed by id: the CLI, SARIF and docs/lint.md

#: A reference the kubelet
#: A reference the kubelet or a shell fills in (`$(VAR)`, `$VAR`, `${VAR}`) or a template left to render
#: (`{{ .Values.key }}`): not a key in clear text.
_REFERENCE = re.compile(r"^[\"']?(?:\$\(?\{?[A-Za-z_][A-Za-z0-9_]*\)?\}?|.*\{\{.*\}\}.*)[\"']?$")




def _on_vllm(v: ContainerView, p: Probe) -> bool:
    port = v.resolve_port(p.port)
    return port is not None and port == v.vllm_port and port not in v.sidecar_ports


def estimated_load(v: ContainerView) -> Optional[tuple[int, str]]:
    """Seconds the model needs from container start to served, and where that number comes from."""
    if v.simulator:
        return None  # the simulator has nothing to load
    if v.spec is not None:
        from vllmgen.budget import startup_budget

        try:
            return int(startup_budget(v.spec).seconds), "the spec's startup budget (`vllmgen values` shows its terms)"
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            pass  # a spec without the fields the budget needs: VG000 reports it; fall back to the floor
    if v.model_size is not None:
        return least_start(v)
    return UNKNOWN_LOAD_FLOOR_S, (f"no model spec here: {UNKNOWN_LOAD_FLOOR_S} s is the least any vLLM start "
                                  f"takes, measured on a tiny model; yours takes longer")


#: GiB, for sizes in messages.
GIB = 1024**3


def least_start(v: ContainerView) -> tuple[int, str]:
    """The least time this pod's start takes given the model's size: the spec's budget arithmetic with the
    weights already cached and no safety factor (so a budget below it is short on any node), for this pod's
    share of the weights when the model is split across the group's pods (expert or pipeline parallel)."""
    size, source = v.model_size
    pods = v.group_size if (v.group_size or 1) > 1 and (v.expert_parallel or v.spans_pods) else 1
    share = size / pods
    budget = _least_budget(round(share / GIB, 3), v.expert_parallel and pods > 1)
    part = f", this pod's share 1/{pods} = {share / GIB:.1f} GiB" if pods > 1 else ""
    return budget.seconds, (f"{v.model} is {size / GIB:.1f} GiB ({source}){part}: {budget.arithmetic()} with the "
                            f"weights cached, no safety margin")


@functools.lru_cache(maxsize=256)
def _least_budget(gib: float, group_setup: bool):
    from vllmgen.budget import startup_budget
    from vllmgen.spec import effective

    spec = effective({"model": {"source": "pvc://lint/model", "weightsGiB": max(gib, 0.001)},
                      "layout": "wide-ep" if group_setup else "single-node",
                      "startup": {"cached": True, "safetyFactor": 1}})
    return startup_budget(spec)


# --- the checks ---------------------------------------------------------------------------------------

def check_probe_port(v: ContainerView) -> Iterator[Hit]:
    if v.engine_only:
        return
    for p in v.probes.values():
        raw = p.port
        if raw is None:
            continue
        port = v.resolve_port(raw)
        name = probe_name(p)
        if port is not None and (port == v.dp_supervisor_port or port in v.rank_ports):
            continue  # vLLM's data-parallel supervisor, or one of the API servers it starts
        if port is None:
            yield Hit("VG001", p.port_path,
                      f"{v.role} {name} targets port name {raw!r}, which the container does not declare: the "
                      f"kubelet cannot resolve it and the probe never succeeds")
        elif port in v.sidecar_ports:
            yield Hit("VG001", p.port_path,
                      f"{v.role} {name} targets port {port}, the routing sidecar: it answers /health itself and "
                      f"proxies other paths, so the probe says nothing about vLLM on {v.vllm_port}",
                      f"target port `vllm` ({v.vllm_port})")
        elif v.triton and port in v.server_ports.values():
            continue  # VG016 explains what Triton's gRPC and metrics ports answer
        elif v.vllm_port_guessed and port in v.port_numbers:
            continue  # no --port and several ports: the image's entrypoint may well listen there
        elif v.vllm_port is not None and port not in (v.vllm_port, v.health_port):
            yield Hit("VG001", p.port_path,
                      f"{v.role} {name} targets port {port}, but vLLM listens on {v.vllm_port} "
                      f"({v.vllm_port_reason})",
                      f"target port `vllm` ({v.vllm_port})")


def check_health_startup_readiness(v: ContainerView) -> Iterator[Hit]:
    if v.engine_only:
        return
    for kind in ("startup", "readiness"):
        p = v.probes.get(kind)
        if p is None or p.http_path != "/health" or not _on_vllm(v, p):
            continue
        fix = None
        if v.simulator:
            msg = (f"{probe_name(p)} on /health: the llm-d simulator answers /health as soon as it starts; "
                   f"with --startup-duration only /health/ready (simulator v0.9+) waits")
            fix = "fine without --startup-duration; with it, probe /health/ready (simulator v0.9+)"
        else:
            msg = (f"{probe_name(p)} on /health: on current vLLM the port only listens once the model is "
                   f"loaded, so 200 does mean loaded (the llm-d guide's '200 before loading' is wrong for current "
                   f"vLLM); it does not see a sleeping engine or a drain after SIGTERM (both stay 200)")
        yield Hit("VG002", p.path + ("httpGet", "path"), msg, fix)


def check_liveness_on_models(v: ContainerView) -> Iterator[Hit]:
    if v.engine_only:
        return
    p = v.probes.get("liveness")
    if p is not None and p.http_path and p.http_path.rstrip("/") == "/v1/models" and _on_vllm(v, p):
        yield Hit("VG003", p.path + ("httpGet", "path"),
                  "livenessProbe on /v1/models: a static list that stays 200 after the engine dies (only /health "
                  "turns 503) and answers 401 under --api-key, which would restart a healthy pod")


def check_models_with_api_key(v: ContainerView) -> Iterator[Hit]:
    if not v.api_key or v.engine_only:
        return
    for p in v.probes.values():
        path = p.http_path
        if path and path.startswith(API_KEY_GUARDED) and _on_vllm(v, p) and not p.has_auth_header():
            never = "is restarted forever" if p.kind in ("liveness", "startup") else "never turns Ready"
            yield Hit("VG004", p.path + ("httpGet", "path"),
                      f"{probe_name(p)} on {path} while the server runs with {v.api_key}: vLLM answers 401 to "
                      f"the kubelet, so the pod {never}")


def check_missing_startup(v: ContainerView) -> Iterator[Hit]:
    live = v.probes.get("liveness")
    if live is None or "startup" in v.probes or v.overlay or not _probes_vllm(v, live):
        return
    need = estimated_load(v)
    if need is None:
        return
    seconds, source = need
    d, f, per = live.get("initialDelaySeconds"), live.get("failureThreshold"), live.get("periodSeconds")
    tolerated = d + (f - 1) * per
    if tolerated < seconds:
        yield Hit("VG005", live.path,
                  f"no startupProbe, and livenessProbe can restart the pod {tolerated} s after start "
                  f"({d} + ({f} - 1) x {per}), before the {seconds} s the model needs ({source})",
                  f"add a startupProbe with failureThreshold x periodSeconds >= {seconds} s")


def check_startup_budget(v: ContainerView) -> Iterator[Hit]:
    p = v.probes.get("startup")
    if p is None or not _probes_vllm(v, p):
        return
    need = estimated_load(v)
    if need is None:
        return
    seconds, source = need
    d, f, per = p.get("initialDelaySeconds"), p.get("failureThreshold"), p.get("periodSeconds")
    if p.budget() < seconds:
        needed_f = max(1, math.ceil((seconds - d) / per))
        yield Hit("VG006", p.path,
                  f"startupProbe allows {p.budget()} s ({d} + {f} x {per}), less than the {seconds} s "
                  f"the model needs ({source})",
                  f"failureThreshold: {needed_f} (with periodSeconds {per})")


def hub_download(v: ContainerView) -> Optional[tuple[int, str]]:
    """Seconds a start that downloads the weights from the Hugging Face hub needs at least, and how that adds up,
    when every start does (a hub model, its size known, no volume keeping the hub cache across restarts)."""
    if v.spec is not None or v.model_size is None or v.hub_cache_kept is not False or not v.model \
            or not _hub_model(v.model):
        return None
    size, source = v.model_size
    download, how = _download(round(size / GIB, 3))
    start, _ = least_start(v)
    return int(download + start), (f"{v.model} is {size / GIB:.1f} GiB ({source}): {download:.0f} s to download "
                                   f"({how}, vllmgen's default) + {start} s to start with the weights local")


def _hub_model(model: str) -> bool:
    name = model.strip().removeprefix("hf://")
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "$", "{", "~"))


@functools.lru_cache(maxsize=256)
def _download(gib: float) -> tuple[float, str]:
    """The budget's download term for weights of `gib` from the hub: seconds, and how (`688.3 GB at 100 MB/s`)."""
    from vllmgen.budget import estimate_terms
    from vllmgen.spec import effective

    spec = effective({"model": {"source": "hf://lint/model", "weightsGiB": max(gib, 0.001)},
                      "startup": {"cached": False, "safetyFactor": 1}})
    term = next(t for t in estimate_terms(spec) if t.name == "download")
    return term.seconds, term.reason


def check_startup_below_download(v: ContainerView) -> Iterator[Hit]:
    """VG052: the startupProbe gives up long before a start that downloads the weights can have loaded them."""
    p = v.probes.get("startup")
    if p is None or not _probes_vllm(v, p):
        return
    need = hub_download(v)
    if need is None:
        return
    seconds, source = need
    least, _ = least_start(v)
    if p.budget() < seconds and p.budget() >= least:  # shorter than the least start: VG006 says so already
        d, f, per = p.get("initialDelaySeconds"), p.get("failureThreshold"), p.get("periodSeconds")
        yield Hit("VG052", p.path,
                  f"startupProbe allows {p.budget()} s ({d} + {f} x {per}), but every start downloads the weights "
                  f"from the hub (no volume holds the hub cache, so a restart starts the download again): "
                  f"{source}, {seconds} s in all",
                  f"keep the hub cache on a volume (a PVC, or download in an init container) or failureThreshold: "
                  f"{max(1, math.ceil((seconds - d) / per))} (with periodSeconds {per})", load_s=seconds)


def check_timeout_period(v: ContainerView) -> Iterator[Hit]:
    for p in v.probes.values():
        t, per = p.get("timeoutSeconds"), p.get("periodSeconds")
        if t > per:
            yield Hit("VG007", p.path,
                      f"{probe_name(p)} timeoutSeconds {t} > periodSeconds {per}: a hanging endpoint makes every "
                      f"period {t} s, so {p.get('failureThreshold')} failures take up to "
                      f"{p.get('failureThreshold') * t} s, not {p.get('failureThreshold') * per} s")


def check_ready_lag(v: ContainerView) -> Iterator[Hit]:
    startup = v.probes.get("startup")
    gate = startup if startup is not None and _probes_vllm(v, startup) else v.probes.get("readiness")
    if gate is None:
        return
    port = v.resolve_port(gate.port)
    if gate.http_path == "/startupz" and port is not None and port == v.health_port:
        return  # long-poll: the held request returns the moment the model is ready, whatever the period
    per = gate.get("periodSeconds")
    if per > READY_LAG_BOUND_S:
        yield Hit("VG008", gate.path + (("periodSeconds",) if "periodSeconds" in gate.data else ()),
                  f"{probe_name(gate)} periodSeconds {per}: Ready can trail the loaded model by up to {per} s "
                  f"(bound {READY_LAG_BOUND_S} s), and a CI job waiting for Ready waits that long too",
                  f"periodSeconds: 1 and failureThreshold: {gate.budget() - gate.get('initialDelaySeconds')} "
                  f"(same budget), or the supervisor's /startupz long-poll")


def _probes_vllm(v: ContainerView, p: Probe) -> bool:
    """The probe asks vLLM (or its supervisor) something: an HTTP, TCP or gRPC probe, or a command that reaches
    its port or endpoints. A command probe about something else (KubeRay's `wait_for_ray.py`) says nothing
    about the model loading."""
    if "exec" not in p.data:
        return True
    command = p.data["exec"].get("command") if isinstance(p.data["exec"], dict) else None
    text = " ".join(str(x) for x in command) if isinstance(command, list) else ""
    ports = {x for x in (v.vllm_port, v.health_port, v.dp_supervisor_port) if x is not None}
    return any(f":{port}" in text for port in ports) or any(path in text for path in ("/health", "/v1/", "/ready", "/livez", "/startupz"))


def _sizes(v: ContainerView) -> tuple[int, str]:
    if (v.pipeline or 1) > 1:
        return v.pipeline, f"tensor x pipeline x data-local parallel = {v.tensor} x {v.pipeline}"
    return 1, f"tensor x data-local parallel = {v.tensor}"


def check_accelerators(v: ContainerView) -> Iterator[Hit]:
    if v.simulator or v.tensor is None or v.accelerators_unknown:
        return
    if v.spans_pods and v.group_accelerators is not None:
        yield from _group_accelerators(v)
        return
    local = v.data_parallel_local
    if local is None:
        local = v.data_parallel if (v.data_parallel is not None and not v.multinode) else 1
    pipeline, sizes = _sizes(v)
    expected = v.tensor * pipeline * local
    sizes = f"{sizes} x {local} = {expected}"
    have = v.accelerator_count
    if v.accelerator_resource is None:
        if expected > 1 and not v.overlay:
            yield Hit("VG009", v.resources_path or v.base,
                      f"{v.where} requests no accelerators, but {sizes}: vLLM cannot start")
        return
    if have is not None and have != expected:
        effect = "vLLM cannot start" if have < expected else f"{have - expected} sit idle"
        yield Hit("VG009", v.resources_path,
                  f"{v.where} requests {have} {v.accelerator_resource}, but {sizes}: {effect}",
                  f"{v.accelerator_resource}: {expected} in limits and requests")


def _group_accelerators(v: ContainerView) -> Iterator[Hit]:
    """One vLLM instance whose ranks span the group's pods (Ray, or more ranks than a pod has): the group's
    accelerators together must hold tensor x pipeline (x data-parallel) ranks."""
    ranks = v.world * (v.data_parallel or 1)
    have = v.group_accelerators
    if have == ranks:
        return
    effect = "vLLM cannot start" if have < ranks else f"{have - ranks} sit idle"
    dp = f" x data-parallel {v.data_parallel}" if (v.data_parallel or 1) > 1 else ""
    yield Hit("VG009", v.resources_path,
              f"{v.where}: one vLLM instance spans the group, tensor x pipeline = {v.tensor} x {v.pipeline or 1}"
              f"{dp} = {ranks} ranks, but the group has {have} accelerators ({v.group_label}): {effect}",
              f"give the group {ranks} accelerators in all")


def check_wide_ep(v: ContainerView) -> Iterator[Hit]:
    if not v.multinode or v.group_size is None or v.data_parallel is None:
        return
    if v.spans_pods and (v.data_parallel or 1) == 1:  # one model split over the pods, not data-parallel ranks
        return
    local = v.data_parallel_local or 1
    if v.data_parallel != v.group_size * local:
        yield Hit("VG010", v.parallelism_path or v.base,
                  f"{v.where}: data-parallel size {v.data_parallel} != group size {v.group_size} x local size "
                  f"{local} = {v.group_size * local}")


#: LeaderWorkerSet restart policies that recreate the whole group when one of its pods restarts.
GROUP_RESTARTS = ("RecreateGroupOnPodRestart", "RecreateGroupAfterStart")


def check_group_restart(v: ContainerView) -> Iterator[Hit]:
    """VG070: a group of more than one pod running vLLM whose restart policy restarts pods one by one."""
    if (v.group_size or 1) < 2 or v.group_restart is None or v.group_restart in GROUP_RESTARTS:
        return
    if not (v.identity.runs_vllm or v.spans_pods):
        return
    yield Hit("VG070", v.group_restart_path,
              f"{v.where}: restartPolicy {v.group_restart} restarts one pod of a {v.group_size}-pod group alone; "
              "the others keep waiting for a rank that cannot rejoin")


def check_not_on_vllm(v: ContainerView) -> Iterator[Hit]:
    if v.simulator or v.engine_only:
        return
    for p in v.probes.values():
        port = v.resolve_port(p.port)
        if port is not None and port == v.dp_supervisor_port:
            if p.http_path is not None and p.http_path.rstrip("/") not in ON_DP_SUPERVISOR:
                yield Hit("VG012", p.path + ("httpGet", "path"),
                          f"{probe_name(p)} on {p.http_path} at the port of vLLM's data-parallel supervisor "
                          f"({port}): it answers only {', '.join(ON_DP_SUPERVISOR)}, so the probe never succeeds",
                          f"probe {' or '.join(ON_DP_SUPERVISOR)} on the supervisor's port")
            continue
        if p.http_path in NOT_ON_VLLM and _on_vllm(v, p) and v.vllm_port != v.health_port:
            yield Hit("VG012", p.path + ("httpGet", "path"),
                      f"{probe_name(p)} on {p.http_path} at vLLM's port {v.vllm_port}: `vllm serve` answers 404 "
                      f"there, so the probe never succeeds")


# --- drain and devices ---------------------------------------------------------------------------------

def check_drain(v: ContainerView) -> Iterator[Hit]:
    """preStop (the endpoint drain) + --shutdown-timeout + vLLM's teardown <= terminationGracePeriodSeconds
    (docs/upstream-facts.md#vllm-shutdown-and-drain: vLLM keeps serving in-flight requests for
    --shutdown-timeout after SIGTERM, then its engine and workers take seconds to exit; kubelet SIGKILLs the
    container at the grace period, counted from the start of the preStop hook)."""
    if v.grace is None or v.identity.server != VLLM or v.shutdown_timeout is None:
        return
    if v.spec is not None and v.spec.get("probes", {}).get("mode") == "supervised":
        return
    need = v.pre_stop.seconds + v.shutdown_timeout + VLLM_TEARDOWN_S
    if need <= v.grace:
        return
    pre = f"preStop {v.pre_stop.seconds:g} s" + (f" ({v.pre_stop.note})" if v.pre_stop.note else "")
    yield Hit("VG031", v.grace_path if v.ld.doc.line(v.grace_path) is not None and _written(v, v.grace_path)
              else v.base,
              f"{v.where}: {pre} + --shutdown-timeout {v.shutdown_timeout:g} s + vLLM's teardown "
              f"{VLLM_TEARDOWN_S} s = {need:g} s, but terminationGracePeriodSeconds is {v.grace} s: the kubelet "
              f"kills vLLM {need - v.grace:g} s before it has finished its in-flight requests",
              f"terminationGracePeriodSeconds: {math.ceil(need)}")


_NOWHERE = object()


def _written(v: ContainerView, path: tuple) -> bool:
    """Whether the file writes `path` (a key written with no value counts)."""
    return value_at(v.ld.doc.data, path, _NOWHERE) is not _NOWHERE


def _device_list(value: str) -> Optional[list[str]]:
    """The devices CUDA_VISIBLE_DEVICES names (indices or UUIDs); None when it is a variable."""
    value = value.strip()
    if "$" in value or "{" in value:
        return None
    if value in ("", "-1", "none", "NoDevFiles"):
        return []
    return [d.strip() for d in value.split(",") if d.strip()]


def check_cuda_visible_devices(v: ContainerView) -> Iterator[Hit]:
    if v.cuda_visible is None or v.simulator or v.overlay:
        return
    devices = _device_list(v.cuda_visible)
    if devices is None:
        return
    path = v.cuda_visible_path or v.base
    if v.tensor is not None and not v.spans_pods:
        local = v.data_parallel_local or (v.data_parallel if not v.multinode else None) or 1
        need = v.tensor * (v.pipeline or 1) * local
        if len(devices) < need:
            yield Hit("VG032", path,
                      f"CUDA_VISIBLE_DEVICES={v.cuda_visible!r} shows vLLM {len(devices)} device"
                      f"{'s' if len(devices) != 1 else ''}, but tensor x pipeline x data-local parallel = "
                      f"{v.tensor} x {v.pipeline or 1} x {local} = {need} ranks need one each: vLLM cannot start")
            return
    have = v.accelerator_count if v.accelerator_resource not in (None, "DRA devices") else None
    if have is not None and have > 0:
        beyond = [d for d in devices if d.isdigit() and int(d) >= have]
        if beyond:
            yield Hit("VG032", path,
                      f"CUDA_VISIBLE_DEVICES={v.cuda_visible!r} names device {beyond[0]}, but the pod gets {have} "
                      f"{v.accelerator_resource}, numbered 0-{have - 1} inside the container: vLLM sees fewer "
                      f"devices than it was told")
    elif v.accelerator_resource is None and not v.accelerators_unknown and devices:
        yield Hit("VG033", path,
                  f"{v.where} names GPUs with CUDA_VISIBLE_DEVICES={v.cuda_visible!r} but requests none: the "
                  f"scheduler reserves no GPU for it, and another pod on the node can be given the same device")


@dataclass(frozen=True)
class _Loras:
    """What a container tells vLLM about LoRA adapters, and where each fact is written."""
    enabled: bool
    names: list[str]
    max_loras: int
    max_rank: int
    ranks: dict[str, int]  # rank by adapter name, where a spec gives it
    path: tuple  # the adapter list
    max_loras_path: tuple
    max_rank_path: tuple
    max_loras_given: bool
    max_rank_given: bool


def _adapter_name(module: str) -> str:
    """The name in a --lora-modules value: `NAME=PATH` or the JSON form `{"name": ..., "path": ...}`."""
    if module.lstrip().startswith("{"):
        try:
            name = json.loads(module).get("name")
            return name if isinstance(name, str) else module
        except (ValueError, AttributeError):
            return module
    return module.split("=", 1)[0]


def _spec_ranks(spec: Optional[dict]) -> dict[str, int]:
    model = spec.get("model") if isinstance(spec, dict) else None
    items = model.get("loras") if isinstance(model, dict) else None
    if not isinstance(items, list):
        return {}
    return {a["name"]: a["rank"] for a in items if isinstance(a, dict) and isinstance(a.get("name"), str)
            and isinstance(a.get("rank"), int) and not isinstance(a.get("rank"), bool)}


def _loras(v: ContainerView) -> Optional[_Loras]:
    """The container's LoRA facts: from its command line, or from the spec the supervisor turns into one."""
    ranks = _spec_ranks(v.spec) if v.spec is not None else v.adapter_ranks
    modules = flag_values(v.text, "--lora-modules")
    enabled = has_flag(v.text, "--enable-lora")
    spec = v.spec if isinstance(v.spec, dict) else {}
    probes, model, engine = (spec.get(key) if isinstance(spec.get(key), dict) else {}
                             for key in ("probes", "model", "engine"))
    if not modules and not enabled and probes.get("mode") == "supervised":
        items = model.get("loras")
        if not isinstance(items, list) or not items:
            return None
        names = [str(a.get("name", "")) if isinstance(a, dict) else "" for a in items]
        given_loras, given_rank = to_int(engine.get("maxLoras")), to_int(engine.get("maxLoraRank"))
        computed = [r for r in loras.MAX_LORA_RANKS if r >= max(ranks.values(), default=0)]
        rank = given_rank or (computed[0] if ranks and computed else loras.DEFAULT_MAX_LORA_RANK)
        return _Loras(True, names, given_loras or len(names), rank, ranks, ("spec", "model", "loras"),
                      ("spec", "engine", "maxLoras"), ("spec", "engine", "maxLoraRank"),
                      given_loras is not None, given_rank is not None)
    if not modules and not enabled:
        return None
    max_loras, max_rank = flag_value(v.text, "--max-loras"), flag_value(v.text, "--max-lora-rank")
    return _Loras(enabled, [_adapter_name(m) for m in modules],
                  to_int(max_loras) or loras.DEFAULT_MAX_LORAS, to_int(max_rank) or loras.DEFAULT_MAX_LORA_RANK,
                  ranks, v.args_path or v.base, v.args_path or v.base, v.args_path or v.base,
                  max_loras is not None, max_rank is not None)


def check_loras(v: ContainerView) -> Iterator[Hit]:
    if v.simulator or v.triton or v.overlay:
        return
    facts = _loras(v)
    if facts is None:
        return
    if facts.names and not facts.enabled:
        yield Hit("VG035", facts.path,
                  f"{v.where}: --lora-modules names {len(facts.names)} adapter(s) ({', '.join(facts.names)}) but "
                  f"--enable-lora is missing: vLLM fails its start loading the first one")
    if len(facts.names) > facts.max_loras:
        limit = f"--max-loras {facts.max_loras}" if facts.max_loras_given else \
            f"--max-loras is not given ({loras.DEFAULT_MAX_LORAS}, vLLM's default)"
        yield Hit("VG036", facts.max_loras_path,
                  f"{v.where}: {len(facts.names)} adapters ({', '.join(facts.names)}) but {limit}: only "
                  f"{facts.max_loras} stay loaded, requests for the others wait for an eviction and a reload",
                  f"--max-loras {len(facts.names)}")
    over = {n: r for n, r in facts.ranks.items() if n in facts.names and r > facts.max_rank}
    if over:
        limit = f"--max-lora-rank {facts.max_rank}" if facts.max_rank_given else \
            f"--max-lora-rank is not given ({loras.DEFAULT_MAX_LORA_RANK}, vLLM's default)"
        need = next((r for r in loras.MAX_LORA_RANKS if r >= max(over.values())), None)
        yield Hit("VG037", facts.max_rank_path,
                  f"{v.where}: adapter {', '.join(f'{n} (rank {r})' for n, r in over.items())} above {limit}: vLLM "
                  f"refuses it and the start fails",
                  f"--max-lora-rank {need}" if need else
                  f"vLLM accepts ranks up to {max(loras.MAX_LORA_RANKS)}: retrain the adapter at a lower rank")


def _masked(key: str) -> str:
    """A key shown without giving it away: its first 3 characters and its length."""
    return f"{key[:3]}... ({len(key)} characters)"


def _argument_path(v: ContainerView, flag: str) -> tuple:
    """JSON path of the command/args item holding `flag`'s value (the item after a bare flag), else the
    args."""
    container = value_at(v.ld.data, v.base)
    for key in ("args", "command"):
        items = container.get(key) if isinstance(container, dict) else None
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, str):
                continue
            if item.strip() == flag and i + 1 < len(items):
                return v.base + (key, i + 1)
            if flag in item:
                return v.base + (key, i)
    return v.args_path or v.base


def check_api_key_cleartext(v: ContainerView) -> Iterator[Hit]:
    """VG050: `--api-key sk-...` (or env VLLM_API_KEY with a literal value) in a vLLM container."""
    key = flag_value(v.text, "--api-key")
    if key is not None and key.strip("\"'") and not _REFERENCE.match(key):
        yield Hit("VG050", _argument_path(v, "--api-key"),
                  f"{v.where}: --api-key passes the API key in clear text ({_masked(key.strip(chr(34) + chr(39)))})")
    for e in v.env:
        if e.name == "VLLM_API_KEY" and e.value and not _REFERENCE.match(e.value):
            yield Hit("VG050", e.path + ("value",),
                      f"{v.where}: env VLLM_API_KEY holds the API key in clear text ({_masked(e.value)})")


VIEW_CHECKS: tuple[Callable[[ContainerView], Iterable[Hit]], ...] = (
    check_probe_port, check_health_startup_readiness, check_liveness_on_models, check_models_with_api_key,
    check_missing_startup, check_startup_budget, check_timeout_period, check_ready_lag, check_accelerators,
    check_wide_ep, check_group_restart, check_not_on_vllm, *TRITON_CHECKS, check_drain,
    check_cuda_visible_devices, check_loras, check_api_key_cleartext, check_startup_below_download,
)




# --- document-wide rules ------------------------------------------------------------------------------

def _literal(value) -> bool:
    return isinstance(value, str) and value.strip() != "" and not value.strip().startswith("$")


def check_hf_token(data) -> Iterator[Hit]:
    """Clear-text Hugging Face tokens anywhere in a document, except in Secret objects (alone or in a list)."""
    if not isinstance(data, dict):
        yield from _hf_tokens(data, ())
        return
    for path, obj in workloads.objects(data):
        if obj.get("kind") != "Secret":
            yield from _hf_tokens(obj, path)


def _hf_tokens(data, path: tuple) -> Iterator[Hit]:
    if isinstance(data, dict):
        name = data.get("name")
        if (name in HF_TOKEN_VARS or _credential(name)) and _literal(data.get("value")):
            yield Hit("VG011", path + ("value",), f"env {name} holds {_what(name)} in clear text")
            return
        for key, value in data.items():
            if (key in HF_TOKEN_VARS or _credential(key)) and _literal(value):
                yield Hit("VG011", path + (key,), f"{key} holds {_what(key)} in clear text")
            else:
                yield from _hf_tokens(value, path + (key,))
    elif isinstance(data, list):
        skip = -1
        for i, item in enumerate(data):
            if i == skip:
                continue
            flag = cleartext.controlled_flag(item) if isinstance(item, str) else None
            # the exact --api-key is VG050's; its prefixes (--api-k), which vLLM reads as it, are flagged here
            secret = flag in _SECRET_FLAGS and not (flag == "--api-key" and cleartext.flag_name(item) == flag)
            if secret and "=" not in item and i + 1 < len(data) and _literal(data[i + 1]):
                yield Hit("VG011", path + (i + 1,), f"{item} passes {_SECRET_FLAGS[flag]} in clear text")
                skip = i + 1
            elif secret and "=" in item and _literal(item.split("=", 1)[1]):
                yield Hit("VG011", path + (i,), f"{item.split('=', 1)[0]} passes {_SECRET_FLAGS[flag]} in clear text")
            else:
                yield from _hf_tokens(item, path + (i,))
    elif isinstance(data, str) and HF_TOKEN_RE.search(data):
        yield Hit("VG011", path, "a string holds what looks like a Hugging Face token (hf_...) in clear text")
    elif cleartext.has_userinfo(data):
        yield Hit("VG011", path, "a URL carries credentials (user:password@) in clear text")


#: Flags whose value is a credential, as `cleartext.controlled_flag` names them (prefixes included).
_SECRET_FLAGS = {"--hf-token": "the Hugging Face token", "--api-key": "the API key"}


def _credential(name) -> bool:
    """A credential env name (cleartext's list) other than VLLM_API_KEY, which VG050 reports."""
    return name != "VLLM_API_KEY" and cleartext.credential_env(name)


def _what(name: str) -> str:
    return "the Hugging Face token" if name in HF_TOKEN_VARS else "a credential"
