"""The Ray placement's own pieces without a cluster: the error when Ray is missing (as a user
sees it: one message, no traceback), records moved onto the driver's clock, the clock offset of
an actor on another host estimated within its stated uncertainty, and what is refused."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from array import array
from concurrent.futures import Future
from pathlib import Path

import pytest

from llmbench.config import ClosedLoad, RunSpec, WorkloadSpec
from llmbench.config.ray import RaySettings
from llmbench.errors import ConfigError, DistributedError
from llmbench.records import RequestRecord, Status
from llmbench.run.plan import build_load
from llmbench.run.workers import ray_actors
from llmbench.run.workers.child import on_parent_clock


def test_without_ray_the_run_says_which_extra_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "ray"  # an installed `ray` that cannot be imported
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "llmbench", "run", "--ray", "local", "--requests", "2",
         "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "pip install 'llmbench[ray]'" in done.stderr
    assert "Traceback" not in done.stderr


def _record(**times: int | None) -> RequestRecord:
    return RequestRecord(
        request_id="r", target_id="t", item_id="i", worker_id=0, status=Status.OK,
        scheduled_ns=1_000, sent_ns=2_000, headers_ns=3_000, first_token_ns=4_000,
        first_content_ns=4_000, end_ns=9_000, chunk_offsets_ns=array("q", [2_000, 3_000]),
        **times,  # type: ignore[arg-type]
    )  # fmt: skip


def test_records_move_onto_the_parents_clock_with_their_durations_kept() -> None:
    record = _record(first_sent_ns=1_500)
    assert on_parent_clock(record, 0) is record  # one host: nothing to move
    moved = on_parent_clock(record, 700)
    assert (moved.scheduled_ns, moved.sent_ns, moved.end_ns) == (300, 1_300, 8_300)
    assert (moved.headers_ns, moved.first_token_ns, moved.first_sent_ns) == (2_300, 3_300, 800)
    assert moved.chunk_offsets_ns == record.chunk_offsets_ns  # offsets from sent_ns
    assert moved.end_ns - moved.sent_ns == record.end_ns - record.sent_ns  # type: ignore[operator]
    assert on_parent_clock(_record(first_sent_ns=None), 5).first_sent_ns is None


class _Call:
    def __init__(self, value: tuple[int, str, str], delay_s: float) -> None:
        self._value, self._delay_s = value, delay_s

    def future(self) -> Future[tuple[int, str, str]]:
        future: Future[tuple[int, str, str]] = Future()
        time.sleep(self._delay_s)  # the way there
        future.set_result(self._value)
        return future


class _Method:
    def __init__(self, offset_ns: int, boot: str) -> None:
        self.offset_ns, self.boot = offset_ns, boot

    def remote(self) -> _Call:
        return _Call((time.monotonic_ns() + self.offset_ns, self.boot, "elsewhere"), 0.002)


class _Actor:
    def __init__(self, offset_ns: int, boot: str) -> None:
        self.clock = _Method(offset_ns, boot)


def test_an_actor_on_another_host_gets_its_offset_within_the_stated_uncertainty() -> None:
    placement = object.__new__(ray_actors.RayPlacement)
    true_offset = -3_600 * 10**9  # booted an hour later than this host
    clock = asyncio.run(placement._clock(_Actor(true_offset, "another-boot")))
    assert clock.uncertainty_ns > 0
    assert abs(clock.offset_ns - true_offset) <= clock.uncertainty_ns
    assert clock.node == "elsewhere"
    same = asyncio.run(placement._clock(_Actor(0, ray_actors.boot_id())))
    assert (same.offset_ns, same.uncertainty_ns) == (0, 0)  # one boot: one clock, exactly


def test_no_ray_address_is_a_local_run_and_an_agent_workload_is_refused() -> None:
    spec = RunSpec(load=ClosedLoad(concurrency=2, requests=4))
    assert ray_actors.ray_placement(spec, build_load(spec)) is None
    sessions = RunSpec(
        workload=WorkloadSpec(sessions=2, turns=2),
        load=ClosedLoad(concurrency=2, requests=4),
        ray=RaySettings(address="local"),
    )
    with pytest.raises(ConfigError, match="one process, not on Ray"):
        ray_actors.ray_placement(sessions, build_load(sessions))


def test_an_unreachable_cluster_fails_in_seconds_with_the_fix() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    placement = ray_actors.RayPlacement(RaySettings(address=f"127.0.0.1:{port}"))
    began = time.monotonic()
    with pytest.raises(DistributedError, match="cannot reach the Ray cluster") as caught:
        placement._connect(2)
    assert time.monotonic() - began < ray_actors.CONNECT_TIMEOUT_S + 1
    assert "ray start --head" in (caught.value.hint or "")
