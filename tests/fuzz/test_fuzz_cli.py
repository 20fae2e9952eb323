"""Fuzz of `llmbench run` flag values: whatever is typed, the CLI either builds a spec (the run
itself is stubbed out) or exits 1/2 with one `llmbench: error:` line, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import llmbench.cli.execution
from llmbench.cli.flags import RUN_FLAGS
from llmbench.cli.main import main
from llmbench.cli.sources import SpecSources
from llmbench.config import RunSpec
from llmbench.config.paths import settings as spec_settings
from llmbench.config.upgrade import PROFILES as PROFILES_V1
from llmbench.errors import ConfigError

FLAGS = [f.name for f in RUN_FLAGS if f.switch is None]  # every valued flag, derived
SWITCHES = [f.name for f in RUN_FLAGS if f.switch is not None]
PATHS = sorted(spec_settings(RunSpec))  # every spec field, for --set
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(str),
    st.sampled_from(["0", "-1", "1e400", "nan", "inf", "0x10", "1_000", " 3", "", "1e6", "1e7",
                     "100001", "604801", "9223372036854775808", "-9223372036854775809",
                     "10000001", "1,2,x", "1,,2", "0,1", "[1, 2]", "{a: 1}", "1:0.5,2:0.5"]),
)  # fmt: skip
VALUES = st.one_of(
    NUMBERS,
    st.text(max_size=30).filter(lambda s: "\x00" not in s),
    st.sampled_from(["http://127.0.0.1:1", "ftp://x", "{}", '{"a":', "[1]", "A: b", "hf:/nope"]),
)
ARGS = st.lists(st.tuples(st.sampled_from(FLAGS), VALUES), max_size=5)
SETS = st.lists(
    st.tuples(st.just("--set"), st.tuples(st.sampled_from(PATHS) | st.text(max_size=12), VALUES)
              .map(lambda pair: f"{pair[0]}={pair[1]}")),
    max_size=4,
)  # fmt: skip
PROFILES = st.lists(st.tuples(st.just("--profile"), st.sampled_from(PROFILES_V1)), max_size=1)


def _outcome(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, list[Any]]:
    ran: list[Any] = []
    monkeypatch.setattr(llmbench.cli.execution, "execute", lambda *a: ran.append(a))
    stderr = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, stderr.getvalue(), ran


def _assert_spec_or_clear_error(code: int, err: str, ran: list[Any]) -> None:
    """A spec that run.json can hold, or exit 2 with one `llmbench: error:` message: its first
    line says it all; further lines only list more problems or the fix."""
    if code == 0:
        assert len(ran) == 1
        spec = ran[0][0]
        assert isinstance(spec, RunSpec)
        json.dumps(spec.model_dump(mode="json"), allow_nan=False)
        return
    assert code == 2, err
    assert err.startswith("llmbench: error:"), err
    assert "Traceback" not in err
    for line in err.splitlines()[1:]:
        assert line.startswith(("  ", "llmbench: fix:")), err
    assert not ran


FAST = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FAST
@given(args=ARGS, switches=st.lists(st.sampled_from(SWITCHES), max_size=2), profile=PROFILES)
def test_any_flag_values_give_a_spec_or_one_clear_error(
    args: list[tuple[str, str]],
    switches: list[str],
    profile: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = ["run", *[part for pair in profile + args for part in pair], *switches]
    _assert_spec_or_clear_error(*_outcome(argv, monkeypatch))


@FAST
@given(sets=SETS, profile=PROFILES)
@example(sets=[("--set", "agent_loop.file=\r")], profile=[])  # a path quoted, not printed raw
def test_any_set_assignment_gives_a_spec_or_one_clear_error(
    sets: list[tuple[str, str]], profile: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["run", *[part for pair in profile + sets for part in pair]]
    _assert_spec_or_clear_error(*_outcome(argv, monkeypatch))


EXTREMES = ["0", "-1", "-0.0", "1e-300", "1e300", "1e400", "nan", "-inf", "2e6", "100001",
            "604801", "10000001", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "", "x", "[]", "{}", "null", "true"]  # fmt: skip


def test_every_field_takes_extremes_without_a_traceback() -> None:
    """Each field, each extreme value, through the resolver `run` uses (typer's own parsing is
    covered above): a spec run.json can hold, or one ConfigError; a number past the field's
    range is refused by name."""
    for path in PATHS:
        for value in EXTREMES:
            try:
                spec = SpecSources(None, {}, frozenset()).resolve({}, [f"{path}={value}"])
            except ConfigError as exc:
                message = exc.message
            else:
                json.dumps(spec.model_dump(mode="json"), allow_nan=False)
                continue
            assert message.startswith("--set"), message


@pytest.mark.parametrize(
    ("path", "value"),
    [("load.concurrency", "100001"), ("load.requests", "100000001"), ("load.duration_s", "604801"),
     ("workload.input_tokens", "10000001"), ("seed", "9223372036854775808"),
     ("target.request_timeout_s", "0"), ("sim.ttft_ms", "-1"), ("load.warmup", "-1")],
)  # fmt: skip
def test_values_past_a_range_name_the_field(path: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"--set {re.escape(path)}: {re.escape(path)}: out of"):
        SpecSources(None, {}, frozenset()).resolve({}, [f"{path}={value}"])
