"""A random-weight text model of a real architecture, for measuring a real engine on a GPU.

Qwen2 at the Qwen2.5-7B shape (hidden 3584, 28 layers, 28 query / 4 KV heads, FFN 18944), with
a byte-level BPE tokenizer trained here on generated text (no model hub: transformers 5.x picks
the tokenizer class from the model type, so it must be a real BPE, and its vocabulary sizes the
embedding and LM head: 8,192 here against Qwen2.5's 152k, which makes the LM head ~5 % of the
real one's cost). Weights are random; what is measured is the engine's serving, not the text.

    python3 scripts/gpu/build_text_model.py OUT_DIR [--layers 28] [--tokenizer-only]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def bpe(vocab: int, special: list[str] = SPECIAL) -> Tokenizer:
    """The byte-level BPE alone (no torch, no transformers: scripts/gpu/prompt_tokens.py); the
    special tokens take the first ids, in order."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # a narrow corpus: llmbench's synthetic English words split into ~4.3 tokens each here
    # (scripts/gpu/prompt_tokens.py), so "--input-tokens 512" is ~2,190 tokens on this model
    words = [
        f"w{i} tok{i % 97} the quick brown fox jumps over {i * 7919 % 10007} lazy dogs"
        for i in range(20000)
    ]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(words, trainer)
    return tok


def tokenizer(vocab: int) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=bpe(vocab),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--layers", type=int, default=28)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument(
        "--tokenizer-only", action="store_true",
        help="write OUT/tokenizer.json alone (no torch: the CPU dry run's --tokenizer hf:OUT)",
    )  # fmt: skip
    args = parser.parse_args()
    started = time.monotonic()
    if args.tokenizer_only:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        bpe(args.vocab).save(str(Path(args.out) / "tokenizer.json"))
        return
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    fast = tokenizer(args.vocab)
    fast.save_pretrained(args.out)
    config = Qwen2Config(
        vocab_size=len(fast), hidden_size=3584, intermediate_size=18944,
        num_hidden_layers=args.layers, num_attention_heads=28, num_key_value_heads=4,
        max_position_embeddings=32768, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(args.out)
    print(
        f"model {args.out}: {params / 1e9:.2f} B parameters, vocabulary {len(fast)}, "
        f"{args.layers} layers, built and saved in {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
