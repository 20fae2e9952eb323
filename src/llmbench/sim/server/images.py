"""Image content parts as the simulator charges them: a base64 data URL's pixel size read from
its PNG or JPEG header, and the tokens a vision encoder would make of it, so image cost shows in
prefill (and in `usage.prompt_tokens`) offline.

The rule (docs/simulator.md, images): `ceil(w / patch) * ceil(h / patch)` tokens, at most
`max_tokens`; patch 28 px is a ViT's 14 px patches merged 2×2 (Qwen2-VL, GLM-4.1V). Each image's
tokens are words derived from a hash of its bytes, so a prefix cache reuses an image it has seen
at the same place, as vLLM's multimodal prefix cache does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import struct
from dataclasses import dataclass

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, ...): not DHT (C4), JPG (C8), DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ImageError(ValueError):
    """An image part the simulator cannot read; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class ImageRule:
    """Tokens per image: `ceil(w / patch_px) * ceil(h / patch_px)`, capped at `max_tokens`."""

    patch_px: int = 28
    max_tokens: int = 16384

    def tokens(self, width: int, height: int) -> int:
        patches = math.ceil(width / self.patch_px) * math.ceil(height / self.patch_px)
        return min(self.max_tokens, patches)


def data_url_bytes(url: str) -> bytes:
    """The bytes of a `data:image/...;base64,` URL; ImageError for any other URL."""
    head, sep, payload = url.partition(",")
    if not url.startswith("data:image/") or not sep or not head.endswith(";base64"):
        raise ImageError(
            "an image_url must be a base64 data URL (data:image/png;base64,...): the simulator "
            "fetches nothing"
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError("the image data URL is not valid base64") from exc


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR or a JPEG's start-of-frame segment."""
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        if width and height:
            return width, height
    elif data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    raise ImageError("an image must be a PNG or JPEG (its header could not be read)")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            if width and height:
                return width, height
            break
        at += 2 + length
    raise ImageError("a JPEG image without a readable start-of-frame segment")


def image_words(url: str, rule: ImageRule) -> list[str]:
    """The tokens one image part stands for: `rule.tokens(w, h)` words naming its content."""
    data = data_url_bytes(url)
    width, height = image_size(data)
    digest = hashlib.blake2b(data, digest_size=8).hexdigest()
    return [f"<img:{digest}:{i}>" for i in range(rule.tokens(width, height))]
