"""Signed webhook deliveries of the simulator's task face, shaped like Manus API v2's.

Each delivery is an HTTP POST of a JSON body, signed RSA-SHA256 (PKCS#1 v1.5) over
`{X-Webhook-Timestamp}.{full URL}.{sha256 hex of the body}`, the signature base64 in
`X-Webhook-Signature`. The key pair is generated when the server starts; its public half is
served at `webhook.publicKey`. Every attempt is logged (sent, answered, status) so tests can
compare what a receiver stamped with when the simulator sent it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
_RETRIES = 3  # attempts after the first when the receiver fails or is unreachable
_RETRY_DELAY_S = 0.2
_TIMEOUT_S = 10.0  # the receiver must answer within 10 s


def signed_content(timestamp: str, url: str, body: bytes) -> bytes:
    return f"{timestamp}.{url}.{hashlib.sha256(body).hexdigest()}".encode()


class Signer:
    """A fresh 2048-bit RSA key pair; signs delivery content and serves its public key."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = self._key.public_key()
        self.public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, timestamp: str, url: str, body: bytes) -> str:
        content = signed_content(timestamp, url, body)
        raw = self._key.sign(content, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


@dataclass(slots=True)
class Delivery:
    """One webhook event as attempted: when each attempt left, what the receiver answered."""

    event_id: str
    event_type: str
    url: str
    lost: bool = False  # a fault: never sent
    copies: int = 1  # 2 with the duplicate fault: the same event_id sent twice
    sent_ns: list[int] = field(default_factory=list)
    answered_ns: list[int] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "lost": self.lost,
            "copies": self.copies,
            "sent_ns": self.sent_ns,
            "answered_ns": self.answered_ns,
            "statuses": self.statuses,
        }


class Deliverer:
    """Sends signed deliveries in the background; `close()` waits for none and cancels all."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, delivery: Delivery, payload: dict[str, Any]) -> None:
        if delivery.lost:
            return
        body = orjson.dumps(payload)
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery, body: bytes) -> None:
        for _ in range(delivery.copies):
            for attempt in range(_RETRIES + 1):
                status = await self._post(delivery, body)
                if status == 200:
                    break
                if attempt < _RETRIES:
                    await asyncio.sleep(_RETRY_DELAY_S * (attempt + 1))

    def open(self) -> None:
        """The HTTP client, made when the server starts (not inside the first delivery)."""
        timeout = aiohttp.ClientTimeout(total=_TIMEOUT_S)
        self._session = aiohttp.ClientSession(timeout=timeout)

    async def _post(self, delivery: Delivery, body: bytes) -> int:
        if self._session is None:
            self.open()
        assert self._session is not None
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: self.signer.sign(timestamp, delivery.url, body),
        }
        delivery.sent_ns.append(time.monotonic_ns())
        try:
            async with self._session.post(delivery.url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0  # unreachable or too slow
        delivery.answered_ns.append(time.monotonic_ns())
        delivery.statuses.append(status)
        return status

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
