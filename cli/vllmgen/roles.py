"""Roles and the ports and port names they listen on (llm-d's layout: docs/upstream-facts.md, llm-d section).

The schema (`schemas/model-spec.schema.json`) carries the same defaults for the spec's `routing` and `probes`
ports; a test ties them to these constants.
"""

from __future__ import annotations

#: Roles in their canonical order: one whole-request server, or llm-d's prefill/decode disaggregation.
ROLES = ("standalone", "prefill", "decode")
#: The roles of prefill/decode disaggregation: they exchange the KV cache through a connector.
DISAGGREGATED_ROLES = ("prefill", "decode")
#: The role whose pods sit behind llm-d's routing sidecar.
SIDECAR_ROLE = "decode"

#: vLLM's own default `--port`, and the port llm-d's Service (and InferencePool) targets on every role.
SERVICE_PORT = 8000
#: Where vLLM listens on decode pods in llm-d's layout: behind the routing sidecar, which owns SERVICE_PORT.
DECODE_VLLM_PORT = 8200
#: The supervisor's health server (`vllmgen serve`).
HEALTH_PORT = 8090

#: Container port names. The model server is `vllm` for every server (Triton's HTTP port too), so the Service
#: and the probes target it the same way; `health` is the supervisor; `proxy` the routing sidecar.
VLLM_PORT_NAME = "vllm"
HEALTH_PORT_NAME = "health"
PROXY_PORT_NAME = "proxy"

#: The pod label llm-d's endpoint picker reads to tell prefill pods from decode pods (its `prefill-filter` and
#: `decode-filter`), and its value per role; a standalone pod does both (docs/upstream-facts.md#endpoint-picker).
ROLE_LABEL = "llm-d.ai/role"
ROLE_LABEL_VALUES = {"standalone": "both", "prefill": "prefill", "decode": "decode"}
#: The label every serving pod carries; llm-d's guides select model servers with it, and so does the pool.
SERVING_LABEL = "llm-d.ai/inference-serving"
