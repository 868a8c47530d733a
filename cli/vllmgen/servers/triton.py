"""Triton Inference Server serving vLLM through NVIDIA's vLLM backend: what one model spec implies.

Pure functions from an effective spec (`vllmgen.spec`, defaults filled) to
- the model repository: `NAME/config.pbtxt` (`backend: "vllm"`, engine health check, vLLM metrics) and
  `NAME/1/model.json` (vLLM engine arguments, spelled as `vllm.engine.arg_utils.AsyncEngineArgs` fields);
- the Triton command line (explicit model control, the model loaded at start, HTTP on the role's port, gRPC
  8001, metrics 8002, a Python shared-memory prefix distinct per pod);
- the probes: startup and readiness on `/v2/models/NAME/ready`, liveness on `/v2/health/live`.

Facts behind the choices (docs/upstream-facts.md#triton-with-the-vllm-backend, measured with the real
tritonserver 2.51):
- A model named by `--load-model` loads before HTTP listens: the port refuses connections until then, then
  `/v2/models/NAME/ready` answers 200 within milliseconds. So Triton probes look like vLLM's plain ones.
- `/v2/health/ready` is not model-aware: after an unload (which is what the vLLM backend does itself when its
  engine health check fails) it answers 200 again while the model is gone. `/v2/models/NAME/ready` stays 400.
- `/v2/health/live` stays 200 while a model loads, fails to load or is unloaded: the only safe liveness target.
- `ENABLE_VLLM_HEALTH_CHECK` calls Triton's unload API, which needs `--model-control-mode=explicit`.
"""

from __future__ import annotations

import json
import re

from vllmgen import images, probes as pr
from vllmgen.engine import COMPUTE_DTYPES, model_arg, vllm_port
from vllmgen.errors import InputError
from vllmgen.servers.base import Command, Recognised, Server

# --- image and ports --------------------------------------------------------------------------------------------
NGC_REPOSITORY, NGC_TAG = images.TRITON
NGC_RELEASE = NGC_TAG.split("-", 1)[0]
#: Triton's default gRPC and metrics ports, as NVIDIA's docs and clients expect them. Its HTTP port is the role's
#: port (`vllm`, `routing.servicePort`), so the Service and the probes target it as they target vLLM.
#: The server's executable (in NVIDIA's Triton images, on PATH).
BINARY = "tritonserver"
GRPC_PORT = 8001
METRICS_PORT = 8002
#: Container port names of the two extra ports.
GRPC_PORT_NAME = "grpc"
METRICS_PORT_NAME = "metrics"

# --- model repository -----------------------------------------------------------------------------------------
#: Where the chart mounts the generated model repository (a ConfigMap) in the Triton container.
MODEL_REPOSITORY_PATH = "/models"
#: The one model version the repository holds (Triton serves the latest numeric version directory).
MODEL_VERSION = "1"
#: Downward-API variable holding the pod name; Kubernetes expands `$(POD_NAME)` in container args.
POD_NAME_ENV = "POD_NAME"

#: config.pbtxt parameters that turn on the backend's behaviour vllmgen relies on (README.md and
#: docs/health_check.md of triton-inference-server/vllm_backend):
#: - ENABLE_VLLM_HEALTH_CHECK: on each request the backend checks vLLM's engine; when it is dead the backend
#:   unloads the model, so /v2/models/NAME/ready turns 400 and readiness takes the pod out of the Service;
#: - REPORT_CUSTOM_METRICS: vLLM's own metrics (`vllm:*`) on Triton's metrics port (needs disable_log_stats false).
BACKEND_PARAMETERS = {"ENABLE_VLLM_HEALTH_CHECK": "true", "REPORT_CUSTOM_METRICS": "true"}

#: Spec fields whose engine arguments vllmgen sets itself; `engine.extraArgs` may not repeat them.
CONTROLLED_ENGINE_ARGS = {
    "model": "model.source",
    "served_model_name": "model.name",
    "revision": "model.revision",
    "dtype": "model.dtype",
    "tensor_parallel_size": "engine.tensorParallelSize",
    "data_parallel_size": "engine.dataParallelSize",
    "max_model_len": "engine.maxModelLen",
    "gpu_memory_utilization": "engine.gpuMemoryUtilization",
    "disable_log_stats": "always false: vLLM metrics are reported through Triton",
}

#: What a Triton model name may hold: it is a directory name in the repository and a URL path segment in
#: /v2/models/NAME/ready; ConfigMap keys allow the same characters.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: An engine-argument flag in `engine.extraArgs`.
_FLAG = re.compile(r"^--([a-z0-9][a-z0-9-]*)$")


def model_name(spec: dict) -> str:
    """Triton's name for the model (directory, URL segment): the served model name with any other
    character than letters, digits, `.`, `_`, `-` replaced by `-` (`org/model` -> `org-model`)."""
    return _NAME_UNSAFE.sub("-", spec["model"]["name"])


def _json_value(text: str):
    """A flag value as vLLM would type it: JSON when it parses as JSON (numbers, true/false, objects), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_value(token: str) -> bool:
    """A token after a flag is its value unless it is itself a flag (`-x`, `--x`); `-1` is a value."""
    return not token.startswith("-") or isinstance(_json_value(token), (int, float))


def extra_engine_args(extra: list[str]) -> dict:
    """`engine.extraArgs` (`vllm serve` flags) as engine arguments: `--enable-prefix-caching` -> true,
    `--no-enable-prefix-caching` -> false, `--max-num-seqs 64` / `--max-num-seqs=64` -> 64,
    `--kv-cache-dtype fp8` -> "fp8". Raises InputError on anything else (short flags, positionals)."""
    out: dict = {}
    i = 0
    while i < len(extra):
        token = extra[i]
        flag, eq, value = token.partition("=")
        match = _FLAG.match(flag)
        if not match:
            raise InputError("<spec>", f"/engine/extraArgs/{i}",
                             f"{token!r}: Triton's model.json takes engine arguments; write long flags "
                             "(`--name value`, `--name=value` or `--flag`)")
        name = match.group(1).replace("-", "_")
        if eq:
            out[name] = _json_value(value)
        elif i + 1 < len(extra) and _is_value(extra[i + 1]):
            out[name] = _json_value(extra[i + 1])
            i += 1
        elif name.startswith("no_"):
            out[name[3:]] = False
        else:
            out[name] = True
        i += 1
    return out


#: The roles a Triton deployment has: one server that runs whole requests. Prefill/decode disaggregation needs
#: vLLM's KV transfer between pods and the llm-d routing sidecar, which Triton's vLLM backend does not set up.
ROLES = ("standalone",)


def role_error(role: str) -> str:
    return (f"server triton serves whole requests (role standalone); {role} needs vLLM's KV transfer and the "
            "routing sidecar, which Triton's vLLM backend does not set up: use server vllm for prefill/decode")


def check(spec: dict) -> list[tuple[tuple, str]]:
    """Spec combinations Triton's vLLM backend cannot honour, beyond its roles and layouts: [(path, message)]."""
    errors: list[tuple[tuple, str]] = []
    try:
        engine_args(spec)  # engine.extraArgs must become engine arguments
    except InputError as exc:
        path = tuple(int(p) if p.isdigit() else p for p in exc.pointer.strip("/").split("/"))
        errors.append((path, exc.message))
    if spec["model"].get("loras"):
        errors.append((("model", "loras"), "vllmgen serves LoRA adapters with `vllm serve` only: use server vllm"))
    errors += [(("engine", key), f"engine.{key} sizes LoRA adapters, which server triton does not serve")
               for key in ("maxLoras", "maxLoraRank") if key in spec["engine"]]
    if spec["engine"].get("apiKeySecretName"):
        errors.append((("engine", "apiKeySecretName"),
                       "Triton does not check vLLM's API key (its endpoints are Triton's own); protect the "
                       "Service with a gateway or NetworkPolicy and drop apiKeySecretName"))
    return errors


def engine_args(spec: dict) -> dict:
    """The content of model.json: vLLM engine arguments the spec implies, named as AsyncEngineArgs fields."""
    model, engine = spec["model"], spec["engine"]
    # served_model_name as a list: what vLLM's own parser makes of `--served-model-name NAME`
    args: dict = {"model": model_arg(spec), "served_model_name": [model["name"]]}
    if model.get("revision"):
        args["revision"] = model["revision"]
    if model["dtype"] in COMPUTE_DTYPES:
        args["dtype"] = model["dtype"]
    args["tensor_parallel_size"] = engine["tensorParallelSize"]
    if engine.get("dataParallelSize", 1) > 1:
        args["data_parallel_size"] = engine["dataParallelSize"]
    if "maxModelLen" in engine:
        args["max_model_len"] = engine["maxModelLen"]
    if "gpuMemoryUtilization" in engine:
        args["gpu_memory_utilization"] = engine["gpuMemoryUtilization"]
    # vLLM collects stats only when this is false; REPORT_CUSTOM_METRICS needs them (vllm_backend README.md)
    args["disable_log_stats"] = False
    for name, value in extra_engine_args(list(engine.get("extraArgs", []))).items():
        if name in args:
            raise InputError("<spec>", "/engine/extraArgs",
                             f"--{name.replace('_', '-')} is set by the spec "
                             f"({CONTROLLED_ENGINE_ARGS.get(name, 'a spec field')}); set that field instead")
        args[name] = value
    return args


def model_json(spec: dict) -> str:
    return json.dumps(engine_args(spec), indent=2) + "\n"


def config_pbtxt(spec: dict) -> str:
    """config.pbtxt of the model: NVIDIA's sample configuration (decoupled, no Triton batching, one
    KIND_MODEL instance so vLLM places its tensor-parallel ranks itself) plus the backend parameters."""
    params = "\n".join(
        f'parameters: {{\n  key: "{key}"\n  value: {{ string_value: "{value}" }}\n}}'
        for key, value in BACKEND_PARAMETERS.items()
    )
    return (
        f'# Generated by vllmgen from the model spec; Triton model "{model_name(spec)}" serves '
        f'"{spec["model"]["name"]}".\n'
        f'name: "{model_name(spec)}"\n'
        'backend: "vllm"\n'
        "# vLLM batches itself\n"
        "max_batch_size: 0\n"
        "# the backend streams responses from vLLM's async engine\n"
        "model_transaction_policy {\n  decoupled: true\n}\n"
        "# one engine; KIND_MODEL leaves GPU placement (tensor parallel) to vLLM\n"
        "instance_group [\n  {\n    count: 1\n    kind: KIND_MODEL\n  }\n]\n"
        f"{params}\n"
    )


def repository_files(spec: dict) -> dict[str, str]:
    """The model repository: path inside the repository -> file content."""
    name = model_name(spec)
    return {f"{name}/config.pbtxt": config_pbtxt(spec), f"{name}/{MODEL_VERSION}/model.json": model_json(spec)}


def shm_prefix(spec: dict) -> str:
    """Python-backend shared-memory region prefix, distinct per model and pod (`$(POD_NAME)` is expanded by
    Kubernetes): Triton servers sharing one /dev/shm hang or crash on colliding regions
    (docs/upstream-facts.md#backend-configuration)."""
    return f"vllmgen-{model_name(spec)}-$({POD_NAME_ENV})"


def command(spec: dict) -> list[str]:
    return [BINARY]


def args(spec: dict, role: str = ROLES[0], *, repository: str = MODEL_REPOSITORY_PATH) -> list[str]:
    """tritonserver arguments: explicit model control (the vLLM health check's unload needs it) with the one
    model loaded at start, HTTP on the role's port, Triton's standard gRPC and metrics ports, and a drain that
    matches the spec's shutdown timeout."""
    return [
        f"--model-repository={repository}",
        "--model-control-mode=explicit",
        f"--load-model={model_name(spec)}",
        f"--http-port={vllm_port(spec, role)}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
        # SIGTERM: Triton waits this long for in-flight requests (the vLLM drain of `vllm serve --shutdown-timeout`)
        f"--exit-timeout-secs={spec['engine']['shutdownTimeoutSeconds']}",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(spec)}",
    ]


def pod_env(spec: dict) -> list[dict]:
    """Environment Triton's arguments need: the pod name for the shared-memory prefix (downward API)."""
    return [{"name": POD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


def ready_path(spec: dict) -> str:
    return f"/v2/models/{model_name(spec)}/ready"


#: Triton's liveness endpoint: 200 whenever the server process serves HTTP, whatever its models do.
LIVE_PATH = "/v2/health/live"


def probes(spec: dict) -> pr.RoleProbes:
    """The three probes: the plain-mode numbers on Triton's endpoints.

    Startup polls the model's ready endpoint every second (Triton refuses connections while `--load-model`
    loads, then answers in milliseconds), with failureThreshold covering the same startup budget as vLLM's.
    """
    budget = pr.startup_budget(spec)
    path = ready_path(spec)
    return pr.plain_probes(budget, path, LIVE_PATH, lambda t: {
        "startup": f"{path} every {pr.PLAIN_STARTUP_PERIOD_S} s: Triton refuses connections until --load-model "
                   f"has loaded the model, so Ready follows the model within ~1 s; failureThreshold "
                   f"{t.startup_failures} x {pr.PLAIN_STARTUP_PERIOD_S} s covers the startup budget "
                   f"{budget.arithmetic()}",
        "readiness": f"{path}, not /v2/health/ready (200 again after the backend unloads a model whose vLLM "
                     f"engine died); NotReady after {pr.PLAIN_READINESS_FAILURES} x {pr.PLAIN_READINESS_PERIOD_S} s",
        "liveness": f"{LIVE_PATH}: 200 while loading, after a failed load and after an unload, so it never "
                    f"restarts a loading pod; restart after {pr.LIVENESS_FAILURES} x {pr.LIVENESS_PERIOD_S} s "
                    "without an answer",
    })


# --- Helm values ------------------------------------------------------------------------------------------------
#: /dev/shm of the Triton container: the Python backend moves every request and response through shared memory
#: (NVIDIA's docs start the container with `--shm-size=1G`; the container runtime's default is 64 MiB).
DSHM_SIZE = "1Gi"


def values_block(spec: dict) -> tuple[dict, dict]:
    """The `triton` block of the values (what the chart mounts and exposes) and its comments by key path."""
    block = {
        "modelName": model_name(spec),
        "modelRepository": {"mountPath": MODEL_REPOSITORY_PATH, "files": repository_files(spec)},
        "grpcPort": GRPC_PORT,
        "metricsPort": METRICS_PORT,
    }
    comments = {
        ("triton",): ("Triton Inference Server with NVIDIA's vLLM backend (image "
                      f"{NGC_REPOSITORY}:{NGC_TAG}); the HTTP port is the role's port `vllm`"),
        ("triton", "modelName"): "Triton's name for the model: /v2/models/NAME/ready, --load-model=NAME",
        ("triton", "modelRepository"): ("generated from the spec; the chart mounts it from a ConfigMap: "
                                        "config.pbtxt (backend vllm, engine health check, vLLM metrics) and "
                                        "model.json (vLLM engine arguments)"),
        ("triton", "grpcPort"): "Triton's gRPC endpoint (port name `grpc`); no probe targets it",
        ("triton", "metricsPort"): "Prometheus metrics, Triton's nv_* and vLLM's vllm:* (port name `metrics`)",
    }
    return block, comments


#: `tritonserver` started by a command line or script.
TRITONSERVER = re.compile(r"(?:^|[\s;&|(`'\"/])tritonserver\b")
#: What says a Triton server has vLLM as a backend: NVIDIA's vLLM images (`tritonserver:25.12-vllm-python-py3`),
#: and a model configuration naming the backend (`backend: "vllm"`, triton-inference-server/vllm_backend).
VLLM_IMAGE_TAG = re.compile(r":[^/@]*vllm")
VLLM_BACKEND = re.compile(r"""\bbackend\s*:\s*["']?vllm\b""")


class TritonServer(Server):
    name = "triton"
    roles = ROLES
    layouts = ("single-node",)
    supervised = False  # Triton answers model-aware probes itself (/v2/models/NAME/ready)
    pool_error = (f"the endpoint picker reads /metrics on the pool's target port, and Triton serves its metrics on "
                  f"port {METRICS_PORT} only: set routing.inferencePool false")

    def default_image(self, spec: dict) -> tuple[str, str]:
        return images.TRITON

    def recognise(self, text: str, image: str, configs: tuple[str, ...] = ()) -> Recognised | None:
        """tritonserver runs vLLM only through its vLLM backend: with TensorFlow, ONNX or TensorRT-LLM models it
        is another server."""
        m = TRITONSERVER.search(text)
        if m is None:
            return None
        if VLLM_IMAGE_TAG.search(image):
            return Recognised(m.start(), True, "command: tritonserver (a vLLM backend image)")
        if any(VLLM_BACKEND.search(c) for c in configs + (text,)):
            return Recognised(m.start(), True, "command: tritonserver (a model config with backend vllm)")
        return Recognised(m.start(), False, "command: tritonserver, with no vLLM backend (no vLLM image, no model "
                                            "config naming backend vllm)")

    def role_error(self, role: str) -> str:
        return role_error(role)

    def server_check(self, spec: dict) -> list[tuple[tuple, str]]:
        return check(spec)

    def command(self, spec: dict, role: str) -> Command:
        return Command(command(spec), args(spec, role),
                       "Triton loads the generated model repository's one model at start (explicit model control)")

    def env(self, spec: dict, role: str) -> list[dict]:
        return pod_env(spec)

    def probes(self, spec: dict, role: str) -> pr.RoleProbes:
        return probes(spec)

    def probe_mode_note(self, mode: str) -> str:
        return "plain: probes go straight to Triton (/v2/models/NAME/ready, /v2/health/live)"

    def port_note(self, spec: dict, role: str, port: int) -> str:
        return f"Triton's HTTP endpoint (port name `vllm`, the Service's target) on {port}"

    def values_block(self, spec: dict) -> tuple[dict, dict]:
        return values_block(spec)

    def shm_size(self, spec: dict) -> tuple[str, str]:
        return DSHM_SIZE, "/dev/shm in memory: Triton's Python backend passes requests through it"

    def runs_in(self, command_text: str, image: str) -> bool:
        return BINARY in command_text or BINARY in image

    def listen_ports(self, command_text: str) -> dict[str, int]:
        return {name: _flag_port(command_text, flag) or default
                for name, flag, default in ((GRPC_PORT_NAME, "--grpc-port", GRPC_PORT),
                                            (METRICS_PORT_NAME, "--metrics-port", METRICS_PORT))}


def _flag_port(text: str, flag: str) -> int | None:
    """`--flag=N` or `--flag N` in a command line."""
    m = re.search(rf"(?:^|\s){re.escape(flag)}(?:=|\s+)[\"']?(\d+)", text)
    return int(m.group(1)) if m else None


SERVER = TritonServer()
