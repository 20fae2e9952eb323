"""The base of every typed results block (run.json, study.json): frozen, no unknown keys, strict
JSON, and a key written only when it was given."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class Block(BaseModel):
    """A part of a results file: frozen, no unknown keys, strict JSON (no inf/nan)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_serializer(mode="wrap")
    def _present_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A field with a default is a key some files lack, written only when it was given
        (a `goodput` of None is no key at all, as before). Required fields are always written."""
        data: dict[str, Any] = handler(self)
        for name, info in type(self).model_fields.items():
            if not info.is_required() and name not in self.model_fields_set:
                data.pop(name, None)
        return data
