"""Generated images are seeded (same bytes for the same seed), noise is far larger than a UI
screen, requests get their text then their images, and bad files are refused by name."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from PIL import Image

from llmbench.config.images import ImageSpec, parse_size
from llmbench.errors import WorkloadError
from llmbench.records import RequestSpec
from llmbench.run.agent_loop import action_of
from llmbench.workload.images import file_url, generated_url, image_pool, with_images


def test_images_are_seeded() -> None:
    one = generated_url(200, 400, "ui", "png", "7/0")
    assert one == generated_url(200, 400, "ui", "png", "7/0")
    assert one != generated_url(200, 400, "ui", "png", "7/1")
    assert one.startswith("data:image/png;base64,")


def test_noise_does_not_compress_like_a_screen() -> None:
    ui = generated_url(300, 600, "ui", "png", "0")
    noise = generated_url(300, 600, "noise", "png", "0")
    assert len(noise) > 10 * len(ui)
    assert len(noise) > 300 * 600 * 3  # base64 of incompressible RGB pixels


def test_requests_carry_text_then_images_in_turn() -> None:
    pool = image_pool(count=2, size=(50, 50), pattern="ui", fmt="jpeg", seed=1)
    items = (RequestSpec(item_id=str(i), prompt=f"p{i}", max_tokens=1) for i in itertools.count())
    first, second = itertools.islice(with_images(items, pool, 2), 2)
    assert first.messages is not None
    (message,) = first.messages
    assert message["content"][0] == {"type": "text", "text": "p0"}
    assert [p["image_url"]["url"] for p in message["content"][1:]] == list(pool)
    assert second.messages is not None
    assert second.messages[0]["content"][0]["text"] == "p1"


def test_image_files_are_read_or_refused_by_name(tmp_path: Path) -> None:
    good = tmp_path / "screen.jpg"
    good.write_bytes(b"")
    with pytest.raises(WorkloadError, match=r"screen\.jpg"):
        file_url(good)
    png = tmp_path / "a.png"

    Image.new("RGB", (4, 4)).save(png)
    assert file_url(png).startswith("data:image/png;base64,")


def test_sizes_and_actions_parse() -> None:
    assert parse_size("1080x2400") == (1080, 2400)
    assert ImageSpec(size="64X32").pixels == (64, 32)
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size("1080*2400")
    assert action_of('think... do(action="Double Tap", element=[1,2])') == "Double Tap"
    assert action_of('finish(message="ok")') is None
