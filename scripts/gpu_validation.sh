#!/usr/bin/env bash
# llmbench on a real engine on a GPU (issue 16, parts 2-4): a random-weight Qwen2.5-7B-shaped
# model served by `transformers serve`, measured by llmbench beside an independent reference
# client, and the loads the calibrated twin must predict.
#
#   STAGE=sweeps     input-length sweep at c=1, concurrency sweep 1..64 (what calibration needs),
#                    and llmbench vs the reference client, interleaved A B / B A, 3 repeats
#   STAGE=predicted  llmbench and the reference client at the same time on one server (paired,
#                    3 repeats), loads that were not measured before (CONCURRENCY_LEVELS, and a
#                    Poisson RATE set from the sweeps' capacity), the concurrency sweep again with
#                    more requests, then the server without continuous batching
#
# Needs: torch + transformers 5.x (the H200 image has them), the wheels of transformers serve's
# web stack in $WHEELS (see docs/real-engines.md), llmbench's source in ./src. ENGINE=sim runs
# the same stages against llmbench's simulator instead (a CPU dry run of this script).
# Results: one tar.gz per section in $OUT, written as each section ends.
set -uo pipefail
STAGE=${STAGE:-sweeps}
ENGINE=${ENGINE:-transformers}
OUT=${OUT:-out}
WHEELS=${WHEELS:-.whl}
PORT=${PORT:-8765}
LAYERS=${LAYERS:-28}
OUTPUT_TOKENS=${OUTPUT_TOKENS:-32}
REPEATS=${REPEATS:-3}
# seconds of extra closed-loop load (c=16) before measuring: transformers serve 5.17 got ~1.5x
# faster over its first ~3 minutes in both GPU calls (docs/real-engines.md); 0 (as run): none
WARMUP_S=${WARMUP_S:-0}
BUDGET=${BUDGET:-0}  # seconds this script may take (0: no limit); the repeat sweep yields to it
mkdir -p "$OUT"
WORK=$(mktemp -d)
RESULTS="$WORK/results"
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1
if [ "$ENGINE" = transformers ]; then
    SITE="$WORK/site"
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "$WHEELS"/*.whl \
        || exit 1
    export PYTHONPATH="$SITE:$PWD/src"
    PY=python3
else
    PY=${PY:-.venv/bin/python}
    export PYTHONPATH="$PWD/src"
fi
URL="http://127.0.0.1:$PORT"
SERVER=""

start_server() {  # $1: extra flags of transformers serve (e.g. --continuous-batching)
    if [ "$ENGINE" = transformers ]; then
        transformers serve "$MODEL" $1 --dtype bfloat16 --host 127.0.0.1 --port "$PORT" \
            > "$RESULTS/serve$2.log" 2>&1 &
    else
        $PY -m llmbench sim serve --preset cloud-warm --port "$PORT" --model "$MODEL" \
            > "$RESULTS/serve$2.log" 2>&1 &
    fi
    SERVER=$!
    $PY - "$URL" "$MODEL" <<'PYEOF' || exit 1
import json, sys, time, urllib.request
url, model = sys.argv[1:]
body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}],
                   "max_tokens": 4}).encode()
started = time.monotonic()
while time.monotonic() - started < 240:
    try:
        request = urllib.request.Request(url + "/v1/chat/completions", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            print(f"server ready after {time.monotonic() - started:.0f} s"); break
    except Exception:
        time.sleep(1)
else:
    sys.exit("the server did not answer in 240 s")
PYEOF
}

stop_server() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    SERVER=""
}
trap stop_server EXIT

engine_flags() {
    if [ "$ENGINE" = transformers ]; then echo "--force-length --engine transformers"; fi
}

bench() {  # name, then llmbench run flags
    local name=$1; shift
    $PY -m llmbench run --base-url "$URL" --model "$MODEL" --output-dir "$RESULTS/$name" \
        --output-tokens "$OUTPUT_TOKENS" $(engine_flags) "$@" \
        > "$RESULTS/$name.stdout" 2> "$RESULTS/$name.stderr"
    echo "$name: exit $? $(date -u +%T)"
}

reference() {  # name, concurrency, requests, warmup[, prompt seed]
    $PY scripts/gpu/reference_client.py --base-url "$URL" --model "$MODEL" \
        --concurrency "$2" --requests "$3" --warmup "$4" --seed "${5:-0}" --input-tokens 512 \
        --output-tokens "$OUTPUT_TOKENS" --out "$RESULTS/$1.json" 2>&1 | tail -1
}

warm_up() {
    bench warmup --concurrency 4 --requests 8
    if [ "$WARMUP_S" -gt 0 ]; then
        bench warmup_long --concurrency 16 --duration "$WARMUP_S" --input-tokens 512
    fi
}

pack() {  # section name: the results so far, as one file back
    tar -czf "$OUT/$1.tar.gz" -C "$WORK" results && echo "packed $1 $(date -u +%T)"
}

if [ "$ENGINE" = transformers ]; then
    MODEL="$WORK/qwen2-7b-shape"
    python3 scripts/gpu/build_text_model.py "$MODEL" --layers "$LAYERS" || exit 1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$RESULTS/gpu.csv"
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' \
        > "$RESULTS/versions.txt"
else
    MODEL=llmbench-sim
fi

if [ "$STAGE" = sweeps ]; then
    start_server --continuous-batching ""
    warm_up
    for n in 128 512 2048 8192; do
        bench "input_$n" --concurrency 1 --requests 10 --warmup 1 --input-tokens "$n"
    done
    pack sweeps_input
    for c in 1 2 4 8 16 32 64; do
        requests=$(( c * 2 > 12 ? c * 2 : 12 ))
        warmup=$(( c < 8 ? c : 8 ))
        bench "concurrency_$c" --concurrency "$c" --requests "$requests" --warmup "$warmup" \
            --input-tokens 512
    done
    pack sweeps_concurrency
    # llmbench and the reference client on the same loads, alternating which goes first
    for rep in $(seq 1 "$REPEATS"); do
        for c in 1 8; do
            requests=$(( c == 1 ? 8 : 24 ))
            if [ $(( rep % 2 )) = 1 ]; then
                bench "agree_llmbench_c${c}_r$rep" --concurrency "$c" --requests "$requests" \
                    --warmup "$c" --input-tokens 512
                reference "agree_reference_c${c}_r$rep" "$c" "$requests" "$c"
            else
                reference "agree_reference_c${c}_r$rep" "$c" "$requests" "$c"
                bench "agree_llmbench_c${c}_r$rep" --concurrency "$c" --requests "$requests" \
                    --warmup "$c" --input-tokens 512
            fi
        done
    done
    pack agreement
elif [ "$STAGE" = predicted ]; then
    start_server --continuous-batching ""
    warm_up
    # Both tools at once: the server's drift between runs (its ITL switches modes for whole
    # rounds) cannot then pass for a difference between the tools; each sees half the streams.
    for rep in $(seq 1 "$REPEATS"); do
        for c in 1 4; do
            requests=$(( c == 1 ? 10 : 20 ))
            bench "paired_llmbench_c${c}_r$rep" --concurrency "$c" --requests "$requests" \
                --warmup "$c" --input-tokens 512 &
            ours=$!
            # other prompts of the same length: no prefix-cache hits on the other tool's prompt
            reference "paired_reference_c${c}_r$rep" "$c" "$requests" "$c" 1 &
            # the two tools only: a bare `wait` would also wait for the server, forever
            wait "$ours" $!
        done
    done
    pack paired
    for c in ${CONCURRENCY_LEVELS:-12 24}; do
        bench "predicted_c$c" --concurrency "$c" --requests $(( c * 3 )) --warmup "$c" \
            --input-tokens 512
    done
    if [ -n "${RATE:-}" ]; then
        bench "predicted_rate" --profile poisson --rate "$RATE" --duration 30 \
            --max-concurrency 128 --warmup 4 --input-tokens 512
    fi
    pack predicted
    for c in 1 2 4 8 16 32; do
        # keep ~70 s for the server without continuous batching (restart and two runs)
        if [ "$BUDGET" -gt 0 ] && [ $(( SECONDS + 70 + c )) -gt "$BUDGET" ]; then
            echo "concurrency_again_$c and above skipped: ${SECONDS} s of $BUDGET s spent"
            break
        fi
        requests=$(( c * 3 > 16 ? c * 3 : 16 ))
        bench "concurrency_again_$c" --concurrency "$c" --requests "$requests" \
            --warmup "$(( c < 8 ? c : 8 ))" --input-tokens 512
    done
    pack sweeps_again
    stop_server
    if [ "$ENGINE" = transformers ]; then
        start_server "" "_static"
        bench static_c4 --concurrency 4 --requests 8 --warmup 1 --input-tokens 512
        bench static_c1 --concurrency 1 --requests 6 --warmup 1 --input-tokens 512
        pack static
    fi
fi
