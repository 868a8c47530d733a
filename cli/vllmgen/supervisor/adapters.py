"""LoRA adapters pinned to a hub revision. vLLM downloads an `hf://` adapter itself but takes no revision for it
(docs/upstream-facts.md#vllm-lora-adapters), so the supervisor downloads that revision before vLLM starts and
names the local folder in `--lora-modules` instead of the hub id. `huggingface_hub` is one of vLLM's own
requirements, so every vLLM image has it."""

from __future__ import annotations

from vllmgen import loras


def fetch(pinned: tuple[tuple[str, str, str], ...]) -> dict[str, str]:
    """{adapter name: local folder} for (name, hub id, revision) triples, downloaded into the hub cache the
    environment names (HF_HOME, HF_TOKEN and HF_HUB_OFFLINE apply as for vLLM's own downloads). Raises OSError,
    ValueError or ImportError with the hub's reason."""
    from huggingface_hub import snapshot_download

    return {name: snapshot_download(repo_id=hub_id, revision=revision) for name, hub_id, revision in pinned}


def with_paths(args: list[str], pinned: tuple[tuple[str, str, str], ...], paths: dict[str, str]) -> list[str]:
    """`args` with each pinned adapter's `--lora-modules` entry pointing at its downloaded folder."""
    swap = {loras.module_arg(name, hub_id): loras.module_arg(name, paths[name])
            for name, hub_id, _ in pinned if name in paths}
    return [swap.get(a, a) for a in args]
