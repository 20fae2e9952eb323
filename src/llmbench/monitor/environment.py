"""A record of the hardware and software a run used. It never dumps environment variables:
only named facts, so no secret can slip into a results file.
"""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

import llmbench

_PACKAGES = ("aiohttp", "uvloop", "numpy", "scipy", "pydantic", "orjson", "tokenizers")


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git_sha() -> str | None:
    """The commit of the llmbench source tree, when it runs from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(llmbench.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _cpu_affinity() -> list[int] | None:
    process = psutil.Process()
    return sorted(process.cpu_affinity() or []) if hasattr(process, "cpu_affinity") else None


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def capture_environment() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "captured_at": datetime.now(UTC).isoformat(),
        "llmbench": {"version": llmbench.__version__, "git_sha": _git_sha()},
        "host": {
            "hostname": socket.gethostname(),
            "os": platform.platform(),
            "cpu_model": _cpu_model(),
            "cpu_logical": psutil.cpu_count(logical=True),
            "cpu_physical": psutil.cpu_count(logical=False),
            "cpu_affinity": _cpu_affinity(),
            "memory_total_bytes": memory.total,
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": _package_versions(),
    }
