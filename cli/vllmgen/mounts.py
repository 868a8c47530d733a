"""Where the chart mounts things inside the serving container."""

from __future__ import annotations

#: The model volume (llm-d-modelservice's `modelArtifacts.mountPath` default): the hub cache for hf:// sources,
#: the claim's root for pvc:// sources.
MODEL_MOUNT_PATH = "/model-cache"
#: The spec ConfigMap; the supervisor reads it here.
SPEC_PATH = "/etc/vllmgen/spec.yaml"
