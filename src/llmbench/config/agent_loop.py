"""The phone-agent loop (the Open-AutoGLM shape): tasks of up to `max_steps` steps, each a
screenshot plus the history sent to the model, its reply streamed until an action, then a
simulated actuation wait. Given inline in a spec (`agent_loop:`) or as a YAML file
(`--agent-loop FILE`, read once into the spec: the stored spec holds its settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from llmbench.config.images import parse_size
from llmbench.config.load import MAX_CONCURRENCY, MAX_TOKENS, WEEK_S, Spec

DEFAULT_SYSTEM_PROMPT = (
    "You are a phone agent. Each turn you see the current screen and the task. Think step by "
    'step, then answer with exactly one action: do(action="Tap", element=[x,y]), '
    'do(action="Type", text="..."), do(action="Swipe", start=[x1,y1], end=[x2,y2]), '
    'do(action="Back"), do(action="Home"), do(action="Launch", app="..."), or '
    'finish(message="...") when the task is done.'
)


class ActuationSpec(Spec):
    """Seconds the simulated device takes to act before the next screenshot (Open-AutoGLM's
    sleeps: 1.0 s after tap, swipe, back, home and launch; 0.1 s between the taps of a double
    tap; about 4 s to type text). Shrink them in tests."""

    tap_s: float = Field(1.0, ge=0, le=WEEK_S, description="after Tap, Swipe, Back, Home, Launch")
    double_tap_gap_s: float = Field(0.1, ge=0, le=WEEK_S, description="between double-tap taps")
    type_s: float = Field(4.0, ge=0, le=WEEK_S, description="after Type (text entry)")
    other_s: float = Field(1.0, ge=0, le=WEEK_S, description="after any other action")

    def seconds(self, action: str | None) -> float:
        """The wait after `action` (the name in do(action="...")); Double Tap is a tap, the
        gap and a second tap's settle time."""
        name = (action or "").replace(" ", "").replace("_", "").lower()
        if name in ("tap", "swipe", "back", "home", "launch", "longpress"):
            return self.tap_s
        if name == "doubletap":
            return self.double_tap_gap_s + self.tap_s
        if name == "type":
            return self.type_s
        return self.other_s


class AgentLoopSpec(Spec):
    """`tasks` tasks (goals taken in turn), `concurrency` at once; each runs until a reply holds
    `finish_marker` or `max_steps` steps. The history keeps every screenshot (`keep_images`) or
    only the current one (`strip_images`, Open-AutoGLM's way: earlier user messages lose their
    image after their step, so a prefix cache can reuse only the text history)."""

    file: str | None = Field(None, description="YAML file of these settings (read into the spec)")
    source: str | None = Field(None, description="the file the settings were read from")
    tasks: int = Field(1, ge=1, le=1_000_000, description="tasks to run")
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY, description="tasks at once")
    goals: tuple[str, ...] = Field(
        ("Open Settings and turn on dark mode",), min_length=1, description="task goals, in turn"
    )
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, description="the system message")
    max_steps: int = Field(100, ge=1, le=100_000, description="step cap per task")
    screen_size: str = Field("1080x2400", description="WIDTHxHEIGHT of each screenshot")
    screen_format: Literal["png", "jpeg"] = Field("png", description="screenshot encoding")
    history: Literal["strip_images", "keep_images"] = Field(
        "strip_images", description="earlier screenshots: stripped after their step, or kept"
    )
    markers: tuple[str, ...] = Field(
        ("do(action=", "finish(message="), min_length=1, description="the thinking ends here"
    )
    finish_marker: str = Field("finish(", min_length=1, description="a reply with it ends a task")
    max_tokens: int = Field(3000, ge=1, le=MAX_TOKENS, description="max_tokens of each step")
    temperature: float = Field(0.0, ge=0, le=2, description="temperature of each step")
    actuation: ActuationSpec = Field(default_factory=ActuationSpec)
    warmup_tasks: int = Field(0, ge=0, le=1_000_000, description="tasks run first, not measured")

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any) -> Any:
        """`file: PATH` is read once: its settings, then the inline ones over them."""
        if not isinstance(data, dict) or not data.get("file") or not isinstance(data["file"], str):
            return data  # no file, or not a path: the field's own check says so
        path = Path(data["file"])
        if not path.is_file():  # located at agent_loop.file, as any other bad setting
            raise ValueError(f"file {str(path)!r}: no such agent-loop file")
        return {**read_agent_loop(path), **_inline(data), "source": data["file"]}

    @field_validator("markers")
    @classmethod
    def _check_markers(cls, markers: tuple[str, ...]) -> tuple[str, ...]:
        if not all(markers):
            raise ValueError("a marker must be non-empty text, e.g. 'do(action='")
        return markers

    @field_validator("screen_size")
    @classmethod
    def _check_size(cls, text: str) -> str:
        parse_size(text)
        return text

    @property
    def screen_pixels(self) -> tuple[int, int]:
        return parse_size(self.screen_size)


def _inline(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("file", "source") and v is not None}


def read_agent_loop(path: Path) -> dict[str, Any]:
    """An agent-loop file's settings, validated (problems named FILE:LINE:COL)."""
    from llmbench.config.problems import describe_problems  # it imports the run spec
    from llmbench.config.specfile import read_spec_file

    document = read_spec_file(path)
    data = {k: v for k, v in document.data.items() if k not in ("file", "source")}
    try:
        AgentLoopSpec.model_validate(data)
    except ValidationError as exc:
        raise describe_problems(exc, document.where, AgentLoopSpec) from None
    return data
