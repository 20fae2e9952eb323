"""The CLI's one error boundary: known errors print what, where and how to fix, without a
traceback; pydantic validation errors become flag-level messages.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from pydantic import ValidationError

from llmbench.errors import ConfigError, LlmbenchError

USAGE_EXIT = 2
FAILURE_EXIT = 1


def fail(error: LlmbenchError) -> NoReturn:
    print(f"llmbench: error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"llmbench: fix: {error.hint}", file=sys.stderr)
    raise SystemExit(USAGE_EXIT if isinstance(error, ConfigError) else FAILURE_EXIT)


def config_error(exc: ValidationError, flags: dict[str, str] | None = None) -> ConfigError:
    """The first validation error, named by the flag the user typed when there is one."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "spec"
    where = (flags or {}).get(field, field)
    message = first["msg"].removeprefix("Value error, ")
    return ConfigError(message, where=where, hint="see `llmbench run --help` for allowed values")
