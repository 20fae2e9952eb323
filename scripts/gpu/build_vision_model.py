"""A random-weight vision-language model of a real architecture, for the phone-agent loop on a GPU.

GLM-4.1V (`Glm4vForConditionalGeneration`, the base of the AutoGLM-Phone-9B model the seed
article measures) at its 9B shape: text part hidden 4096, FFN 13696, 40 layers, 32 query / 2 KV
heads, M-RoPE sections [8, 12, 12] with partial rotary 0.5; the vision tower at full size (24
blocks, width 1536, patch 14, 2x2 merge, output 4096). The tokenizer is build_text_model.py's
byte-level BPE trained here, with GLM's special tokens first (the config's image and video token
ids point at them) and a GLM-like chat template that puts `<|begin_of_image|><|image|>
<|end_of_image|>` where an image part is; the processor pairs it with GLM's image processor (a
1080x2400 screenshot becomes 3,354 image tokens) and video processor (transformers needs both).
The vocabulary (8,192 against GLM's 151k) makes the LM head ~5 % of the real one's cost.

    python3 scripts/gpu/build_vision_model.py OUT_DIR [--layers 40] [--no-model]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from build_text_model import bpe

SPECIAL = [
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>",
    "<|begin_of_video|>", "<|end_of_video|>", "<|image|>", "<|video|>",
]  # fmt: skip
IMAGE = "<|begin_of_image|><|image|><|end_of_image|>"
CHAT_TEMPLATE = (
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for part in m['content'] %}"
    "{% if part['type'] == 'image' %}" + IMAGE + "{% elif part['type'] == 'text' %}"
    "{{ part['text'] }}{% endif %}{% endfor %}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def processor(vocab: int) -> Any:
    from transformers import (
        Glm4vImageProcessor,
        Glm4vProcessor,
        Glm4vVideoProcessor,
        PreTrainedTokenizerFast,
    )

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe(vocab, SPECIAL),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        bos_token=None,
    )
    return Glm4vProcessor(
        image_processor=Glm4vImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Glm4vVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def config(vocab: int, layers: int, ids: dict[str, int]) -> Any:
    from transformers import Glm4vConfig

    text = {
        "vocab_size": vocab, "hidden_size": 4096, "intermediate_size": 13696,
        "num_hidden_layers": layers, "num_attention_heads": 32, "num_key_value_heads": 2,
        "max_position_embeddings": 65536, "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                            "mrope_section": [8, 12, 12], "partial_rotary_factor": 0.5},
        "pad_token_id": ids["<|endoftext|>"],
    }  # fmt: skip
    vision = {"depth": 24, "hidden_size": 1536, "num_heads": 12, "patch_size": 14,
              "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 4096,
              "intermediate_size": 13696}  # fmt: skip
    result = Glm4vConfig(
        text_config=text, vision_config=vision,
        image_token_id=ids["<|image|>"], video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
        tie_word_embeddings=False,
    )  # fmt: skip
    result.architectures = ["Glm4vForConditionalGeneration"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--layers", type=int, default=40)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--no-model", action="store_true", help="tokenizer and processor only")
    args = parser.parse_args()
    started = time.monotonic()
    proc = processor(args.vocab)
    proc.save_pretrained(args.out)
    tokenizer = proc.tokenizer
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL}
    assert list(ids.values()) == list(range(len(SPECIAL))), ids  # the specials come first
    cfg = config(len(tokenizer), args.layers, ids)
    cfg.save_pretrained(args.out)
    if args.no_model:
        print(f"processor and config in {args.out}, vocabulary {len(tokenizer)}")
        return
    import torch
    from transformers import GenerationConfig, Glm4vForConditionalGeneration

    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Glm4vForConditionalGeneration(cfg).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        eos_token_id=[ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]],
        pad_token_id=ids["<|endoftext|>"],
    )
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(args.out)
    print(
        f"model {args.out}: {params / 1e9:.2f} B parameters, vocabulary {len(tokenizer)}, "
        f"{args.layers} text layers, built and saved in {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
