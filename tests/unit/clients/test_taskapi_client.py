"""The task-API client's answer handling, without a network: categories, raw bodies redacted,
Retry-After in both forms, dotted paths and templates."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from llmbench.clients.taskapi import TaskApiClient, TaskApiError, retry_after_s
from llmbench.clients.taskapi_spec import MANUS, dig, fill

KEY = "mk_live_abcdefghijklmnop1234"


def client() -> TaskApiClient:
    return TaskApiClient("http://127.0.0.1:1", MANUS, KEY, session=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "body", "category"),
    [
        (401, b'{"ok": false, "error": {"code": "unauthenticated"}}', "http_4xx"),
        (429, b"{}", "http_429"),
        (502, b"<html>bad gateway</html>", "http_5xx"),
        (200, b"not json", "protocol"),
        (200, b"[1, 2]", "protocol"),
        (200, b'{"ok": false, "error": {"code": "quota"}}', "provider_error"),
    ],
)
def test_failed_answers_are_categorized(status: int, body: bytes, category: str) -> None:
    with pytest.raises(TaskApiError) as caught:
        client()._parse(MANUS.create, status, body, None)
    assert caught.value.category == category
    assert caught.value.raw_body is not None


def test_a_key_echoed_by_the_service_is_masked_in_the_kept_body() -> None:
    body = f'{{"ok": false, "error": {{"message": "bad key {KEY}"}}}}'.encode()
    with pytest.raises(TaskApiError) as caught:
        client()._parse(MANUS.create, 403, body, None)
    assert caught.value.raw_body is not None
    assert KEY not in caught.value.raw_body
    assert KEY not in str(caught.value)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_s("2") == 2.0
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = retry_after_s(later)
    assert value is not None
    assert 28 <= value <= 31


def test_paths_and_templates() -> None:
    data: dict[str, Any] = {"a": {"b": [{"c": "x"}]}}
    assert dig(data, "a.b.0.c") == "x"
    assert dig(data, "a.b.3.c") is None
    assert dig(data, "a.z") is None
    filled = fill({"m": [{"t": "{prompt}!"}], "{prompt}": 1}, {"prompt": "hi"})
    assert filled == {"m": [{"t": "hi!"}], "{prompt}": 1}
