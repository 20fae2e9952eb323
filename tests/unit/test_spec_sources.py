"""`llmbench run --spec`: defaults < file < LLMBENCH_* environment < typed flags; a flag left at
its default does not override the file; every problem names its source. In-process through
`main`, with the run itself replaced by a recorder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import llmbench.cli.execution
from llmbench.cli.flags import RUN_FLAGS
from llmbench.cli.main import main
from llmbench.config import RunSpec
from llmbench.config.paths import settings

SPEC = """\
name: filed
target:
  request_timeout_s: 30
  extra_headers: {X-From: file}
load:
  concurrency: 3
  requests: 10
workload:
  output_tokens: 8
sim:
  ttft_ms: 5
"""


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(llmbench.cli.execution, "execute", lambda *a: calls.append(a))
    for name in [n for n in __import__("os").environ if n.startswith("LLMBENCH_")]:
        monkeypatch.delenv(name)
    return calls


def _spec(tmp_path: Path, ran: list[tuple[Any, ...]], *args: str, text: str = SPEC) -> RunSpec:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    main(["run", "--spec", str(path), *args])
    spec = ran[-1][0]
    assert isinstance(spec, RunSpec)
    return spec


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(["run", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("llmbench: error:")
    assert "Traceback" not in err
    return err


def test_the_file_gives_the_spec(tmp_path: Path, ran: list[tuple[Any, ...]]) -> None:
    spec = _spec(tmp_path, ran)
    assert (spec.name, spec.load.concurrency, spec.load.requests) == ("filed", 3, 10)
    assert (spec.target.request_timeout_s, spec.workload.output_tokens) == (30, 8)
    assert spec.workload.input_tokens == 128  # not in the file: the default
    source = ran[-1][3]
    assert source.file == str(tmp_path / "run.yaml")
    assert len(source.file_sha256) == 64
    assert source.flags == []
    assert source.environment == []


def test_typed_flags_override_the_file_and_default_flags_do_not(
    tmp_path: Path, ran: list[tuple[Any, ...]]
) -> None:
    # --concurrency 1 and --request-timeout 600 are the flags' defaults, typed: they win.
    spec = _spec(tmp_path, ran, "--concurrency", "1", "--request-timeout", "600",
                 "--header", "X-Flag: yes", "--seed", "5")  # fmt: skip
    assert (spec.load.concurrency, spec.target.request_timeout_s) == (1, 600)
    assert spec.target.extra_headers == {"X-From": "file", "X-Flag": "yes"}  # merged
    assert (spec.seed, spec.workload.seed) == (5, 5)
    assert spec.workload.output_tokens == 8
    assert spec.sim.ttft_ms == 5
    assert ran[-1][3].flags == ["--concurrency", "--header", "--request-timeout", "--seed"]


def test_environment_sits_between_file_and_flags(
    tmp_path: Path, ran: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMBENCH_LOAD__CONCURRENCY", "6")
    monkeypatch.setenv("LLMBENCH_WORKLOAD__OUTPUT_TOKENS", "12")
    monkeypatch.setenv("LLMBENCH_SEED", "9")
    monkeypatch.setenv("LLMBENCH_SOMETHING_ELSE", "ignored")  # not a spec field: other uses
    spec = _spec(tmp_path, ran, "--output-tokens", "20")
    assert (spec.load.concurrency, spec.workload.output_tokens, spec.seed) == (6, 20, 9)
    assert ran[-1][3].environment == [
        "LLMBENCH_LOAD__CONCURRENCY", "LLMBENCH_SEED", "LLMBENCH_WORKLOAD__OUTPUT_TOKENS",
    ]  # fmt: skip


def test_environment_without_a_file(
    ran: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMBENCH_LOAD__REQUESTS", "7")
    main(["run", "--concurrency", "2"])
    spec = ran[-1][0]
    assert (spec.load.requests, spec.load.concurrency) == (7, 2)


def test_without_a_file_or_environment_the_flags_give_the_same_spec_as_before(
    ran: list[tuple[Any, ...]],
) -> None:
    main(["run", "--profile", "poisson", "--rate", "4", "--seed", "3"])
    spec = ran[-1][0]
    assert spec == RunSpec.model_validate(
        {"load": {"profile": "poisson", "rate": 4, "requests": 100},
         "workload": {"seed": 3}, "seed": 3}
    )  # fmt: skip
    assert ran[-1][3].file is None


def test_a_concurrency_list_flag_replaces_the_files_single_value(
    tmp_path: Path, ran: list[tuple[Any, ...]]
) -> None:
    spec = _spec(tmp_path, ran, "--profile", "concurrency-sweep", "--concurrency", "1,2")
    assert spec.study is not None
    assert spec.study.concurrencies == (1, 2)  # type: ignore[union-attr]
    text = SPEC.replace(
        "  concurrency: 3\n", "  profile: concurrency-sweep\n  concurrencies: [1, 4]\n"
    )
    study = _spec(tmp_path, ran, text=text).study  # the file's profile (version-1 form)
    assert study is not None
    assert study.concurrencies == (1, 4)  # type: ignore[union-attr]


def test_slo_flags_and_file(tmp_path: Path, ran: list[tuple[Any, ...]]) -> None:
    text = SPEC + "slo: {ttft_ms: 100, attainment: 0.5}\n"
    kept = _spec(tmp_path, ran, "--slo-attainment", "0.8", text=text).slo
    assert kept is not None
    assert (kept.attainment, kept.limits_ms()) == (0.8, {"ttft_ms": 100})
    replaced = _spec(tmp_path, ran, "--slo", "e2e_ms:900", text=text).slo
    assert replaced is not None
    assert replaced.limits_ms() == {"e2e_ms": 900}


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        (
            {},
            ["--concurrency", "0"],
            "--concurrency: load.concurrency: out of range (allowed: >= 1",
        ),
        (
            {"LLMBENCH_LOAD__CONCURENCY": "2"},
            [],
            "LLMBENCH_LOAD__CONCURENCY: load.concurency: unknown key",
        ),
        ({"LLMBENCH_LOAD__REQUESTS": "[1"}, [], "LLMBENCH_LOAD__REQUESTS: not a YAML value"),
        (
            {"LLMBENCH_TARGET__API_KEY": "sk-abcdefghijkl"},
            [],
            "LLMBENCH_TARGET__API_KEY: an API key",
        ),
        ({}, ["--profile", "poisson"], "run.yaml:5:1: load.rate (--rate): required for kind open"),
        ({}, ["--rate", "inf", "--profile", "poisson"], "--rate: load.rate: not a finite number"),
    ],
)
def test_each_problem_names_its_source(
    tmp_path: Path,
    ran: list[tuple[Any, ...]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: list[str],
    expected: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "run.yaml"
    path.write_text(SPEC)
    err = _error(["--spec", str(path), *args], capsys)
    assert expected in err.replace(str(tmp_path) + "/", "")
    assert "sk-abcdefghijkl" not in err
    assert not ran


def test_a_variable_named_in_the_file_must_be_set(
    tmp_path: Path, ran: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(SPEC.replace("target:\n", "target:\n  api_key_env: LLMBENCH_TEST_UNSET_KEY\n"))
    err = _error(["--spec", str(path)], capsys)
    assert "run.yaml:3:3: environment variable LLMBENCH_TEST_UNSET_KEY is not set" in err


def test_every_run_flag_names_a_spec_field() -> None:
    """A flag is derived from a field: its path must exist, or its help and type come from
    nowhere."""
    known = settings(RunSpec)
    assert [f.name for f in RUN_FLAGS if f.path not in known] == []


def test_a_version_1_field_in_a_version_2_spec_says_where_it_went(
    ran: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMBENCH_LOAD__SWEEP_RATES", "3")
    err = _error([], capsys)
    assert "LLMBENCH_LOAD__SWEEP_RATES: load.sweep_rates: a version-1 field" in err
    assert "it is now study.steps (--sweep-steps)" in err


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--header", "Authorization: Bearer sk-live0123456789"], "--header"),
        (["--header", "X-Trace: sk-live0123456789"], "--header"),
        (["--set", 'target.extra_headers={"X-Api-Key": "abc"}'], "--set target.extra_headers"),
    ],
)
def test_a_key_given_by_a_flag_is_refused_and_not_echoed(
    args: list[str], where: str, ran: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    """It would be stored with the spec in run.json: refused as in files, never echoed."""
    err = _error(args, capsys)
    assert f"llmbench: error: {where}: " in err
    assert "no place in a spec" in err
    assert "sk-live" not in err
    assert "abc" not in err
    assert not ran
