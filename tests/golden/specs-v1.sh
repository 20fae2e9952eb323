#!/usr/bin/env bash
# How tests/golden/specs-v1.json and run-v1/run.json were made: `llmbench run` of commit 9e5cf49
# (the last with the version-1 `load.profile` spec), one run or study per profile, against the
# embedded simulator; the `spec` of each run.json (of study.json for studies) is kept.
# Usage: tests/golden/specs-v1.sh PYTHON (a Python with llmbench's dependencies installed)
set -euo pipefail
PY=${1:?python}
ROOT=$(git rev-parse --show-toplevel)
WORK=$(mktemp -d)
git -C "$ROOT" archive 9e5cf49 src | tar -x -C "$WORK"
cd "$WORK"
export PYTHONPATH="$WORK/src"
F="--sim-ttft-ms 2 --sim-itl-ms 1 --output-tokens 4 --input-tokens 16"
run() { "$PY" -m llmbench run $F "$@" >/dev/null 2>&1 || true; }
run --concurrency 2 --requests 4 --warmup 1 --output-dir out/concurrency
run --profile synchronous --requests 2 --output-dir out/synchronous
run --profile gamma --rate 50 --burstiness 0.5 --requests 4 --max-concurrency 3 --slo ttft_ms:500 --output-dir out/gamma
run --profile ramp --rate 50 --ramp-start-rate 5 --duration 0.3 --output-dir out/ramp
run --profile ramp --concurrency 3 --duration 0.3 --output-dir out/ramp-streams
printf '{"timestamp": 0, "input_length": 8, "output_length": 2}\n{"timestamp": 10, "input_length": 8, "output_length": 2}\n' > trace.jsonl
run --profile replay --trace trace.jsonl --time-scale 0.5 --output-dir out/replay
run --profile concurrency-sweep --concurrency 1,2 --requests 2 --cooldown 0.1 --output-dir out/csweep
run --profile input-sweep --input-tokens 8,16 --prefix-tokens 4 --concurrency 2 --requests 2 --output-dir out/isweep
run --profile constant --rate 40 --requests 3 --repeat 2 --output-dir out/repeat
run --profile slo-search --search concurrency --slo ttft_ms:1 --requests 2 --output-dir out/slo
run --profile sweep --concurrency 2 --sweep-steps 1 --requests 2 --max-concurrency 2 --output-dir out/sweep
"$PY" - "$ROOT/tests/golden" <<'PYEOF'
import json, pathlib, sys
golden = pathlib.Path(sys.argv[1])
out, root = {}, pathlib.Path("out")
for d in sorted(root.iterdir()):
    f = d / "run.json" if (d / "run.json").exists() else d / "study.json"
    out[d.name] = json.loads(f.read_text())["spec"]
step = next((root / "sweep").glob("03-*/run.json"))
out["sweep-step-rate"] = json.loads(step.read_text())["spec"]
(golden / "specs-v1.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
(golden / "run-v1").mkdir(exist_ok=True)
(golden / "run-v1" / "run.json").write_text((root / "gamma" / "run.json").read_text())
PYEOF
rm -rf "$WORK"
