"""llmbench against a real engine: llama-cpp-python's server on loopback, on the CPU.

The model is built at test time (`scripts/tiny_gguf.py`): every answer is the same token cycle
and never stops early; "é" and "€" are multi-byte tokens (the server holds partial UTF-8 back
and then sends one chunk for several tokens) and a control token streams as an empty-content
chunk. The server is the unchanged `python -m llama_cpp.server`, wrapped to log when it wrote
each chunk (same monotonic clock as llmbench): that log is the truth. It serves one request at a
time (`--interrupt_requests False`), so at c=4 a request waits for those ahead of it.

Tolerances hold on a noisy 2-core machine: a chunk never arrives before the server wrote it
(exact), mean lateness under 5 ms, mean ITL within 2 ms of the server's write gaps.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmbench.records import CountSource, RequestRecord
from llmbench.store.results import load_run
from support.cli import llmbench
from support.llamacpp import LlamaCppServer, Traced, require_llamacpp, start_server, tiny_model

# Asked for 40 tokens, the server generates 41: the 40th is é's first byte, and while it holds a
# partial UTF-8 character back it skips its max_tokens check. The 41 tokens are the 15-token cycle
# twice and "Quick foxé" (per cycle 9 one-token chunks, "é" in one chunk of 2 tokens, "€" in one
# of 3, and the mark's empty chunk). With logprobs the server sends one chunk per token instead,
# and each byte of "é" and "€" alone is partial UTF-8: an empty chunk (the characters are lost).
MAX_TOKENS, GENERATED = 40, 41
PLAIN = ([], 3 * 9 + 3 + 2, 2)  # (extra flags, content chunks, empty chunks)
LOGPROBS = (["--extra-body", '{"logprobs": true, "top_logprobs": 1}'], 3 * 9, 2 * 6 + 2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    require_llamacpp()
    workdir = tmp_path_factory.mktemp("llamacpp")
    started = start_server(tiny_model(workdir / "tiny.gguf"), workdir)
    yield started
    started.stop()


def run_llmbench(server: LlamaCppServer, out: Path, *args: str) -> tuple[dict[str, Any], list]:
    """`llmbench run` against the server as a subprocess; its run.json and measured records.

    The server's trace starts empty: request ids restart at each run."""
    server.trace_path.write_text("")
    result = llmbench(
        "run", "--base-url", server.base_url, "--output-dir", str(out),
        "--input-tokens", "32", "--output-tokens", str(MAX_TOKENS), *args,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + "\nserver log:\n" + server.log_tail()
    run = json.loads((out / "run.json").read_text())
    records = [r for r in load_run(out).records if not r.warmup]
    return run, records


def arrivals_and_truth(record: RequestRecord, traced: Traced) -> tuple[np.ndarray, np.ndarray]:
    arrived = record.sent_ns + np.frombuffer(record.chunk_offsets_ns, dtype=np.int64)
    emitted = np.array([c.emit_ns for c in traced.token_chunks], dtype=np.int64)
    return arrived, emitted


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "content_chunks", "empty_chunks"), [PLAIN, LOGPROBS], ids=["plain", "logprobs"]
)
def test_streaming_timings_match_what_the_server_wrote(
    server: LlamaCppServer,
    tmp_path: Path,
    flags: list[str],
    content_chunks: int,
    empty_chunks: int,
) -> None:
    run, records = run_llmbench(
        server, tmp_path / "run", "--concurrency", "1", "--requests", "6", "--warmup", "1", *flags
    )
    assert run["status"] == "complete"
    assert run["counts"]["ok"] == 6
    assert run["counts"]["error"] == 0
    traced = server.responses()

    lateness_ns: list[int] = []
    itl_measured_ns: list[int] = []
    itl_truth_ns: list[int] = []
    for record in records:
        truth = traced[record.request_id]
        # The model is what the test says it is: every stream has empty and multi-token chunks.
        assert len(truth.token_chunks) == content_chunks
        assert len(truth.empty_chunks) == empty_chunks
        arrived, emitted = arrivals_and_truth(record, truth)
        # Empty-content and role-only chunks are not tokens: one record entry per content chunk.
        assert len(arrived) == len(emitted)
        assert (arrived >= emitted).all()  # one clock: a chunk cannot arrive before its write
        assert record.first_token_ns == arrived[0]
        lateness_ns.extend((arrived - emitted).tolist())
        itl_measured_ns.extend(np.diff(arrived).tolist())
        itl_truth_ns.extend(np.diff(emitted).tolist())
        # llama-cpp-python sends no usage in streams (stream_options is ignored): llmbench
        # falls back to counting chunks and says so; multi-token chunks make it an undercount.
        assert record.usage_output_tokens is None
        assert record.output_tokens_source is CountSource.CHUNKS
        assert record.output_tokens == content_chunks < GENERATED
        assert record.finish_reason == "length"
    assert run["tokens"]["chunk_count_fallback"] == 6
    assert np.mean(lateness_ns) < 5e6
    assert abs(np.mean(itl_measured_ns) - np.mean(itl_truth_ns)) < 2e6
    # The summary is built from those records: its mean TTFT is theirs.
    ttft_ms = [(r.first_token_ns - r.sent_ns) / 1e6 for r in records]
    assert run["summary"]["ttft_ms"]["mean"] == pytest.approx(np.mean(ttft_ms), rel=1e-6)


@pytest.mark.slow
def test_usage_is_read_from_non_streaming_answers(server: LlamaCppServer, tmp_path: Path) -> None:
    run, records = run_llmbench(server, tmp_path / "run", "--no-stream", "--requests", "3")
    assert run["counts"]["ok"] == 3
    for record in records:
        assert record.output_tokens_source is CountSource.USAGE
        assert record.output_tokens == record.usage_output_tokens == GENERATED
        assert record.requested_output_tokens == MAX_TOKENS
        assert record.input_tokens is not None
        assert record.input_tokens > 32  # the prompt's words, character by character
        assert record.finish_reason == "length"
    # One more than asked for: reported, not hidden.
    assert run["tokens"]["requested_vs_generated"]["n_long"] == 3


@pytest.mark.slow
def test_queueing_in_a_one_at_a_time_server_is_in_ttft(
    server: LlamaCppServer, tmp_path: Path
) -> None:
    run, records = run_llmbench(
        server, tmp_path / "run", "--concurrency", "4", "--requests", "12", "--warmup", "4"
    )
    assert run["counts"]["ok"] == 12
    traced = server.responses()
    served = sorted((traced[r.request_id] for r in records), key=lambda t: t.start_ns)
    # The server's premise: it wrote one response at a time.
    for before, after in itertools.pairwise(served):
        assert before.end_ns <= after.start_ns
    everything = sorted(traced.values(), key=lambda t: t.start_ns)
    ahead_counts = []
    for record in sorted(records, key=lambda r: traced[r.request_id].start_ns):
        truth = traced[record.request_id]
        arrived, emitted = arrivals_and_truth(record, truth)
        assert (arrived >= emitted).all()
        # Responses the server wrote whole after this request was sent and before it started
        # on it: its TTFT contains all of them.
        ahead = [
            t for t in everything if t.start_ns >= record.sent_ns and t.end_ns <= truth.start_ns
        ]
        ttft_ns = (record.first_token_ns or 0) - record.sent_ns
        assert ttft_ns >= sum(t.end_ns - t.start_ns for t in ahead)
        ahead_counts.append(len(ahead))
    # The measured phase starts with 4 requests at once (0, 1, 2, 3 ahead); each later one is
    # sent when one ends, behind the 3 in flight (2 if the server started the next one before the
    # client sent it; the server's lock is not fair, so a request can also wait for more).
    assert max(ahead_counts) >= 3
    assert np.mean(ahead_counts) >= 2
    # Seen in the summary too: waiting for ~3 others dwarfs the request's own decoding.
    summary = run["summary"]
    decode_ms = np.median([((r.end_ns or 0) - (r.first_token_ns or 0)) / 1e6 for r in records])
    assert summary["ttft_ms"]["p50"] > 2 * decode_ms
