"""How to drive an agent service's task API, as data: create a task, find its id, list its events,
read its status, answer it, stop it, register a webhook. One YAML file (`--task-api-config`)
describes a service; `MANUS` is Manus API v2 in the same terms (docs/agent-services.md).

Templates: any string in a body or query may hold `{prompt}`, `{task_id}`, `{event_id}` (what
a waiting task waits for) or `{url}`, replaced by the value. Paths into JSON are dotted
(`task_detail.task_id`, `messages.0.id`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llmbench.config.problems import describe_problems
from llmbench.config.specfile import read_spec_file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Call(_Strict):
    """One HTTP call: method, path under the base URL, JSON body and query (templates)."""

    method: Literal["GET", "POST"] = "GET"
    path: str = Field(min_length=1, pattern=r"^/")
    body: dict[str, Any] | None = None
    query: dict[str, str] = Field(default_factory=dict)


class Auth(_Strict):
    header: str = Field("Authorization", min_length=1, description="the header carrying the key")
    prefix: str = Field("", description="put before the key, e.g. 'Bearer '")
    key_env: str = Field(
        "TASK_API_KEY", min_length=1, description="the environment variable holding the key"
    )


class Events(_Strict):
    """The call listing a task's events and where things are in each."""

    call: Call
    list_path: str = Field(min_length=1, description="where the list is in the answer")
    newest_first: bool = Field(
        False, description="the list comes newest first (read back in order of time)"
    )
    id_field: str = "id"
    type_field: str = "type"
    timestamp_field: str | None = Field(None, description="unix seconds, if the service sends one")
    status_path: str | None = Field(
        None, description="within an event: the status it reports (absent: carries none)"
    )
    waiting_id_path: str | None = Field(
        None, description="within a waiting event: the id of what it waits for ({event_id})"
    )
    waiting_type_path: str | None = Field(
        None, description="within a waiting event: what it waits for (see ask_types)"
    )


class StatusCall(_Strict):
    """A separate status endpoint (when the events do not carry the status)."""

    call: Call
    field: str = Field(min_length=1, description="where the status is in the answer")


class Webhooks(_Strict):
    register_call: Call = Field(description="registers the receiver's public URL ({url})")
    public_key: Call | None = Field(None, description="answers the PEM public key")
    public_key_field: str = "public_key"
    task_id_paths: tuple[str, ...] = Field(
        min_length=1, description="where a delivery names its task"
    )
    event_id_field: str = "event_id"
    type_field: str = "event_type"
    status_path: str | None = Field(None, description="where a delivery's outcome is, if any")
    status_map: dict[str, str] = Field(
        default_factory=dict, description="delivery outcome → status, e.g. finish: stopped"
    )


class TaskApiSpec(_Strict):
    """An agent service's task API. Statuses: `done` ends a task ok, `failed` ends it in error,
    `waiting` means it waits for a human (answered by `answer` when enabled)."""

    name: str = "task-api"
    auth: Auth = Auth()
    envelope_ok_field: str | None = Field(
        None, description="a field every answer has, false on failure (Manus: ok)"
    )
    create: Call
    id_path: str = Field(min_length=1, description="where the created task's id is")
    events: Events | None = None
    status: StatusCall | None = None
    done: tuple[str, ...] = Field(min_length=1)
    failed: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    answer: Call | None = Field(None, description="answers a waiting task ({event_id})")
    answer_message: Call | None = Field(
        None, description="answers a waiting task whose type is one of ask_types (a question)"
    )
    ask_types: tuple[str, ...] = ()
    cancel: Call | None = None
    detail: Call | None = Field(None, description="read once a task has ended: what it cost")
    credits_field: str | None = Field(None, description="where `detail` says the credits used")
    webhooks: Webhooks | None = None

    @model_validator(mode="after")
    def _has_status(self) -> TaskApiSpec:
        if self.status is None and (self.events is None or self.events.status_path is None):
            raise ValueError("give `status` (a status endpoint) or `events.status_path`")
        return self


MANUS = TaskApiSpec(
    name="manus",
    auth=Auth(header="x-manus-api-key", key_env="MANUS_API_KEY"),
    envelope_ok_field="ok",
    create=Call(
        method="POST",
        path="/v2/task.create",
        body={"message": {"content": [{"type": "text", "text": "{prompt}"}]}},
    ),
    id_path="task_id",
    events=Events(
        call=Call(
            path="/v2/task.listMessages",
            # newest first: each poll sees the latest 100, however long the task's history
            query={"task_id": "{task_id}", "order": "desc", "limit": "100"},
        ),
        list_path="messages",
        newest_first=True,
        timestamp_field="timestamp",
        status_path="status_update.agent_status",
        waiting_id_path="status_update.status_detail.waiting_for_event_id",
        waiting_type_path="status_update.status_detail.waiting_for_event_type",
    ),
    done=("stopped",),
    failed=("error",),
    waiting=("waiting",),
    answer=Call(
        method="POST",
        path="/v2/task.confirmAction",
        body={"task_id": "{task_id}", "event_id": "{event_id}", "input": {"accept": True}},
    ),
    answer_message=Call(
        method="POST",
        path="/v2/task.sendMessage",
        body={"task_id": "{task_id}", "message": {"content": [{"type": "text", "text": "Yes."}]}},
    ),
    ask_types=("messageAskUser",),
    cancel=Call(method="POST", path="/v2/task.stop", body={"task_id": "{task_id}"}),
    detail=Call(path="/v2/task.detail", query={"task_id": "{task_id}"}),
    credits_field="task.credit_usage",
    webhooks=Webhooks(
        register_call=Call(
            method="POST", path="/v2/webhook.create", body={"webhook": {"url": "{url}"}}
        ),
        public_key=Call(path="/v2/webhook.publicKey"),
        task_id_paths=("task_detail.task_id", "progress_detail.task_id"),
        status_path="task_detail.stop_reason",
        status_map={"finish": "stopped", "ask": "waiting", "error": "error"},
    ),
)


def load_task_api_spec(path: Path) -> TaskApiSpec:
    """The YAML file's spec; ConfigError naming FILE:LINE:COL and a fix when it is wrong."""
    document = read_spec_file(path)
    try:
        return TaskApiSpec.model_validate(document.data)
    except ValidationError as exc:
        raise describe_problems(exc, document.where, TaskApiSpec) from None


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path (list items by index), or None when any step is missing."""
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def fill(template: Any, values: dict[str, str]) -> Any:
    """The template with `{name}` replaced in every string (keys untouched)."""
    if isinstance(template, str):
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template
    if isinstance(template, dict):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, values) for value in template]
    return template
