"""Spec files: every problem is one ConfigError that names FILE:LINE:COL, the field, what is
allowed and how to fix it; good files give the RunSpec they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmbench.config import RunSpec
from llmbench.config.problems import load_run_spec
from llmbench.config.specfile import MAX_SPEC_BYTES, parse_spec, read_spec_file
from llmbench.errors import ConfigError

EXAMPLE = Path(__file__).parents[3] / "examples" / "run-spec.yaml"


def _load(tmp_path: Path, text: str | bytes) -> RunSpec:
    path = tmp_path / "spec.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return load_run_spec(path)


def _error(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    return str(info.value).replace(str(tmp_path / "spec.yaml"), "F")


def test_the_example_is_a_valid_spec() -> None:
    spec = load_run_spec(EXAMPLE)
    assert spec.name == "sim-example"
    assert spec.target.base_url is None
    assert (spec.load.concurrency, spec.load.requests, spec.load.warmup) == (4, 24, 4)
    assert spec.slo is not None
    assert spec.slo.limits_ms() == {"ttft_ms": 500, "tpot_ms": 50}


def test_json_is_yaml_too(tmp_path: Path) -> None:
    spec = _load(tmp_path, '{"load": {"concurrency": 3, "requests": 5}, "seed": 7}')
    assert (spec.load.concurrency, spec.load.requests, spec.seed) == (3, 5, 7)


def test_anchors_and_merge_keys_resolve(tmp_path: Path) -> None:
    text = "sim: &base {ttft_ms: 5, itl_ms: 1}\nload:\n  requests: 2\n"
    assert _load(tmp_path, text).sim.ttft_ms == 5
    merged = "x: &l {requests: 3}\n"  # unknown top-level key: refused, at its line
    assert _error(tmp_path, merged).startswith("F:1:1: x: unknown key")


def test_a_load_without_bounds_runs_100_requests_as_on_the_command_line(tmp_path: Path) -> None:
    assert _load(tmp_path, "load: {concurrency: 2}").load.requests == 100
    assert _load(tmp_path, "load: {duration_s: 3}").load.requests is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown key, with the allowed keys and the nearest one
        (
            "load:\n  concurency: 4\n",
            "F:2:3: load.concurency: unknown key (allowed: concurrency, duration_s, kind",
        ),
        ("load:\n  concurency: 4\n", "fix: did you mean 'concurrency'?)"),
        # Literal choices
        (
            "target:\n  endpoint: chatt\n",
            "F:2:3: target.endpoint: not one of the allowed "
            "values (allowed: 'chat' or 'completions'; fix: use one of them)",
        ),
        # out of range
        (
            "workload:\n  input_tokens: 0\n",
            "F:2:3: workload.input_tokens: out of range (allowed: >= 1; fix: use a value >= 1)",
        ),
        # wrong type
        ("load:\n  requests: many\n", "F:2:3: load.requests: not an integer (allowed: an integer"),
        ("load: 5\n", "F:1:1: load: not a mapping"),
        (
            "load:\n  concurrencies: [1, x]\n  profile: concurrency-sweep\n  requests: 2\n",
            "F:2:22: study.concurrencies[1]: not an integer",
        ),
        # a missing key is located at its nearest parent present in the file
        (
            "seed: 1\nload:\n  profile: poisson\n  requests: 2\n",
            "F:2:1: load.rate: required for kind open",
        ),
        ("seed: 1\n", None),
        # huge and non-finite numbers
        ("sim:\n  ttft_ms: .nan\n", "F:2:3: sim.ttft_ms:"),
        ("target:\n  request_timeout_s: 1e400\n", "F:2:3: target.request_timeout_s:"),
    ],
)
def test_problems_name_file_line_column_field_allowed_and_fix(
    tmp_path: Path, text: str, expected: str | None
) -> None:
    if expected is None:
        assert _load(tmp_path, text).seed == 1
        return
    assert expected in _error(tmp_path, text)


def test_every_problem_of_a_file_is_listed_in_one_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "target:\n  endpoint: x\nworkload:\n  output_tokens: -1\nbogus: 1\n")
    lines = message.splitlines()
    assert lines[0] == "3 problems in the run spec:"
    assert [line.split(": ")[0].strip() for line in lines[1:]] == ["F:2:3", "F:4:3", "F:5:1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "load:\n  requests: 3\n  requests: 4\n",
            "F:3:3: duplicate key 'requests' (first at line 2) (fix: keep one of them",
        ),
        ("load: [1, 2\n", "F:2:1: YAML: expected ',' or ']'"),
        ("load:\n requests: 3\n  warmup: 1\n", "F:3:9: YAML: mapping values are not allowed"),
        ("- a\n- b\n", "F:1:1: the top level is list, not a mapping"),
        ("42\n", "F:1:1: the top level is int"),
        ("", "F: the spec file is empty"),
        ("# only a comment\n", "F: the spec file is empty"),
        (b"seed: 1\nname: \xff\n", "F:2:7: not UTF-8 text (fix: save the file as UTF-8)"),
        ("name: \x07\n", "F:1:7: YAML: character U+0007 is not allowed"),
        (
            "a: 1\n---\nb: 2\n",
            "F:2:1: YAML: but found another document (expected a single document",
        ),
        ("1: x\n", "F:1:1: key '1' is not text"),
        ("on: 1\n", "F:1:1: key 'on' is not text (YAML reads it as tag:yaml.org,2002:bool)"),
        ("a: &x [*x]\n", "F:1:4: an alias refers to a node that contains it"),
        ("name: !!python/object:os.system x\n", "F:1:7: YAML: could not determine a constructor"),
        # PyYAML itself raises IndexError / ValueError on these (found by the fuzz test)
        ("seed: !!int\n", "F:1:7: YAML: cannot read this tag:yaml.org,2002:int value"),
        ("seed: !!float x\n", "F:1:7: YAML: cannot read this tag:yaml.org,2002:float value"),
    ],
)
def test_bad_files_are_one_error_with_a_location(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_alias_bombs_are_refused_without_expanding(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert "aliases expand to more than 100,000 values" in _error(tmp_path, "\n".join(lines))


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    message = _error(tmp_path, "a: " + "[" * 5000 + "]" * 5000)
    assert message.startswith("F:1:67: nested more than 64 levels deep")


@pytest.mark.parametrize(
    "text",
    [
        "target:\n  api_key: abc\n",
        "target:\n  API-Key: abc\n",
        "target:\n  extra_headers:\n    Authorization: Bearer abc.def\n",
        "target:\n  extra_body:\n    note: sk-abcdefghijklmnop\n",
        "target:\n  extra_body:\n    note: 'use (sk-abcdefghijklmnop) here'\n",
        "token: x\n",
        "target:\n  extra_headers:\n    X-Api-Key: abc\n",
        "target:\n  extra_body:\n    client_secret: abc\n",
    ],
)
def test_keys_in_a_spec_file_are_refused_pointing_at_api_key_env(tmp_path: Path, text: str) -> None:
    message = _error(tmp_path, text)
    assert "an API key has no place in a spec" in message
    assert "target.api_key_env" in message
    assert "abcdefghijklmnop" not in message
    assert "abc.def" not in message


def test_api_key_env_names_a_variable_and_is_allowed(tmp_path: Path) -> None:
    assert _load(tmp_path, "target:\n  api_key_env: MY_KEY\n").target.api_key_env == "MY_KEY"
    body = _load(tmp_path, "target:\n  extra_body: {max_tokens: 5, top_k: 2}\n").target.extra_body
    assert body == {"max_tokens": 5, "top_k": 2}  # names that merely contain "token" or "k"


def test_missing_unreadable_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the spec file: No such file"):
        read_spec_file(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="cannot read the spec file: Is a directory"):
        read_spec_file(tmp_path)
    with pytest.raises(ConfigError, match="too large for a run spec"):
        parse_spec(b"#" * (MAX_SPEC_BYTES + 1), "big.yaml")


def test_the_document_keeps_a_hash_of_the_bytes() -> None:
    a, b = parse_spec(b"seed: 1\n", "a"), parse_spec(b"seed: 1 \n", "b")
    assert a.data == b.data
    assert a.sha256 != b.sha256
    assert len(a.sha256) == 64
