"""Image inputs against the simulator as a real process: a request with a PNG or JPEG screenshot
is accepted, its image is charged ceil(w/28)·ceil(h/28) prompt tokens (usage.prompt_tokens), and
with fixed timing and `prefill_us_per_token` its TTFT grows by those tokens' prefill time."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmbench.clients.openai import OpenAIClient
from llmbench.records import RequestRecord, RequestSpec, SendContext
from llmbench.workload.images import generated_url, image_part
from support.cli import llmbench

StartSim = Callable[..., str]
PREFILL_US = 20.0  # per prompt token
IMAGE_TOKENS = 39 * 86  # 1080x2400: ceil(1080/28) · ceil(2400/28)
TOLERANCE_MS = 10.0  # client TTFT difference vs the rule; the simulator's own log is exact


def _send(base_url: str, messages: list[tuple[dict[str, Any], ...]]) -> list[RequestRecord]:
    async def go() -> list[RequestRecord]:
        out = []
        async with OpenAIClient(base_url=base_url, model="llmbench-sim") as client:
            for k, message in enumerate(messages):
                spec = RequestSpec(item_id=f"i{k}", prompt="", max_tokens=4, messages=message)
                out.append(await client.send(spec, SendContext(f"img-{k}", "sim", 0, 0)))
        return out

    return asyncio.run(go())


def _log(base_url: str, request_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/sim/log/{request_id}", timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_an_image_raises_prompt_tokens_and_ttft_by_the_rule(start_sim: StartSim, fmt: str) -> None:
    base_url = start_sim(ttft_ms=30, itl_ms=1, prefill_us_per_token=PREFILL_US)
    text = {"type": "text", "text": "what is on this screen"}  # 5 words
    url = generated_url(1080, 2400, "ui", fmt, "test/0")  # type: ignore[arg-type]
    plain = ({"role": "user", "content": [text]},)
    with_image = ({"role": "user", "content": [image_part(url), text]},)
    records = _send(base_url, [plain, with_image, plain, with_image])
    assert all(r.ok for r in records)
    assert [r.input_tokens for r in records] == [5, 5 + IMAGE_TOKENS] * 2
    assert [r.images for r in records] == [None, 1] * 2
    assert records[1].payload_bytes - records[0].payload_bytes >= len(url)  # type: ignore[operator]
    for record in records:  # the simulator's schedule: TTFT = 30 ms + prompt tokens · 20 µs
        truth = _log(base_url, record.request_id)
        assert record.payload_bytes == truth["body_bytes"]  # the body the server received
        assert record.images == (truth["images"] or None)
        due_ms = (truth["chunk_deadline_ns"][0] - truth["received_ns"]) / 1e6
        assert due_ms == pytest.approx(30 + (record.input_tokens or 0) * PREFILL_US / 1000)
    ttft_ms = [((r.first_token_ns or 0) - r.sent_ns) / 1e6 for r in records]
    rule_ms = IMAGE_TOKENS * PREFILL_US / 1000  # 67.08 ms
    for plain_ms, image_ms in ((ttft_ms[0], ttft_ms[1]), (ttft_ms[2], ttft_ms[3])):
        assert abs((image_ms - plain_ms) - rule_ms) < TOLERANCE_MS


def test_images_flags_run_and_report_payload(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = llmbench(
        "run", "--images", "2", "--image-size", "56x84", "--image-format", "jpeg",
        "--requests", "6", "--input-tokens", "10", "--output-tokens", "2",
        "--sim-ttft-ms", "5", "--sim-itl-ms", "1", "--output-dir", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = json.loads((out / "run.json").read_text())
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert {r["images"] for r in records} == {2}
    # 10 words and two 56x84 images of 2·3 tokens each
    assert {r["input_tokens"] for r in records} == {10 + 2 * 6}
    assert run["summary"]["payload_bytes"]["n"] == 6
    assert run["summary"]["images_per_s"] == pytest.approx(12 / run["summary"]["duration_s"])
    assert "request payload" in done.stdout
    refused = llmbench("run", "--images", "1", "--endpoint", "completions")
    assert refused.returncode == 2
    assert "chat endpoint" in refused.stderr
