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
    # how a group's pods split the model: "data-parallel" (each pod serves its own data-parallel ranks) or
    # "node-ranks" (one model split by tensor x pipeline parallelism over the pods; only the leader serves)
    group_launch: str = ""
    group_size_field: tuple[str, ...] = ()  # the spec field holding the pods per group
    group_setup_why: str = ""  # what the group setup term covers, for the values' comments


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
        group_launch="data-parallel",
        group_setup_why="DeepEP/NVSHMEM, DeepGEMM JIT, data-parallel handshake across the group",
        group_size_field=("wideEP", "groupSize"),
    ),
    "multi-node": Layout(
        name="multi-node",
        # one model too big for a node (Llama-3.1-405B in bf16: ~810 GB of weights, one 8 x 80 GB node holds 640 GB)
        default_roles={"standalone": 1},
        probe_mode="supervised",
        accelerators=True,
        multinode=True,
        simulator=False,
        sidecar_image=images.SIDECAR,
        # every rank joins the leader's torch.distributed rendezvous and NCCL communicators are built across
        # nodes before the leader loads; pods of a group are scheduled and pull the image one by one
        group_setup_seconds=300,
        group_launch="node-ranks",
        group_setup_why="every node joins the leader's rendezvous; NCCL communicators across the nodes",
        group_size_field=("multiNode", "nodes"),
    ),
}

#: Layout names, in the schema's order.
LAYOUTS = tuple(LAYOUT_TABLE)


def layout(name: str) -> Layout:
    return LAYOUT_TABLE[name]


def of(spec: dict) -> Layout:
    """The layout of an effective spec."""
    return LAYOUT_TABLE[spec["layout"]]


def group_size(spec: dict) -> int:
    """Pods per LeaderWorkerSet group (leader included); 1 for layouts without groups."""
    lay = of(spec)
    if not lay.multinode:
        return 1
    section, field = lay.group_size_field
    return spec[section][field]
