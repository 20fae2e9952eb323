"""A tiny byte-level BPE tokenizer trained here, offline, on the synthetic prompts' words."""

from __future__ import annotations

import json
import random
from pathlib import Path

from llmbench.workload.synthetic import synthetic_prompt

# A small vocabulary: many words stay split into several tokens, so words != tokens.
VOCAB_SIZE = 400

# A ChatML-like template, as a model folder's tokenizer_config.json carries it.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def train_bpe(folder: Path, *, chat_template: str | None = None) -> Path:
    """`folder`/tokenizer.json (and tokenizer_config.json when a template is given)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    rng = random.Random("bpe-corpus")
    sentences = [synthetic_prompt(rng, rng.randint(3, 30)) for _ in range(400)]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.train_from_iterator(sentences, trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    if chat_template is not None:
        config = {"chat_template": chat_template, "eos_token": "<|im_end|>"}
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
