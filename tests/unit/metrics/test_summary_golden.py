"""The run's summary, 3σ view, delivery and goodput blocks of seeded varied records equal, to
the last digit, what llmbench computed before the column store (tests/golden/summaries-v1.json
was written by the record-list implementation, commit 52e5561; the delivery blocks were written
again when send lag, the achieved rate and in-flight time began to count a --retry-429 request
from its first attempt, with its retries reported apart). Regenerate only on purpose:
`python tests/unit/metrics/test_summary_golden.py --write`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from llmbench.config import SloSpec, ValiditySpec
from llmbench.metrics.delivery import closed_loop_delivery, open_loop_delivery
from llmbench.metrics.slo import goodput
from llmbench.metrics.summary import summarize_run, three_sigma
from support.records import varied_records

GOLDEN = Path(__file__).parents[2] / "golden" / "summaries-v1.json"
CASES = {"large": (400, 1, 2**53 - 10**12), "small": (40, 2, 1_000), "tiny": (5, 3, 10**15)}
SLO = SloSpec(ttft_ms=100, tpot_ms=5, e2e_ms=500, itl_ms=20, attainment=0.5)


def blocks(n: int, seed: int, base_ns: int) -> dict[str, Any]:
    records = varied_records(n, seed, base_ns)
    summary = summarize_run(records, seed=seed)
    duration_s = summary["summary"]["duration_s"]
    out = {
        "summary": summary,
        "three_sigma": three_sigma(records, seed=seed),
        "open_loop": open_loop_delivery(
            records,
            requested_rate_per_s=5.0,
            waited_for_cap=2,
            dispatch_lag_ns=[1_000, 2_000, 30_000],
            validity=ValiditySpec(),
        ),
        "closed_loop": closed_loop_delivery(records, concurrency=4, validity=ValiditySpec()),
        "goodput_sent": goodput(records, SLO, duration_s=duration_s, from_scheduled=False),
        "goodput_scheduled": goodput(records, SLO, duration_s=duration_s, from_scheduled=True),
    }
    return json.loads(json.dumps(out, allow_nan=False))  # as run.json holds it


def test_summaries_equal_the_golden_file_exactly() -> None:
    golden = json.loads(GOLDEN.read_text())
    for name, args in CASES.items():
        current = blocks(*args)
        for key, block in golden[name].items():
            assert current[key] == block, f"{name}/{key} differs"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    data = {name: blocks(*args) for name, args in CASES.items()}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
