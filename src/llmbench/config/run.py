"""The spec of one run: target, workload, load profile and (when no URL is given) the embedded
simulated target. Every run stores its resolved spec and the spec's hash in run.json.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetSpec(_Spec):
    """Where to send. `base_url=None` means: start the embedded simulated server."""

    base_url: str | None = None
    model: str | None = Field(None, description="default: the first model of /v1/models")
    endpoint: Literal["chat", "completions"] = "chat"
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the variable holding the key")
    extra_headers: dict[str, str] = Field(default_factory=dict)
    extra_body: dict[str, Any] = Field(default_factory=dict)
    stream: bool = True
    request_timeout_s: float = Field(600.0, gt=0)
    connection_limit: int | None = Field(None, ge=0, description="None: sized to the concurrency")
    retry_429: bool = Field(False, description="resend after HTTP 429, honouring Retry-After")
    retry_429_attempts: int = Field(3, ge=2, description="attempts in all, when retry_429")
    retry_429_max_wait_s: float = Field(30.0, gt=0, description="a longer Retry-After: give up")

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} must start with http:// or https://")
        return url


class WorkloadSpec(_Spec):
    """Synthetic prompts of a fixed length, seeded: identical bytes for every target."""

    kind: Literal["synthetic"] = "synthetic"
    input_tokens: int = Field(128, ge=1)
    output_tokens: int = Field(64, ge=1)
    seed: int = 0


class LoadSpec(_Spec):
    """When to send: a closed loop of `concurrency` streams (synchronous is concurrency 1)."""

    profile: Literal["synchronous", "concurrency"] = "concurrency"
    concurrency: int = Field(1, ge=1)
    requests: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0)
    warmup: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check_bounds(self) -> LoadSpec:
        if self.requests is None and self.duration_s is None:
            raise ValueError("give a bound: requests, duration_s, or both")
        if self.profile == "synchronous" and self.concurrency != 1:
            raise ValueError("the synchronous profile sends one request at a time: concurrency 1")
        return self


class SimSpec(_Spec):
    """Settings of the embedded simulated target (used only when target.base_url is None)."""

    ttft_ms: float = Field(200.0, ge=0)
    itl_ms: float = Field(20.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    tokens_per_chunk: int = Field(1, ge=1)
    seed: int = 1


class RunSpec(_Spec):
    name: str | None = None
    target: TargetSpec = Field(default_factory=TargetSpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    load: LoadSpec = Field(default_factory=lambda: LoadSpec(requests=100))
    sim: SimSpec = Field(default_factory=SimSpec)
    tokenizer: str | None = Field(None, description="'whitespace' or 'hf:PATH'")
    seed: int = Field(0, description="seeds the statistics (bootstrap)")

    def spec_hash(self) -> str:
        """Stable hash of the resolved spec: runs with equal hashes ran the same workload."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]
