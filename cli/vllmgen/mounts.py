"""Where the chart mounts things inside the serving container."""

from __future__ import annotations

from posixpath import splitext

#: The model volume (llm-d-modelservice's `modelArtifacts.mountPath` default): the hub cache for hf:// sources,
#: the claim's root for pvc:// sources.
MODEL_MOUNT_PATH = "/model-cache"
#: The spec ConfigMap, as YAML (what people read, and what `vllmgen serve` in the project's image reads).
SPEC_PATH = "/etc/vllmgen/spec.yaml"
#: The same spec as JSON beside it (the chart swaps the extension): the chart-delivered supervisor reads it with
#: the standard library, since the images it runs in have no ruamel.yaml.
SPEC_JSON_PATH = splitext(SPEC_PATH)[0] + ".json"
#: The supervisor zipapp the chart carries (charts/vllm/files/vllmgen.pyz), mounted from a ConfigMap.
SUPERVISOR_ZIPAPP_PATH = "/opt/vllmgen/vllmgen.pyz"
#: vLLM's compile and kernel caches, when they persist on a claim (`caches.claim` of the spec).
CACHE_MOUNT_PATH = "/vllm-cache"
#: LoRA adapters from pvc:// sources: each is mounted read-only at LORA_MOUNT_PATH/NAME.
LORA_MOUNT_PATH = "/lora-adapters"
