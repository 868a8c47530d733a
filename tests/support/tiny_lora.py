"""A tiny LoRA adapter for the tiny test model (tests/support/tiny_model.py), written as PEFT writes one
(`adapter_config.json` + `adapter_model.safetensors`) with torch and safetensors only: no peft, no hub.

Run as a script: `python -m tests.support.tiny_lora OUT_DIR [VARIANT] [RANK]`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: The tiny model's shapes (tiny_model.build): hidden 64, 4 query and 4 key/value heads of 32, 2 layers.
HIDDEN, HEADS, KV_HEADS, HEAD_DIM, LAYERS = 64, 4, 4, 32, 2
#: The attention projections the adapter changes, with their (in, out) sizes.
TARGETS = {"q_proj": (HIDDEN, HEADS * HEAD_DIM), "v_proj": (HIDDEN, KV_HEADS * HEAD_DIM)}
#: The adapter's rank: vLLM's default --max-lora-rank (16) holds it.
RANK = 8


def build(out: str | Path, variant: int = 1, rank: int = RANK) -> Path:
    """Write a random rank-`rank` adapter on q_proj and v_proj of every layer into `out` (created); each
    `variant` draws other weights."""
    import torch
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(variant)
    tensors = {}
    for layer in range(LAYERS):
        for name, (fan_in, fan_out) in TARGETS.items():
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{name}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, fan_in, generator=gen) * 0.1
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(fan_out, rank, generator=gen) * 0.1
    save_file(tensors, str(out / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank,
              "lora_dropout": 0.0, "target_modules": sorted(TARGETS), "bias": "none", "fan_in_fan_out": False,
              "modules_to_save": None, "use_rslora": False, "use_dora": False, "base_model_name_or_path": "tiny"}
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    print(build(args[0] if args else "tiny-lora", *(int(a) for a in args[1:3])))
