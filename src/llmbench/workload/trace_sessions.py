"""Agentic session traces: one JSONL line per turn with `session_id`, `input_length`,
`output_length`, optionally `hash_ids` (ids of fixed-size token blocks: equal ids, equal
content, as in Mooncake and the public agentic coding traces), `delay_ms` (the think or tool
gap before the turn) and `timestamp` (ms, orders the turns). Each turn's prompt is its hash-id
blocks then words of its own up to `input_length`, so a prefix cache sees the trace's reuse.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from llmbench.errors import WorkloadError
from llmbench.workload.sessions import SessionPlan, TurnPlan
from llmbench.workload.synthetic import synthetic_prompt

_HINT = (
    'each line: {"session_id": "s1", "input_length": 1200, "output_length": 80, '
    '"hash_ids": [0, 1, 2], "delay_ms": 300}; hash_ids, delay_ms and timestamp are optional'
)


@dataclass(frozen=True, slots=True)
class TraceTurn:
    where: str
    session_id: str
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...] = ()
    delay_ms: float = 0.0
    timestamp_ms: float | None = None


def _number(data: dict[str, object], key: str, where: str, *, minimum: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum:
        raise WorkloadError(f"{where}: {key} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def parse_turn(data: object, where: str) -> TraceTurn:
    if not isinstance(data, dict):
        raise WorkloadError(f"{where}: not a JSON object", hint=_HINT)
    session = data.get("session_id")
    if session is None or isinstance(session, dict | list):
        raise WorkloadError(f"{where}: needs a session_id", hint=_HINT)
    lengths = [_number(data, k, where, minimum=1) for k in ("input_length", "output_length")]
    if lengths[0] is None or lengths[1] is None:
        raise WorkloadError(f"{where}: needs input_length and output_length", hint=_HINT)
    if not all(v is not None and v == int(v) for v in lengths):
        raise WorkloadError(f"{where}: input_length and output_length must be whole numbers")
    hash_ids = data.get("hash_ids") or []
    if not isinstance(hash_ids, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) for h in hash_ids
    ):
        raise WorkloadError(f"{where}: hash_ids must be a list of integers")
    return TraceTurn(
        where=where,
        session_id=str(session),
        input_length=int(lengths[0]),
        output_length=int(lengths[1]),
        hash_ids=tuple(hash_ids),
        delay_ms=_number(data, "delay_ms", where, minimum=0) or 0.0,
        timestamp_ms=_number(data, "timestamp", where, minimum=float("-inf")),
    )


def load_session_trace(path: Path) -> dict[str, list[TraceTurn]]:
    """The turns of each session, sessions in order of first appearance, turns in timestamp
    order (file order where equal or absent)."""
    sessions: dict[str, list[TraceTurn]] = {}
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    data = json.loads(line)
                except ValueError as exc:
                    raise WorkloadError(f"{where}: not JSON ({exc})", hint=_HINT) from exc
                turn = parse_turn(data, where)
                sessions.setdefault(turn.session_id, []).append(turn)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise WorkloadError(f"cannot read session trace {path}: {reason}") from exc
    if not sessions:
        raise WorkloadError(f"{path}: the trace is empty", hint=_HINT)
    for turns in sessions.values():
        turns.sort(key=lambda t: t.timestamp_ms if t.timestamp_ms is not None else 0.0)
    return sessions


def block_text(hash_id: int, seed: int, block_tokens: int) -> str:
    """The words of one block: the same id gives the same words in every turn and session."""
    return synthetic_prompt(random.Random(f"{seed}:{hash_id}"), block_tokens)


def turn_prompt(turn: TraceTurn, index: int, *, seed: int, block_tokens: int) -> str:
    """The blocks of its hash ids, cut to input_length words, then words of this turn's own."""
    blocks = " ".join(block_text(h, seed, block_tokens) for h in turn.hash_ids)
    words = blocks.split()[: turn.input_length]
    rest = turn.input_length - len(words)
    if rest > 0:
        own = random.Random(f"trace-turn/{seed}/{turn.session_id}/{index}")
        words.append(synthetic_prompt(own, rest))
    return " ".join(words)


def trace_sessions(
    sessions: dict[str, list[TraceTurn]],
    *,
    count: int,
    turns: int,
    seed: int,
    block_tokens: int,
    where: str,
) -> Iterator[SessionPlan]:
    """The first `count` sessions, at most `turns` turns each; each turn a whole prompt.
    Checked now (too few sessions is an error before anything is sent), made lazily."""
    if count > len(sessions):
        raise WorkloadError(f"{where}: {count} sessions asked for, the trace holds "
                            f"{len(sessions)}", hint="lower --sessions")  # fmt: skip
    chosen = {sid: sessions[sid][:turns] for sid in list(sessions)[:count]}
    return _plans(chosen, seed=seed, block_tokens=block_tokens)


def _plans(
    sessions: dict[str, list[TraceTurn]], *, seed: int, block_tokens: int
) -> Iterator[SessionPlan]:
    for session_id, turns in sessions.items():
        plans = tuple(
            TurnPlan(
                turn_prompt(t, k, seed=seed, block_tokens=block_tokens),
                t.input_length,
                t.output_length,
                t.delay_ms / 1000 if k else 0.0,
            )
            for k, t in enumerate(turns)
        )
        yield SessionPlan(session_id, plans, replay=True)
