"""Keeps API keys out of everything llmbench writes: messages, records, results, reports.

Known secrets are masked wherever they appear; anything shaped like a bearer token, an `sk-`
style key or URL credentials (`user:password@`) is masked too, in case a server echoes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_KEY_SHAPED = re.compile(r"\b((?:sk|pk|rk|key|api)[-_])[A-Za-z0-9_\-]{8,}", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',;]+", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.\-]*://)[^/@\s]+@", re.IGNORECASE)


def mask_secret(secret: str) -> str:
    """`sk-abc...xyz` → `sk-***`; a secret without a recognizable prefix → `***`."""
    match = re.match(r"([A-Za-z]{1,4}[-_])", secret)
    return f"{match.group(1)}{MASK}" if match else MASK


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Returns `text` with every known secret and every key-shaped token masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_secret(secret))
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK + "@", text)  # user:password@
    return _KEY_SHAPED.sub(lambda m: m.group(1) + MASK, text)


def public_url(url: str) -> str:
    """The URL as stored and shown: scheme, host, port and path; no user:password (and no
    query or fragment, where a token could ride)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
