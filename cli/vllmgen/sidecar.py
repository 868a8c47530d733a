"""The llm-d routing sidecar's arguments. Its flags changed between image generations
(docs/upstream-facts.md#sidecar-flags-by-image-generation): the old `llm-d-routing-sidecar` takes `--connector`
and `--vllm-port`; the newer `llm-d-router-disagg-sidecar` takes only `--kv-connector` and `--model-server-port`.
Each generation speaks its own set of KV connectors (docs/upstream-facts.md#kv-connectors-sidecar-and-vllm)."""

from __future__ import annotations

from dataclasses import dataclass

from vllmgen import connectors

#: image name fragment -> flag generation. Checked in order; the first match wins.
GENERATIONS = (
    ("llm-d-router-disagg-sidecar", "router"),
    ("llm-d-routing-sidecar", "routing-sidecar"),
)


@dataclass(frozen=True)
class Flags:
    generation: str
    target_port: str  # flag for the port vLLM listens on
    connector: str  # flag for the KV connector
    insecure: str  # flag turning off TLS between sidecar and peers (pods talk plain HTTP inside the cluster)
    connectors: tuple[str, ...]  # the KV connectors this generation accepts


FLAGS = {
    "routing-sidecar": Flags("routing-sidecar", "--vllm-port", "--connector", "--secure-proxy=false",
                             ("nixl", "nixlv2", "lmcache")),
    "router": Flags("router", "--model-server-port", "--kv-connector", "--secure-serving=false",
                    ("nixlv2", "shared-storage", "sglang", "mooncake", "offloading")),
}


def generation(image: str) -> str:
    """Flag generation of a sidecar image; unknown images get the newest flags (the user can override)."""
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    for fragment, gen in GENERATIONS:
        if fragment in name:
            return gen
    return "router"


def accepts(image: str, connector: str) -> bool:
    """Whether the sidecar image's generation speaks this KV connector."""
    return connector in FLAGS[generation(image)].connectors


def sidecar_args(image: str, listen_port: int, vllm_port: int, connector: str) -> list[str]:
    flags = FLAGS[generation(image)]
    return [f"--port={listen_port}", f"{flags.target_port}={vllm_port}", f"{flags.connector}={connector}",
            flags.insecure, *connectors.get(connector).sidecar_args]
