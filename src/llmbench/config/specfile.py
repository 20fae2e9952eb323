"""Run-spec files: YAML (JSON is YAML too) read with the position of every key and value, so
each problem can name `FILE:LINE:COL`. Duplicate keys, non-text keys, self-referencing aliases
and API keys are refused here; the fields themselves are validated by pydantic (`problems.py`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmbench.config.upgrade import v1_place
from llmbench.errors import ConfigError

Loc = tuple[str | int, ...]
MAX_SPEC_BYTES = 1_000_000  # a spec is a page of settings; anything larger is not one
MAX_EXPANDED_VALUES = 100_000
MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# Keys that would hold a secret, compared without case, '-' or '_' (api_key_env names a variable).
_SECRET_KEYS = frozenset({"key", "token", "bearer", "authorization", "privatekey", "accesskey"})
_SECRET_ENDINGS = ("apikey", "secret", "password", "accesstoken", "authtoken", "secretkey")
# Text holding something shaped like a key or a bearer token.
SECRET_VALUE = re.compile(
    r"(?:^|[^A-Za-z0-9])(?:bearer\s+\S|(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,})", re.IGNORECASE
)
SECRET_HINT = (
    "keep keys out of spec files and flags (they are stored with the spec): export the key in "
    "an environment variable and name that variable with target.api_key_env / --api-key-env "
    "(default OPENAI_API_KEY; sent as Authorization: Bearer)"
)


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column in a spec file."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SpecDocument:
    """A parsed spec file: its data, where each key and value starts, and its content hash."""

    name: str
    data: dict[str, Any]
    keys: dict[Loc, Position]
    values: dict[Loc, Position]
    sha256: str

    def where(self, loc: Loc) -> str:
        """`FILE:LINE:COL` of the key at `loc`, else of its nearest parent present in the file
        (a field moved since version 1 is found where an old file has it)."""
        if loc not in self.keys:
            loc = v1_place(loc)
        for end in range(len(loc), 0, -1):
            position = self.keys.get(loc[:end])
            if position is not None:
                return f"{self.name}:{position.line}:{position.column}"
        root = self.values[()]
        return f"{self.name}:{root.line}:{root.column}"

    def has(self, loc: Loc) -> bool:
        return loc in self.keys


def _position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _error(name: str, position: Position, message: str, hint: str) -> ConfigError:
    return ConfigError(message, where=f"{name}:{position.line}:{position.column}", hint=hint)


def _codepoint(character: int | str) -> str:
    code = character if isinstance(character, int) else ord(str(character)[:1] or "\0")
    return f"U+{code:04X}"


def _yaml_error(name: str, exc: yaml.YAMLError, text: str) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        return _error(
            name,
            _position(exc.problem_mark),
            f"YAML: {problem}",
            "fix the YAML at that place (indentation, a ':' after each key, matching quotes)",
        )
    if isinstance(exc, yaml.reader.ReaderError):  # a control character YAML does not allow
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        return _error(
            name,
            Position(line, column),
            f"YAML: character {_codepoint(exc.character)} is not allowed",
            "remove it, or quote the text with escapes",
        )
    return ConfigError(f"YAML: {exc}", where=name, hint="fix the YAML")


def _decode(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise _error(
            name, Position(line, column), "not UTF-8 text", "save the file as UTF-8"
        ) from None


class _Walk:
    """One pass over the node graph: positions, duplicate keys, non-text keys, alias cycles."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.keys: dict[Loc, Position] = {}
        self.values: dict[Loc, Position] = {}

    def run(self, root: yaml.Node) -> None:
        # Iterative with an explicit ancestor chain: deep nesting cannot overflow the stack,
        # and a node met again on its own path is an alias cycle.
        stack: list[tuple[yaml.Node, Loc, frozenset[int]]] = [(root, (), frozenset())]
        seen: set[int] = set()
        while stack:
            node, loc, ancestors = stack.pop()
            if id(node) in ancestors:
                raise _error(
                    self.name,
                    _position(node.start_mark),
                    "an alias refers to a node that contains it (a loop)",
                    "use aliases only for finished values",
                )
            self.values.setdefault(loc, _position(node.start_mark))
            if id(node) in seen:  # an alias: checked once, positions of the first use kept
                continue
            seen.add(id(node))
            inner = ancestors | {id(node)}
            if isinstance(node, yaml.MappingNode):
                stack.extend((v, (*loc, k), inner) for k, v in reversed(self._pairs(node, loc)))
            elif isinstance(node, yaml.SequenceNode):
                for index, item in reversed(list(enumerate(node.value))):
                    self.keys.setdefault((*loc, index), _position(item.start_mark))
                    stack.append((item, (*loc, index), inner))

    def _pairs(self, node: yaml.MappingNode, loc: Loc) -> list[tuple[str, yaml.Node]]:
        pairs: list[tuple[str, yaml.Node]] = []
        first: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *base`: merged keys are checked at the base
                continue
            position = _position(key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                raise _error(
                    self.name,
                    position,
                    f"key {str(shown)[:40]!r} is not text (YAML reads it as {key_node.tag})",
                    'quote the key, e.g. "on": ...',
                )
            key = str(key_node.value)
            if key in first:
                raise _error(
                    self.name,
                    position,
                    f"duplicate key {key!r} (first at line {first[key].line})",
                    "keep one of them: YAML would silently use the last",
                )
            first[key] = position
            self.keys.setdefault((*loc, key), position)
            pairs.append((key, value_node))
        return pairs


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Values the node stands for with every alias expanded (memoized: linear in the nodes)."""
    if id(node) not in memo:
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
        memo[id(node)] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[id(node)]


_OPEN = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken, yaml.BlockMappingStartToken,
         yaml.BlockSequenceStartToken)  # fmt: skip
_CLOSE = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken, yaml.BlockEndToken)


def _check_depth(name: str, text: str) -> None:
    """Refuses nesting beyond MAX_DEPTH from the tokens, before PyYAML's recursive composer
    (slow, then RecursionError, on deep nesting) sees them."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        depth += isinstance(token, _OPEN) - isinstance(token, _CLOSE)
        if depth > MAX_DEPTH:
            raise _error(
                name,
                _position(token.start_mark),
                f"nested more than {MAX_DEPTH} levels deep",
                "a run spec is a few levels deep",
            )


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value constructors fail with a located error: PyYAML's own raise
    ValueError or IndexError on some bad tagged scalars (`!!int ''`, `!!float x`)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, IndexError, TypeError, OverflowError, KeyError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this {node.tag} value ({exc})", node.start_mark
            ) from None


def _compose(name: str, text: str) -> tuple[yaml.Node, _Walk, Any]:
    try:
        loader = _Loader(text)  # the reader checks the characters here already
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc, text) from None
    try:
        _check_depth(name, text)
        root = loader.get_single_node()
        if root is None:
            raise ConfigError(
                "the spec file is empty",
                where=name,
                hint="write the run's settings as a mapping, e.g. `load: {concurrency: 4}`",
            )
        walk = _Walk(name)
        walk.run(root)
        if _expanded_size(root, {}) > MAX_EXPANDED_VALUES:  # "billion laughs" through aliases
            raise _error(
                name,
                _position(root.start_mark),
                f"aliases expand to more than {MAX_EXPANDED_VALUES:,} values",
                "write the values out, or alias fewer times",
            )
        return root, walk, loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc, text) from None
    except RecursionError:
        raise ConfigError(
            "nested too deeply", where=name, hint="a run spec is a few levels deep"
        ) from None
    finally:
        loader.dispose()


def secret_name(key: str) -> bool:
    """`api_key`, `X-Api-Key`, `Authorization`, `client_secret`, ... (not `api_key_env`)."""
    name = re.sub(r"[-_ ]", "", key.lower())
    return name in _SECRET_KEYS or name.endswith(_SECRET_ENDINGS)


def first_secret(data: dict[str, Any]) -> tuple[Loc, Loc] | None:
    """Where the first `api_key`-like key, or value shaped like a key or bearer token, is:
    (its holder's location, its own); None when there is none."""
    stack: list[tuple[Loc, Any]] = [((), data)]
    seen: set[int] = set()
    while stack:
        loc, node = stack.pop()
        if id(node) in seen:  # an alias: its values were checked at the first use
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            here = (*loc, key)
            secret_key = isinstance(key, str) and secret_name(key)
            if secret_key or (isinstance(value, str) and SECRET_VALUE.search(value)):
                return loc, here
            if isinstance(value, dict | list):
                stack.append((here, value))
    return None


def secret_problem(here: Loc) -> str:
    return f"{'.'.join(map(str, here))}: an API key has no place in a spec"


def _refuse_secrets(name: str, data: dict[str, Any], walk: _Walk) -> None:
    """An `api_key`-like key, or a value shaped like a key or bearer token, anywhere."""
    found = first_secret(data)
    if found is not None:
        holder, here = found
        position = walk.keys.get(here) or walk.values.get(holder, Position(1, 1))
        raise _error(name, position, secret_problem(here), SECRET_HINT)


def parse_spec(raw: bytes, name: str) -> SpecDocument:
    """Parses spec-file bytes (`name` is used in messages); raises ConfigError with a location."""
    if len(raw) > MAX_SPEC_BYTES:
        raise ConfigError(
            f"{len(raw):,} bytes is too large for a run spec (at most {MAX_SPEC_BYTES:,})",
            where=name,
            hint="pass the file that holds the run's settings",
        )
    text = _decode(name, raw)
    root, walk, data = _compose(name, text)
    if not isinstance(data, dict):
        raise _error(
            name,
            _position(root.start_mark),
            f"the top level is {type(data).__name__}, not a mapping of settings",
            "start with keys such as `target:`, `workload:`, `load:`",
        )
    _refuse_secrets(name, data, walk)
    digest = hashlib.sha256(raw).hexdigest()
    return SpecDocument(name, data, walk.keys, walk.values, digest)


def read_spec_file(path: Path) -> SpecDocument:
    """Reads and parses a spec file; a missing or unreadable file is a ConfigError too."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the spec file: {exc.strerror or exc}",
            where=str(path),
            hint="check the path given to --spec",
        ) from None
    return parse_spec(raw, str(path))
