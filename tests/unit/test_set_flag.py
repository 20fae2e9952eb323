"""`llmbench run --set section.field=value`: reaches every spec field (nested ones too), reads the
value by the field's type, applies after the typed flags, and answers a mistyped path with the
nearest valid ones."""

from __future__ import annotations

import os
from typing import Any

import pytest

import llmbench.cli.execution
from llmbench.cli.main import main
from llmbench.config import RepeatStudy, RunSpec
from llmbench.config.paths import settings


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(llmbench.cli.execution, "execute", lambda *a: calls.append(a))
    for name in [n for n in os.environ if n.startswith("LLMBENCH_")]:
        monkeypatch.delenv(name)
    return calls


def _spec(ran: list[tuple[Any, ...]], *args: str) -> RunSpec:
    main(["run", *args])
    spec = ran[-1][0]
    assert isinstance(spec, RunSpec)
    return spec


def test_set_reaches_nested_fields_with_their_types(ran: list[tuple[Any, ...]]) -> None:
    spec = _spec(ran, "--set", "load.validity.late_after_ms=5", "--set", "name=123",
                 "--set", "target.extra_headers={X-A: b}", "--set", "target.stream=false",
                 "--set", "workload.input_mix=128:0.5,256:0.5", "--set", "sim.seed=-7")  # fmt: skip
    assert spec.load.validity.late_after_ms == 5.0
    assert spec.name == "123"  # a text field keeps the text
    assert spec.target.extra_headers == {"X-A": "b"}
    assert spec.target.stream is False
    assert spec.workload.input_mix == ((128, 0.5), (256, 0.5))
    assert spec.sim.seed == -7
    assert ran[-1][3].flags == ["--set"]


def test_set_picks_kinds_and_comes_after_the_flags(ran: list[tuple[Any, ...]]) -> None:
    spec = _spec(ran, "--concurrency", "4", "--set", "load.concurrency=6",
                 "--set", "study.kind=repeat", "--set", "study.count=3")  # fmt: skip
    assert spec.load.concurrency == 6  # type: ignore[union-attr]
    assert spec.study == RepeatStudy(count=3)
    spec = _spec(ran, "--set", "load.kind=open", "--set", "load.arrival=gamma",
                 "--set", "load.rate=2.5", "--set", "load.burstiness=0.5")  # fmt: skip
    assert (spec.load.kind, spec.load.rate, spec.load.burstiness) == ("open", 2.5, 0.5)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("load.rat=5", "--set: 'load.rat' is not a setting\nllmbench: fix: did you mean load.rate"),
        ("target.timeout=3", "did you mean target.request_timeout_s"),
        ("concurrency=3", "did you mean load.concurrency"),
        ("load.rate", "is not section.field=value"),
        ("load.validity.late_after_ms=-1", "load.validity.late_after_ms: out of range"),
        ("load.concurrency=many", "--set load.concurrency: load.concurrency: not an integer"),
    ],
)
def test_bad_set_is_one_clear_error(
    assignment: str, expected: str, capsys: pytest.CaptureFixture[str], ran: list[Any]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--set", assignment])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("llmbench: error:")
    assert expected in err
    assert "Traceback" not in err
    assert not ran


def test_every_setting_is_reachable_by_set() -> None:
    """Each leaf of the spec has a dotted path (the catalog --set, flags and docs read)."""
    paths = settings(RunSpec)
    wanted = ["load.rate", "load.arrival", "load.time_scale", "study.steps", "sim.preset",
              "target.retry_429_max_wait_s", "workload.prompt_set", "slo.attainment"]  # fmt: skip
    assert [path for path in wanted if path not in paths] == []
