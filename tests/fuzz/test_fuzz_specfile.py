"""Fuzz of the spec-file loader: random YAML documents, random mutations of a valid spec
(types, keys, nesting, odd scalars, unicode, huge numbers, anchors and aliases) and raw bytes
that are not UTF-8. Each gives a RunSpec that can be stored, or one ConfigError that names the
file (and, for anything inside it, the line and column); never any other exception.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmbench.config import RunSpec
from llmbench.config.paths import settings as settings_of
from llmbench.config.problems import validate_run_spec
from llmbench.config.specfile import parse_spec
from llmbench.errors import ConfigError

NAME = "fuzz.yaml"
EXAMPLE = (Path(__file__).parents[2] / "examples" / "run-spec.yaml").read_bytes()
VALID: dict[str, Any] = yaml.safe_load(EXAMPLE)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_LOCATED = re.compile(rf"^{re.escape(NAME)}(:\d+:\d+)?: ")

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**4000),  # huge
    st.floats(),  # nan and inf included
    st.text(max_size=12),
    st.sampled_from(["yes", "on", "0x1F", "1e400", ".inf", "-.nan", "~", "2001-12-14", "sk-"
                     "abcdefghijkl", "Bearer x", "ünï©ødé", "\u202e", "💥", "1_000", "0o17"]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(list(VALID)), inner, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = ["target", "workload", "load", "sim", "slo", "name", "seed", "tokenizer", "requests",
          "concurrency", "profile", "rate", "duration_s", "endpoint", "base_url", "api_key",
          "validity", "extra_body", "input_tokens", "warmup"]  # fmt: skip


def _check(raw: bytes) -> None:
    """The property: a storable RunSpec, or a ConfigError that says where."""
    try:
        document = parse_spec(raw, NAME)
        spec = validate_run_spec(document.data, document.where)
    except ConfigError as exc:
        message = str(exc)
        lines = message.splitlines()
        if re.match(r"^\d+ problems in the run spec:$", lines[0]):
            assert all(_LOCATED.match(line.strip()) for line in lines[1:]), message
        else:
            assert _LOCATED.match(message), message
        return
    assert isinstance(spec, RunSpec)
    json.dumps(spec.model_dump(mode="json"), allow_nan=False)  # run.json can hold it
    assert len(spec.spec_hash()) == 16


def _dump(data: Any, flow: bool) -> bytes:
    return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True).encode()


@FUZZ
@given(data=VALUES, flow=st.booleans())
def test_random_yaml_documents(data: Any, flow: bool) -> None:
    _check(_dump(data, flow))


def _mutate(spec: dict[str, Any], path: list[str], action: str, value: Any, key: str) -> Any:
    node: Any = spec
    for part in path:  # walk down as far as the spec goes
        if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
            break
        node = node[part]
    if not isinstance(node, dict) or not node:
        return value
    victim = sorted(node)[len(key) % len(node)]
    if action == "set":
        node[victim] = value
    elif action == "delete":
        del node[victim]
    elif action == "rename":
        node[key] = node.pop(victim)
    elif action == "nest":
        node[victim] = {victim: node[victim]}
    else:  # add
        node[key] = value
    return spec


MUTATIONS = st.tuples(
    st.lists(st.sampled_from(FIELDS), max_size=3),
    st.sampled_from(["set", "delete", "rename", "nest", "add"]),
    VALUES,
    st.sampled_from(FIELDS) | st.text(max_size=8),
)


@FUZZ
@given(mutations=st.lists(MUTATIONS, min_size=1, max_size=4), flow=st.booleans())
def test_mutations_of_a_valid_spec(mutations: list[Any], flow: bool) -> None:
    spec: Any = json.loads(json.dumps(VALID))  # a deep copy
    for path, action, value, key in mutations:
        spec = _mutate(spec, path, action, value, key) if isinstance(spec, dict) else value
    _check(_dump(spec, flow))


FRAGMENTS = [b"&a ", b"*a", b"<<: *a\n", b": ", b"- ", b"\n  ", b"{", b"}", b"[", b"]", b",",
             b"'", b'"', b"!!int ", b"!!binary ", b"!!python/object:os.system ", b"---\n",
             b"? ", b"\t", b"#", b"%YAML 1.2\n", b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf",
             b"requests: 1\n", b"load:\n", b"  concurrency: 9999999999999999999999\n",
             "ttft_ms: ½\n".encode(), b"\r\n", b"\\u00e9"]  # fmt: skip


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(EXAMPLE)), st.integers(0, 8),
                  st.sampled_from(FRAGMENTS) | st.binary(max_size=6)),
        min_size=1, max_size=5,
    )
)  # fmt: skip
def test_byte_edits_of_the_example_file(edits: list[tuple[int, int, bytes]]) -> None:
    raw = EXAMPLE
    for at, cut, insert in edits:
        raw = raw[:at] + insert + raw[at + cut :]
    _check(raw)


def test_alias_heavy_documents() -> None:
    """Anchors on every level, aliases reused, merge keys: resolved or refused, quickly."""
    _check(b"base: &b {ttft_ms: 5}\nsim:\n  <<: *b\n  itl_ms: 1\n")
    _check(b"sim: &s {ttft_ms: 5}\nload: *s\n")
    _check(b"a: &a [1]\nb: &b [*a, *a]\nc: &c [*b, *b]\nname: *c\n")
    _check(b"x: &x {<<: *x}\n")


SETTINGS = settings_of(RunSpec)
# What a kind needs besides the fuzzed field, so that the field is judged on its own.
_NEEDS: dict[str, dict[str, Any]] = {
    "open": {"rate": 5}, "ramp": {"duration_s": 1}, "replay": {"trace": "t.jsonl"},
    "repeat": {"count": 2}, "concurrency-sweep": {"concurrencies": [1]},
    "input-sweep": {"input_lengths": [8]},
}  # fmt: skip
EXTREMES: list[Any] = [
    -1, 0, -0.0, 1e-300, 1e300, 2**63, -(2**63) - 1, 2**4000, float("nan"), float("inf"),
    "", "x", [], {}, None, True, 100_001, 604_801.0, 10**7 + 1,
]  # fmt: skip


def _with_field(path: str, value: Any) -> dict[str, Any]:
    """A spec with `path` set to `value` (and the kind that has the field)."""
    data: dict[str, Any] = {}
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    kinds = SETTINGS[path].kinds
    if kinds and parts[-1] != "kind":
        section = data[parts[0]]
        section.setdefault("kind", kinds[0])
        for key, needed in _NEEDS.get(kinds[0], {}).items():
            section.setdefault(key, needed)
    if parts[0] == "study" or path.startswith("slo."):
        data.setdefault("slo", {}).setdefault("ttft_ms", 500)
    return data


def test_every_field_with_extreme_values() -> None:
    for path in SETTINGS:
        for value in EXTREMES:
            for flow in (False, True):
                _check(_dump(_with_field(path, value), flow))


@FUZZ
@given(path=st.sampled_from(sorted(SETTINGS)), value=VALUES, flow=st.booleans())
def test_every_field_with_random_values(path: str, value: Any, flow: bool) -> None:
    _check(_dump(_with_field(path, value), flow))
