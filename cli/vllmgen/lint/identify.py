"""Which model server, if any, a container runs: positive evidence only, never "the only container".

Evidence, strongest first:
1. the command line (command + args, shell scripts included, and scripts a ConfigMap of the same file mounts):
   `vllm serve`, `python -m vllm.entrypoints...`, `vllmgen serve`, `python -m dynamo.vllm`, `tritonserver`,
   vLLM's multi-node helper (`multi-node-serving.sh worker`: a Ray worker hosting vLLM's ranks);
2. the controller's contract: KServe runs vLLM in the container `main` of an LLMInferenceService's templates
   (the command comes from its LLMInferenceServiceConfig); KubeRay starts the first container of each group
   with `ray start`, so a worker hosts the ranks of a vLLM the head runs on Ray;
3. without a command, the image's entrypoint: the official image and its derivatives (`vllm-openai*`) start
   `vllm serve`; a vendor vLLM build (`vllm-gaudi`, `vllm-rbln-...`) does too when its arguments are vLLM's.

A command that says something else wins over the image: `lmcache/vllm-openai` running `lmcache_server` is an
LMCache server, not vLLM. A container without evidence gets no vLLM rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from vllmgen.images import PROJECT, SIDECAR_NAME_FRAGMENTS, SIMULATOR_NAME_FRAGMENT

# What a container is reviewed as (Identity.server).
VLLM = "vllm"  # vLLM's OpenAI server (`vllm serve`, the api_server module, or an image that starts it)
SUPERVISOR = "vllmgen"  # `vllmgen serve`: vLLM behind vllmgen's supervisor
DYNAMO = "dynamo"  # Dynamo's vLLM worker: vLLM's engine in-process, Dynamo's own endpoints
TRITON = "triton"  # tritonserver, vLLM as its backend
RAY_WORKER = "ray-worker"  # a Ray node hosting ranks of a vLLM whose API server runs elsewhere in the group
SIMULATOR = "simulator"  # llm-d's inference simulator: vLLM's API without vLLM

#: Servers that run vLLM (the simulator imitates its API without running it).
RUNS_VLLM = frozenset({VLLM, SUPERVISOR, DYNAMO, TRITON, RAY_WORKER})
#: Servers whose HTTP port answers vLLM's own API (/health, /v1/models): the probe path and port rules apply.
VLLM_HTTP = frozenset({VLLM, SIMULATOR})
#: Servers the rules review (a Ray worker only adds its accelerators to the group's).
REVIEWED = frozenset({VLLM, SUPERVISOR, DYNAMO, TRITON, SIMULATOR})

_VLLM_SERVE = re.compile(r"(?:^|[\s;&|(`'\"/])vllm[\"']?\s+[\"']?serve\b")
_VLLM_MODULE = re.compile(r"\bvllm\.entrypoints\.(?:openai\.)?api_server\b")
#: `vllmgen serve`, or the zipapp the chart carries (`python3 /opt/vllmgen/vllmgen.pyz serve`).
_SUPERVISOR = re.compile(r"(?:^|[\s;&|(`'\"/])vllmgen(?:\.pyz)?\s+serve\b")
_DYNAMO = re.compile(r"-m\s+dynamo\.vllm\b")
_TRITON = re.compile(r"(?:^|[\s;&|(`'\"/])tritonserver\b")
#: vLLM's examples/online_serving/multi-node-serving.sh: `leader` starts Ray's head, `worker` joins it.
_MULTINODE_WORKER = re.compile(r"multi-node-serving\.sh\s+worker\b")
_RAY_START = re.compile(r"(?:^|[\s;&|(`'\"/])ray\s+start\b")
_DYNAMO_OTHER = re.compile(r"-m\s+dynamo\.(\w+)")
#: Arguments only vLLM's command line takes (an image entrypoint given these runs vLLM).
_VLLM_ARGS = re.compile(r"(?:^|\s)--(?:model|tensor-parallel-size|tensor_parallel_size|served-model-name|"
                        r"max-model-len|gpu-memory-utilization|data-parallel-size|pipeline-parallel-size)(?:[=\s]|$)")
#: Image repositories (the last path segment) whose entrypoint is `vllm serve`: the official image, its CPU and
#: ROCm variants, and images built from it (LMCache's).
_OFFICIAL_IMAGE = re.compile(r"^vllm-openai(?:-[\w.-]+)?$")
#: A vendor's vLLM build (`vllm`, `vllm-gaudi`, `vllm-rbln-rhel9`, `vllm-xpu`): its entrypoint is vLLM when the
#: arguments are vLLM's. Dynamo's `vllm-runtime` is the runtime image of Dynamo's components, never an entrypoint.
_VENDOR_IMAGE = re.compile(r"^vllm(?:[-_][\w.-]+)?$")
#: llm-d's vLLM builds (llm-d/llm-d, docker/): `llm-d`, `llm-d-cuda`, `llm-d-xpu`, `llm-d-rocm`, their -dev tags.
_LLMD_IMAGE = re.compile(r"^llm-d(?:-(?:cuda|xpu|rocm|hpu|gaudi|cpu|tpu|aws|dev))*$")
_NOT_AN_ENTRYPOINT = re.compile(r"runtime")


@dataclass(frozen=True)
class Identity:
    server: Optional[str]  # one of the names above, None when nothing says the container runs a model server
    evidence: str  # what says so, in a few words

    @property
    def runs_vllm(self) -> bool:
        return self.server in RUNS_VLLM

    @property
    def reviewed(self) -> bool:
        return self.server in REVIEWED

    @property
    def http(self) -> bool:
        return self.server in VLLM_HTTP


NONE = Identity(None, "no command, image or controller says it runs vLLM")
#: The name a guide's fragment gives the vLLM container when it shows nothing else of it.
FRAGMENT_NAME = "vllm"


def repository(image: str) -> str:
    """The last path segment of an image reference, without tag or digest."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def is_sidecar(name: Optional[str], image: str) -> bool:
    """llm-d's routing sidecar, by its container names or image."""
    return name in SIDECAR_NAMES or any(s in image for s in SIDECAR_NAME_FRAGMENTS)


#: Container names the llm-d routing sidecar goes by (its image is matched by SIDECAR_NAME_FRAGMENTS).
SIDECAR_NAMES = ("routing-proxy", "routing-sidecar")


def from_command(text: str) -> Optional[Identity]:
    """What a command line (scripts included) says it runs; None when it says nothing about a model server."""
    if _SUPERVISOR.search(text):
        return Identity(SUPERVISOR, "command: vllmgen serve")
    if _DYNAMO.search(text):
        return Identity(DYNAMO, "command: python -m dynamo.vllm")
    if _TRITON.search(text):
        return Identity(TRITON, "command: tritonserver")
    if _VLLM_SERVE.search(text):
        return Identity(VLLM, "command: vllm serve")
    if _VLLM_MODULE.search(text):
        return Identity(VLLM, "command: python -m vllm.entrypoints.openai.api_server")
    if _MULTINODE_WORKER.search(text):
        return Identity(RAY_WORKER, "command: vLLM's multi-node-serving.sh worker (a Ray worker of the group)")
    return None


def identify(*, name: Optional[str], image: str, command: list[str], args: list[str], scripts: str = "",
             server_container: Optional[str] = None, launcher: Optional[str] = None,
             first: bool = False, group_runs_vllm_on_ray: bool = False) -> Identity:
    """The model server a container runs, from its name, image, command, args and the scripts it runs.

    `server_container`: the container the object's controller runs the model server in (KServe's `main`).
    `launcher`: the controller wraps the `first` container's command in its own launcher (KubeRay: `ray start`).
    `group_runs_vllm_on_ray`: another pod of the same Ray cluster runs vLLM on Ray (its ranks land here).
    """
    if is_sidecar(name, image):
        return Identity(None, "llm-d routing sidecar")
    text = " ".join(command + args)
    said = from_command(text + ("\n" + scripts if scripts else ""))
    if said is not None:
        if scripts and from_command(text) is None:
            said = Identity(said.server, said.evidence.replace("command:", "mounted script:", 1))
        return said
    if SIMULATOR_NAME_FRAGMENT in image or SIMULATOR_NAME_FRAGMENT in text:
        return Identity(SIMULATOR, "llm-d inference simulator image")
    if launcher == "ray" and first:
        if group_runs_vllm_on_ray:
            return Identity(RAY_WORKER, "KubeRay worker of a cluster whose head runs vLLM on Ray")
        return Identity(None, "KubeRay node (`ray start`), no vLLM in its command")
    other = _DYNAMO_OTHER.search(text)
    if other:
        return Identity(None, f"command: python -m dynamo.{other.group(1)}")
    if command:
        return Identity(None, f"command: {_short(command)}")
    if server_container is not None and name == server_container:
        return Identity(VLLM, f"KServe runs vLLM in the container `{server_container}`")
    repo = repository(image)
    if f"{PROJECT[0]}" == image.split(":", 1)[0].split("@", 1)[0]:
        return Identity(SUPERVISOR, f"image entrypoint: vllmgen serve ({PROJECT[0]})")
    if _OFFICIAL_IMAGE.match(repo):
        return Identity(VLLM, f"image entrypoint: vllm serve ({repo})")
    if _LLMD_IMAGE.match(repo):
        return Identity(VLLM, f"image entrypoint: llm-d's vLLM image ({repo})")
    if _VENDOR_IMAGE.match(repo) and not _NOT_AN_ENTRYPOINT.search(repo) and \
            (_VLLM_ARGS.search(" " + " ".join(args)) or (args and not args[0].startswith("-") and "/" in args[0])):
        return Identity(VLLM, f"image entrypoint with vLLM arguments ({repo})")
    if not image and name == FRAGMENT_NAME:
        return Identity(VLLM, f"a container named `{FRAGMENT_NAME}` with no image or command to say otherwise "
                              f"(a fragment, as guides show them)")
    return NONE


def _short(command: list[str]) -> str:
    text = " ".join(command)
    return text if len(text) <= 40 else text[:37] + "..."
