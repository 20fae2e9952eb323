"""Settings of an agent-service run (target kinds manus and task-api): how tasks are followed
(polling, webhooks or both), how long a task may take, and whether a waiting task is answered.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from llmbench.config.load import Spec


class TaskApiSettings(Spec):
    """How llmbench follows agent-service tasks (docs/agent-services.md)."""

    config: Path | None = Field(
        None, description="the task API's YAML description (target kind task-api)"
    )
    poll: bool = Field(True, description="poll each task's events (off: webhooks only)")
    poll_interval_ms: float = Field(
        1000.0, gt=0, le=3_600_000, description="time between two polls of one task"
    )
    poll_jitter: float = Field(
        0.1, ge=0, le=1, description="each interval drawn uniformly within ± this fraction"
    )
    task_timeout_s: float = Field(
        600.0, gt=0, le=7 * 24 * 3600, description="a task still running this long is cancelled"
    )
    answer_after_ms: float | None = Field(
        None, ge=0, le=3_600_000,
        description="answer a waiting task (confirm) after this long; unset: leave it waiting",
    )  # fmt: skip
    webhook_listen: str | None = Field(
        None, pattern=r"^[^\s]*:\d{1,5}$", description="receive webhooks here, HOST:PORT"
    )
    webhook_public_url: str | None = Field(
        None, pattern=r"^https?://", description="the URL the provider posts webhooks to"
    )
    webhook_tls_cert: Path | None = Field(None, description="serve webhooks over HTTPS: cert")
    webhook_tls_key: Path | None = Field(None, description="... and its private key")

    @model_validator(mode="after")
    def _webhooks_whole(self) -> TaskApiSettings:
        if (self.webhook_listen is None) != (self.webhook_public_url is None):
            raise ValueError("webhooks need both webhook_listen and webhook_public_url")
        if not self.poll and self.webhook_listen is None:
            raise ValueError("with poll off, set webhook_listen and webhook_public_url")
        if (self.webhook_tls_cert is None) != (self.webhook_tls_key is None):
            raise ValueError("HTTPS webhooks need both webhook_tls_cert and webhook_tls_key")
        return self
