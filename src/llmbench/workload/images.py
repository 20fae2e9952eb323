"""Images for requests: generated locally with Pillow (seeded: a phone-screen-like `ui` layout,
or `noise`, which does not compress) or read from files, sent as base64 data URLs in chat
content parts. The encoded size is what a request's payload grows by (~4/3 of the file bytes).
"""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from llmbench.errors import WorkloadError
from llmbench.records import RequestSpec

Pattern = Literal["ui", "noise"]
Format = Literal["png", "jpeg"]
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg"}
_PALETTE = ((33, 150, 243), (76, 175, 80), (255, 152, 0), (156, 39, 176), (96, 125, 139))


def _ui(width: int, height: int, rng: random.Random) -> Image.Image:
    """A phone screen: status bar, app bar, rows of icon + text lines, a bottom bar."""
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    unit = max(4, height // 40)  # one row of the layout
    accent = rng.choice(_PALETTE)
    draw.rectangle((0, 0, width, unit), fill=(30, 30, 30))
    draw.rectangle((0, unit, width, 3 * unit), fill=accent)
    y = 3 * unit + unit // 2
    while y < height - 3 * unit:
        icon = rng.choice(_PALETTE)
        draw.ellipse((unit // 2, y, unit // 2 + unit, y + unit), fill=icon)
        for line in range(2):
            length = rng.randint(width // 5, width - 3 * unit)
            top = y + line * unit // 2 + unit // 8
            draw.rectangle((2 * unit, top, 2 * unit + length, top + unit // 4), fill=(90, 90, 90))
        draw.line((0, y + 1.4 * unit, width, y + 1.4 * unit), fill=(220, 220, 220))
        y += int(1.6 * unit)
    draw.rectangle((0, height - 2 * unit, width, height), fill=(240, 240, 240))
    for k in range(4):
        x = (2 * k + 1) * width // 8
        draw.ellipse((x - unit // 2, height - 1.5 * unit, x + unit // 2, height - unit // 2),
                     fill=accent if k == rng.randrange(4) else (150, 150, 150))  # fmt: skip
    return image


def _noise(width: int, height: int, seed: str) -> Image.Image:
    rng = np.random.default_rng(int.from_bytes(seed.encode()[-8:].ljust(8, b"\0"), "little"))
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def generate_image(width: int, height: int, pattern: Pattern, seed: str) -> Image.Image:
    """One image, the same pixels for the same arguments."""
    if pattern == "noise":
        return _noise(width, height, seed)
    return _ui(width, height, random.Random(f"image/{seed}"))


def encode_image(image: Image.Image, fmt: Format, jpeg_quality: int = 85) -> bytes:
    out = io.BytesIO()
    if fmt == "jpeg":
        image.save(out, "JPEG", quality=jpeg_quality)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def generated_url(width: int, height: int, pattern: Pattern, fmt: Format, seed: str,
                  jpeg_quality: int = 85) -> str:  # fmt: skip
    image = generate_image(width, height, pattern, seed)
    return data_url(encode_image(image, fmt, jpeg_quality), f"image/{fmt}")


def file_url(path: Path) -> str:
    """A PNG or JPEG file as a data URL; WorkloadError naming the file otherwise."""
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
    except (OSError, UnidentifiedImageError) as exc:
        raise WorkloadError(f"cannot read image file {path}: {exc}",
                            hint="give PNG or JPEG files") from None  # fmt: skip
    if kind not in _MIME:
        raise WorkloadError(f"{path} is {kind or 'not an image'}, not PNG or JPEG",
                            hint="convert it to PNG or JPEG")  # fmt: skip
    return data_url(data, _MIME[kind])


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def image_pool(
    *, count: int, size: tuple[int, int], pattern: Pattern, fmt: Format, seed: int,
    jpeg_quality: int = 85, files: Sequence[str] = (),
) -> tuple[str, ...]:  # fmt: skip
    """The data URLs requests carry: the files (each once), else `count` generated images."""
    if files:
        return tuple(file_url(Path(f)) for f in files)
    width, height = size
    return tuple(
        generated_url(width, height, pattern, fmt, f"{seed}/{k}", jpeg_quality)
        for k in range(count)
    )


def with_images(items: Iterator[RequestSpec], pool: Sequence[str], count: int) -> Iterator[
    RequestSpec
]:  # fmt: skip
    """Each request as one user message: its prompt's text, then `count` images from the pool
    in turn. Text first: a distinct prompt before the (shared) images keeps a prefix cache from
    reusing them across requests."""
    at = 0
    for item in items:
        urls = [pool[(at + k) % len(pool)] for k in range(count)]
        at += count
        content = [{"type": "text", "text": item.prompt}, *map(image_part, urls)]
        yield replace(item, messages=({"role": "user", "content": content},))
