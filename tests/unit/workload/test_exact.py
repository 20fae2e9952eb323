"""Exact-length prompts under a real (locally trained) BPE tokenizer; whitespace unchanged."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest

from llmbench.clients.tokens import HFTokenizer, chat_template_overhead, load_tokenizer
from llmbench.config import RunSpec
from llmbench.errors import ConfigError
from llmbench.run.plan import build_load
from llmbench.workload.lengths import Lengths
from llmbench.workload.synthetic import synthetic_requests
from support.bpe import CHAT_TEMPLATE, train_bpe


@pytest.fixture(scope="module")
def bpe(tmp_path_factory: pytest.TempPathFactory) -> HFTokenizer:
    return HFTokenizer(train_bpe(tmp_path_factory.mktemp("bpe")))


def _prompts(n: int, *, seed: int = 3, exact: HFTokenizer | None = None, k: int = 5) -> list[str]:
    items = synthetic_requests(input_tokens=n, output_tokens=4, seed=seed, exact=exact)
    return [item.prompt for item in itertools.islice(items, k)]


@pytest.mark.parametrize("n", [1, 7, 128, 1000])
def test_every_prompt_counts_exactly_n_tokens(bpe: HFTokenizer, n: int) -> None:
    prompts = _prompts(n, exact=bpe)
    assert [bpe.count(p) for p in prompts] == [n] * len(prompts)
    # The words alone are not N tokens under this tokenizer: the cut did the work.
    assert any(bpe.count(p) != n for p in _prompts(n)) or n == 1


def test_drawn_lengths_are_exact_too(bpe: HFTokenizer) -> None:
    items = synthetic_requests(
        input_tokens=64, output_tokens=4, seed=1, inputs=Lengths(64, 20.0), exact=bpe
    )
    for item in itertools.islice(items, 20):
        assert bpe.count(item.prompt) == item.input_tokens


def test_same_seed_same_bytes_other_seed_other_bytes(bpe: HFTokenizer) -> None:
    assert _prompts(128, exact=bpe) == _prompts(128, exact=bpe)
    assert _prompts(128, exact=bpe) != _prompts(128, seed=4, exact=bpe)


def test_whitespace_prompts_are_byte_identical_to_before() -> None:
    # The digest of these prompts as the generator made them before exact lengths existed.
    items = synthetic_requests(input_tokens=128, output_tokens=8, seed=7, prefix_tokens=16)
    text = "\n".join(item.prompt for item in itertools.islice(items, 4))
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "5956d9a4e09a90328030072eb10a445314c1464255efaa9640cf983c6c954530"
    )


def test_chat_template_overhead_is_measured(tmp_path: Path) -> None:
    tokenizer = HFTokenizer(train_bpe(tmp_path, chat_template=CHAT_TEMPLATE))
    overhead, how = chat_template_overhead(tokenizer)
    assert how == "measured"
    # <|im_start|> and <|im_end|> are one token each; "user", "assistant" and the newlines more.
    rendered = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    assert overhead == tokenizer.count(rendered) - tokenizer.count("hello")
    assert overhead is not None
    assert overhead >= 4


def test_no_template_says_so(bpe: HFTokenizer) -> None:
    assert chat_template_overhead(bpe) == (None, "no chat template")


@pytest.mark.parametrize("make", ["missing", "garbage"])
def test_bad_tokenizer_path_is_one_clear_config_error(tmp_path: Path, make: str) -> None:
    if make == "garbage":
        (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        load_tokenizer(f"hf:{tmp_path}")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path) in message


def test_the_option_changes_the_spec_hash_only_when_set() -> None:
    from llmbench.config import RunSpec

    plain = RunSpec.model_validate({})
    exact = RunSpec.model_validate({"workload": {"exact_tokens": True}})
    assert plain.spec_hash() != exact.spec_hash()
    # Off, the field is left out of the hash: specs hash as before it existed.
    off = RunSpec.model_validate({"workload": {"exact_tokens": False}})
    assert off.spec_hash() == plain.spec_hash()


def test_a_shared_prefix_is_k_tokens_at_the_start_of_every_exact_prompt(bpe: HFTokenizer) -> None:
    exact = synthetic_requests(
        input_tokens=200, output_tokens=4, seed=2, prefix_tokens=20, exact=bpe
    )
    prompts = [item.prompt for item in itertools.islice(exact, 3)]
    assert [bpe.count(p) for p in prompts] == [200, 200, 200]
    # The common start of the prompts is the shared prefix: 20 tokens of this tokenizer.
    common = ""
    for chars in zip(*prompts, strict=False):
        if len(set(chars)) > 1:
            break
        common += chars[0]
    shared = bpe.decode(bpe.ids(prompts[0])[:20])
    assert common.startswith(shared)
    assert bpe.count(shared) == 20
    assert len(common) < len(shared) + 20  # then the prompts part: distinct words follow


def test_a_tokenizer_that_never_lands_on_n_is_a_workload_error() -> None:
    from llmbench.errors import WorkloadError
    from llmbench.workload.exact import fit_to_tokens

    class Doubling:
        """Every decoded id re-encodes to two: no text has an odd count."""

        name = "doubling"

        def ids(self, text: str) -> list[int]:
            return [0] * (2 * len(text.split()))

        def decode(self, ids: list[int]) -> str:
            return " ".join(["w"] * len(ids))

    with pytest.raises(WorkloadError, match="exactly 3 tokens under doubling"):
        fit_to_tokens(Doubling(), "a b c", 3, lambda k: " ".join(["x"] * k))


def test_a_run_bounded_by_requests_cuts_its_prompts_before_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tokenizer work is done while the plan is built, none while the load takes items:
    inside the load it would run in the event loop that stamps the requests' times."""
    path = train_bpe(tmp_path)
    calls: list[str] = []
    original = HFTokenizer.ids

    def counted(self: HFTokenizer, text: str) -> list[int]:
        calls.append(text)
        return original(self, text)

    monkeypatch.setattr(HFTokenizer, "ids", counted)
    spec = RunSpec.model_validate(
        {
            "tokenizer": f"hf:{path}",
            "workload": {"input_tokens": 32, "output_tokens": 4, "exact_tokens": True},
            "load": {"kind": "closed", "concurrency": 2, "requests": 6, "warmup": 2},
        }
    )
    plan = build_load(spec)
    built = len(calls)
    assert built > 0
    items = list(plan.items)
    assert len(items) == 8  # requests + warm-up, all cut already
    assert len(calls) == built
    bpe = HFTokenizer(path)
    assert all(bpe.count(item.prompt) == 32 for item in items)
