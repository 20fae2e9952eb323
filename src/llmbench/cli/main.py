"""`llmbench` commands: run, study, demo, report, compare, gate, history, import, export,
sim. Parses flags into specs, reads the API key from the environment, starts the embedded
simulator when no URL is given, and prints results.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from llmbench.cli import commands, compare, export, history, sim
from llmbench.cli.errors import USAGE_EXIT, fail
from llmbench.errors import LlmbenchError

app = typer.Typer(
    name="llmbench",
    help="Measure and compare the response latency of LLM endpoints and AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("run")(commands.run)
app.command("demo")(commands.demo)
app.command("study")(commands.study)
app.command("report")(commands.report)
app.command("compare")(compare.compare)
app.command("gate")(compare.gate)
app.command("export")(export.export)
app.command("history")(history.history)
app.command("import")(history.import_dirs)
app.add_typer(sim.app, name="sim")


def main(argv: list[str] | None = None) -> None:
    """Entry point: one clear line for bad input, never a traceback for a known error."""
    try:
        result = app(args=argv, standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C outside a run (a run stops cleanly itself)
        print("llmbench: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except TyperException as exc:  # typer's own (vendored click) usage errors
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message.startswith("Usage:"):  # a group called without a command: show its help
            print(message, file=sys.stderr)
            raise SystemExit(USAGE_EXIT) from None
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        print(f"llmbench: error: {message}{hint}", file=sys.stderr)
        raise SystemExit(USAGE_EXIT) from None
    except LlmbenchError as exc:
        fail(exc)
    if isinstance(result, int) and result:
        raise SystemExit(result)
