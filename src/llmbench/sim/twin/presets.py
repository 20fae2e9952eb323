"""Named presets of the twin and how they are changed: `section.field=value` overrides and
preset files (JSON or TOML: `base = "cloud-warm"` plus any sections to replace field by field).
All errors are ValueError naming the key and what is allowed; the CLI turns them into messages.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

from llmbench.sim.twin.params import (
    EngineParams,
    FixedTiming,
    HardwareParams,
    ModelParams,
    NoiseParams,
    PolynomialTiming,
    Preset,
)

SECTIONS = ("model", "hardware", "engine", "noise", "fixed", "polynomial")

DETERMINISTIC = Preset(
    name="deterministic",
    description="fixed TTFT 200 ms then one token every 20 ms, each request alone (ground truth)",
    timing="fixed",
    engine=EngineParams(step_overhead_s=0.0, seq_overhead_s=0.0, request_overhead_s=0.0),
)

SELF_HOSTED_COLD = Preset(
    name="self-hosted-cold",
    description=(
        "a 9B model in bf16 on one 24 GB consumer GPU: static batching of up to 8, no prefix "
        "cache, a 20 s cold start after 5 minutes idle"
    ),
    model=ModelParams(n_params=9.4e9, layers=40, heads=32, kv_heads=2, head_dim=128),
    hardware=HardwareParams(
        peak_flops=165e12,
        mem_bandwidth_bytes_per_s=1.008e12,
        compute_efficiency=0.45,
        memory_efficiency=0.75,
        memory_bytes=24e9,
        memory_utilization=0.95,
        activation_reserve_bytes=1.5e9,
    ),
    engine=EngineParams(
        batching="static",
        max_seqs=8,
        max_batched_tokens=16384,
        chunked_prefill=False,
        prefix_cache=False,
        step_overhead_s=0.004,
        seq_overhead_s=0.0002,
        request_overhead_s=0.003,
        cold_start_s=20.0,
        idle_timeout_s=300.0,
    ),
    noise=NoiseParams(jitter_sigma=0.05, stall_probability=0.0005, stall_s=0.2),
)

CLOUD_WARM = Preset(
    name="cloud-warm",
    description=(
        "an 8B model on one datacenter GPU (H100-class), warm: continuous batching with "
        "chunked prefill, prefix cache with provider-style prompt caching (>= 1024 tokens, "
        "5 min TTL), API gateway overhead"
    ),
    engine=EngineParams(
        min_cacheable_tokens=1024,
        cache_ttl_s=300.0,
        request_overhead_s=0.015,
    ),
    noise=NoiseParams(jitter_sigma=0.03, stall_probability=0.0002, stall_s=0.05),
)

BUILTIN: dict[str, Preset] = {p.name: p for p in (DETERMINISTIC, SELF_HOSTED_COLD, CLOUD_WARM)}
_SECTION_TYPES: dict[str, Any] = {
    "model": ModelParams,
    "hardware": HardwareParams,
    "engine": EngineParams,
    "noise": NoiseParams,
    "fixed": FixedTiming,
    "polynomial": PolynomialTiming,
}


def builtin(name: str) -> Preset:
    if name not in BUILTIN:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(BUILTIN)}")
    return BUILTIN[name]


def to_dict(preset: Preset) -> dict[str, Any]:
    """JSON-ready parameters, plus the derived KV capacity (what `sim presets` shows)."""
    out = dataclasses.asdict(preset)
    if preset.timing != "fixed":
        out["derived"] = {
            "weight_bytes": preset.model.weight_bytes,
            "kv_bytes_per_token": preset.model.kv_bytes_per_token,
            "kv_blocks": preset.total_kv_blocks(),
            "kv_tokens": preset.total_kv_blocks() * preset.engine.block_tokens,
        }
    return out


def _coerce(section: str, name: str, raw: Any, current: Any) -> Any:
    """The value in the field's type: bools and numbers from strings (CLI) or JSON/TOML."""
    where = f"{section}.{name}"
    if isinstance(raw, str) and not isinstance(current, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            kind = {bool: "true or false", int: "an integer", float: "a number"}
            raise ValueError(f"{where}: {raw!r} is not {kind[type(current)]}") from exc
    if isinstance(current, bool):
        if not isinstance(raw, bool):
            raise ValueError(f"{where} must be true or false, got {raw!r}")
        return raw
    if isinstance(current, int) and not (isinstance(raw, int) and not isinstance(raw, bool)):
        raise ValueError(f"{where} must be an integer, got {raw!r}")
    if isinstance(current, float):
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(f"{where} must be a number, got {raw!r}")
        return float(raw)
    return raw


def _resolve_key(key: str) -> tuple[str, str]:
    """`section.field`, or a bare field name when exactly one section has it."""
    section, sep, name = key.partition(".")
    if sep:
        if section not in _SECTION_TYPES:
            raise ValueError(
                f"unknown section {section!r} in {key!r}; known: {', '.join(SECTIONS)}"
            )
        if name not in _SECTION_TYPES[section].__dataclass_fields__:
            known = ", ".join(_SECTION_TYPES[section].__dataclass_fields__)
            raise ValueError(f"unknown field {key!r}; {section} has: {known}")
        return section, name
    owners = [s for s, t in _SECTION_TYPES.items() if key in t.__dataclass_fields__]
    if len(owners) != 1:
        raise ValueError(f"unknown or ambiguous key {key!r}: write it as section.field")
    return owners[0], key


def override(preset: Preset, values: dict[str, Any]) -> Preset:
    """A copy with `{"section.field": value}` replaced; `name`/`description`/`timing` too."""
    top = {k: v for k, v in values.items() if k in ("name", "description", "timing")}
    by_section: dict[str, dict[str, Any]] = {}
    for key, raw in values.items():
        if key in top:
            continue
        section, name = _resolve_key(key)
        current = getattr(getattr(preset, section), name)
        by_section.setdefault(section, {})[name] = _coerce(section, name, raw, current)
    changes: dict[str, Any] = dict(top)
    for section, fields in by_section.items():
        changes[section] = dataclasses.replace(getattr(preset, section), **fields)
    return dataclasses.replace(preset, **changes)


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """`["engine.max_seqs=64", ...]` → `{"engine.max_seqs": "64"}`."""
    out: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{item!r} is not key=value (e.g. engine.max_seqs=64)")
        out[key.strip()] = value.strip()
    return out


def load_file(path: Path) -> Preset:
    """A preset file: JSON, or TOML when the name ends in .toml."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except ValueError as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ValueError(f"{path}: not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a preset file holds one object")
    return from_dict(data, where=str(path))


def from_dict(data: dict[str, Any], *, where: str = "preset") -> Preset:
    """Base preset (`base`, default cloud-warm) with the given sections and fields replaced."""
    data = dict(data)
    data.pop("derived", None)  # what `to_dict` adds, so its output loads back
    data.pop("fitted", None)  # calibration provenance (`sim calibrate`), not a parameter
    base = builtin(str(data.pop("base", "cloud-warm")))
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTION_TYPES:
            if not isinstance(value, dict):
                raise ValueError(f"{where}: {key} must be a table/object")
            flat.update({f"{key}.{name}": v for name, v in value.items()})
        elif key in ("name", "description", "timing"):
            flat[key] = value
        else:
            raise ValueError(f"{where}: unknown key {key!r}; known: base, name, timing, {SECTIONS}")
    try:
        return override(base, flat)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {exc}") from exc
