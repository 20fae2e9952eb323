"""Image inputs of a workload: how many images each request carries, their size, format and
pattern (generated, seeded), or files sent instead (`workload/images.py` makes them)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from llmbench.config.load import Spec

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
MAX_SIDE = 16384


def parse_size(text: str) -> tuple[int, int]:
    """`1080x2400` → (1080, 2400); ValueError saying what is wrong."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1080x2400")
    width, height = int(match[1]), int(match[2])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"{text!r}: each side must be 1..{MAX_SIDE} pixels")
    return width, height


class ImageSpec(Spec):
    """Images per request, as base64 data URLs after the prompt's text. Generated images are
    seeded (the workload seed): `ui` draws a phone-screen-like layout (compresses well, like a
    real screenshot), `noise` random pixels (does not compress: the worst case for bytes)."""

    count: int = Field(0, ge=0, le=64, description="images per request")
    size: str = Field("1080x2400", description="WIDTHxHEIGHT of generated images")
    format: Literal["png", "jpeg"] = Field("png", description="encoding of generated images")
    pattern: Literal["ui", "noise"] = Field("ui", description="what generated images show")
    jpeg_quality: int = Field(85, ge=1, le=95, description="JPEG quality of generated images")
    files: tuple[str, ...] = Field((), description="image files (PNG/JPEG) sent in turn instead")

    @field_validator("size")
    @classmethod
    def _check_size(cls, text: str) -> str:
        parse_size(text)
        return text

    @property
    def pixels(self) -> tuple[int, int]:
        return parse_size(self.size)

    @property
    def wanted(self) -> bool:
        return self.count > 0
