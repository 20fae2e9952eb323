"""llama-cpp-python's OpenAI-compatible server as a real process on loopback, serving the tiny
model of `scripts/tiny_gguf.py`, with the log of its chunk writes (`traced_llamacpp.py`).

Missing llama-cpp-python is a failure, not a skip: `bash scripts/check` installs it.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

REPO = Path(__file__).resolve().parents[2]
TRACED_SERVER = Path(__file__).with_name("traced_llamacpp.py")
STARTUP_TIMEOUT_S = 90.0
INSTALL_HINT = (
    "llama-cpp-python[server] is not installed: `bash scripts/check` installs it (a build from "
    "source, about 6 minutes on 2 cores, cached by pip), or pip install -e '.[llamacpp]'"
)


def require_llamacpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        raise AssertionError(INSTALL_HINT)


def tiny_model(path: Path) -> Path:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from tiny_gguf import write_model
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return write_model(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Chunk:
    """One SSE data event the server wrote, and when (monotonic ns)."""

    emit_ns: int
    data: dict[str, Any] | None  # None: `[DONE]`

    @property
    def content(self) -> str | None:
        """The delta's content: None when the chunk has none (role-only, finish, [DONE])."""
        if self.data is None:
            return None
        delta = self.data["choices"][0].get("delta") or {}
        content = delta.get("content")
        return content if isinstance(content, str) else None


@dataclass
class Traced:
    """One response as the server wrote it."""

    request_id: str | None
    received_ns: int
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def token_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks if c.content]

    @property
    def empty_chunks(self) -> list[Chunk]:
        return [c for c in self.chunks if c.content == ""]

    @property
    def start_ns(self) -> int:
        return self.chunks[0].emit_ns

    @property
    def end_ns(self) -> int:
        return self.chunks[-1].emit_ns


def _events(emit_ns: int, body: str) -> list[Chunk]:
    chunks = []
    for line in body.splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            data = None if payload == "[DONE]" else json.loads(payload)
            chunks.append(Chunk(emit_ns, data))
    return chunks


@dataclass
class LlamaCppServer:
    process: subprocess.Popen[bytes]
    base_url: str
    trace_path: Path
    log_path: Path

    def responses(self, path: str = "/v1/chat/completions") -> dict[str, Traced]:
        """The traced responses to `path`, by request id."""
        out: dict[str, Traced] = {}
        for line in self.trace_path.read_text().splitlines():
            entry = json.loads(line)
            if entry["path"] != path or entry["request_id"] is None:
                continue
            traced = Traced(entry["request_id"], entry["received_ns"])
            for emit_ns, body in entry["chunks"]:
                traced.chunks.extend(_events(emit_ns, body))
            out[entry["request_id"]] = traced
        return out

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_server(model: Path, workdir: Path) -> LlamaCppServer:
    """Starts the traced server on a free loopback port and waits until it answers."""
    port = free_port()
    trace_path, log_path = workdir / "trace.jsonl", workdir / "server.log"
    trace_path.touch()
    command = [
        sys.executable, str(TRACED_SERVER), str(trace_path),
        "--model", str(model), "--interrupt_requests", "False",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "1024", "--n_threads", "1", "--n_threads_batch", "1",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = LlamaCppServer(process, f"http://127.0.0.1:{port}", trace_path, log_path)
    try:
        _wait_healthy(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_healthy(server: LlamaCppServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"llama_cpp.server exited ({server.process.returncode}) before answering:\n"
                + server.log_tail()
            )
        try:
            with urlopen(server.base_url + "/v1/models", timeout=2) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(
        f"llama_cpp.server did not answer within {STARTUP_TIMEOUT_S} s:\n" + server.log_tail()
    )
