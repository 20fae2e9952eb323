"""Datasets of real prompts: JSONL files with a `prompt` or a `messages` list per line (optional
`output_tokens`: the expected reply length) and ShareGPT conversations (`conversations` of
`from`/`value`, one per line or a JSON array). Items are taken in a seeded order, so a seed sends
the same bytes to every target; the bundled samples (`builtin:prompts`, `builtin:sharegpt`)
work offline. A bad item is a WorkloadError naming its file and line.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llmbench.errors import WorkloadError
from llmbench.records import RequestSpec
from llmbench.workload.sessions import SessionPlan, ThinkTimes, TurnPlan

BUILTIN = ("prompts", "sharegpt")
# Roles as OpenAI names them, from their names in message lists and in ShareGPT files.
_ROLES = {"system": "system", "user": "user", "human": "user"}
_ROLES |= dict.fromkeys(("assistant", "gpt", "chatgpt", "bard", "model"), "assistant")
_FORMAT_HINT = (
    'each line: {"prompt": "..."}, {"messages": [{"role": "user", "content": "..."}]} or '
    '{"conversations": [{"from": "human", "value": "..."}]}, optionally "output_tokens": N'
)


@dataclass(frozen=True, slots=True)
class DatasetItem:
    """One line: its messages (system, then alternating user and assistant) and the expected
    length of the reply to its last user message (None: the workload's output_tokens)."""

    where: str
    messages: tuple[dict[str, str], ...]
    output_tokens: int | None = None

    @property
    def system(self) -> str | None:
        first = self.messages[0]
        return first["content"] if first["role"] == "system" else None

    def request(self) -> tuple[tuple[dict[str, str], ...], int | None]:
        """What one request sends and its expected reply length: a message list that ends with
        a user message as it is; a conversation up to its first user message (the reply's words)."""
        if self.messages[-1]["role"] == "user":
            return self.messages, self.output_tokens
        first_user = next(i for i, m in enumerate(self.messages) if m["role"] == "user")
        return self.messages[: first_user + 1], self.turns()[0][1]

    def turns(self) -> list[tuple[str, int | None]]:
        """The user messages with the expected reply length (the words of the answer that
        follows it, else `output_tokens` for the last one)."""
        out: list[tuple[str, int | None]] = []
        for i, message in enumerate(self.messages):
            if message["role"] != "user":
                continue
            after = self.messages[i + 1] if i + 1 < len(self.messages) else None
            if after is not None and after["role"] == "assistant":
                out.append((message["content"], max(1, len(after["content"].split()))))
            else:
                out.append((message["content"], self.output_tokens))
        return out


def _check_output(data: dict[str, Any], where: str) -> int | None:
    value = data.get("output_tokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise WorkloadError(f"{where}: output_tokens must be a whole number >= 1, got {value!r}")
    return value


def _message(raw: object, where: str, role_key: str, text_key: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise WorkloadError(f"{where}: each message must be an object", hint=_FORMAT_HINT)
    role = _ROLES.get(str(raw.get(role_key)).lower())
    text = raw.get(text_key)
    if role is None:
        known = ", ".join(sorted(_ROLES))
        raise WorkloadError(f"{where}: {role_key} {raw.get(role_key)!r} is not one of: {known}")
    if not isinstance(text, str) or not text.strip():
        raise WorkloadError(f"{where}: a message needs a non-empty string {text_key!r}")
    return {"role": role, "content": text}


def parse_item(data: object, where: str) -> DatasetItem:
    """One JSON value as an item; WorkloadError naming `where` when it is not one."""
    if not isinstance(data, dict):
        raise WorkloadError(f"{where}: not a JSON object", hint=_FORMAT_HINT)
    output = _check_output(data, where)
    if "prompt" in data:
        prompt = data["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise WorkloadError(f"{where}: prompt must be a non-empty string")
        return DatasetItem(where, ({"role": "user", "content": prompt},), output)
    if "messages" in data:
        name, keys = "messages", ("role", "content")
    elif "conversations" in data:
        name, keys = "conversations", ("from", "value")
    else:
        raise WorkloadError(f"{where}: no prompt, messages or conversations", hint=_FORMAT_HINT)
    raw = data[name]
    if not isinstance(raw, list) or not raw:
        raise WorkloadError(f"{where}: {name} must be a non-empty list", hint=_FORMAT_HINT)
    messages = tuple(_message(m, where, *keys) for m in raw)
    if not any(m["role"] == "user" for m in messages):
        raise WorkloadError(f"{where}: no user (human) message to send")
    return DatasetItem(where, messages, output)


def dataset_path(source: str) -> Path:
    """A file path, or `builtin:NAME` for a sample shipped in the package."""
    if not source.startswith("builtin:"):
        return Path(source)
    name = source.removeprefix("builtin:")
    if name not in BUILTIN:
        raise WorkloadError(f"{source!r} is not a bundled dataset",
                            hint="builtin:" + " or builtin:".join(BUILTIN))  # fmt: skip
    return Path(str(resources.files("llmbench.workload").joinpath(f"data/{name}.jsonl")))


def load_dataset(source: str) -> list[DatasetItem]:
    """Every item of a JSONL file (blank lines skipped) or of a JSON array file."""
    path = dataset_path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise WorkloadError(
            f"cannot read dataset {path}: {reason}",
            hint="check workload.dataset (--dataset, or the spec file's; a spec file's relative "
            "paths are read from its directory)",
        ) from exc
    if text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise WorkloadError(f"{path}: not a JSON array ({exc})") from exc
        items = [parse_item(v, f"{path}: item {i}") for i, v in enumerate(values)]
    else:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                where = f"{path}:{number}"
                raise WorkloadError(f"{where}: not JSON ({exc})", hint=_FORMAT_HINT) from exc
            items.append(parse_item(data, f"{path}:{number}"))
    if not items:
        raise WorkloadError(f"{path}: the dataset is empty", hint=_FORMAT_HINT)
    return items


def seeded_order(n: int, key: str) -> Iterator[int]:
    """Indices 0..n-1 in an order seeded by `key`, every item once per pass, a new order each
    pass."""
    rng = random.Random(f"dataset/{key}")
    while True:
        order = list(range(n))
        rng.shuffle(order)
        yield from order


def _words(messages: Sequence[dict[str, str]]) -> int:
    return sum(len(m["content"].split()) for m in messages)


def dataset_requests(
    items: Sequence[DatasetItem], *, seed: int, output_tokens: int
) -> Iterator[RequestSpec]:
    """An endless stream of requests, one item each in the seeded order; `output_tokens` for
    items without an expected length. `input_tokens`: the words of the messages (approximate)."""
    for index, item_index in enumerate(seeded_order(len(items), f"requests/{seed}")):
        messages, expected = items[item_index].request()
        yield RequestSpec(
            item_id=f"dataset-{index}",
            prompt=messages[-1]["content"],
            max_tokens=expected or output_tokens,
            input_tokens=_words(messages),
            messages=messages,
        )


def dataset_sessions(
    items: Sequence[DatasetItem],
    *,
    count: int,
    turns: int,
    seed: int,
    think: ThinkTimes,
    output_tokens: int,
    id_prefix: str = "session",
) -> Iterator[SessionPlan]:
    """`count` sessions of exactly `turns` user turns: the next conversation in the seeded
    order, continued by the following ones while it has fewer turns (a prompt is one turn)."""
    order = seeded_order(len(items), f"{id_prefix}/{seed}")  # warm-up sessions: another order
    for index in range(count):
        thinks = random.Random(f"think/{id_prefix}/{seed}/{index}")
        first = items[next(order)]
        pending = first.turns()
        while len(pending) < turns:
            pending += items[next(order)].turns()
        plans = tuple(
            TurnPlan(
                text, len(text.split()), expected or output_tokens, think.draw(thinks) if k else 0.0
            )
            for k, (text, expected) in enumerate(pending[:turns])
        )
        yield SessionPlan(f"{id_prefix}-{index}", plans, first.system)
