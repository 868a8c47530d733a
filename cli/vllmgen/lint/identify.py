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

What says a container runs vLLM, or Triton, is asked of the servers themselves (`Server.recognise` in
vllmgen.servers): a server added there is recognised here. Triton runs vLLM only through its vLLM backend (an
NGC vLLM image, or a model config naming `backend: "vllm"`); a tritonserver serving TensorFlow or ONNX models is
not vLLM and gets no vLLM rule.

A command that says something else wins over the image: `lmcache/vllm-openai` running `lmcache_server` is an
LMCache server, not vLLM. A container without evidence gets no vLLM rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from vllmgen import servers
from vllmgen.images import PROJECT, SIDECAR_NAME_FRAGMENTS, SIMULATOR_NAME_FRAGMENT
from vllmgen.servers.vllm import repository

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

#: `vllmgen serve`, or the zipapp the chart carries (`python3 /opt/vllmgen/vllmgen.pyz serve`).
_SUPERVISOR = re.compile(r"(?:^|[\s;&|(`'\"/])vllmgen(?:\.pyz)?\s+serve\b")
_DYNAMO = re.compile(r"-m\s+dynamo\.vllm\b")
#: vLLM's examples/online_serving/multi-node-serving.sh: `leader` starts Ray's head, `worker` joins it.
_MULTINODE_WORKER = re.compile(r"multi-node-serving\.sh\s+worker\b")
_RAY_START = re.compile(r"(?:^|[\s;&|(`'\"/])ray\s+start\b")
_DYNAMO_OTHER = re.compile(r"-m\s+dynamo\.(\w+)")


def _servers():
    """The servers of the servers seam (vllmgen.servers): each says itself whether a container runs it."""
    return [servers.get(name) for name in servers.NAMES]


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


def is_sidecar(name: Optional[str], image: str) -> bool:
    """llm-d's routing sidecar, by its container names or image."""
    return name in SIDECAR_NAMES or any(s in image for s in SIDECAR_NAME_FRAGMENTS)


#: Container names the llm-d routing sidecar goes by (its image is matched by SIDECAR_NAME_FRAGMENTS).
SIDECAR_NAMES = ("routing-proxy", "routing-sidecar")


def from_command(text: str, image: str = "", configs: tuple[str, ...] = ()) -> Optional[Identity]:
    """What a command line (scripts included) says it runs; None when it says nothing about a model server.
    vLLM and Triton answer for themselves (vllmgen.servers); the first server the line names is the one it
    starts."""
    if _SUPERVISOR.search(text):
        return Identity(SUPERVISOR, "command: vllmgen serve")
    if _DYNAMO.search(text):
        return Identity(DYNAMO, "command: python -m dynamo.vllm")
    said = [(r, server.name) for server in _servers() if (r := server.recognise(text, image, configs)) is not None]
    if said:
        r, name = min(said, key=lambda x: x[0].at)
        return Identity(name if r.runs_vllm else None, r.evidence)
    if _MULTINODE_WORKER.search(text):
        return Identity(RAY_WORKER, "command: vLLM's multi-node-serving.sh worker (a Ray worker of the group)")
    return None


def identify(*, name: Optional[str], image: str, command: list[str], args: list[str], scripts: str = "",
             server_container: Optional[str] = None, launcher: Optional[str] = None,
             first: bool = False, group_runs_vllm_on_ray: bool = False, configs: tuple[str, ...] = ()) -> Identity:
    """The model server a container runs, from its name, image, command, args and the scripts it runs.

    `server_container`: the container the object's controller runs the model server in (KServe's `main`).
    `launcher`: the controller wraps the `first` container's command in its own launcher (KubeRay: `ray start`).
    `group_runs_vllm_on_ray`: another pod of the same Ray cluster runs vLLM on Ray (its ranks land here).
    `configs`: model-repository configs the file holds (ConfigMaps' config.pbtxt), which name Triton's backend.
    """
    if is_sidecar(name, image):
        return Identity(None, "llm-d routing sidecar")
    text = " ".join(command + args)
    said = from_command(text + ("\n" + scripts if scripts else ""), image, configs)
    if said is not None:
        if scripts and from_command(text, image, configs) is None:
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
    if f"{PROJECT[0]}" == image.split(":", 1)[0].split("@", 1)[0]:
        return Identity(SUPERVISOR, f"image entrypoint: vllmgen serve ({PROJECT[0]})")
    for server in _servers():
        r = server.recognise_image(image, args)
        if r is not None:
            return Identity(server.name if r.runs_vllm else None, r.evidence)
    if not image and name == FRAGMENT_NAME:
        return Identity(VLLM, f"a container named `{FRAGMENT_NAME}` with no image or command to say otherwise "
                              f"(a fragment, as guides show them)")
    return NONE


def _short(command: list[str]) -> str:
    text = " ".join(command)
    return text if len(text) <= 40 else text[:37] + "..."
