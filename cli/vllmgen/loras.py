"""LoRA adapters (`model.loras`): the flags that tell vLLM about them, where `pvc://` adapters are mounted, and
which adapters are downloaded at start.

vLLM loads the `--lora-modules` adapters after the engine is up and before it listens, lists each one in
`/v1/models` once loaded, and fails its start on an adapter it cannot load
(docs/upstream-facts.md#vllm-lora-adapters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from vllmgen import sources
from vllmgen.mounts import LORA_MOUNT_PATH

#: The values vLLM accepts for `--max-lora-rank` (docs/upstream-facts.md#vllm-lora-adapters).
MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: vLLM's `--max-lora-rank` when the flag is not given (docs/upstream-facts.md#vllm-lora-adapters).
DEFAULT_MAX_LORA_RANK = 16
#: vLLM's `--max-loras` when the flag is not given (docs/upstream-facts.md#vllm-lora-adapters).
DEFAULT_MAX_LORAS = 1
#: Turns on vLLM's /v1/load_lora_adapter and /v1/unload_lora_adapter (docs/upstream-facts.md#vllm-lora-adapters).
RUNTIME_UPDATES_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"


@dataclass(frozen=True)
class Adapter:
    name: str
    source: str
    revision: str = ""
    rank: int | None = None

    @property
    def parsed(self) -> sources.Source:
        return sources.parse(self.source)

    @property
    def downloads(self) -> bool:
        return self.parsed.downloads


def runtime_updates(spec: dict) -> bool:
    """Adapters may be loaded and unloaded while vLLM runs (the spec's engine.env turns the endpoints on)."""
    return spec["engine"]["env"].get(RUNTIME_UPDATES_ENV, "").strip().lower() in ("1", "true")


def of(spec: dict) -> list[Adapter]:
    """The spec's adapters, in order."""
    return [Adapter(a["name"], a["source"], a.get("revision", ""), a.get("rank"))
            for a in spec["model"].get("loras", [])]


def mount_path(adapter: Adapter) -> str:
    """Where a pvc:// adapter's folder appears in the container."""
    return f"{LORA_MOUNT_PATH}/{adapter.name}"


def vllm_path(adapter: Adapter) -> str:
    """What vLLM loads: the hub id for hf:// (vLLM downloads it), the mounted folder for pvc://, the path else."""
    src = adapter.parsed
    if src.hub_id:
        return src.hub_id
    if src.claim:
        return mount_path(adapter)
    return src.path


def module_arg(name: str, path: str) -> str:
    """One `--lora-modules` value: `NAME=PATH`, or the JSON form when the path holds `=` or `,`, which vLLM's
    parser would split wrongly or take for JSON (vllm/entrypoints/openai/cli_args.py, LoRAParserAction)."""
    if "=" in path or "," in path:
        return json.dumps({"name": name, "path": path}, ensure_ascii=False)
    return f"{name}={path}"


def pinned(spec: dict) -> tuple[tuple[str, str, str], ...]:
    """(name, hub id, revision) of the hf:// adapters pinned to a revision: the supervisor downloads them."""
    return tuple((a.name, a.parsed.hub_id, a.revision) for a in of(spec) if a.downloads and a.revision)


def max_loras(spec: dict) -> int:
    """`--max-loras`: engine.maxLoras, else one slot per adapter."""
    return spec["engine"].get("maxLoras", len(of(spec)))


def max_rank(spec: dict) -> int | None:
    """`--max-lora-rank`: engine.maxLoraRank, else the smallest value vLLM accepts that holds every known rank;
    None when no rank is known (vLLM's default applies)."""
    if "maxLoraRank" in spec["engine"]:
        return spec["engine"]["maxLoraRank"]
    known = [a.rank for a in of(spec) if a.rank is not None]
    if not known:
        return None
    return next(r for r in MAX_LORA_RANKS if r >= max(known))


def vllm_args(spec: dict) -> list[str]:
    """The LoRA flags of `vllm serve`; none without adapters."""
    adapters = of(spec)
    if not adapters:
        return []
    args = ["--enable-lora", "--lora-modules",
            *(module_arg(a.name, vllm_path(a)) for a in adapters),
            "--max-loras", str(max_loras(spec))]
    rank = max_rank(spec)
    if rank is not None:
        args += ["--max-lora-rank", str(rank)]
    return args


def mounts(spec: dict) -> list[dict]:
    """The pvc:// adapters as the chart mounts them (read-only): name, claim, folder in the claim, mount path."""
    return [{"name": a.name, "claimName": a.parsed.claim, "subPath": a.parsed.subpath, "mountPath": mount_path(a)}
            for a in of(spec) if a.parsed.claim]


def check(spec: dict, supervised: bool) -> list[tuple[tuple, str]]:
    """Adapter lists vLLM would refuse, or that the deployment cannot honour: [(path, message)]."""
    errors: list[tuple[tuple, str]] = []
    if not of(spec):
        return [(("engine", key), f"engine.{key} sizes LoRA adapters, and model.loras lists none")
                for key in ("maxLoras", "maxLoraRank") if key in spec["engine"]]
    seen: set[str] = set()
    base = spec["model"]["name"]
    for i, a in enumerate(of(spec)):
        path = ("model", "loras", i)
        if a.name == base:
            errors.append((path + ("name",), f"{a.name} is the base model's served name; an adapter needs its own"))
        elif a.name in seen:
            errors.append((path + ("name",), f"{a.name} names two adapters; names must be distinct"))
        seen.add(a.name)
        if a.revision and not a.downloads:
            errors.append((path + ("revision",), "a revision only applies to hf:// adapters"))
        elif a.revision and not supervised:
            errors.append((path + ("revision",), "vLLM's --lora-modules takes no revision, so only the supervisor "
                                                 "can pin one (it downloads that revision first): use probes.mode "
                                                 "supervised, or put the adapter on a pvc://"))
    given = spec["engine"].get("maxLoraRank")
    over = [a for a in of(spec) if given is not None and a.rank is not None and a.rank > given]
    if over:
        errors.append((("engine", "maxLoraRank"),
                       f"{given} is below the rank of {', '.join(f'{a.name} ({a.rank})' for a in over)}: vLLM "
                       f"refuses such an adapter and the start fails"))
    return errors
