"""vLLM itself: `vllm serve` (plain probes), `vllmgen serve` around it (supervised probes), or llm-d's inference
simulator standing in for it in a simulated layout."""

from __future__ import annotations

import re

from vllmgen import connectors, images, layouts, loras, sidecar, versions
from vllmgen.engine import has_sidecar, simulator_args, vllm_args, vllm_shell_command
from vllmgen.layouts import Layout
from vllmgen.mounts import SPEC_JSON_PATH, SPEC_PATH, SUPERVISOR_ZIPAPP_PATH
from vllmgen.probes import RoleProbes, probes_for
from vllmgen.roles import DISAGGREGATED_ROLES
from vllmgen.servers.base import Command, Recognised, Server

#: KV connectors that exchange through NIXL's side channel, which must listen on the pod's own address.
NIXL_CONNECTORS = ("nixl", "nixlv2")
#: vLLM's wait for its engines' ready message in each API server (default 600 s). With several API servers
#: (`--api-server-count`, which vLLM defaults to the data-parallel size) they wait from their own start, so it
#: ends any engine start (load, profile, warm-up) longer than 600 s: set to what kubelet allows the start
#: (docs/upstream-facts.md#vllm-timeouts).
ENGINE_READY_TIMEOUT_ENV = "VLLM_ENGINE_READY_TIMEOUT_S"
#: The interpreter every vLLM image puts on PATH (the one vLLM runs in): it runs the chart-delivered supervisor.
IMAGE_PYTHON = "python3"


#: `vllm serve` in a command line or script, and the OpenAI API server module run directly.
VLLM_SERVE = re.compile(r"(?:^|[\s;&|(`'\"/])vllm[\"']?\s+[\"']?serve\b")
VLLM_MODULE = re.compile(r"\bvllm\.entrypoints\.(?:openai\.)?api_server\b")
#: Arguments only vLLM's command line takes (an image entrypoint given these runs vLLM).
VLLM_ARGS = re.compile(r"(?:^|\s)--(?:model|tensor-parallel-size|tensor_parallel_size|served-model-name|"
                       r"max-model-len|gpu-memory-utilization|data-parallel-size|pipeline-parallel-size)(?:[=\s]|$)")
#: Image repositories (the last path segment) whose entrypoint is `vllm serve`: the official image, its CPU and
#: ROCm variants, and images built from it (LMCache's).
OFFICIAL_IMAGE = re.compile(r"^vllm-openai(?:-[\w.-]+)?$")
#: A vendor's vLLM build (`vllm`, `vllm-gaudi`, `vllm-rbln-rhel9`, `vllm-xpu`): its entrypoint is vLLM when the
#: arguments are vLLM's. Dynamo's `vllm-runtime` is the runtime image of Dynamo's components, never an entrypoint.
VENDOR_IMAGE = re.compile(r"^vllm(?:[-_][\w.-]+)?$")
#: llm-d's vLLM builds (llm-d/llm-d, docker/): `llm-d`, `llm-d-cuda`, `llm-d-xpu`, `llm-d-rocm`, their -dev tags.
LLMD_IMAGE = re.compile(r"^llm-d(?:-(?:cuda|xpu|rocm|hpu|gaudi|cpu|tpu|aws|dev))*$")
_NOT_AN_ENTRYPOINT = re.compile(r"runtime")


def repository(image: str) -> str:
    """The last path segment of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


class VllmServer(Server):
    name = "vllm"
    supervised = True
    vllm_metrics = True  # vLLM's /metrics, and the llm-d simulator's, which imitates its gauges

    def default_image(self, spec: dict) -> tuple[str, str]:
        if layouts.of(spec).simulator:
            return images.SIMULATOR
        if spec["probes"]["mode"] == "supervised" and spec["probes"]["supervisor"] == "image":
            return images.PROJECT
        return images.VLLM_OFFICIAL

    def recognise(self, text: str, image: str, configs: tuple[str, ...] = ()) -> Recognised | None:
        for pattern, evidence in ((VLLM_SERVE, "command: vllm serve"),
                                  (VLLM_MODULE, "command: python -m vllm.entrypoints.openai.api_server")):
            m = pattern.search(text)
            if m:
                return Recognised(m.start(), True, evidence)
        return None

    def recognise_image(self, image: str, args: list[str]) -> Recognised | None:
        repo = repository(image)
        if OFFICIAL_IMAGE.match(repo):
            return Recognised(0, True, f"image entrypoint: vllm serve ({repo})")
        if LLMD_IMAGE.match(repo):
            return Recognised(0, True, f"image entrypoint: llm-d's vLLM image ({repo})")
        if VENDOR_IMAGE.match(repo) and not _NOT_AN_ENTRYPOINT.search(repo) and \
                (VLLM_ARGS.search(" " + " ".join(args)) or (args and not args[0].startswith("-") and "/" in args[0])):
            return Recognised(0, True, f"image entrypoint with vLLM arguments ({repo})")
        return None

    def default_probe_mode(self, layout: Layout) -> str:
        return layout.probe_mode

    def supervisor_from_chart(self, spec: dict) -> bool:
        return spec["probes"]["mode"] == "supervised" and spec["probes"]["supervisor"] == "chart"

    def derive(self, spec: dict) -> None:
        engine = spec["engine"]
        if not layouts.of(spec).simulator:
            if "vllmVersion" not in engine:
                release = versions.of_image(*self.image(spec))
                if release:
                    engine["vllmVersion"] = versions.text(release)
            release = versions.parse(engine.get("vllmVersion", ""))
            if release and not versions.has(release, "--shutdown-timeout"):
                engine.setdefault("shutdownTimeoutSeconds", 0)  # no flag: vLLM aborts in-flight work on SIGTERM
        super().derive(spec)

    def server_check(self, spec: dict) -> list[tuple[tuple, str]]:
        if layouts.of(spec).simulator:
            # the simulator runs no vLLM and moves no KV
            return [(("model", "loras"), "the simulator serves no LoRA adapters: use a layout that runs vLLM")] \
                if spec["model"].get("loras") else []
        return (self._version_errors(spec) + self._connector_errors(spec)
                + loras.check(spec, spec["probes"]["mode"] == "supervised"))

    def _version_errors(self, spec: dict) -> list[tuple[tuple, str]]:
        """Flags the spec implies that the image's vLLM does not have, each refused at the field that asks."""
        engine, lay = spec["engine"], layouts.of(spec)
        repository, tag = self.image(spec)
        from_image = versions.of_image(repository, tag)
        if "vllmVersion" not in engine:
            return [(("engine", "vllmVersion"), f"image {repository}:{tag} does not say which vLLM release it runs: "
                                                "set engine.vllmVersion")]
        release = versions.parse(engine["vllmVersion"])
        if from_image and release != from_image:
            return [(("engine", "vllmVersion"), f"{engine['vllmVersion']} disagrees with the image {repository}:{tag}, "
                                                f"which runs vLLM {versions.text(from_image)}")]
        if release < versions.OLDEST:
            return [(("engine", "vllmVersion"), f"vLLM {versions.text(release)} is older than "
                                                f"{versions.text(versions.OLDEST)}, the oldest release whose flags "
                                                "vllmgen knows")]
        needs = [
            (("engine", "shutdownTimeoutSeconds"), "--shutdown-timeout", engine["shutdownTimeoutSeconds"] > 0),
            (("layout",), "--data-parallel-hybrid-lb", lay.group_launch == "data-parallel"),
            (("wideEP", "all2allBackend"), "--all2all-backend", lay.group_launch == "data-parallel"),
            (("layout",), "--nnodes", lay.group_launch == "node-ranks"),
            (("engine", "dataParallelSizeLocal"), "--data-parallel-size-local", engine["dataParallelSize"] > 1),
        ]
        errors = []
        for path, flag, wanted in needs:
            if wanted and not versions.has(release, flag):
                errors.append((path, f"needs {flag}, which vLLM has from {versions.text(versions.FLAG_SINCE[flag])}; "
                                     f"the image runs vLLM {versions.text(release)} (engine.vllmVersion)"))
        conn = connectors.get(spec["routing"]["sidecar"]["connector"])
        if conn.vllm_class and not versions.has_connector(release, conn.vllm_class):
            errors.append((("routing", "sidecar", "connector"),
                           f"{conn.name} needs vLLM's {conn.vllm_class}, registered from "
                           f"{versions.text(versions.CONNECTOR_SINCE[conn.vllm_class])}; the image runs vLLM "
                           f"{versions.text(release)} (engine.vllmVersion)"))
        return errors

    def _connector_errors(self, spec: dict) -> list[tuple[tuple, str]]:
        """Connector choices through which no KV would reach the decode pod."""
        side = spec["routing"]["sidecar"]
        name = side["connector"]
        why = connectors.refusal(name, spec["engine"]["env"])
        if why:
            return [(("routing", "sidecar", "connector"), f"{name}: {why}")]
        image = side.get("image") or images.ref(layouts.of(spec).sidecar_image)
        if side["enabled"] and not sidecar.accepts(image, name):
            gen = sidecar.FLAGS[sidecar.generation(image)]
            return [(("routing", "sidecar", "connector"),
                     f"{image} (the {gen.generation} generation) does not accept the connector {name}; it speaks "
                     f"{', '.join(c for c in gen.connectors if not connectors.refusal(c, spec['engine']['env']))}")]
        return []

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
                           "node rank and leader address come from the LeaderWorkerSet environment; workers "
                           "(index > 0) run headless" if lay.group_launch == "node-ranks" else
                           "data-parallel size, start rank and leader address come from the LeaderWorkerSet "
                           "environment")
        return Command(["vllm", "serve"], vllm_args(spec, role), "`vllm serve` with the arguments the spec implies")

    def env(self, spec: dict, role: str) -> list[dict]:
        lay, engine = layouts.of(spec), spec["engine"]
        env: list[dict] = []
        ready = engine_ready_timeout(spec, role)
        if ready is not None:
            env.append({"name": ENGINE_READY_TIMEOUT_ENV, "value": str(ready)})
        if lay.group_launch == "data-parallel":
            env += [{"name": "DP_SIZE_LOCAL", "value": str(engine["dataParallelSizeLocal"])},
                    {"name": "TP_SIZE", "value": str(engine["tensorParallelSize"])}]
        if role in DISAGGREGATED_ROLES and not lay.simulator and \
                spec["routing"]["sidecar"]["connector"] in NIXL_CONNECTORS:
            env.append({"name": "VLLM_NIXL_SIDE_CHANNEL_HOST",
                        "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
        if role == "prefill" and not lay.simulator:
            env += [{"name": k, "value": v}
                    for k, v in connectors.get(spec["routing"]["sidecar"]["connector"]).prefill_env]
        return env

    def env_notes(self, spec: dict, role: str) -> dict[str, str]:
        ready = engine_ready_timeout(spec, role)
        if ready is None:
            return {}
        return {ENGINE_READY_TIMEOUT_ENV: f"{ENGINE_READY_TIMEOUT_ENV} = the {ready} s kubelet allows the start: "
                                          "with several API servers (vLLM's default under data parallelism) vLLM "
                                          "ends a longer engine start (its default is 600 s)"}

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


def engine_ready_timeout(spec: dict, role: str) -> int | None:
    """`VLLM_ENGINE_READY_TIMEOUT_S`: the seconds kubelet allows the start (the supervised ceiling, or the plain
    budget), so vLLM never ends a start the probes allow; None for the simulator (no vLLM) or when the spec's
    engine.env sets it."""
    if layouts.of(spec).simulator or ENGINE_READY_TIMEOUT_ENV in spec["engine"]["env"]:
        return None
    return probes_for(spec, role).startup_seconds


SERVER = VllmServer()
