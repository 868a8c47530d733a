"""Layouts as data: which roles run by default, how probes work, whether pods request accelerators, whether a
role spans several pods. Code asks a layout's fields, never its name. Adding a layout is one entry here plus the
schema's `layout` enum.
"""

from __future__ import annotations

from dataclasses import dataclass

from vllmgen import images


@dataclass(frozen=True)
class Layout:
    name: str
    default_roles: dict[str, int]  # role -> replicas when the spec does not say
    probe_mode: str  # default probe mode for vLLM
    accelerators: bool  # pods request accelerators
    multinode: bool  # a role is a LeaderWorkerSet group of pods; data-parallel ranks span the group
    simulator: bool  # llm-d's inference simulator stands in for vLLM: no weights, no supervisor
    sidecar_image: tuple[str, str]  # the routing sidecar in front of decode pods
    group_setup_seconds: int = 0  # startup term for work a multi-pod group does before serving


LAYOUT_TABLE: dict[str, Layout] = {
    "simulated": Layout(
        name="simulated",
        # as llm-d's simulated-accelerators guide: 3 decode pods behind sidecars, 1 prefill pod
        default_roles={"decode": 3, "prefill": 1},
        # the simulator image has no supervisor; its /v1/models and /health answer as soon as it listens
        probe_mode="plain",
        accelerators=False,
        multinode=False,
        simulator=True,
        sidecar_image=images.SIMULATED_SIDECAR,
    ),
    "single-node": Layout(
        name="single-node",
        default_roles={"standalone": 1},
        probe_mode="supervised",
        accelerators=True,
        multinode=False,
        simulator=False,
        sidecar_image=images.SIDECAR,
    ),
    "wide-ep": Layout(
        name="wide-ep",
        # as llm-d's wide-EP guide: one prefill and one decode LeaderWorkerSet group
        default_roles={"decode": 1, "prefill": 1},
        probe_mode="supervised",
        accelerators=True,
        multinode=True,
        simulator=False,
        sidecar_image=images.SIDECAR,
        # DeepEP/NVSHMEM buffers, DeepGEMM JIT kernels and the data-parallel handshake across pods; llm-d's
        # wide-EP guide had to allow 45 min for DeepSeek-R1 on B200 (llm-d/llm-d #529)
        group_setup_seconds=600,
    ),
}

#: Layout names, in the schema's order.
LAYOUTS = tuple(LAYOUT_TABLE)


def layout(name: str) -> Layout:
    return LAYOUT_TABLE[name]


def of(spec: dict) -> Layout:
    """The layout of an effective spec."""
    return LAYOUT_TABLE[spec["layout"]]
