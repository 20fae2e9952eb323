"""Step templates of DAG tasks: Jinja2 in a sandboxed environment, strict about undefined names.

A template sees `input` (the task's input mapping), `steps` (each upstream step's `output` and
`status`) and `task` (`name`, `instance`). Checked when compiled: syntax, names, the steps it
reads being upstream of it (their outputs exist when it runs), and a trial render with the real
input and stand-in outputs, so an error is found before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

_NAMES = frozenset({"input", "steps", "task"})
_ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)


class TemplateProblem(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True, slots=True)
class StepTemplate:
    source: str
    template: jinja2.Template
    reads: frozenset[str]  # the step ids it names

    def render(
        self, task_input: Mapping[str, Any], outputs: Mapping[str, str], task: Mapping[str, Any]
    ) -> str:
        steps = {sid: {"output": text, "status": "ok"} for sid, text in outputs.items()}
        return self.template.render(input=task_input, steps=steps, task=task)


def _step_reads(tree: nodes.Template) -> set[str]:
    """Step ids named as `steps.ID` or `steps['ID']`."""
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = getattr(node, "node", None)
        if not (isinstance(base, nodes.Name) and base.name == "steps"):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                found.add(arg.value)
    return found


def compile_template(
    source: str, *, upstream: frozenset[str], task_input: Mapping[str, Any]
) -> StepTemplate:
    """The compiled template, or TemplateProblem saying what is wrong and how to fix it."""
    try:
        tree = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"syntax error on template line {exc.lineno}: {exc.message}",
            "close every {{ }} and {% %}; see docs/tasks.md",
        ) from None
    unknown = sorted(meta.find_undeclared_variables(tree) - _NAMES)
    if unknown:
        raise TemplateProblem(
            f"unknown name{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
            "a template reads input.KEY, steps.ID.output or task.name",
        )
    reads = _step_reads(tree)
    missing = sorted(reads - upstream)
    if missing:
        raise TemplateProblem(
            f"reads steps {', '.join(missing)}, which this step does not depend on (directly "
            "or through others): their output would not exist yet",
            f"add {missing[0]!r} to depends_on",
        )
    made = StepTemplate(source, _ENV.from_string(tree), frozenset(reads))
    stand_in = {sid: f"<output of {sid}>" for sid in upstream}
    try:
        made.render(task_input, stand_in, {"name": "trial", "instance": 0})
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(
            f"{exc.message} (with the task's input: {sorted(task_input)})",
            "add the key to the task's input, or give a default: {{ input.x | default('') }}",
        ) from None
    except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise TemplateProblem(f"fails to render: {exc}", "see docs/tasks.md") from None
    return made


def render_error(exc: BaseException) -> str:
    """A one-line message for an error raised while rendering with live outputs."""
    return f"template: {exc}"
