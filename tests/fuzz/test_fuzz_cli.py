"""Fuzz of `llmbench run` flag values: whatever is typed, the CLI either builds a spec (the run
itself is stubbed out) or exits 1/2 with one `llmbench: error:` line, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmbench.cli.execution
from llmbench.cli.main import main
from llmbench.config import RunSpec

FLAGS = ["--concurrency", "--requests", "--duration", "--warmup", "--input-tokens",
         "--output-tokens", "--base-url", "--extra-body", "--header", "--request-timeout",
         "--connection-limit", "--endpoint", "--profile", "--sim-ttft-ms", "--sim-itl-ms",
         "--sim-tokens-per-chunk", "--retry-429-attempts", "--retry-429-max-wait", "--model",
         "--seed", "--tokenizer", "--name"]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(str),
    st.sampled_from(["0", "-1", "1e400", "nan", "inf", "0x10", "1_000", " 3", ""]),
)
VALUES = st.one_of(
    NUMBERS,
    st.text(max_size=30).filter(lambda s: "\x00" not in s),
    st.sampled_from(["http://127.0.0.1:1", "ftp://x", "{}", '{"a":', "[1]", "A: b", "hf:/nope"]),
)
ARGS = st.lists(st.tuples(st.sampled_from(FLAGS), VALUES), max_size=5)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(args=ARGS)
def test_any_flag_values_give_a_spec_or_one_clear_error(
    args: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[Any] = []
    monkeypatch.setattr(llmbench.cli.execution, "execute", lambda *a: ran.append(a))
    argv = ["run", *[part for pair in args for part in (pair[0], pair[1])]]
    stderr = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    if code == 0:
        assert len(ran) == 1
        assert isinstance(ran[0][0], RunSpec)
    else:
        assert code in (1, 2)
        assert stderr.getvalue().startswith("llmbench: error:"), stderr.getvalue()
        assert not ran
