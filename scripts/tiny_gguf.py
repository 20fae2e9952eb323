"""Writes a tiny llama-architecture GGUF model (about 500 KB) that llama.cpp serves on a CPU.

The weights are random but arranged so that every answer is the same endless cycle of tokens,
"Quick foxé€" followed by a control token, whatever the prompt: the next token depends only on
the current one (each token's embedding points at its successor's output row; the transformer
layers are real and run, but add only a small random perturbation). So an answer never stops
early (no end-of-sequence token is ever likely) and runs to max_tokens, and its stream shows what
real ones do: "é" and "€" are 2 and 3 byte tokens (partial UTF-8 held back by the server, then
one chunk for several tokens) and the control token detokenizes to an empty chunk.

The vocabulary is SentencePiece-style ("llama"): <unk> <s> </s> <|mark|>, the 256 byte tokens
and the printable ASCII characters, with no duplicate strings (llama.cpp aborts on duplicates).

    python scripts/tiny_gguf.py tiny.gguf
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, TokenType

N_EMBD, N_LAYERS, N_HEADS, N_KV_HEADS, N_FF, N_CTX = 64, 2, 4, 2, 128, 2048
SPECIALS = ("<unk>", "<s>", "</s>", "<|mark|>")  # mark: a control token that is not end-of-text
UNK, BOS, EOS, MARK = range(4)
CYCLE_TEXT = "Quick▁fox"  # distinct tokens only: a token has one successor
CYCLE_BYTES = ("é", "€")  # spelled with byte tokens: 2 + 3
# A plain template: the prompt ends with "\n" (a byte token), which leads to the cycle's start.
CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}\n{% endfor %}"
LAYER_STD = 0.01  # the layers' weights: small enough not to change any next-token choice
LOGIT_SCALE = 4.0  # the successor's logit is about 30 above the next best


def vocabulary() -> tuple[list[str], list[TokenType]]:
    tokens = list(SPECIALS)
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    tokens += ["▁"] + [chr(c) for c in range(0x21, 0x7F)]
    types += [TokenType.NORMAL] * (1 + 0x7F - 0x21)
    if len(set(tokens)) != len(tokens):
        raise ValueError("duplicate token strings: llama.cpp would abort on this vocabulary")
    return tokens, types


def cycle(tokens: list[str]) -> list[int]:
    """The token ids an answer repeats: the text's characters, the byte tokens, the mark."""
    index = {t: i for i, t in enumerate(tokens)}
    ids = [index[c] for c in CYCLE_TEXT]
    for char in CYCLE_BYTES:
        ids += [index[f"<0x{b:02X}>"] for b in char.encode()]
    ids.append(MARK)
    if len(set(ids)) != len(ids):
        raise ValueError("the cycle repeats a token: its successor would be ambiguous")
    return ids


def successors(n_vocab: int, ids: list[int]) -> np.ndarray:
    """Each token's successor: the next in the cycle, or the cycle's start for any other."""
    succ = np.full(n_vocab, ids[0], dtype=np.int64)
    for here, after in zip(ids, ids[1:] + ids[:1], strict=True):
        succ[here] = after
    return succ


def weights(n_vocab: int, succ: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((n_vocab, N_EMBD)).astype(np.float32)
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    # Numpy shapes are (rows, columns) = ggml's (ne1, ne0): (out_features, in_features).
    tensors = {
        "token_embd.weight": codes[succ],
        "output_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "output.weight": LOGIT_SCALE * codes,
    }
    head_dim = N_EMBD // N_HEADS
    shapes = {
        "attn_q": (N_EMBD, N_EMBD),
        "attn_k": (N_KV_HEADS * head_dim, N_EMBD),
        "attn_v": (N_KV_HEADS * head_dim, N_EMBD),
        "attn_output": (N_EMBD, N_EMBD),
        "ffn_gate": (N_FF, N_EMBD),
        "ffn_up": (N_FF, N_EMBD),
        "ffn_down": (N_EMBD, N_FF),
    }
    for layer in range(N_LAYERS):
        tensors[f"blk.{layer}.attn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        tensors[f"blk.{layer}.ffn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        for name, shape in shapes.items():
            matrix = rng.normal(0.0, LAYER_STD, shape).astype(np.float32)
            tensors[f"blk.{layer}.{name}.weight"] = matrix
    return tensors


def write_model(path: Path, seed: int = 0) -> Path:
    """Writes the model to `path` and returns it."""
    tokens, types = vocabulary()
    succ = successors(len(tokens), cycle(tokens))
    writer = GGUFWriter(str(path), "llama")
    writer.add_name("llmbench-tiny")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYERS)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEADS)
    writer.add_head_count_kv(N_KV_HEADS)
    writer.add_rope_dimension_count(N_EMBD // N_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_file_type(0)  # all F32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types(types)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_add_bos_token(True)
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, tensor in weights(len(tokens), succ, seed).items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="where to write the .gguf file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = write_model(args.path, args.seed)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")  # noqa: T201 -- a script


if __name__ == "__main__":
    main()
