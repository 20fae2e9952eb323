"""Every setting of a spec by its dotted path (`load.rate`, `target.request_timeout_s`): the one
catalog that flags, `--set section.field=value` and error messages are derived from. A union
field (the load's kinds, the study's) lists the fields of all its members, each with the kinds
that have it.
"""

from __future__ import annotations

import difflib
import types
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


@dataclass(frozen=True, slots=True)
class Setting:
    """One leaf field: its path, its pydantic field, and the union kinds that have it."""

    path: str
    field: FieldInfo
    kinds: tuple[str, ...] = ()

    @property
    def help(self) -> str:
        text = self.field.description or ""
        default = self.field.default
        shown = default not in (None, (), False)  # an unset or off setting needs no note
        if default is not PydanticUndefined and shown:
            text += f" [default: {default}]"
        if self.path.endswith(".kind") and self.kinds:
            text = f"one of: {', '.join(self.kinds)}"
        elif self.kinds:
            text += f" (only for kind {', '.join(self.kinds)})"
        return text.strip()

    @property
    def is_text(self) -> bool:
        """Plain text: a value is taken as typed, never read as YAML (`--set name=123`)."""
        return _leaf_types(self.field.annotation) <= {str, type(None)}

    def parse(self, text: str) -> Any:
        """Text as typed on the command line → a value for the field's type (pydantic validates
        it afterwards, and says what the field wants when the text is not one): text as is,
        numbers by int()/float(), `1,2,4` or `[1, 2, 4]` as a list, a mapping as YAML/JSON; a
        length mix (`128:0.9,4096:0.1`) is read by its field."""
        leaves = _leaf_types(self.field.annotation)
        stripped = text.strip()
        mix = "tuple[tuple" in str(self.field.annotation)  # (tokens, weight) pairs
        if self.is_text or (mix and not stripped.startswith("[")):
            return text
        if leaves & {int, float} and not leaves & {tuple, dict, bool}:
            for number in (int, float):
                try:
                    return number(stripped)
                except ValueError:
                    pass
            return None if stripped in ("", "null", "none", "None") else text
        if tuple in leaves and not stripped.startswith("["):
            stripped = f"[{stripped}]"
        try:
            return yaml.safe_load(stripped) if stripped else None
        except yaml.YAMLError:
            return text

    @property
    def metavar(self) -> str:
        if self.path.endswith(".kind") and self.kinds:
            return "[" + "|".join(self.kinds) + "]"
        types_ = _leaf_types(self.field.annotation) - {type(None)}
        literal = _literal_values(self.field.annotation)
        if literal:
            return "[" + "|".join(map(str, literal)) + "]"
        for kind, name in ((bool, "BOOL"), (int, "INTEGER"), (float, "FLOAT")):
            if kind in types_:
                return name
        return "TEXT"


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union annotation (through Annotated and Optional)."""
    if get_origin(annotation) is Annotated:
        return _members(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _leaf_types(annotation: Any) -> set[Any]:
    out: set[Any] = set()
    for member in _members(annotation):
        origin = get_origin(member)
        if origin is Literal:
            out |= {type(v) for v in get_args(member)}
        else:
            out.add(origin or member)
    return out


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    values: list[Any] = []
    for member in _members(annotation):
        if get_origin(member) is Literal:
            values.extend(get_args(member))
    return tuple(values)


def models_of(annotation: Any) -> list[type[BaseModel]]:
    return [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    values = _literal_values(field.annotation) if field is not None else ()
    return str(values[0]) if values else None


@cache
def settings(root: type[BaseModel]) -> dict[str, Setting]:
    """Every leaf setting of `root` by dotted path, in declaration order."""
    out: dict[str, Setting] = {}

    def walk(model: type[BaseModel], prefix: str, kind: str | None, many: bool) -> None:
        for name, field in model.model_fields.items():
            path = f"{prefix}{name}"
            nested = models_of(field.annotation)
            mapping = dict in _leaf_types(field.annotation)
            if nested and not mapping and name != "slo":
                union = len(nested) > 1
                for member in nested:
                    walk(member, f"{path}.", _kind_of(member) if union else None, union)
                continue
            if nested and name == "slo":  # the objectives: each one settable, or all by text
                walk(nested[0], f"{path}.", None, False)
            old = out.get(path)
            kinds = (*old.kinds, kind) if old is not None and kind else ((kind,) if kind else ())
            out[path] = Setting(path, old.field if old else field, kinds if many else ())

    walk(root, "", None, False)
    return {path: _trimmed(setting, out) for path, setting in out.items()}


def _trimmed(setting: Setting, out: dict[str, Setting]) -> Setting:
    """Kinds are named only where they narrow: a field every kind has needs no note, while
    the `kind` field itself lists them all."""
    if not setting.kinds:
        return setting
    every = out[setting.path.rsplit(".", 1)[0] + ".kind"].kinds
    if setting.path.endswith(".kind"):
        return setting
    return Setting(setting.path, setting.field, () if setting.kinds == every else setting.kinds)


def nearest(root: type[BaseModel], path: str, n: int = 3) -> list[str]:
    """The valid paths closest to a mistyped one (difflib), nearest first."""
    names = list(settings(root))
    close = difflib.get_close_matches(path, names, n=n, cutoff=0.5)
    if not close:  # a right field under a wrong section: match on the last part
        last = path.rsplit(".", 1)[-1]
        close = [p for p in names if p.rsplit(".", 1)[-1] == last][:n]
    return close
