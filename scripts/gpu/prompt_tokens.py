"""How many tokens llmbench's synthetic prompts are on the GPU run's model: its prompts are
N English words (`--input-tokens N` counts words when no `--tokenizer hf:PATH` is given), and
build_text_model.py's BPE, trained on a narrow corpus, splits most of those words into several
tokens. Counts the chat-templated prompt as transformers serve sees it (the template in
build_text_model.py), for the lengths and seeds scripts/gpu_validation.sh sends.

    python3 scripts/gpu/prompt_tokens.py [--prompts 12]
"""

from __future__ import annotations

import argparse
import statistics

from build_text_model import bpe

from llmbench.workload.synthetic import synthetic_requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=8192)
    args = parser.parse_args()
    tok = bpe(args.vocab)
    print("| --input-tokens (words) | prompt seed | BPE tokens mean | min | max | tokens/word |")
    print("|---:|---:|---:|---:|---:|---:|")
    for words in (128, 512, 2048, 8192):
        for seed in (0, 1):
            items = synthetic_requests(input_tokens=words, output_tokens=32, seed=seed)
            counts = [
                len(tok.encode(f"<|im_start|>user\n{next(items).prompt}<|im_end|>\n"
                               "<|im_start|>assistant\n").ids)
                for _ in range(args.prompts)
            ]  # fmt: skip
            mean = statistics.fmean(counts)
            print(f"| {words} | {seed} | {mean:.0f} | {min(counts)} | {max(counts)} | "
                  f"{mean / words:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
