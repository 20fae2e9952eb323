"""Spec version 1 → 2: the flat `load.profile` form (one 11-value string over 18 fields, as
run.json stored it until the load became a union by `kind`) rewritten into `load` + `study`.
Pure dict → dict: a stored run.json's spec, an old spec file and the `--profile` flag all go
through it, so an old form means the same thing everywhere.
"""

from __future__ import annotations

from typing import Any

# Version 1's load fields and their defaults: a default says nothing and is left out; any
# other value is carried (renamed) so that validation refuses what the profile does not use.
_V1_DEFAULTS: dict[str, Any] = {
    "concurrency": 1,
    "concurrencies": None,
    "rate": None,
    "ramp_start_rate": 0.0,
    "burstiness": 1.0,
    "max_concurrency": None,
    "trace": None,
    "trace_time_scale": 1.0,
    "sweep_rates": 5,
    "search": "rate",
    "repeat": 1,
    "cooldown_s": 0.0,
}
_RENAMED = {"ramp_start_rate": "start_rate", "trace_time_scale": "time_scale"}
PROFILES = ("synchronous", "concurrency", "constant", "poisson", "gamma", "ramp", "sweep",
            "concurrency-sweep", "input-sweep", "slo-search", "replay")  # fmt: skip
_KIND = {"synchronous": "closed", "concurrency": "closed", "ramp": "ramp", "replay": "replay"}


def is_v1_load(load: Any) -> bool:
    return isinstance(load, dict) and "profile" in load


def _given(load: dict[str, Any]) -> dict[str, Any]:
    """The v1 load's fields that differ from their defaults, under version-2 names."""
    out = {}
    for key, value in load.items():
        if key == "profile" or (key in _V1_DEFAULTS and value == _V1_DEFAULTS[key]):
            continue
        out[_RENAMED.get(key, key)] = value
    return out


def _load_kind(profile: str, given: dict[str, Any]) -> dict[str, Any]:
    if profile in ("constant", "poisson", "gamma"):
        return {"kind": "open", "arrival": profile}
    if profile == "slo-search":  # by rate: Poisson steps from `rate` (default 1/s) up
        if given.pop("search", "rate") == "concurrency":
            return {"kind": "closed"}
        return {"kind": "open", "arrival": "poisson", "rate": given.pop("rate", 1.0)}
    return {"kind": _KIND.get(profile, "closed")}


def _study(profile: str, given: dict[str, Any], workload: dict[str, Any]) -> dict[str, Any] | None:
    study: dict[str, Any] = {}
    if profile == "sweep":
        study = {"kind": "sweep", "steps": given.pop("sweep_rates", 5)}
        if "max_concurrency" in given:
            study["max_concurrency"] = given.pop("max_concurrency")
    elif profile == "concurrency-sweep":
        study = {"kind": "concurrency-sweep", "concurrencies": given.pop("concurrencies", None)}
    elif profile == "input-sweep":
        study = {"kind": "input-sweep", "input_lengths": workload.pop("input_lengths", None)}
    elif profile == "slo-search":
        study = {"kind": "slo-search"}
    elif given.get("repeat", 1) != 1:
        study = {"kind": "repeat", "count": given.pop("repeat")}
    if not study:
        given.pop("cooldown_s", None)  # a pause between steps of a single run means nothing
        return None
    if "cooldown_s" in given:
        study["cooldown_s"] = given.pop("cooldown_s")
    return study


def upgrade_load_v1(
    load: dict[str, Any], workload: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A v1 load (with `profile`) → (version-2 load, study or None). An input-sweep's lengths
    move from `workload` (changed in place) into the study."""
    workload = {} if workload is None else workload
    profile = load.get("profile", "concurrency")
    if profile not in PROFILES:
        raise ValueError(f"load.profile {profile!r} is not one of {', '.join(PROFILES)}")
    given = _given(load)
    new = _load_kind(profile, given)
    study = _study(profile, given, workload)
    if profile == "synchronous" and given.get("concurrency", 1) != 1:
        raise ValueError("the synchronous profile sends one request at a time: concurrency 1")
    # Version 1 ignored these where its profile had no use for them (a study's stored steps
    # carry them); every other unused field it refused, so it stays in to be refused again.
    if new["kind"] not in ("closed", "ramp"):
        given.pop("concurrency", None)
    for ignored in ("sweep_rates", "search"):
        given.pop(ignored, None)
    new.update(given)
    return new, study


def upgrade_spec_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 spec (run.json's `spec`, or a spec file) → version 2; a spec without a v1
    load is returned unchanged. Never mutates `data`."""
    load = data.get("load")
    if not is_v1_load(load):
        return data
    assert isinstance(load, dict)
    out = dict(data)
    workload = dict(data["workload"]) if isinstance(data.get("workload"), dict) else {}
    had_lengths = "input_lengths" in workload
    new_load, study = upgrade_load_v1(load, workload)
    if had_lengths and workload.get("input_lengths", 0) is None:
        workload.pop("input_lengths")  # v1 stored None for every run but an input-sweep
    if isinstance(data.get("workload"), dict):
        out["workload"] = workload
    out["load"] = new_load
    if study is not None:
        out["study"] = study
    return out


# Where a version-2 field sat in version 1: a problem in an old file is shown at its line.
_V1_PLACES: dict[tuple[str, str], tuple[str, str]] = {
    ("study", "concurrencies"): ("load", "concurrencies"),
    ("study", "steps"): ("load", "sweep_rates"),
    ("study", "count"): ("load", "repeat"),
    ("study", "cooldown_s"): ("load", "cooldown_s"),
    ("study", "max_concurrency"): ("load", "max_concurrency"),
    ("study", "input_lengths"): ("workload", "input_lengths"),
    ("load", "start_rate"): ("load", "ramp_start_rate"),
    ("load", "time_scale"): ("load", "trace_time_scale"),
}


# A version-1 field met in a version-2 spec: where it lives now.
MOVED = {
    "sweep_rates": "study.steps", "repeat": "study.count", "cooldown_s": "study.cooldown_s",
    "concurrencies": "study.concurrencies", "input_lengths": "study.input_lengths",
    "ramp_start_rate": "load.start_rate", "trace_time_scale": "load.time_scale",
    "search": "the load's kind (open: over the rate, closed: over the concurrency)",
}  # fmt: skip


def v1_place(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The version-1 location of a version-2 field (itself when not moved)."""
    head = (str(loc[0]), str(loc[1])) if len(loc) >= 2 else None
    moved = _V1_PLACES.get(head) if head else None
    return loc if moved is None else (*moved, *loc[2:])
