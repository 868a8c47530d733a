"""Lint rules for Triton Inference Server running vLLM through NVIDIA's vLLM backend: the engine health check that
needs explicit model control, and the endpoints and ports a probe must not use
(docs/upstream-facts.md#triton-with-the-vllm-backend; timelines recorded from the real tritonserver in
tests/data/timelines/triton-*.yaml)."""

from __future__ import annotations

import re
from typing import Iterator

from vllmgen import workloads
from vllmgen.lint.commandline import flag_value
from vllmgen.lint.findings import Hit, Rule, probe_name
from vllmgen.lint.view import ContainerView

R_TRITON = {r.id: r for r in (
    Rule("VG013", "triton-health-check-not-explicit", "error",
         "the vLLM backend's engine health check unloads the model of a dead engine through Triton's repository "
         "API, which only works with explicit model control: otherwise the unload is refused and the model stays "
         "READY (or the server aborts)",
         "start tritonserver with --model-control-mode=explicit --load-model=NAME"),
    Rule("VG014", "triton-server-readiness", "error",
         "/v2/health/ready is not model-aware: in explicit mode it answers 200 before any model is loaded and "
         "again after the backend unloads a model whose engine died",
         "probe /v2/models/NAME/ready (vllmgen values --server triton does)"),
    Rule("VG015", "triton-liveness-model-ready", "warning",
         "a model-ready endpoint is 400 whenever the model is loading, reloading or unloaded; as liveness it "
         "restarts the whole server for a model state that readiness already handles",
         "put liveness on /v2/health/live (200 whenever Triton serves HTTP)"),
    Rule("VG016", "triton-probe-grpc-or-metrics-port", "error",
         "an HTTP probe on Triton's gRPC port always fails (HTTP/1 to a gRPC server), and Triton's metrics port "
         "answers 200 to every path, loaded model or not",
         "probe Triton's HTTP port (8000, port `vllm` in vllmgen values)"),
)}

#: How config.pbtxt turns the vLLM backend's engine health check on (docs/health_check.md of
#: triton-inference-server/vllm_backend).
TRITON_HEALTH_CHECK_RE = re.compile(r'key:\s*"ENABLE_VLLM_HEALTH_CHECK"\s*value:\s*\{\s*string_value:\s*"true"',
                                    re.IGNORECASE)
TRITON_MODEL_READY_RE = re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/ready$")


def triton_configs(docs) -> list[str]:
    """config.pbtxt texts held by ConfigMaps among `docs` (a Triton model repository mounted from them)."""
    out = []
    for ld in docs:
        for _, obj in workloads.objects(ld.data):
            if obj.get("kind") == "ConfigMap" and isinstance(obj.get("data"), dict):
                out += [t for k, t in obj["data"].items() if isinstance(t, str) and str(k).endswith(".pbtxt")]
    return out


def check_triton_explicit(v: ContainerView) -> Iterator[Hit]:
    if not v.triton or not any(TRITON_HEALTH_CHECK_RE.search(t) for t in v.triton_configs):
        return
    mode = flag_value(v.text, "--model-control-mode")
    if mode != "explicit":
        yield Hit("VG013", v.args_path,
                  f"ENABLE_VLLM_HEALTH_CHECK is on but tritonserver runs with --model-control-mode="
                  f"{mode or 'none (the default)'}: the backend's unload of a dead engine's model is refused, so "
                  f"/v2/models/NAME/ready stays 200 (recorded: or the server aborts with SIGABRT)")


def check_triton_paths(v: ContainerView) -> Iterator[Hit]:
    if not v.triton:
        return
    for p in v.probes.values():
        path = p.http_path
        port = v.resolve_port(p.port)
        where = p.path + ("httpGet", "path")
        if port is not None and port == v.server_ports.get("grpc"):
            yield Hit("VG016", p.port_path, f"{probe_name(p)} on Triton's gRPC port {port}: an HTTP/1 request "
                      f"gets no HTTP answer there (recorded: 'illegal request line'), so the probe always fails")
        elif port is not None and port == v.server_ports.get("metrics"):
            yield Hit("VG016", p.port_path, f"{probe_name(p)} on Triton's metrics port {port}: it answers 200 to "
                      f"every path (recorded: /v2/models/NAME/ready too, after the model was unloaded)")
        elif path in ("/v2/health/ready", "/v2/health/ready/") and p.kind in ("startup", "readiness"):
            yield Hit("VG014", where, f"{probe_name(p)} on /v2/health/ready: 200 with no model loaded and 200 "
                      f"again after an unload (recorded), so traffic reaches a pod without its model")
        elif path and TRITON_MODEL_READY_RE.match(path) and p.kind == "liveness":
            yield Hit("VG015", where, f"livenessProbe on {path}: 400 while the model loads or after it is "
                      f"unloaded, so kubelet restarts the server instead of readiness taking it out of the Service")


#: The checks run on each container view (vllmgen.lint.rules.VIEW_CHECKS holds them with the others).
TRITON_CHECKS = (check_triton_explicit, check_triton_paths)
