"""The CLI's one error boundary: known errors print what, where and how to fix, without a
traceback (validation problems arrive as ConfigErrors naming the field and its source).
"""

from __future__ import annotations

import sys
from typing import NoReturn

from llmbench.errors import ConfigError, LlmbenchError

USAGE_EXIT = 2
FAILURE_EXIT = 1


def fail(error: LlmbenchError) -> NoReturn:
    print(f"llmbench: error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"llmbench: fix: {error.hint}", file=sys.stderr)
    raise SystemExit(USAGE_EXIT if isinstance(error, ConfigError) else FAILURE_EXIT)
