"""Small value modules: redaction, tokenizers, specs, the synthetic workload."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from llmbench.clients.tokens import WhitespaceTokenizer, load_tokenizer
from llmbench.config import LoadSpec, RunSpec, TargetSpec
from llmbench.errors import ConfigError
from llmbench.redaction import redact
from llmbench.workload.synthetic import synthetic_requests


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cannot reach http://u:pw@h:1/v1", "cannot reach http://***@h:1/v1"),
        (
            "https://token@example.com/x and https://a:b@c",
            "https://***@example.com/x and https://***@c",
        ),
        ("mail me at a@b.c, see http://h/p@q", "mail me at a@b.c, see http://h/p@q"),
    ],
)
def test_redact_url_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_known_and_key_shaped_secrets() -> None:
    text = "bad key sk-live1234567890abcd; header Authorization: Bearer abc.def; other zzz"
    out = redact(text, ["zzz"])
    assert "sk-live1234567890abcd" not in out
    assert "abc.def" not in out
    assert "zzz" not in out
    assert "sk-***" in out


def test_whitespace_tokenizer_and_loader_errors() -> None:
    assert WhitespaceTokenizer().count(" a  b\nc ") == 3
    assert load_tokenizer("whitespace").name == "whitespace"
    with pytest.raises(ConfigError, match="unknown tokenizer"):
        load_tokenizer("nope")
    with pytest.raises(ConfigError, match=r"no tokenizer\.json"):
        load_tokenizer("hf:/does/not/exist")


def test_synthetic_workload_is_seeded_and_exact_length() -> None:
    first = list(itertools.islice(synthetic_requests(input_tokens=50, output_tokens=7, seed=3), 5))
    again = list(itertools.islice(synthetic_requests(input_tokens=50, output_tokens=7, seed=3), 5))
    other = list(itertools.islice(synthetic_requests(input_tokens=50, output_tokens=7, seed=4), 5))
    assert first == again
    assert first != other
    assert all(len(r.prompt.split()) == 50 and r.max_tokens == 7 for r in first)
    assert len({r.prompt for r in first}) == 5


def test_specs_reject_bad_values() -> None:
    with pytest.raises(ValidationError, match="give a bound"):
        LoadSpec()
    with pytest.raises(ValidationError, match="concurrency 1"):
        LoadSpec(profile="synchronous", concurrency=4, requests=1)
    with pytest.raises(ValidationError, match="http"):
        TargetSpec(base_url="localhost:8000")
    with pytest.raises(ValidationError, match="Extra inputs"):
        RunSpec.model_validate({"typo": 1})


def test_spec_hash_changes_with_the_workload() -> None:
    assert RunSpec().spec_hash() == RunSpec().spec_hash()
    assert RunSpec().spec_hash() != RunSpec(seed=1).spec_hash()


def test_shared_prefix_is_the_same_leading_words_and_lengths_do_not_share() -> None:
    def prompts(tokens: int, prefix: int, seed: int = 3) -> list[str]:
        items = synthetic_requests(
            input_tokens=tokens, output_tokens=7, seed=seed, prefix_tokens=prefix
        )
        return [r.prompt for r in itertools.islice(items, 4)]

    half = [p.split() for p in prompts(64, 32)]
    assert all(len(words) == 64 for words in half)
    assert len({" ".join(w[:32]) for w in half}) == 1  # one shared prefix
    assert len({" ".join(w[32:]) for w in half}) == 4  # distinct after it
    assert len(set(prompts(64, 64))) == 1  # fully shared: one prompt
    assert prompts(64, 32) == prompts(64, 32)
    assert prompts(64, 32, seed=4)[0].split()[:32] != half[0][:32]
    # A longer prompt never starts with shorter prompts of the same seed (an input sweep).
    short, long = prompts(16, 0), prompts(32, 0)
    assert not any(p.startswith(short[0]) for p in long)
    with pytest.raises(ValueError, match="prefix_tokens"):
        next(synthetic_requests(input_tokens=8, output_tokens=1, seed=0, prefix_tokens=9))


def test_prompt_sets_are_other_prompts_of_the_same_shape() -> None:
    def prompts(prompt_set: int) -> list[str]:
        items = synthetic_requests(
            input_tokens=40, output_tokens=7, seed=3, prefix_tokens=8, prompt_set=prompt_set
        )
        return [r.prompt for r in itertools.islice(items, 6)]

    zero, one = prompts(0), prompts(1)
    assert zero == prompts(0)  # seeded
    assert one == prompts(1)
    assert not set(zero) & set(one)  # no prompt of set 1 repeats one of set 0
    assert {p.split()[:8] == zero[0].split()[:8] for p in one} == {True}  # same shared prefix
    assert all(len(p.split()) == 40 for p in one)
