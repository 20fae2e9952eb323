"""Multi-turn sessions against the simulator's twin as a real process over loopback: each turn
sends the whole history (the replies as received), so a prefix cache serves it; with the cache
off, or a cache-busting word per turn, nothing is served from it. Think time is kept out of
the per-request latency and counted in the session's duration; seeds give the same bytes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmbench.clients.openai import OpenAIClient
from llmbench.config import ClosedLoad, RunSpec, TargetSpec, WorkloadSpec
from llmbench.records import Reply, RequestSpec, SendContext
from llmbench.run.execute import Target, execute_run
from llmbench.run.plan import build_load
from llmbench.store.results import load_run
from llmbench.store.run_schema import RunResult
from llmbench.tasks import TaskRecord, TaskStatus
from support.cli import LLMBENCH, llmbench, wait_for_records

StartSim = Callable[..., str]
QUIET = ["--set", "noise.jitter_sigma=0", "--set", "noise.stall_probability=0"]
TWIN = ["--preset", "cloud-warm", *QUIET, "--set", "engine.min_cacheable_tokens=0"]
SESSIONS, TURNS, INPUT, OUTPUT = 3, 4, 1000, 16


def session_spec(base_url: str, **workload: Any) -> RunSpec:
    fields = {"sessions": SESSIONS, "turns": TURNS, "input_tokens": INPUT, "output_tokens": OUTPUT}
    fields |= workload
    requests = fields["sessions"] * fields["turns"]
    return RunSpec(
        target=TargetSpec(base_url=base_url, model="llmbench-sim", server_metrics_url="off"),
        workload=WorkloadSpec(**fields),
        load=ClosedLoad(concurrency=1, requests=requests),
    )


def run_sessions(spec: RunSpec, out: Path) -> RunResult:
    return asyncio.run(execute_run(spec, Target(spec.target.base_url or ""), out))


def ttft_p50(run: RunResult, turn: int) -> float:
    assert run.sessions is not None
    value = run.sessions.per_turn[turn].ttft_ms.p50
    assert value is not None
    return value


def test_later_turns_reuse_the_history_from_the_prefix_cache(
    start_sim: StartSim, tmp_path: Path
) -> None:
    cached = run_sessions(session_spec(start_sim(extra_args=TWIN)), tmp_path / "on")
    off_url = start_sim(extra_args=[*TWIN, "--set", "engine.prefix_cache=false"])
    uncached = run_sessions(session_spec(off_url), tmp_path / "off")
    busted_url = start_sim(extra_args=TWIN)
    busted = run_sessions(session_spec(busted_url, cache_bust="turn"), tmp_path / "bust")
    on = cached.sessions
    assert on is not None
    assert uncached.sessions is not None
    assert busted.sessions is not None
    assert [t.n for t in on.per_turn] == [SESSIONS] * TURNS
    # Turn 0 is cold; turn k's prompt holds the k earlier turns, all cached but the last
    # partial block: share = cached / prompt over the requests reporting it.
    assert on.per_turn[0].cached.share == 0
    for turn in range(1, TURNS):
        row = on.per_turn[turn].cached
        assert row.requests_reporting == SESSIONS
        history = turn * (INPUT + OUTPUT)
        assert history - 16 <= row.cached_tokens / SESSIONS <= history
        assert row.share == pytest.approx(row.cached_tokens / row.prompt_tokens)
    for run in (uncached, busted):
        assert run.sessions is not None
        assert all(t.cached.cached_tokens == 0 for t in run.sessions.per_turn)
        assert all(t.cached.share == 0 for t in run.sessions.per_turn)
    last = TURNS - 1
    # The cached last turn prefills about one turn's tokens; uncached, all four turns'.
    assert ttft_p50(cached, last) < 1.5 * ttft_p50(cached, 0)
    assert ttft_p50(cached, last) < 0.6 * ttft_p50(uncached, last)
    assert ttft_p50(cached, last) < 0.6 * ttft_p50(busted, last)
    assert ttft_p50(uncached, last) > 2 * ttft_p50(uncached, 0)
    # Every later turn reused a prefix here, so "new" is turn 0: a cached turn prefills about
    # as many tokens as a first turn, so its TTFT is about the same despite a 4x longer prompt.
    split = on.new_vs_continued
    assert split is not None
    assert (split.ttft_ms_a.n, split.ttft_ms_b.n) == (SESSIONS, SESSIONS * (TURNS - 1))
    assert split.ttft_p50_ratio_b_over_a is not None
    assert 0.7 < split.ttft_p50_ratio_b_over_a < 1.5
    assert uncached.sessions.new_vs_continued is not None
    assert uncached.sessions.new_vs_continued.ttft_ms_b.n == 0  # nothing reused


def test_every_record_names_its_session_and_turn(start_sim: StartSim, tmp_path: Path) -> None:
    spec = session_spec(start_sim(ttft_ms=5, itl_ms=1), input_tokens=20)
    run = run_sessions(spec, tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    pairs = sorted((r.session_id, r.turn) for r in loaded.records)
    expected = [(f"session-{s}", t) for s in range(SESSIONS) for t in range(TURNS)]
    assert pairs == expected
    assert {t.task_id for t in loaded.tasks} == {f"session-{s}" for s in range(SESSIONS)}
    assert all(t.status is TaskStatus.OK for t in loaded.tasks)
    assert run.sessions is not None
    assert run.sessions.per_session.ok == SESSIONS
    # the fixed-timing simulator reports no cached tokens: the share is null, not 0
    assert all(t.cached.share is None for t in run.sessions.per_turn)
    assert run.sessions.new_vs_continued is None
    # turn k's prompt: k earlier user messages and replies plus the new message
    for record in loaded.records:
        assert record.turn is not None
        assert record.input_tokens == (record.turn + 1) * 20 + record.turn * OUTPUT


def test_think_time_is_in_the_session_not_in_the_requests(
    start_sim: StartSim, tmp_path: Path
) -> None:
    think_s, ttft_ms, itl_ms, turns = 0.3, 20, 2, 3
    base_url = start_sim(ttft_ms=ttft_ms, itl_ms=itl_ms)
    spec = session_spec(base_url, sessions=2, turns=turns, input_tokens=10, think_time_s=think_s)
    run = run_sessions(spec, tmp_path / "run")
    loaded = load_run(tmp_path / "run")
    truth_ms = ttft_ms + (OUTPUT - 1) * itl_ms
    for record in loaded.records:
        assert record.end_ns is not None
        e2e_ms = (record.end_ns - record.sent_ns) / 1e6
        assert truth_ms <= e2e_ms < truth_ms + 40  # no think time in it
    by_session: dict[str | None, list[Any]] = {}
    for record in sorted(loaded.records, key=lambda r: r.sent_ns):
        by_session.setdefault(record.session_id, []).append(record)
    for records in by_session.values():
        for before, after in itertools.pairwise(records):
            assert after.sent_ns - before.end_ns >= think_s * 1e9  # waited between turns
            # planned: the reply's end plus the think time; the send lag stays small
            assert after.scheduled_ns == before.end_ns + int(think_s * 1e9)
    task: TaskRecord
    for task in loaded.tasks:
        assert (turns - 1) * think_s * 1e9 <= task.waiting_ns < ((turns - 1) * think_s + 0.1) * 1e9
        assert task.completion_ns is not None
        assert task.completion_ns >= task.waiting_ns + turns * truth_ms * 1e6
        assert [s.kind for s in task.steps] == ["model", "think", "model", "think", "model"]
    assert run.sessions is not None
    rollup = run.sessions.per_session
    assert rollup.think_s.mean is not None
    assert rollup.think_s.mean == pytest.approx((turns - 1) * think_s, abs=0.1)
    assert rollup.duration_s.mean is not None
    assert rollup.model_s.mean is not None
    assert rollup.duration_s.mean == pytest.approx(rollup.think_s.mean + rollup.model_s.mean)
    # latency statistics over requests know nothing of think time
    assert run.summary is not None
    assert run.summary.e2e_ms.max is not None
    assert run.summary.e2e_ms.max < think_s * 1000


class Recording:
    """The real client, keeping each request's body and session header as sent."""

    def __init__(self, client: OpenAIClient) -> None:
        self.client = client
        self.sent: list[tuple[str, bytes, str | None]] = []

    async def send(self, spec: RequestSpec, ctx: SendContext) -> Any:
        return await self.client.send(spec, ctx)

    async def converse(self, spec: RequestSpec, ctx: SendContext) -> Reply:
        self.sent.append((spec.item_id, self.client._body(spec), spec.session_id))
        return await self.client.converse(spec, ctx)


async def _bodies(spec: RunSpec, base_url: str) -> list[tuple[str, bytes, str | None]]:
    plan = build_load(spec)
    assert plan.agent is not None
    async with OpenAIClient(base_url=base_url, model="llmbench-sim") as client:
        recording = Recording(client)
        await plan.agent.run(recording, target_id="sim", sink=lambda r: None,
                             task_sink=lambda t: None, stop=None)  # fmt: skip
    return sorted(recording.sent)


def test_seeds_reproduce_identical_request_bytes(start_sim: StartSim) -> None:
    base_url = start_sim(ttft_ms=2, itl_ms=0)
    spec = session_spec(base_url, input_tokens=12, output_tokens=4)
    first = asyncio.run(_bodies(spec, base_url))
    again = asyncio.run(_bodies(spec, base_url))
    assert first == again
    assert len(first) == SESSIONS * TURNS
    other = asyncio.run(_bodies(session_spec(base_url, input_tokens=12, output_tokens=4,
                                             seed=1), base_url))  # fmt: skip
    assert other != first
    item, sent, session = first[-1]
    assert item == f"session-{SESSIONS - 1}/{TURNS - 1}"
    body = json.loads(sent)
    assert body["user"] == session
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant"] * (TURNS - 1) + ["user"]
    # with a cache-busting word the first message changes, and only it
    busted = asyncio.run(_bodies(session_spec(base_url, input_tokens=12, output_tokens=4,
                                              cache_bust="session"), base_url))  # fmt: skip
    for (_, plain, _), (_, bust, _) in zip(first, busted, strict=True):
        a, b = json.loads(plain)["messages"], json.loads(bust)["messages"]
        assert a[1:] == b[1:]
        assert b[0]["content"].startswith("nocache-")
        assert b[0]["content"].split(" ", 1)[1] == a[0]["content"]


def test_the_run_command_runs_sessions_and_reports_them(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    sim = ["--sim-ttft-ms", "5", "--sim-itl-ms", "1", "--output-dir", str(out)]
    result = llmbench("run", "--sessions", "2", "--turns", "3", "--concurrency", "2",
                      "--think-time-s", "0.05", "--input-tokens", "8", "--output-tokens", "4",
                      *sim)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Per turn (2 sessions x 3 turns, think 0.05 s)" in result.stdout
    assert "first vs later turns" in result.stdout
    assert "INVALID" not in result.stdout  # think time is not a shortfall of the load
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["load"]["requests"] == 6  # sessions x turns
    assert [t["n"] for t in run["sessions"]["per_turn"]] == [2, 2, 2]
    assert run["sessions"]["per_session"]["ok"] == 2
    again = llmbench("report", str(out))
    assert again.returncode == 0, again.stderr
    assert "Per turn (2 sessions x 3 turns, think 0.05 s)" in again.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--requests", "5"], "leave load.requests (--requests) out"),
        (["--profile", "poisson", "--rate", "5"], "sessions run as a closed loop"),
        (["--warmup", "3"], "warm-up runs whole sessions"),
        (["--cache-bust", "always"], "--cache-bust"),
        (["--prefix-tokens", "4"], "workload.system_tokens (--system-tokens), not"),
    ],
)
def test_a_bad_session_spec_is_one_clear_error(args: list[str], expected: str) -> None:
    result = llmbench("run", "--sessions", "2", "--turns", "2", *args)
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr


def test_a_system_prompt_needs_sessions() -> None:
    result = llmbench("run", "--system-tokens", "8", "--requests", "2")
    assert result.returncode in (1, 2)
    assert "opens each session: set workload.sessions (--sessions)" in result.stderr


# The session specs among the shipped workloads (task files and agent loops have tests of their own)
ARCHETYPES = [
    path
    for path in sorted((Path(__file__).parents[2] / "examples" / "workloads").glob("*.yaml"))
    if re.search(r"^workload:", path.read_text(), re.MULTILINE)
]


@pytest.mark.parametrize("spec_file", ARCHETYPES, ids=lambda p: p.stem)
def test_each_archetype_loads_and_runs_a_few_turns(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = llmbench("run", "--spec", str(spec_file), "--sessions", "2", "--turns", "3",
                      "--think-time-s", "0.01", "--think-time-stddev-s", "0",
                      "--output-tokens", "8", "--output-dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["name"] == spec_file.stem
    assert [t["n"] for t in run["sessions"]["per_turn"]] == [2, 2, 2]
    assert run["sessions"]["per_session"]["ok"] == 2
    # the shared system prompt and the history make every later prompt longer
    prompts = [t["prompt_tokens_mean"] for t in run["sessions"]["per_turn"]]
    assert prompts[0] > run["spec"]["workload"]["system_tokens"]
    assert prompts == sorted(prompts)


def write_trace(path: Path, block: int) -> list[tuple[str, int]]:
    """Two sessions whose hash ids grow turn by turn; B opens with A's first two blocks.
    Returns (session, expected cached tokens) in run order, concurrency 1."""
    turns = [("A", [0, 1]), ("A", [0, 1, 2]), ("A", [0, 1, 2, 3]), ("B", [0, 1, 9]),
             ("B", [0, 1, 9, 10])]  # fmt: skip
    lines = [
        {
            "session_id": s,
            "input_length": len(h) * block + 8,
            "output_length": 8,
            "hash_ids": h,
            "delay_ms": 30,
            "timestamp": i,
        }
        for i, (s, h) in enumerate(turns)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # what a prefix cache holds: the longest run of leading blocks some earlier prompt had
    expected, seen = [], []
    for session, ids in turns:
        shared = max((len(_common(ids, e)) for e in seen), default=0)
        expected.append((session, shared * block))
        seen.append(ids)
    return expected


def _common(a: list[int], b: list[int]) -> list[int]:
    out = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        out.append(x)
    return out


def test_a_session_trace_replays_its_prefix_sharing(start_sim: StartSim, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    expected = write_trace(trace, block=64)
    spec = session_spec(start_sim(extra_args=TWIN), sessions=2, turns=3,
                        session_trace=str(trace), trace_block_tokens=64)  # fmt: skip
    run_sessions(spec, tmp_path / "run")
    records = sorted(load_run(tmp_path / "run").records, key=lambda r: r.sent_ns)
    # the simulator's prefix cache served exactly the blocks the trace says are shared
    assert [(r.session_id, r.cached_tokens) for r in records] == expected
    # each prompt is the trace's length (the simulator counts words), with no history added
    lengths = [json.loads(line)["input_length"] for line in trace.read_text().splitlines()]
    assert [r.input_tokens for r in records] == lengths
    assert [r.turn for r in records] == [0, 1, 2, 0, 1]
    for before, after in itertools.pairwise(records):
        if after.turn:
            assert before.end_ns is not None
            assert after.sent_ns - before.end_ns >= 30 * 1_000_000  # the trace's gap


def test_a_session_bust_word_makes_turn_zero_cold_across_runs(
    start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(extra_args=TWIN)
    spec = session_spec(base_url, sessions=2, turns=2)
    run_sessions(spec, tmp_path / "first")
    again = run_sessions(spec, tmp_path / "again")  # the same seed: the same first turns
    busted = run_sessions(session_spec(base_url, sessions=2, turns=2, cache_bust="session"),
                          tmp_path / "bust")  # fmt: skip
    assert again.sessions is not None
    assert busted.sessions is not None
    # without the bust, the rerun's first turns were served from the first run's cache
    assert again.sessions.per_turn[0].cached.cached_tokens >= 2 * (INPUT - 16)
    # with it, turn 0 is cold again, while turn 1 still reuses its own session's history
    assert busted.sessions.per_turn[0].cached.cached_tokens == 0
    assert busted.sessions.per_turn[1].cached.cached_tokens >= 2 * (INPUT + OUTPUT - 16)
    assert busted.sessions.cache_bust_nonce is not None


def stop_long_session_run(tmp_path: Path, signal_number: int) -> Path:
    """A 50-session run, sent `signal_number` once 6 records are on disk; its directory."""
    out = tmp_path / "run"
    args = ["run", "--sessions", "50", "--turns", "4", "--concurrency", "2", "--think-time-s",
            "0.2", "--input-tokens", "8", "--output-tokens", "4", "--sim-ttft-ms", "20",
            "--sim-itl-ms", "2", "--output-dir", str(out)]  # fmt: skip
    with (tmp_path / "stderr").open("w") as stderr:
        process = subprocess.Popen([*LLMBENCH, *args], stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for_records(out, 6)
        process.send_signal(signal_number)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    if signal_number != signal.SIGKILL:
        assert process.returncode == 0, (tmp_path / "stderr").read_text()
    return out


def test_a_killed_session_run_is_reported_from_its_records(tmp_path: Path) -> None:
    out = stop_long_session_run(tmp_path, signal.SIGKILL)
    report = llmbench("report", str(out))
    assert report.returncode == 0, report.stderr
    assert "recomputed from records.jsonl" in report.stdout
    assert "Per turn (50 sessions x 4 turns, think 0.2 s)" in report.stdout


def test_an_interrupted_session_run_keeps_its_records_and_sessions(tmp_path: Path) -> None:
    out = stop_long_session_run(tmp_path, signal.SIGINT)
    loaded = load_run(out)
    assert loaded.run is not None
    assert loaded.run.status == "interrupted"
    assert loaded.run.sessions is not None
    statuses = [t.status for t in loaded.tasks]
    assert TaskStatus.CANCELLED in statuses  # the sessions in flight, kept as such
    assert len(loaded.tasks) < 50
    assert loaded.run.sessions.per_session.cancelled == statuses.count(TaskStatus.CANCELLED)


def test_a_session_agrees_with_the_twins_offline_prediction(
    start_sim: StartSim, tmp_path: Path
) -> None:
    """The served twin and its virtual-clock run of the same session: cached tokens exactly,
    TTFT within the loopback's few milliseconds (the client's clock starts before the server's)."""
    from llmbench.sim.twin.presets import builtin, override
    from llmbench.sim.twin.sessions import SessionLoad, predict_sessions

    quiet = {"noise.jitter_sigma": 0, "noise.stall_probability": 0,
             "engine.min_cacheable_tokens": 0}  # fmt: skip
    load = SessionLoad([0.0], TURNS, 0.0, INPUT, OUTPUT)
    predicted = predict_sessions(override(builtin("cloud-warm"), quiet), load).requests
    run_sessions(session_spec(start_sim(extra_args=TWIN), sessions=1), tmp_path / "run")
    records = sorted(load_run(tmp_path / "run").records, key=lambda r: r.sent_ns)
    assert [r.cached_tokens for r in records] == [p.cached_tokens for p in predicted]
    assert [r.input_tokens for r in records] == [p.prompt_tokens for p in predicted]
    for record, truth in zip(records, predicted, strict=True):
        assert record.first_token_ns is not None
        assert truth.first_token_s is not None
        measured_ms = (record.first_token_ns - record.sent_ns) / 1e6
        truth_ms = (truth.first_token_s - truth.arrival_s) * 1e3
        assert truth_ms - 1 <= measured_ms <= truth_ms + 10, (record.turn, measured_ms, truth_ms)
