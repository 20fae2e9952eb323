"""Client-side token counting: a `Tokenizer` counts the tokens of a piece of text.

`whitespace` (one token per whitespace-separated word, as the simulated target counts) needs
nothing; `hf:PATH` loads a `tokenizer.json` with the `tokenizers` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from llmbench.errors import ConfigError


class Tokenizer(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class WhitespaceTokenizer:
    """One token per run of non-whitespace characters."""

    name = "whitespace"

    def count(self, text: str) -> int:
        return len(text.split())


class HFTokenizer:
    """A Hugging Face `tokenizer.json` (file or directory holding one), via `tokenizers`."""

    def __init__(self, path: Path) -> None:
        try:
            from tokenizers import Tokenizer as _HF
        except ImportError as exc:
            raise ConfigError(
                "the 'tokenizers' package is not installed",
                where="--tokenizer",
                hint="pip install 'llmbench[tokenizers]'",
            ) from exc
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise ConfigError(
                f"no tokenizer.json at {file}",
                where="--tokenizer",
                hint="pass hf:PATH where PATH is a tokenizer.json or a folder holding one",
            )
        self._tok: Any = _HF.from_file(str(file))
        self.name = f"hf:{path}"

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)


def load_tokenizer(spec: str) -> Tokenizer:
    """`whitespace` or `hf:PATH`."""
    if spec == "whitespace":
        return WhitespaceTokenizer()
    if spec.startswith("hf:"):
        return HFTokenizer(Path(spec[3:]))
    raise ConfigError(
        f"unknown tokenizer {spec!r}",
        where="--tokenizer",
        hint="use 'whitespace' or 'hf:PATH' (a tokenizer.json or a folder holding one)",
    )
