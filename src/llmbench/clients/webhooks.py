"""The webhook receiver: a small aiohttp server (HTTP, or HTTPS with a certificate) that stamps
each delivery's arrival, verifies its RSA-SHA256 signature over
`{X-Webhook-Timestamp}.{full URL}.{sha256 hex of the body}` within a 5-minute window, drops
repeats of an event already taken (retries, replays), and hands the rest on. It answers at once
(a provider wants 200 within 10 s); the handler does no I/O besides the first key fetch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
WINDOW_S = 300  # older (or further ahead) deliveries are refused: replay protection
KEY_TTL_S = 3600.0  # the provider's public key is fetched again after this long
_MAX_BODY = 1024 * 1024

Delivered = Callable[[dict[str, Any], int], None]  # (payload, arrived_ns)


def signed_content(timestamp: str, url: str, body: bytes) -> bytes:
    return f"{timestamp}.{url}.{hashlib.sha256(body).hexdigest()}".encode()


class KeyCache:
    """The provider's public key, fetched on first use and again after `ttl_s`."""

    def __init__(self, fetch: Callable[[], Awaitable[str]], ttl_s: float = KEY_TTL_S) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._key: rsa.RSAPublicKey | None = None
        self._at = 0.0
        self.fetches = 0

    async def get(self) -> rsa.RSAPublicKey:
        if self._key is None or time.monotonic() - self._at > self._ttl_s:
            loaded = serialization.load_pem_public_key((await self._fetch()).encode())
            if not isinstance(loaded, rsa.RSAPublicKey):
                raise ValueError("the provider's public key is not an RSA key")
            self._key, self._at = loaded, time.monotonic()
            self.fetches += 1
        return self._key


def verify(
    key: rsa.RSAPublicKey, url: str, body: bytes, signature: str, timestamp: str, now_s: float
) -> str | None:
    """None when the delivery is authentic and fresh, else why not."""
    try:
        sent_s = int(timestamp)
    except ValueError:
        return "bad_timestamp"
    if abs(now_s - sent_s) > WINDOW_S:
        return "stale"
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, signed_content(timestamp, url, body), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return "bad_signature"
    return None


class WebhookReceiver:
    """Serves POSTs at the path of `public_url`; `counts` says what came and what was done."""

    def __init__(
        self,
        listen: str,
        public_url: str,
        keys: KeyCache,
        on_delivery: Delivered,
        *,
        event_id_field: str = "event_id",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        host, _, port = listen.rpartition(":")
        self.host, self.port = host.strip("[]") or "127.0.0.1", int(port)  # [::]:8443 too
        self.public_url = public_url
        self._path = urlsplit(public_url).path or "/"
        self.keys = keys
        self._on_delivery = on_delivery
        self._event_id_field = event_id_field
        self._ssl = ssl_context
        self._seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    def _signed_url(self, request: web.Request) -> str:
        """The full URL the provider signed: the public URL's origin with this path and query."""
        public = urlsplit(self.public_url)
        return urlunsplit((public.scheme, public.netloc, request.path, request.query_string, ""))

    async def handle(self, request: web.Request) -> web.Response:
        arrived_ns = time.monotonic_ns()
        self.counts["received"] += 1
        body = await request.read()
        reason = await self._check(request, body)
        if reason is not None:
            self.counts[f"rejected_{reason}"] += 1
            return web.json_response({"ok": False, "reason": reason}, status=401)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            self.counts["rejected_malformed"] += 1
            return web.json_response({"ok": False, "reason": "malformed"}, status=400)
        event_id = payload.get(self._event_id_field)
        key = str(event_id) if event_id is not None else hashlib.sha256(body).hexdigest()
        if key in self._seen:  # a retry or a replay: answered 200, taken once
            self.counts["duplicate"] += 1
            return web.json_response({"ok": True})
        self._seen.add(key)
        self.counts["accepted"] += 1
        self._on_delivery(payload, arrived_ns)
        return web.json_response({"ok": True})

    async def _check(self, request: web.Request, body: bytes) -> str | None:
        signature = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            return "unsigned"
        try:
            key = await self.keys.get()
        except Exception:  # noqa: BLE001 - any failure to get the key refuses the delivery
            return "no_key"
        return verify(key, self._signed_url(request), body, signature, timestamp, time.time())

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post(self._path, self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, ssl_context=self._ssl, backlog=2048,
            reuse_address=True,
        )  # fmt: skip
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
