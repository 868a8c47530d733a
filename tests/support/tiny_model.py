"""A tiny random-weight Llama plus a byte-level BPE tokenizer, built locally (no hub), for real-vLLM tests.

Shapes follow vLLM's CPU attention backend (docs/upstream-facts.md#vllm-on-cpu): it accepts head sizes 32, 64,
80, ... only, so `head_dim` is set explicitly (hidden 64 / 4 heads would give 16, which is rejected).
Run as a script to build into a folder: `python -m tests.support.tiny_model OUT_DIR`.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

#: Served model name the tests use.
MODEL_NAME = "tiny"
#: Tokenizer vocabulary: small enough to train in a second, big enough for varied text.
VOCAB_SIZE = 1000
#: Largest context the model claims; tests run vLLM with --max-model-len 512.
MAX_POSITIONS = 2048
#: Fixed seed: the same folder content on every build.
SEED = 1234

_WORDS = (
    "model probe ready live start drain token engine weight cache pod node server request answer "
    "kube vllm load wait time queue batch tensor layer head byte text line word the a of to and in is"
).split()

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _corpus(lines: int = 4000) -> list[str]:
    rnd = random.Random(SEED)
    return [" ".join(rnd.choice(_WORDS) for _ in range(rnd.randint(4, 24))) for _ in range(lines)]


def build(out: str | Path) -> Path:
    """Write tokenizer + config + safetensors weights into `out` (created) and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        model_max_length=MAX_POSITIONS,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, head_dim=32, max_position_embeddings=MAX_POSITIONS,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False, torch_dtype="float32",
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    return out


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "tiny-model"))
