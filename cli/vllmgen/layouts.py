"""Per-layout defaults: which roles run, which image, which probe mode, whether pods request accelerators.

Data only. Every value has the reason it is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("standalone", "prefill", "decode")
LAYOUTS = ("simulated", "single-node", "wide-ep")
SERVERS = ("vllm", "triton")

#: The project's image (images/vllm): the official vLLM image with `vllmgen serve` as entrypoint.
PROJECT_IMAGE = ("ghcr.io/vllmgen/vllm", "0.1.0")
#: The llm-d inference simulator at the tag the last simulated-accelerators guide pinned (llm-d.md section 3).
SIMULATOR_IMAGE = ("ghcr.io/llm-d/llm-d-inference-sim", "v0.8.2")
#: Routing sidecar the simulated guide shipped with (old flag generation: --connector, --vllm-port).
SIMULATED_SIDECAR_IMAGE = "ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1"
#: Newest routing sidecar llm-d ships (llm-d #1885): --kv-connector, --model-server-port.
SIDECAR_IMAGE = "ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.9.0"

#: Extended resource per accelerator vendor (llm-d-modelservice's accelerator.resources).
ACCELERATOR_RESOURCES = {
    "nvidia": "nvidia.com/gpu",
    "amd": "amd.com/gpu",
    "intel-gaudi": "habana.ai/gaudi",
    "google": "google.com/tpu",
}


@dataclass(frozen=True)
class Layout:
    name: str
    default_roles: dict[str, int]  # role -> replicas when the spec does not say
    image: tuple[str, str]
    probe_mode: str  # default probe mode
    accelerators: bool  # pods request accelerators
    multinode: bool  # roles render as LeaderWorkerSets
    sidecar_image: str
    notes: dict[str, str] = field(default_factory=dict)


LAYOUT_TABLE: dict[str, Layout] = {
    "simulated": Layout(
        name="simulated",
        # as llm-d's simulated-accelerators guide: 3 decode pods behind sidecars, 1 prefill pod
        default_roles={"decode": 3, "prefill": 1},
        image=SIMULATOR_IMAGE,
        # the simulator image has no supervisor; its /v1/models and /health answer as soon as it listens
        probe_mode="plain",
        accelerators=False,
        multinode=False,
        sidecar_image=SIMULATED_SIDECAR_IMAGE,
    ),
    "single-node": Layout(
        name="single-node",
        default_roles={"standalone": 1},
        image=PROJECT_IMAGE,
        probe_mode="supervised",
        accelerators=True,
        multinode=False,
        sidecar_image=SIDECAR_IMAGE,
    ),
    "wide-ep": Layout(
        name="wide-ep",
        # as llm-d's wide-EP guide: one prefill and one decode LeaderWorkerSet group
        default_roles={"decode": 1, "prefill": 1},
        image=PROJECT_IMAGE,
        probe_mode="supervised",
        accelerators=True,
        multinode=True,
        sidecar_image=SIDECAR_IMAGE,
    ),
}


def layout(name: str) -> Layout:
    return LAYOUT_TABLE[name]
