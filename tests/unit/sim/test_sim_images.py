"""The simulator's image rule: sizes read from PNG/JPEG headers, tokens by patches, capped."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from llmbench.sim.server.images import ImageError, ImageRule, image_size, image_words


def _url(fmt: str, width: int, height: int) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, fmt)
    mime = "png" if fmt == "PNG" else "jpeg"
    return f"data:image/{mime};base64," + base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_sizes_come_from_the_header(fmt: str) -> None:
    url = _url(fmt, 1080, 2400)
    data = base64.b64decode(url.partition(",")[2])
    assert image_size(data) == (1080, 2400)
    # ceil(1080/28) * ceil(2400/28) = 39 * 86
    assert len(image_words(url, ImageRule())) == 39 * 86 == 3354


def test_tokens_are_capped_and_name_the_image() -> None:
    rule = ImageRule(patch_px=28, max_tokens=100)
    assert rule.tokens(1080, 2400) == 100
    assert rule.tokens(29, 1) == 2
    red, other = _url("PNG", 56, 56), _url("PNG", 56, 57)
    assert image_words(red, rule) == image_words(red, rule)  # the same image: the same tokens
    assert image_words(red, rule)[0] != image_words(other, rule)[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://example.com/a.png", "data URL"),
        ("data:image/png;base64,@@@", "base64"),
        ("data:image/png;base64," + base64.b64encode(b"GIF89a....").decode(), "PNG or JPEG"),
    ],
)
def test_unreadable_images_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        image_words(url, ImageRule())
