"""`compare_runs` and `llmbench compare` on real runs of the simulator (a real process over
loopback): an A/B with TTFT 30 % higher is found with a CI that excludes 1, an A/A reports no
meaningful difference, differing workloads are refused with what differs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmbench.errors import IncompatibleRunsError
from llmbench.metrics.compare import Verdict, compare_samples
from llmbench.report.comparison import compare_runs
from llmbench.report.comparison_samples import read_samples
from llmbench.store.results import load_run
from support.cli import llmbench

# 100 ms to first token, 2 ms normal jitter on each gap (the first included), 4 tokens out.
BASE = ["--requests", "80", "--concurrency", "4", "--output-tokens", "4", "--sim-itl-ms", "5",
        "--sim-jitter-ms", "2", "--no-monitors", "--server-metrics", "off"]  # fmt: skip


def _run(out: Path, *extra: str) -> Path:
    result = llmbench("run", *BASE, *extra, "--output-dir", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    return {
        "a": _run(root / "a", "--sim-ttft-ms", "100", "--name", "fast"),
        "a2": _run(root / "a2", "--sim-ttft-ms", "100", "--name", "fast", "--set", "sim.seed=2"),
        "b": _run(root / "b", "--sim-ttft-ms", "130", "--name", "slow"),
        "other": _run(root / "other", "--sim-ttft-ms", "100", "--input-tokens", "64"),
        # Apart from the others, so that the folder of runs holds four.
        "short": _run(
            root.parent / f"{root.name}-short", "--sim-ttft-ms", "100", "--requests", "3"
        ),
    }


def test_a_30_percent_higher_ttft_is_detected(runs: dict[str, Path]) -> None:
    result = compare_runs(runs["a"], runs["b"], metrics=["ttft_ms", "e2e_ms", "itl_ms"])
    ttft = next(row for row in result.rows if row.metric == "ttft_ms")
    assert ttft.comparison is not None
    ci = ttft.comparison.ratio.ci
    assert ci is not None
    assert ci[0] > 1.15  # the CI excludes 1 (true ratio about 1.3 plus loopback time)
    assert ci[0] <= 1.3 <= ci[1] + 0.02
    assert ttft.verdict is Verdict.SLOWER
    assert ttft.p_adjusted is not None
    assert ttft.p_adjusted < 0.001
    assert ttft.sentence.startswith("slow's median TTFT is 1.")
    assert "p < 0.001: slower" in ttft.sentence
    itl = next(row for row in result.rows if row.metric == "itl_ms")
    assert itl.verdict is not Verdict.SLOWER  # same ITL: no difference is claimed there
    assert itl.verdict is not Verdict.FASTER
    assert result.baseline.state.value == "stable"


def test_a_a_reports_no_meaningful_difference(runs: dict[str, Path]) -> None:
    """Two runs of the same simulator config (different jitter seeds). The real pair must not
    claim a difference in TTFT; then 40 seeded repeats: the two runs' TTFT samples are pooled
    and split at random into two halves of 80 (a permutation, so both halves come from the
    same system by construction), and each split is compared: at least 95 % (38 of 40) must
    say "no meaningful difference" (CI within ±3 %)."""
    real = compare_runs(runs["a"], runs["a2"], metrics=["ttft_ms", "e2e_ms"])
    assert all(row.verdict in (Verdict.SAME, Verdict.INCONCLUSIVE) for row in real.rows)
    assert "fast (a2)'s median TTFT" in real.rows[0].sentence  # same name: dirs tell apart
    pool = np.concatenate(
        [read_samples(load_run(runs[k])).per_request("ttft_ms").values for k in ("a", "a2")]  # type: ignore[union-attr]
    )
    same = 0
    for seed in range(40):
        shuffled = np.random.default_rng(seed).permutation(pool)
        half = shuffled.size // 2
        row = compare_samples(shuffled[:half], shuffled[half:], seed=seed, resamples=500)
        same += row.verdict is Verdict.SAME
    assert same >= 38


def test_differing_workloads_are_refused_with_what_differs(runs: dict[str, Path]) -> None:
    with pytest.raises(IncompatibleRunsError, match=r"workload.input_tokens: 128 vs 64"):
        compare_runs(runs["a"], runs["other"])
    forced = compare_runs(runs["a"], runs["other"], force=True, metrics=["ttft_ms"])
    assert forced.forced
    assert forced.differences == ["workload.input_tokens: 128 vs 64"]
    assert forced.notes[0].startswith("forced: the workloads differ")


def test_cli_compare_prints_sentences_and_json(runs: dict[str, Path]) -> None:
    out = llmbench("compare", str(runs["a"]), str(runs["b"]), "--metrics", "ttft_ms")
    assert out.returncode == 0, out.stderr
    assert "slow's median TTFT is" in out.stdout
    assert "slower" in out.stdout
    data = json.loads(
        llmbench("compare", str(runs["a"]), str(runs["b"]), "--format", "json").stdout
    )
    row = data["comparisons"][0]["rows"][0]
    assert row["metric"] == "ttft_ms"
    assert row["ratios"]["p50"]["ci"][0] > 1.15
    md = llmbench("compare", str(runs["a"]), str(runs["b"]), "--format", "md")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("### slow vs fast")
    assert "| TTFT (ms) |" in md.stdout
    bad = llmbench("compare", str(runs["a"]), str(runs["b"]), "--equivalence", "3")
    assert bad.returncode == 2
    assert "--equivalence" in bad.stderr
    refused = llmbench("compare", str(runs["a"]), str(runs["other"]))
    assert refused.returncode == 1
    assert "workload.input_tokens: 128 vs 64" in refused.stderr
    assert "--force" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_cli_compare_pairs_a_folder_of_runs_by_workload(runs: dict[str, Path]) -> None:
    """The parent folder holds four runs: three of one workload, one of another. With
    --baseline fast (two runs carry that name, the first is taken) the others of its workload
    are compared with it; the lone run of the other workload is left alone."""
    parent = runs["a"].parent
    out = llmbench("compare", str(parent), "--baseline", "a", "--metrics", "ttft_ms",
                   "--format", "json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    pairs = [(c["baseline"]["directory"], c["candidate"]["directory"])
             for c in json.loads(out.stdout)["comparisons"]]  # fmt: skip
    assert sorted(Path(c).name for _, c in pairs) == ["a2", "b"]
    assert {Path(b).name for b, _ in pairs} == {"a"}


def _gate(runs: dict[str, Path], base: str, cand: str, metric: str, limit: str) -> tuple[int, str]:
    out = llmbench("gate", "--baseline", str(runs[base]), "--candidate", str(runs[cand]),
                   "--metric", metric, "--max-regression", limit)  # fmt: skip
    assert "Traceback" not in out.stderr
    return out.returncode, out.stdout + out.stderr


def test_gate_fails_a_30_percent_regression(runs: dict[str, Path]) -> None:
    code, text = _gate(runs, "a", "b", "ttft_ms.p95", "10%")
    assert code == 1, text
    assert "gate REGRESSION: ttft_ms.p95" in text
    assert "slow's P95 TTFT is 1." in text  # the sentence reads the gated statistic


def test_gate_passes_a_same_config_rerun(runs: dict[str, Path]) -> None:
    code, text = _gate(runs, "a", "a2", "ttft_ms.p95", "10%")
    assert code == 0, text
    assert "gate PASS" in text


def test_gate_on_a_3_request_run_is_inconclusive(runs: dict[str, Path]) -> None:
    """Its run length differs (3 vs 80 requests): noted, not refused; then too few to decide."""
    code, text = _gate(runs, "a", "short", "ttft_ms.p50", "10%")
    assert code == 3, text
    assert "gate INCONCLUSIVE" in text
    assert "n = 80 and 3" in text
    assert "run length differs: load.requests: 80 vs 3" in text


def test_gate_on_runs_of_other_workloads_exits_4(runs: dict[str, Path]) -> None:
    code, text = _gate(runs, "a", "other", "ttft_ms.p95", "10%")
    assert code == 4
    assert "workload.input_tokens: 128 vs 64" in text
