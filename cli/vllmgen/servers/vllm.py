"""vLLM itself: `vllm serve` (plain probes), `vllmgen serve` around it (supervised probes), or llm-d's inference
simulator standing in for it in a simulated layout."""

from __future__ import annotations

from vllmgen import images, layouts
from vllmgen.engine import has_sidecar, simulator_args, vllm_args, vllm_shell_command
from vllmgen.layouts import Layout
from vllmgen.mounts import SPEC_JSON_PATH, SPEC_PATH, SUPERVISOR_ZIPAPP_PATH
from vllmgen.probes import RoleProbes, probes_for
from vllmgen.roles import DISAGGREGATED_ROLES
from vllmgen.servers.base import Command, Server

#: KV connectors that exchange through NIXL's side channel, which must listen on the pod's own address.
NIXL_CONNECTORS = ("nixl", "nixlv2")
#: The interpreter every vLLM image puts on PATH (the one vLLM runs in): it runs the chart-delivered supervisor.
IMAGE_PYTHON = "python3"


class VllmServer(Server):
    name = "vllm"
    supervised = True

    def default_image(self, spec: dict) -> tuple[str, str]:
        if layouts.of(spec).simulator:
            return images.SIMULATOR
        if spec["probes"]["mode"] == "supervised" and spec["probes"]["supervisor"] == "image":
            return images.PROJECT
        return images.VLLM_OFFICIAL

    def default_probe_mode(self, layout: Layout) -> str:
        return layout.probe_mode

    def supervisor_from_chart(self, spec: dict) -> bool:
        return spec["probes"]["mode"] == "supervised" and spec["probes"]["supervisor"] == "chart"

    def command(self, spec: dict, role: str) -> Command:
        lay = layouts.of(spec)
        if lay.simulator:
            return Command([], simulator_args(spec, role), "the simulator image's entrypoint runs the simulator")
        if self.supervisor_from_chart(spec):
            return Command([IMAGE_PYTHON, SUPERVISOR_ZIPAPP_PATH, "serve"], ["--spec", SPEC_JSON_PATH, "--role", role],
                           "the image's python3 runs the supervisor the chart mounts (vllmgen serve); it reads the "
                           "mounted spec and starts `vllm serve` with the arguments it implies (`vllmgen serve "
                           "--print-command` shows them)")
        if spec["probes"]["mode"] == "supervised":
            return Command(["vllmgen", "serve"], ["--spec", SPEC_PATH, "--role", role],
                           "the image's supervisor reads the mounted spec and starts `vllm serve` with the arguments "
                           "it implies (`vllmgen serve --print-command` shows them)")
        if lay.multinode:
            return Command(["/bin/sh", "-c"], [vllm_shell_command(spec, role)],
                           "data-parallel size, start rank and leader address come from the LeaderWorkerSet "
                           "environment")
        return Command(["vllm", "serve"], vllm_args(spec, role), "`vllm serve` with the arguments the spec implies")

    def env(self, spec: dict, role: str) -> list[dict]:
        lay, engine = layouts.of(spec), spec["engine"]
        env: list[dict] = []
        if lay.multinode:
            env += [{"name": "DP_SIZE_LOCAL", "value": str(engine["dataParallelSizeLocal"])},
                    {"name": "TP_SIZE", "value": str(engine["tensorParallelSize"])}]
        if role in DISAGGREGATED_ROLES and not lay.simulator and \
                spec["routing"]["sidecar"]["connector"] in NIXL_CONNECTORS:
            env.append({"name": "VLLM_NIXL_SIDE_CHANNEL_HOST",
                        "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
        return env

    def probes(self, spec: dict, role: str) -> RoleProbes:
        return probes_for(spec, role)

    def probe_mode_note(self, mode: str) -> str:
        if mode == "supervised":
            return ("supervised: probes go to the vllmgen supervisor's `health` port (/startupz long-poll, "
                    "/readyz, /livez)")
        return "plain: probes go straight to vLLM (any vLLM image)"

    def port_note(self, spec: dict, role: str, port: int) -> str:
        if has_sidecar(spec, role):
            return f"vLLM listens on {port} behind the routing sidecar (which owns {spec['routing']['servicePort']})"
        return f"vLLM listens on the service port {port}"


SERVER = VllmServer()
