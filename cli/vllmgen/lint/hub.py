"""A model's size from the Hugging Face hub (`vllmgen lint --hub`): the parameter counts per dtype the hub
reads from the repository's safetensors headers (huggingface_hub's `model_info(..., expand=["safetensors"])`).

huggingface_hub is not a vllmgen dependency (vLLM installs it): it is imported only when `--hub` is used.
"""

from __future__ import annotations

from typing import Optional

#: Bytes per element of each safetensors dtype (huggingface/safetensors, the format's dtype list).
DTYPE_BYTES = {
    "F64": 8, "I64": 8, "U64": 8,
    "F32": 4, "I32": 4, "U32": 4,
    "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1, "BOOL": 1,
    "F4": 0.5, "F6_E2M3": 0.75, "F6_E3M2": 0.75,
}
#: Seconds a hub request may take before the size is given up on (the lint goes on without it).
TIMEOUT_S = 20
MISSING = ("--hub needs the huggingface_hub package (vLLM installs it; or `pip install huggingface_hub`); "
           "without it, give sizes with --model-size NAME=GiB")


class HubError(Exception):
    """The size could not be read from the hub (the message says why)."""


def available() -> bool:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return False
    return True


def safetensors_bytes(repo_id: str) -> float:
    """Bytes of a hub model's safetensors weights."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise HubError(MISSING) from None
    try:
        info = HfApi().model_info(repo_id, expand=["safetensors"], timeout=TIMEOUT_S)
    except Exception as exc:  # network, authentication, not found: huggingface_hub raises many kinds
        raise HubError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()) from None
    parameters: Optional[dict] = getattr(getattr(info, "safetensors", None), "parameters", None)
    if not parameters:
        raise HubError("the hub has no safetensors metadata for it")
    unknown = sorted(set(parameters) - set(DTYPE_BYTES))
    if unknown:
        raise HubError(f"unknown safetensors dtype {unknown[0]}")
    return float(sum(count * DTYPE_BYTES[dtype] for dtype, count in parameters.items()))
