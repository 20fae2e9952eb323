"""`llmbench compare --baseline NAME` over runs of two workloads: the group without a run of
that name is not compared, and the output says so (which runs, why); with no group holding it,
an error lists the groups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import llmbench

QUICK = ["--requests", "4", "--concurrency", "2", "--output-tokens", "4", "--sim-ttft-ms", "5",
         "--sim-itl-ms", "1", "--no-monitors", "--server-metrics", "off"]  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("skipped")
    for name, extra in (("fast", ["--name", "fast"]), ("slow", ["--name", "slow"]),
                        ("long1", ["--input-tokens", "64"]), ("long2", ["--input-tokens", "64"]),
                        ("lone", ["--input-tokens", "32"])):  # fmt: skip
        result = llmbench("run", *QUICK, *extra, "--output-dir", str(root / name))
        assert result.returncode == 0, result.stderr
    return root


def test_groups_without_the_baseline_are_named(folder: Path) -> None:
    out = llmbench("compare", str(folder), "--baseline", "fast", "--metrics", "ttft_ms",
                   "--format", "json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [Path(c["candidate"]["directory"]).name for c in data["comparisons"]] == ["slow"]
    assert sorted(data["skipped"]) == [
        "run lone: no other run ran its workload",
        "runs long1, long2 (one workload): no run named 'fast'",
    ]
    for format_ in ("terminal", "md"):
        shown = llmbench("compare", str(folder), "--baseline", "fast", "--metrics", "ttft_ms",
                         "--format", format_)  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert "not compared: runs long1, long2" in " ".join(shown.stdout.split())


def test_a_baseline_no_group_holds_is_an_error_naming_the_groups(folder: Path) -> None:
    out = llmbench("compare", str(folder), "--baseline", "nobody")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "no run is named 'nobody'" in out.stderr
    assert "fast, slow" in out.stderr
    assert "long1, long2" in out.stderr
