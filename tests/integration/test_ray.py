"""Load workers as Ray actors on a real two-node Ray cluster started here (`ray start --head`
and a second `ray start --address` on this host, one CPU each, no dashboard): a run with two
workers sends the same requests as a local run, writes records the way one process writes them,
measures TTFT/ITL like the simulator's log (one host: one monotonic clock), and an actor killed
mid-run leaves its in-flight requests as `worker_lost` records while the run completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
import orjson
import psutil
import pytest
from rich.console import Console

from llmbench.config import ClosedLoad, RunSpec, WorkloadSpec
from llmbench.config.ray import RaySettings
from llmbench.metrics.columns import ColumnRow
from llmbench.records import RequestRecord
from llmbench.report.terminal import run_summary
from llmbench.run.execute import Target, execute_run
from llmbench.run.workers import ray_actors
from llmbench.store.results import load_run, read_run_file, record_line
from llmbench.store.run_schema import RayCluster, RunResult, WorkerProcess
from support.cli import llmbench, sigterm_long_run

StartSim = Callable[..., str]
RAY = Path(sys.executable).with_name("ray")
NODE_ARGS = ("--num-cpus", "1", "--object-store-memory", "80000000", "--disable-usage-stats")
UP_TIMEOUT_S = 60.0


def sim_logs(base_url: str) -> dict[str, dict[str, Any]]:
    with urlopen(f"{base_url}/sim/log", timeout=10) as response:
        return {e["request_id"]: e for e in json.loads(response.read())["requests"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "ray start --head exited"
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.connect(("127.0.0.1", port))
            return
        time.sleep(0.2)
    raise AssertionError(f"the Ray head did not listen on {port} in {UP_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """`ray start --block` stops its node's processes on SIGTERM; its group is killed after."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # whatever of its group is left
        os.killpg(process.pid, signal.SIGKILL)


def _node(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`ray start --block ARGS` in its own session, its messages appended to `log`."""
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", *args, *NODE_ARGS],
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )  # fmt: skip


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head and a second node on this host (the second joins while the first run places its
    workers: the placement group waits for both nodes); stopped at the end."""
    port = _free_port()
    log = Path(tempfile.mkdtemp(prefix="llmbench-ray-")) / "start.log"
    # The cluster's token (Ray's token authentication), for its nodes and for this driver.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    saved = {name: os.environ.get(name) for name in auth}
    os.environ.update(auth)
    nodes = [_node(log, "--head", "--port", str(port), "--include-dashboard", "false")]
    try:
        _wait_port(port, nodes[0])
        nodes.append(_node(log, "--address", f"127.0.0.1:{port}"))
        yield f"127.0.0.1:{port}"
    finally:
        for node in reversed(nodes):
            _stop(node)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _spec(ray: str | None, *, requests: int, output_tokens: int) -> RunSpec:
    return RunSpec(
        workload=WorkloadSpec(input_tokens=16, output_tokens=output_tokens, seed=5),
        load=ClosedLoad(concurrency=4, requests=requests, warmup=2, workers=2),
        ray=RaySettings(address=ray, workers=2 if ray else None),
    )


def _check_nodes(run: RunResult, per_worker: list[WorkerProcess]) -> None:
    """`client.nodes`: one entry per node with its one worker, its environment (captured
    there: this host, the driver's versions) and its worker's watch (pooled over one worker:
    that worker's own figures); the terminal shows a line per node."""
    nodes = run.client.nodes or []
    assert sorted(n.node for n in nodes) == sorted(w.node or "" for w in per_worker)
    watch = {w.worker_id: w for w in run.client.workers or ()}
    for node in nodes:
        (worker_id,) = node.workers
        worker = next(w for w in per_worker if w.worker_id == worker_id)
        assert worker.environment is not None
        assert (node.hostname, node.python) == (socket.gethostname(), platform.python_version())
        assert node.cpu_model == worker.environment.host.cpu_model
        assert node.differs_from_driver == []  # one venv
        assert node.lost == []
        assert node.loop_lag_n > 0
        assert node.loop_lag_ms_p99 == watch[worker_id].loop_lag_ms_p99
        assert node.saturated == watch[worker_id].saturated
        assert node.cpu_s == worker.cpu_s
        assert node.cpu_mean_cores == watch[worker_id].cpu_mean_fraction
    console = Console(record=True, width=400)
    console.print(run_summary(run))
    text = console.export_text()
    for node in nodes:
        assert f"node {node.node}: workers {node.workers[0]}; {node.hostname}, " in text


def _gaps_ms(records: list[RequestRecord]) -> list[float]:
    return [float(g) / 1e6 for r in records for g in np.diff(np.asarray(r.chunk_offsets_ns))]


def test_two_ray_workers_run_like_local_workers_and_measure_like_the_sim(
    ray_cluster: str, start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=30.0, itl_ms=5.0)
    runs = {}
    for name, address in (("local", None), ("ray", ray_cluster)):
        spec = _spec(address, requests=16, output_tokens=6)
        runs[name] = asyncio.run(execute_run(spec, Target(base_url), tmp_path / name))
    local, ray = runs["local"], runs["ray"]
    assert ray.status == local.status == "complete"
    assert ray.workers.start == "ray"
    assert ray.workers.processes == 2
    assert ray.workers.cluster is not None
    assert ray.workers.cluster.nodes == 2  # SPREAD
    per_worker = ray.workers.per_worker or []
    assert len({w.node for w in per_worker}) == 2
    assert all(w.clock_offset_ns == w.clock_uncertainty_ns == 0 for w in per_worker)  # one host
    for worker in per_worker:  # each node's environment, captured there
        assert worker.environment is not None
        assert worker.environment.host.hostname == socket.gethostname()
        assert worker.environment.python.version == ray.environment.python.version
    _check_nodes(ray, per_worker)
    assert local.client.nodes is None  # processes on this host: no nodes
    # The start skew: the spread of the workers' own lateness after the common start.
    late = [w.start_late_ms for w in per_worker if w.start_late_ms is not None]
    assert len(late) == 2
    assert ray.client.start_skew_ms == pytest.approx(max(late) - min(late), abs=1e-9)
    assert ray.workers.start_skew_ms == ray.client.start_skew_ms
    # The same requests, the same record and summary schema as the local run.
    lines = {n: (tmp_path / n / "records.jsonl").read_bytes().splitlines(True) for n in runs}
    assert len(lines["ray"]) == len(lines["local"]) == 18
    items = {n: sorted(orjson.loads(line)["item_id"] for line in lines[n]) for n in runs}
    assert items["ray"] == items["local"]
    for line in lines["ray"]:  # byte for byte the one-process encoding of its record
        assert record_line(RequestRecord.from_json_dict(orjson.loads(line))) == line
        assert list(orjson.loads(line)) == list(orjson.loads(lines["local"][0]))
    assert ray.summary.model_dump().keys() == local.summary.model_dump().keys()
    assert ray.counts.ok == local.counts.ok == 16
    # TTFT and ITL agree with the simulator's log (the local workers' bound, test_workers.py).
    logs = sim_logs(base_url)
    records = load_run(tmp_path / "ray").records
    assert {r.worker_id for r in records} == {0, 1}
    measured = [(r.first_token_ns or 0) - r.sent_ns for r in records]
    true = [logs[r.request_id]["chunk_emit_ns"][0] - logs[r.request_id]["received_ns"]
            for r in records]  # fmt: skip
    assert abs(np.mean(measured) - np.mean(true)) / 1e6 < 5.0
    true_gaps = [
        float(g) / 1e6 for r in records for g in np.diff(logs[r.request_id]["chunk_emit_ns"])
    ]
    assert abs(np.mean(_gaps_ms(records)) - np.mean(true_gaps)) < 5.0


def _actor_pids(running: bool = False) -> list[int]:
    """The worker actors' processes (Ray titles them after the actor's class, and the method
    while one runs: `running` keeps those in `run`, not an earlier test's actor ending)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if cmdline.startswith("ray::LoadWorker.run" if running else "ray::LoadWorker"):
            found.append(process.info["pid"])
    return found


def test_a_killed_ray_worker_leaves_its_in_flight_requests_as_errors(
    ray_cluster: str, start_sim: StartSim, tmp_path: Path
) -> None:
    base_url = start_sim(ttft_ms=20.0, itl_ms=20.0)
    spec = _spec(ray_cluster, requests=40, output_tokens=8)  # ~180 ms a request
    killed: list[int] = []

    def on_record(row: ColumnRow) -> None:
        if not killed and row.ok and not row.warmup:
            victim = _actor_pids(running=True)[0]
            os.kill(victim, signal.SIGKILL)  # the actor's process dies: no goodbye
            killed.append(victim)

    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run", on_record=on_record))

    assert run.status == "complete"  # finished with the other worker
    lost = next(w for w in run.workers.per_worker or () if w.pid == killed[0])
    assert lost.lost is True
    records = load_run(tmp_path / "run").records
    by_id = {r.request_id: r for r in records}
    assert len(by_id) == len(records)
    lost_records = [r for r in records if r.error and r.error.category.value == "worker_lost"]
    assert 1 <= len(lost_records) <= 2  # its two streams: whatever was in flight at the kill
    assert lost.lost_in_flight == len(lost_records)
    assert {r.worker_id for r in lost_records} == {lost.worker_id}
    assert run.counts.by_category == {"worker_lost": len(lost_records)}
    survivor = [r for r in records if r.worker_id != lost.worker_id]
    assert len(survivor) == 21  # its whole share, warm-up included
    assert all(r.ok for r in survivor)
    assert set(sim_logs(base_url)) <= set(by_id)  # every request the server saw is recorded
    console = Console(record=True, width=200)
    console.print(run_summary(run))
    text = console.export_text()
    assert "workers 2 on Ray (2 nodes, start skew " in text
    assert f"worker {lost.worker_id} (pid {killed[0]}) died: {len(lost_records)} in-flight" in text
    # Its node says so too (one worker a node here).
    lost_node = next(n for n in run.client.nodes or () if lost.worker_id in n.workers)
    assert lost_node.lost == [lost.worker_id]
    assert f"node {lost_node.node}: workers {lost.worker_id} ({lost.worker_id} lost); " in text


def test_sigterm_stops_the_ray_workers_and_keeps_every_finished_record(
    ray_cluster: str, tmp_path: Path
) -> None:
    run, lines = sigterm_long_run(tmp_path, extra=["--ray", ray_cluster, "--ray-workers", "2"])
    assert run.workers is not None
    assert run.workers.start == "ray"
    assert {line["worker_id"] for line in lines} == {0, 1}
    assert len({line["request_id"] for line in lines}) == len(lines)
    for worker in run.workers.per_worker or ():
        assert worker.lost is False  # told to stop: each sent its `done`, none was lost
    assert not _actor_pids()  # the actors ended with the run


def test_workers_taken_for_another_hosts_get_a_measured_offset_and_keep_their_durations(
    ray_cluster: str, start_sim: StartSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver made to believe its actors run on another host (another boot id): their
    clock offsets are estimated instead of known; the true offset is 0 (one host), so each
    estimate must lie within its stated uncertainty, the records' times moved by it must stay
    within that of the simulator's log, and durations must not change."""
    monkeypatch.setattr(ray_actors, "boot_id", lambda: "another-host")
    base_url = start_sim(ttft_ms=30.0, itl_ms=5.0)
    spec = _spec(ray_cluster, requests=8, output_tokens=4)
    run = asyncio.run(execute_run(spec, Target(base_url), tmp_path / "run"))
    assert run.status == "complete"
    per_worker = {w.worker_id: w for w in run.workers.per_worker or ()}
    for worker in per_worker.values():
        assert worker.clock_uncertainty_ns is not None
        assert worker.clock_offset_ns is not None
        assert worker.clock_uncertainty_ns > 0
        assert abs(worker.clock_offset_ns) <= worker.clock_uncertainty_ns
    assert run.workers.start_skew_uncertainty_ms == pytest.approx(
        2 * max(w.clock_uncertainty_ns or 0 for w in per_worker.values()) / 1e6
    )
    logs = sim_logs(base_url)
    excess_ms = []
    for record in load_run(tmp_path / "run").records:
        log, worker = logs[record.request_id], per_worker[record.worker_id]
        # On the driver's clock: sent before the simulator received it, give or take the
        # offset's error (at most its uncertainty).
        assert record.sent_ns - (worker.clock_uncertainty_ns or 0) <= log["received_ns"]
        ttft_ns = (record.first_token_ns or 0) - record.sent_ns  # one clock's difference
        excess_ms.append((ttft_ns - (log["chunk_emit_ns"][0] - log["received_ns"])) / 1e6)
    assert min(excess_ms) >= 0  # never shorter than the server's own TTFT: not moved apart
    assert np.mean(excess_ms) < 5.0  # the local workers' bound (test_workers.py)


TINY_STUDY = {
    "targets": {"a": "sim:deterministic"},
    "workload": {"input_tokens": 16, "output_tokens": 4},
    "scenarios": {"concurrency": {"levels": [2, 4], "requests": 8}},
}


def _study_runs(out: Path) -> list[RunResult]:
    return [read_run_file(p) for p in sorted(out.glob("0*/run.json")) if "." not in p.parent.name]


def _complete_on_ray(run: RunResult, out: Path) -> RayCluster:
    """On two Ray workers, every record there once, all ok; the spec keeps the Ray settings
    and its hash does not (as `llmbench run --ray`). The cluster it ran on."""
    assert run.status == "complete"
    assert run.workers is not None
    assert (run.workers.start, run.workers.processes) == ("ray", 2)
    assert run.workers.cluster is not None
    assert run.spec.ray.address is not None
    assert run.spec_hash == run.spec.model_copy(update={"ray": RaySettings()}).spec_hash()
    records = (out / run.run_id / "records.jsonl").read_bytes().splitlines()
    lines = [orjson.loads(line) for line in records]
    assert len(lines) == len({line["request_id"] for line in lines}) == 8
    assert all(line["status"] == "ok" for line in lines)
    assert {line["worker_id"] for line in lines} == {0, 1}
    assert run.counts is not None
    assert run.counts.ok == 8
    return run.workers.cluster


def test_a_study_places_every_runs_workers_on_ray_and_resumes_on_another_cluster(
    ray_cluster: str, tmp_path: Path
) -> None:
    """`llmbench study --ray local`: one Ray instance for the whole study (both runs' workers
    on the same node); resumed with `--ray ADDRESS`, the unfinished run reruns on that cluster,
    the finished one is kept: the Ray settings are not part of the study's identity."""
    spec, out = tmp_path / "study.yaml", tmp_path / "out"
    spec.write_text(json.dumps(TINY_STUDY))
    ray_flags = ["--ray-workers", "2", "--output-dir", str(out)]
    result = llmbench("study", str(spec), "--ray", "local", *ray_flags, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    first, second = _study_runs(out)
    nodes = []
    for run in (first, second):
        assert _complete_on_ray(run, out).address == "local"
        assert run.workers is not None
        nodes.append({w.node for w in run.workers.per_worker or ()})
    assert len(nodes[0]) == 1  # one local node
    assert nodes[0] == nodes[1]  # started once: the same node (its id) for both runs
    for run in (first, second):  # the client is the driver: not Ray's daemons, not the actors
        assert run.monitors is not None
        assert run.monitors.client["processes"].max == 1

    # As a study killed during its second run leaves it: study.json says running.
    index = json.loads((out / "study.json").read_text())
    index["status"] = "running"
    index["runs"][1]["status"] = "running"
    (out / "study.json").write_text(json.dumps(index))
    resumed = llmbench("study", str(spec), "--resume", "--ray", ray_cluster, *ray_flags,
                       timeout=120)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    kept, rerun = _study_runs(out)
    assert kept == first  # untouched
    cluster = _complete_on_ray(rerun, out)
    assert (cluster.address, cluster.nodes) == (ray_cluster, 2)
    assert (out / f"{second.run_id}.interrupted-1" / "run.json").exists()  # set aside, kept
    assert json.loads((out / "study.json").read_text())["status"] == "complete"
