"""A server that refuses a request field stops the run with one clear error naming the field,
the engine that seems to be there and what to use instead: no traceback, no run of identical
failures. And --force-length sends each engine's own fields."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from llmbench.config import LoadSpec, RunSpec, TargetSpec, WorkloadSpec
from llmbench.run.execute import Target, execute_run
from support.cli import llmbench
from support.engine_server import engine_server

REFUSES = frozenset({"ignore_eos", "min_tokens"})  # as transformers serve does, with 422


def test_a_refused_force_length_field_is_one_clear_error(tmp_path: Path) -> None:
    with engine_server(refuse_fields=REFUSES) as server:
        result = llmbench(
            "run", "--base-url", server.url, "--model", "m", "--output-tokens", "8",
            "--force-length", "--engine", "vllm", "--requests", "20",
            "--output-dir", str(tmp_path / "run"),
        )  # fmt: skip
        chat_requests = server.paths.count("/v1/chat/completions")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()  # the progress display leaves a blank line
    assert lines[0].startswith(
        "llmbench: error: the server refused the request field 'ignore_eos' (HTTP 422: "
        "Unexpected fields in the request"
    )
    assert "this looks like transformers serve" in lines[0]
    assert lines[1] == (
        "llmbench: fix: use --force-length --engine transformers (it sends "
        "generation_config='{\"eos_token_id\": -1}'), or drop --force-length"
    )
    assert chat_requests == 1  # one probe, not 20 identical failures
    assert not (tmp_path / "run").exists()


def test_a_refused_extra_body_field_names_the_flag(tmp_path: Path) -> None:
    with engine_server(refuse_fields=REFUSES) as server:
        result = llmbench(
            "run", "--base-url", server.url, "--model", "m", "--requests", "5",
            "--extra-body", '{"ignore_eos": true}', "--output-dir", str(tmp_path / "run"),
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "refused the request field 'ignore_eos'" in result.stderr
    assert "drop 'ignore_eos' from --extra-body" in result.stderr


def test_force_length_without_a_known_engine_asks_for_one(tmp_path: Path) -> None:
    with engine_server() as server:  # nothing engine-specific to detect
        result = llmbench(
            "run", "--base-url", server.url, "--model", "m", "--force-length",
            "--requests", "2", "--output-dir", str(tmp_path / "run"),
        )  # fmt: skip
        assert server.paths.count("/v1/chat/completions") == 0
    assert result.returncode == 2
    assert "--force-length" in result.stderr
    assert "--engine vllm|sglang|tgi|llamacpp|transformers|ollama|openai" in result.stderr


def test_openai_cannot_force_the_length(tmp_path: Path) -> None:
    result = llmbench(
        "run", "--base-url", "https://api.openai.com/v1", "--model", "m", "--force-length",
        "--engine", "openai", "--requests", "2", "--output-dir", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "OpenAI cannot be made to generate a fixed length" in result.stderr


@pytest.mark.parametrize(
    ("engine", "fields"),
    [
        ("vllm", {"ignore_eos": True, "min_tokens": 8}),
        ("sglang", {"ignore_eos": True, "min_tokens": 8}),
        ("llamacpp", {"ignore_eos": True, "n_predict": 8}),
        ("transformers", {"generation_config": '{"eos_token_id": -1}'}),
    ],
)
def test_force_length_sends_the_engines_fields(
    tmp_path: Path, engine: str, fields: dict[str, object]
) -> None:
    spec = RunSpec(
        target=TargetSpec(model="m", engine=engine),  # type: ignore[arg-type]
        workload=WorkloadSpec(input_tokens=8, output_tokens=8, force_length=True),
        load=LoadSpec(concurrency=1, requests=2),
    )
    with engine_server(tokens=8) as server:
        run = asyncio.run(execute_run(spec, Target(server.url), tmp_path / "run"))
    assert run.counts.ok == 2
    assert run.target.engine.name == engine
    probe, *measured = server.bodies
    assert len(measured) == 2
    for body in measured:
        assert {k: body[k] for k in fields} == fields
        assert body["max_tokens"] == 8
    assert json.dumps(probe["max_tokens"]) == "1"  # the probe is one token long
