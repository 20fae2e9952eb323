"""Client-side token counting: a `Tokenizer` counts the tokens of a piece of text.

`whitespace` (one token per whitespace-separated word, as the simulated target counts) needs
nothing; `hf:PATH` loads a `tokenizer.json` with the `tokenizers` extra, from disk only (never
a download). Its folder's `tokenizer_config.json` chat template, when there is one, is rendered
with jinja2 (also in the extra) to measure the tokens the template adds to a one-message chat.
"""

from __future__ import annotations

import json
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
        try:
            self._tok: Any = _HF.from_file(str(file))
        except Exception as exc:  # the tokenizers package raises bare Exceptions
            raise ConfigError(
                f"cannot read the tokenizer at {file}: {str(exc).splitlines()[0][:200]}",
                where="--tokenizer",
                hint="pass hf:PATH to a readable tokenizer.json (nothing is downloaded)",
            ) from exc
        self.name = f"hf:{path}"
        self.config_file = file.parent / "tokenizer_config.json"

    def ids(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self._tok.decode(ids, skip_special_tokens=False))

    def count(self, text: str) -> int:
        return len(self.ids(text))


# The one message of the probe chat: its own tokens are subtracted from the rendered chat's.
_PROBE = "hello"


def chat_template_overhead(tokenizer: Tokenizer) -> tuple[int | None, str]:
    """(tokens the chat template adds to a one-user-message chat with the generation prompt,
    how that was found): `None` with the reason when there is no template or it can't render."""
    config_file = getattr(tokenizer, "config_file", None)
    if config_file is None or not config_file.is_file():
        return None, "no chat template"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"unreadable {config_file.name}: {exc}"
    template = config.get("chat_template") if isinstance(config, dict) else None
    if isinstance(template, list):  # named templates: HF uses "default"
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    if not isinstance(template, str):
        return None, "no chat template"
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        return None, "chat template not measured: jinja2 is not installed"
    try:
        rendered = _render(ImmutableSandboxedEnvironment, template, config)
    except Exception as exc:  # noqa: BLE001 -- a template may raise anything (raise_exception)
        return None, f"chat template failed to render: {str(exc)[:200]}"
    return tokenizer.count(rendered) - tokenizer.count(_PROBE), "measured"


def _render(environment: Any, template: str, config: dict[str, Any]) -> str:
    """As transformers renders it: trimmed blocks, special tokens as their text."""

    def special(key: str) -> str:
        value = config.get(key)
        return str(value.get("content", "")) if isinstance(value, dict) else str(value or "")

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    return str(
        env.from_string(template).render(
            messages=[{"role": "user", "content": _PROBE}],
            add_generation_prompt=True,
            bos_token=special("bos_token"),
            eos_token=special("eos_token"),
        )
    )


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
