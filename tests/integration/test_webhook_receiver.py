"""The webhook receiver over loopback: signatures (RSA-SHA256 over timestamp.url.sha256(body)),
the 5-minute window, de-duplication of retries and replays, and a burst of 1,000 deliveries."""

from __future__ import annotations

import asyncio
import base64
import datetime
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from llmbench.clients.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    KeyCache,
    WebhookReceiver,
    signed_content,
)

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = (
    KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signed(
    url: str, payload: dict[str, Any], *, key: rsa.RSAPrivateKey = KEY, age_s: int = 0
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(payload)
    timestamp = str(int(time.time()) - age_s)
    raw = key.sign(signed_content(timestamp, url, body), padding.PKCS1v15(), hashes.SHA256())
    headers = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: base64.b64encode(raw).decode(),
        "Content-Type": "application/json",
    }
    return body, headers


async def with_receiver(check: Any) -> tuple[WebhookReceiver, list[dict[str, Any]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks?team=a"
    taken: list[dict[str, Any]] = []

    async def fetch() -> str:
        return PEM

    receiver = WebhookReceiver(
        f"127.0.0.1:{port}", url, KeyCache(fetch), lambda p, t: taken.append(p)
    )
    await receiver.start()
    try:
        async with aiohttp.ClientSession() as session:
            await check(session, url)
    finally:
        await receiver.stop()
    return receiver, taken


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: Any) -> int:
    async with session.post(url, data=body, headers=headers) as response:
        return response.status


def test_authentic_deliveries_are_taken_once() -> None:
    async def check(session: aiohttp.ClientSession, url: str) -> None:
        body, headers = signed(url, {"event_id": "e1", "event_type": "task_created"})
        assert await post(session, url, body, headers) == 200
        assert await post(session, url, body, headers) == 200  # a replay: answered, not taken

    receiver, taken = asyncio.run(with_receiver(check))
    assert [p["event_id"] for p in taken] == ["e1"]
    assert receiver.counts["duplicate"] == 1
    assert receiver.keys.fetches == 1


FORGERIES = ["tampered_body", "wrong_key", "stale", "other_url", "unsigned"]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_or_stale_deliveries_are_refused(forgery: str) -> None:
    async def check(session: aiohttp.ClientSession, url: str) -> None:
        payload = {"event_id": "e2", "event_type": "task_stopped"}
        body, headers = signed(
            url if forgery != "other_url" else url.replace("team=a", "team=b"),
            payload,
            key=OTHER_KEY if forgery == "wrong_key" else KEY,
            age_s=301 if forgery == "stale" else 0,
        )
        if forgery == "tampered_body":
            body = body.replace(b"task_stopped", b"task_created")
        if forgery == "unsigned":
            headers.pop(SIGNATURE_HEADER)
        assert await post(session, url, body, headers) == 401

    receiver, taken = asyncio.run(with_receiver(check))
    assert taken == []
    assert receiver.counts["accepted"] == 0


def test_a_burst_of_1000_deliveries_is_kept_whole() -> None:
    n = 1000

    async def check(session: aiohttp.ClientSession, url: str) -> None:
        deliveries = [signed(url, {"event_id": f"b{i}", "event_type": "x"}) for i in range(n)]
        statuses = await asyncio.gather(*(post(session, url, b, h) for b, h in deliveries))
        assert statuses == [200] * n

    receiver, taken = asyncio.run(with_receiver(check))
    assert len(taken) == n
    assert {p["event_id"] for p in taken} == {f"b{i}" for i in range(n)}
    assert receiver.counts["accepted"] == n


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_the_receiver_serves_https(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    port = free_port()
    url = f"https://127.0.0.1:{port}/hooks"
    taken: list[dict[str, Any]] = []

    async def fetch() -> str:
        return PEM

    async def main() -> int:
        receiver = WebhookReceiver(
            f"127.0.0.1:{port}", url, KeyCache(fetch), lambda p, t: taken.append(p),
            ssl_context=context,
        )  # fmt: skip
        await receiver.start()
        try:
            body, headers = signed(url, {"event_id": "s1", "event_type": "task_stopped"})
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, data=body, headers=headers, ssl=False) as response,
            ):
                return response.status
        finally:
            await receiver.stop()

    assert asyncio.run(main()) == 200
    assert [p["event_id"] for p in taken] == ["s1"]
