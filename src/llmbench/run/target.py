"""Starts the embedded simulated target as a real subprocess on a free loopback port and stops
it. It runs the `llmbench sim serve` command, so the simulator stays a separate program and this
module imports nothing of it.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import signal
import subprocess
import sys
import tempfile
import threading
from types import TracebackType
from typing import IO

from llmbench.config import SimSpec
from llmbench.errors import EndpointError


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when llmbench dies, even by `kill -9`; no orphans."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


_LISTENING = re.compile(r"llmbench-sim listening on (http://\S+)")


def sim_serve_args(sim: SimSpec, *, host: str = "127.0.0.1", port: int = 0) -> list[str]:
    args = [
        sys.executable, "-m", "llmbench", "sim", "serve",
        "--host", host, "--port", str(port),
        "--ttft-ms", repr(sim.ttft_ms), "--itl-ms", repr(sim.itl_ms),
        "--jitter-ms", repr(sim.jitter_ms), "--tokens-per-chunk", str(sim.tokens_per_chunk),
        "--seed", str(sim.seed),
    ]  # fmt: skip
    return args if sim.preset is None else [*args, "--preset", sim.preset]


class EmbeddedSim:
    """`with EmbeddedSim(spec) as sim: sim.base_url` — the server runs while the block runs."""

    def __init__(
        self, spec: SimSpec, *, start_timeout_s: float = 30.0, extra_args: list[str] | None = None
    ) -> None:
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self.extra_args = extra_args or []
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def start(self) -> str:
        # A file, not a pipe: it can never fill up and block the server. Closed in stop().
        stderr_file = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self._stderr = stderr_file
        self._process = subprocess.Popen(
            sim_serve_args(self.spec) + self.extra_args,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            stdin=subprocess.DEVNULL,
            text=True,
            # Own session: a Ctrl-C in the terminal stops the run, not the server under it.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        found: list[str] = []
        listening = threading.Event()
        reader = threading.Thread(target=self._read_stdout, args=(found, listening), daemon=True)
        reader.start()
        listening.wait(self.start_timeout_s)
        if not found:
            code = self._process.poll()
            if code is None and listening.is_set():  # stdout closed: the server is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = self._process.wait(timeout=5)
            stderr_file.seek(0)
            stderr = stderr_file.read().strip().removeprefix("llmbench: error: ")
            self.stop()
            what = (
                f"exited with code {code}"
                if code is not None
                else f"did not start in {self.start_timeout_s:.0f} s"
            )
            raise EndpointError(
                f"the embedded simulated server {what}" + (f": {stderr[-500:]}" if stderr else ""),
                hint="check the --sim-* options, or run `llmbench sim serve` by hand to see why",
            )
        self.base_url = found[0]
        return self.base_url

    def _read_stdout(self, found: list[str], listening: threading.Event) -> None:
        """Finds the banner, then keeps draining stdout so the server never blocks on it."""
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if not found and (match := _LISTENING.search(line)):
                found.append(match.group(1))
                listening.set()
        listening.set()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()  # the server handles SIGTERM and shuts down cleanly
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()

    def __enter__(self) -> EmbeddedSim:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
