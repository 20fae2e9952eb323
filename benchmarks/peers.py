"""Peer clients vs llmbench: what guidellm, aiperf, evalscope and llmbench report against truth.

Each tool runs as a subprocess against the same embedded simulator at the same closed-loop loads;
the table shows its reported mean/P99 TTFT and ITL beside the truth from the simulator's emission
log over the same requests, and its CPU seconds per 1,000 token events (RUSAGE_CHILDREN deltas).

    python benchmarks/peers.py --install            # one virtualenv per peer in benchmarks/.peers
    python benchmarks/peers.py [--layout pinned|shared|both] [--levels 1:20,64:256,256:1024]
                               [--tools llmbench,aiperf,evalscope,guidellm] [--json FILE]
    python benchmarks/peers.py --medians run1.json run2.json run3.json   # medians of saved runs

Run it with llmbench's own interpreter (llmbench runs as `python -m llmbench`). `pinned`: tools
on CPU 0, simulator on CPU 1; `shared`: all float. Traffic stays on 127.0.0.1; every tool run has
a time-out. Each run's files (tool output, result files, simulator log) stay in .peers/runs/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import numpy as np

from llmbench.config import SimSpec
from llmbench.metrics.stats import percentile_min_n, percentiles
from llmbench.run.target import EmbeddedSim
from llmbench.store.results import read_run_file

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
PEER_PACKAGES = {
    "guidellm": ["torch==2.13.0", "guidellm"],  # the CPU torch on disk, not a 6 GB CUDA one
    "aiperf": ["aiperf"],
    "evalscope": ["evalscope[perf]"],
}
TOOLS = ("llmbench", "aiperf", "evalscope", "guidellm")
MODEL = "llmbench-sim"
INPUT_TOKENS, OUTPUT_TOKENS = 128, 64
INSTALL_TIMEOUT_S = 1200.0

# Vocabulary of the word-level tokenizer: one token per whitespace word, as the simulator counts.
VOCABULARY = """
the of and to in is was he for it with as his on be at by had are but from or have an
they which one you were her all she there would their we him been has when who will more no if out
so said what up its about into than them can only other new some could time these two may then do
first any my now such like our over man me even most made after also did many before must through
back years where much your way well down should because each just those people how too little state
good very make world still own see men work long get here between both life being under never day
same another know while last might us great old year off come since against go came right used take
three states himself few house use during without again place american around however home small
found thought went say part once general high upon school every does got united left number course
war until always away something fact though water less public put think almost hand enough far took
head yet government system better set told nothing night end why called eyes find going look asked
later knew point next city business give group toward young days let room president side social
present given several order national possible rather second face per among form often early white
case become large big need four within felt along children saw best church ever least power thing
light family interest want members mind country area others done turned although open problem
sense service certain kind different thus began door help means whole matter perhaps itself york
times law human line above name example action company hands local show whether five history gave
today either act feet across taken past quite anything seen having death experience body word half
really week free car field already information tell together money keep morning story river garden
bright quiet gentle simple plain green yellow silver golden window table chair paper letter music
"""


@dataclass(frozen=True, slots=True)
class Load:
    concurrency: int
    requests: int


@dataclass(slots=True)
class Row:
    tool: str
    layout: str
    concurrency: int
    requests: int
    rc: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    events: int = 0
    reported: dict[str, float | None] = field(default_factory=dict)
    truth: dict[str, float | None] = field(default_factory=dict)
    n_truth: int = 0
    note: str = ""

    @property
    def cpu_per_1k(self) -> float | None:
        return 1000 * self.cpu_s / self.events if self.events else None


# --- install and tokenizer -------------------------------------------------------------------


def venv_bin(peer: str, name: str) -> Path:
    return PEERS_DIR / peer / "bin" / name


def install(peers: list[str]) -> None:
    """One virtualenv per peer, installed in parallel from the package index."""
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    running: dict[str, subprocess.Popen[bytes]] = {}
    for peer in peers:
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_DIR / peer)], check=True)
        pip = [str(venv_bin(peer, "pip")), "install", "-q", *PEER_PACKAGES[peer]]
        with (PEERS_DIR / f"{peer}.install.log").open("wb") as log:  # pip keeps its own copy
            running[peer] = subprocess.Popen(pip, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + INSTALL_TIMEOUT_S
    for peer, proc in running.items():
        try:
            rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        print(f"{peer}: pip exit {rc} (log: {PEERS_DIR / f'{peer}.install.log'})")


TOKENIZER_SCRIPT = """
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
words = sys.argv[2:]
specials = ["[UNK]", "[PAD]", "[BOS]", "[EOS]"]
vocab = {w: i for i, w in enumerate(specials + words)}
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
# [UNK] is not declared special: decoding with skip_special_tokens must keep one word per token.
fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", bos_token="[BOS]",
                               eos_token="[EOS]", model_max_length=1 << 20)
fast.save_pretrained(sys.argv[1])
"""


def build_tokenizer(directory: Path) -> Path:
    """Word-level tokenizer, no config.json (transformers would then pick the class from it)."""
    if (directory / "tokenizer.json").exists():
        return directory
    python = next(venv_bin(p, "python") for p in PEER_PACKAGES if venv_bin(p, "python").exists())
    args = [str(python), "-c", TOKENIZER_SCRIPT, str(directory), *dict.fromkeys(VOCABULARY.split())]
    subprocess.run(args, check=True, timeout=300, capture_output=True)
    return directory


# --- commands and their outputs --------------------------------------------------------------


def command(tool: str, base_url: str, load: Load, tokenizer: Path) -> list[str]:
    """The tool's own command line for a closed loop of `load` (PEERS.md), run inside its folder."""
    c, n, tok = str(load.concurrency), str(load.requests), str(tokenizer)
    if tool == "llmbench":
        return [
            sys.executable, "-m", "llmbench", "run", "--base-url", base_url, "--model", MODEL,
            "--endpoint", "completions", "--concurrency", c, "--requests", n, "--warmup", c,
            "--input-tokens", str(INPUT_TOKENS), "--output-tokens", str(OUTPUT_TOKENS),
            "--extra-body", '{"ignore_eos": true}', "--output-dir", "out",
        ]  # fmt: skip
    if tool == "aiperf":
        return [
            str(venv_bin(tool, "aiperf")), "profile", "--model", MODEL, "--url", base_url,
            "--endpoint-type", "completions", "--streaming", "--tokenizer", tok,
            "--isl", str(INPUT_TOKENS), "--isl-stddev", "0", "--osl", str(OUTPUT_TOKENS),
            "--osl-stddev", "0", "--concurrency", c, "--request-count", n, "--ui", "none",
            "--extra-inputs", "ignore_eos:true", "--artifact-dir", "artifacts",
        ]  # fmt: skip
    if tool == "evalscope":
        return [
            str(venv_bin(tool, "evalscope")), "perf", "--url", f"{base_url}/v1/completions",
            "--api", "openai", "--model", MODEL, "--tokenizer-path", tok, "--dataset", "random",
            "--min-prompt-length", str(INPUT_TOKENS), "--max-prompt-length", str(INPUT_TOKENS),
            "--max-tokens", str(OUTPUT_TOKENS), "--min-tokens", str(OUTPUT_TOKENS),
            "--parallel", c, "--number", n, "--stream", "--extra-args", '{"ignore_eos":true}',
            "--outputs-dir", "out", "--no-timestamp",
        ]  # fmt: skip
    return [
        str(venv_bin(tool, "guidellm")), "run",
        "--backend", f"kind=openai_http,target={base_url},model={MODEL},"
        "request_format=/v1/completions",
        "--profile", f"kind=concurrent,streams={c}",
        "--data", f"kind=synthetic_text,prompt_tokens={INPUT_TOKENS},output_tokens={OUTPUT_TOKENS}",
        "--tokenizer", f"kind=hf_auto,model={tok}", "--constraint", f"kind=max_requests,count={n}",
        "--output", "kind=json,path=result.json", "--disable-progress",
    ]  # fmt: skip


def child_env(tool: str) -> dict[str, str]:
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    if tool == "aiperf":
        # aiperf cannot load a local tokenizer directory in offline mode; no hub is reachable, so
        # point it at a closed loopback port instead.
        env.pop("HF_HUB_OFFLINE", None)
        env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    return env


def one_file(folder: Path, name: str) -> Path:
    found = sorted(folder.rglob(name))
    if not found:
        raise FileNotFoundError(f"no {name} under {folder}")
    return found[-1]


def read_llmbench(folder: Path) -> tuple[dict[str, float | None], set[str]]:
    """run.json summary (its P99 is None below 100 samples); warm-up ids from the records."""
    run = read_run_file(folder / "out" / "run.json")
    summary, client = run.summary, run.client
    if summary is None or client is None:
        raise SystemExit(f"{folder}: the run did not finish")
    records = [json.loads(line) for line in (folder / "out" / "records.jsonl").open()]
    warmup = {r["request_id"] for r in records if r["warmup"]}
    out: dict[str, float | None] = {}
    for metric in ("ttft", "itl"):
        stats = getattr(summary, f"{metric}_ms")
        out[f"{metric}_mean"] = stats.mean
        out[f"{metric}_p99"] = stats.p99
    # Its own saturation watch: event-loop lag says whether the host let it read on time.
    out["loop_lag_p99"] = client.loop_lag_ms.p99 if client.loop_lag_ms else None
    return out, warmup


def read_aiperf(folder: Path) -> dict[str, float | None]:
    """profile_export_aiperf.json: {metric: {avg, p99, ...}}; its inter_token_latency is TPOT."""
    data = json.loads(one_file(folder, "profile_export_aiperf.json").read_bytes())
    ttft, itl = data["time_to_first_token"], data["inter_token_latency"]
    return {"ttft_mean": ttft["avg"], "ttft_p99": ttft["p99"], "itl_mean": itl["avg"],
            "itl_p99": itl["p99"]}  # fmt: skip


def read_evalscope(folder: Path) -> dict[str, float | None]:
    """benchmark_summary.json 'Avg TTFT (ms)', 'Avg ITL (ms)'; benchmark_percentile.json '99%'."""
    summary = json.loads(one_file(folder, "benchmark_summary.json").read_bytes())
    percentiles = json.loads(one_file(folder, "benchmark_percentile.json").read_bytes())
    p99 = next(row for row in percentiles if row["Percentiles"] == "99%")
    return {"ttft_mean": summary["Avg TTFT (ms)"], "ttft_p99": p99["TTFT (ms)"],
            "itl_mean": summary["Avg ITL (ms)"], "itl_p99": p99["ITL (ms)"]}  # fmt: skip


def read_guidellm(folder: Path) -> dict[str, float | None]:
    """result.json benchmarks[0].metrics.{time_to_first_token_ms,inter_token_latency_ms}.successful
    (its ITL is per request, (E2E − TTFT)/(tokens − 1); its TPOT includes the first token)."""
    metrics = json.loads((folder / "result.json").read_bytes())["benchmarks"][0]["metrics"]
    ttft = metrics["time_to_first_token_ms"]["successful"]
    itl = metrics["inter_token_latency_ms"]["successful"]
    return {"ttft_mean": ttft["mean"], "ttft_p99": ttft["percentiles"]["p99"],
            "itl_mean": itl["mean"], "itl_p99": itl["percentiles"]["p99"]}  # fmt: skip


READERS: dict[str, Callable[[Path], dict[str, float | None]]] = {
    "aiperf": read_aiperf, "evalscope": read_evalscope, "guidellm": read_guidellm
}  # fmt: skip
# Tools whose reported ITL is a per-request average (TPOT): truth P99 is taken the same way.
PER_REQUEST_ITL = {"aiperf", "guidellm"}


# --- truth, CPU and one run ------------------------------------------------------------------


def sim_log(base_url: str) -> list[dict[str, Any]]:
    with urlopen(f"{base_url}/sim/log", timeout=60) as response:
        return list(json.loads(response.read())["requests"])


def clear_log(base_url: str) -> None:
    urlopen(Request(f"{base_url}/sim/log/clear", method="POST"), timeout=10).close()


def truth(entries: list[dict[str, Any]], per_request_itl: bool) -> dict[str, float | None]:
    """TTFT = first chunk written − first byte read; ITL = gaps between chunk writes."""
    ttft = [(e["chunk_emit_ns"][0] - e["received_ns"]) / 1e6 for e in entries]
    gaps = [np.diff(e["chunk_emit_ns"]) / 1e6 for e in entries]
    itl = [float(g.mean()) for g in gaps] if per_request_itl else np.concatenate(gaps)
    late = np.concatenate(
        [np.subtract(e["chunk_emit_ns"], e["chunk_deadline_ns"]) for e in entries]
    )
    return {
        # P99 None below 100 values (llmbench's gate, `stats.percentile_min_n`).
        "ttft_mean": float(np.mean(ttft)), "ttft_p99": percentiles(ttft, (99,))["p99"],
        # The mean gap equals the mean of per-request means: every request has 63 gaps.
        "itl_mean": float(np.mean(np.concatenate(gaps))), "itl_p99": percentiles(itl, (99,))["p99"],
        "sim_late_ms": float(late.mean() / 1e6),
    }  # fmt: skip


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(argv: list[str], env: dict[str, str], cwd: Path, timeout_s: float) -> int | None:
    """Runs the tool in its own process group, killed whole on time-out (rc None)."""
    with (cwd / "output.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            rc: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            rc = None
        # Leftover helpers (aiperf runs several processes) go too, on time-out or not.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        proc.wait()
    return rc


def run_one(tool: str, layout: str, load: Load, base_url: str, tokenizer: Path) -> Row:
    row = Row(tool, layout, load.concurrency, load.requests)
    folder = PEERS_DIR / "runs" / f"{layout}-{tool}-c{load.concurrency}-n{load.requests}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    waves = -(-load.requests // load.concurrency) + 1
    timeout_s = 180 + 5 * waves * (0.2 + 0.02 * OUTPUT_TOKENS)
    clear_log(base_url)
    cpu_before, started = children_cpu_s(), time.monotonic()
    row.rc = run_child(command(tool, base_url, load, tokenizer), child_env(tool), folder, timeout_s)
    row.cpu_s, row.wall_s = children_cpu_s() - cpu_before, time.monotonic() - started
    entries = sim_log(base_url)
    (folder / "sim_log.json").write_text(json.dumps(entries))
    row.events = sum(len(e["chunk_emit_ns"]) for e in entries)  # warm-up included: it costs CPU
    exclude: set[str] = set()
    try:
        if tool == "llmbench":
            row.reported, exclude = read_llmbench(folder)
        else:
            row.reported = READERS[tool](folder)
    except (OSError, KeyError, ValueError, StopIteration) as exc:
        row.note = f"no result: {exc!r}"[:200]
    # Out: llmbench's warm-up, and probes of another size (evalscope's 1-token connection test).
    done = [
        e for e in entries
        if e["request_id"] not in exclude and e["outcome"] == "complete" and e["chunk_emit_ns"]
        and e["prompt_tokens"] == INPUT_TOKENS
    ]  # fmt: skip
    row.n_truth = len(done)
    if row.n_truth != load.requests and not row.note:
        row.note = f"truth over {row.n_truth} of {load.requests} requests"
    if done:
        row.truth = truth(done, tool in PER_REQUEST_ITL)
    return row


# --- table and entry point -------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


Stats = dict[str, float | None]


def gated(reported: Stats, true: Stats, key: str) -> float | None:
    """A tool's reported P99 where the truth over the same requests supports one, else None: a
    P99 of fewer than 100 values is the top values' interpolation, whoever reports it."""
    return reported.get(key) if true.get(key) is not None else None


def lag_note(row: Row) -> str:
    lag = row.reported.get("loop_lag_p99")
    return "" if lag is None else f"  loop lag P99 {lag:.1f}"


def print_table(rows: list[Row]) -> None:
    print("\nreported vs simulator truth over the same requests; times in ms")
    print("ITL*: the tool reports a per-request average (TPOT); its true P99 is taken the same way")
    print("P99 -: fewer than 100 values (the tool's own figure withheld too)")
    head = (
        f"{'tool':<10} {'layout':<6} {'c':>4} {'n':>5} {'rc':>3} | {'TTFT':>8} {'true':>7} "
        f"{'err':>7} | {'P99':>7} {'true':>7} | {'ITL':>7} {'true':>7} {'err':>6} | "
        f"{'P99':>6} {'true':>6} | {'sim late':>8} | {'CPU s':>6} {'s/1k ev':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        rep, tru = r.reported, r.truth
        name = r.tool + ("*" if r.tool in PER_REQUEST_ITL else "")
        print(
            f"{name:<10} {r.layout:<6} {r.concurrency:>4} {r.n_truth:>5} {fmt(r.rc, 'd'):>3} | "
            f"{fmt(rep.get('ttft_mean'), '.2f'):>8} {fmt(tru.get('ttft_mean'), '.2f'):>7} "
            f"{fmt(diff(rep.get('ttft_mean'), tru.get('ttft_mean')), '+.2f'):>7} | "
            f"{fmt(gated(rep, tru, 'ttft_p99'), '.1f'):>7} {fmt(tru.get('ttft_p99'), '.1f'):>7} | "
            f"{fmt(rep.get('itl_mean'), '.3f'):>7} {fmt(tru.get('itl_mean'), '.3f'):>7} "
            f"{fmt(diff(rep.get('itl_mean'), tru.get('itl_mean')), '+.3f'):>6} | "
            f"{fmt(gated(rep, tru, 'itl_p99'), '.2f'):>6} {fmt(tru.get('itl_p99'), '.2f'):>6} | "
            f"{fmt(tru.get('sim_late_ms'), '.3f'):>8} | {r.cpu_s:>6.1f} "
            f"{fmt(r.cpu_per_1k, '.3f'):>7}" + (f"  {r.note}" if r.note else "") + lag_note(r)
        )


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def print_medians(paths: list[Path]) -> None:
    """Several saved runs (`--json` files) as one table: per layout, level and tool the median
    over the runs of each figure, and every run's mean TTFT error beside it. TTFT P99 only from
    100 requests (llmbench's gate; older files hold P99s of fewer)."""
    cells: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for path in paths:
        for row in json.loads(path.read_bytes()):
            cells.setdefault((row["layout"], row["concurrency"], row["tool"]), []).append(row)
    print(f"\nmedians of {len(paths)} runs; errors = reported − true (ms)")
    head = (
        f"{'layout':<6} {'c':>4} {'tool':<10} | {'TTFT err':>8} {'(each run)':<28} | "
        f"{'P99 err':>7} | {'ITL err':>7} | {'CPU s/1k ev':>11} | {'loop lag P99':>12}"
    )
    print(head)
    print("-" * len(head))
    for (layout, c, tool), rows in sorted(cells.items()):
        rep, tru = [r["reported"] for r in rows], [r["truth"] for r in rows]
        ttft = [diff(a.get("ttft_mean"), b.get("ttft_mean")) for a, b in zip(rep, tru, strict=True)]
        p99 = [
            diff(a.get("ttft_p99"), b.get("ttft_p99"))
            if r["n_truth"] >= percentile_min_n(99)
            else None
            for a, b, r in zip(rep, tru, rows, strict=True)
        ]
        itl = [diff(a.get("itl_mean"), b.get("itl_mean")) for a, b in zip(rep, tru, strict=True)]
        each = " / ".join(fmt(v, "+.2f") for v in ttft)
        name = tool + ("*" if tool in PER_REQUEST_ITL else "")
        print(
            f"{layout:<6} {c:>4} {name:<10} | {fmt(median(ttft), '+.2f'):>8} {each:<28} | "
            f"{fmt(median(p99), '+.1f'):>7} | {fmt(median(itl), '+.3f'):>7} | "
            f"{fmt(median([r['cpu_s_per_1k_events'] for r in rows]), '.3f'):>11} | "
            f"{fmt(median([a.get('loop_lag_p99') for a in rep]), '.1f'):>12}"
        )


def parse_levels(text: str) -> list[Load]:
    loads = []
    for item in text.split(","):
        c, _, n = item.partition(":")
        loads.append(Load(int(c), int(n) if n else max(20, 4 * int(c))))
    return loads


def run_layout(layout: str, loads: list[Load], tools: list[str], tokenizer: Path) -> list[Row]:
    """One simulator for the layout; every tool at every load against it."""
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    sim = EmbeddedSim(SimSpec(ttft_ms=200.0, itl_ms=20.0))
    base_url = sim.start()
    rows = []
    try:
        if layout == "pinned" and sim.pid is not None:
            os.sched_setaffinity(sim.pid, {1})
            os.sched_setaffinity(0, {0})  # the tools inherit it
        for load in loads:
            for tool in tools:
                print(f"{layout}: {tool} c={load.concurrency} n={load.requests} ...", flush=True)
                rows.append(run_one(tool, layout, load, base_url, tokenizer))
    finally:
        sim.stop()
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="create the peers' virtualenvs")
    parser.add_argument("--levels", default="1:20,64:256,256:1024", help="C:N,C:N,...")
    parser.add_argument("--layout", choices=("pinned", "shared", "both"), default="pinned")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--json", type=Path, help="also write the raw rows here")
    parser.add_argument(
        "--medians", type=Path, nargs="+", metavar="JSON",
        help="run nothing: print the medians of runs saved with --json",
    )  # fmt: skip
    args = parser.parse_args()
    if args.medians:
        print_medians(args.medians)
        return
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; choose from {TOOLS}")
    if args.install:
        install([t for t in tools if t in PEER_PACKAGES])
    missing = [t for t in tools if t in PEER_PACKAGES and not venv_bin(t, t).exists()]
    if missing:
        parser.error(f"not installed: {missing}; run with --install first")
    tokenizer = build_tokenizer(PEERS_DIR / "tokenizer")
    layouts = ("pinned", "shared") if args.layout == "both" else (args.layout,)
    rows = [
        r for lay in layouts for r in run_layout(lay, parse_levels(args.levels), tools, tokenizer)
    ]
    print_table(rows)
    if args.json:
        payload = [{**asdict(r), "cpu_s_per_1k_events": r.cpu_per_1k} for r in rows]
        args.json.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
