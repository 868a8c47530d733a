"""KV-transfer connectors between prefill and decode: what the routing sidecar calls them, what vLLM needs for each
(`--kv-transfer-config`, environment), and the ones through which no KV would reach the decode pod
(docs/upstream-facts.md#kv-connectors-sidecar-and-vllm)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Mooncake's bootstrap server on prefill pods: vLLM's default (VLLM_MOONCAKE_BOOTSTRAP_PORT) and the sidecar's
#: (--mooncake-bootstrap-port); both are set explicitly so they cannot drift apart.
MOONCAKE_BOOTSTRAP_PORT = 8998


@dataclass(frozen=True)
class Connector:
    name: str  # the sidecar's --connector / --kv-connector value (the spec's routing.sidecar.connector)
    vllm_class: str = ""  # vLLM's kv_connector; "" = vLLM has no connector that speaks this protocol
    kv_role: dict[str, str] = field(default_factory=dict)  # role -> kv_role; a role not listed: kv_both
    refused: str = ""  # why prefill and decode pods would not exchange KV through it ("" = they do)
    needs_env_any: tuple[str, ...] = ()  # one of these must be in engine.env (configuration vllmgen cannot make)
    sidecar_args: tuple[str, ...] = ()  # extra sidecar flags the protocol needs
    prefill_env: tuple[tuple[str, str], ...] = ()  # environment of prefill vLLM

    def kv_transfer_config(self, role: str) -> dict:
        return {"kv_connector": self.vllm_class, "kv_role": self.kv_role.get(role, "kv_both")}


CONNECTORS: dict[str, Connector] = {c.name: c for c in (
    Connector("nixl", "NixlConnector"),
    Connector("nixlv2", "NixlConnector"),
    Connector("lmcache", "LMCacheConnectorV1",
              needs_env_any=("LMCACHE_CONFIG_FILE", "LMCACHE_REMOTE_URL"),
              refused="LMCache moves KV between pods only through a remote LMCache server or backend; name it in "
                      "engine.env (LMCACHE_CONFIG_FILE or LMCACHE_REMOTE_URL)"),
    Connector("mooncake", "MooncakeConnector", kv_role={"prefill": "kv_producer", "decode": "kv_consumer"},
              sidecar_args=(f"--mooncake-bootstrap-port={MOONCAKE_BOOTSTRAP_PORT}",),
              prefill_env=(("VLLM_MOONCAKE_BOOTSTRAP_PORT", str(MOONCAKE_BOOTSTRAP_PORT)),)),
    Connector("shared-storage",
              refused="vLLM's shared-storage connector (ExampleConnector) writes KV to a path both prefill and "
                      "decode pods must mount read-write; vllmgen renders no such shared volume"),
    Connector("sglang", refused="the sglang protocol is SGLang's bootstrap handshake; vLLM does not speak it"),
    Connector("offloading",
              refused="the sidecar's offloading protocol pulls KV from the prefill pod's OffloadingConnector P2P "
                      "tier, which vLLM's OffloadingConnector does not have (it offloads to CPU inside one pod)"),
)}


def get(name: str) -> Connector:
    return CONNECTORS[name]


def refusal(name: str, env: dict) -> str:
    """Why this connector cannot move KV between prefill and decode pods with this engine env ("" = it can)."""
    conn = CONNECTORS[name]
    if conn.needs_env_any and any(k in env for k in conn.needs_env_any):
        return ""
    return conn.refused
