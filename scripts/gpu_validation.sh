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
#   STAGE=stationary the sweeps and the predicted loads (RATE from the sweep: 60 % of its best
#                    requests/s) on one server after a long warm-up (WARMUP_S), then some
#                    concurrencies again (AGAIN_LEVELS) to see whether the server still moved
#   STAGE=agents     a random-weight GLM-4.1V-9B-shaped vision model: 1080x2400 PNG screenshot
#                    requests at c=1 and c=4, the phone-agent loop (scripts/gpu/phone-agent-gpu.yaml)
#                    with stripped and kept screenshots; then the text model: sessions of 4 turns
#                    with and without --cache-bust turn (does the server reuse a prefix cache?)
#   STAGE=study      llmbench's own study runner (scripts/gpu/study-gpu.yaml: baseline,
#                    concurrency 1..64, input lengths 128..8k in the model's exact tokens,
#                    sessions continued vs new; GPU monitor on), STUDY_RUNS times in a row, then
#                    `llmbench report` (md, png) and the per-request ITL time series
#                    (scripts/gpu/itl_modes.py); WARMUP_CYCLE=1 first cycles the server through
#                    batch sizes 64..1 (does batch-shape warm-up settle its ITL mode?);
#                    PREDICTED=1 then runs the predicted loads and AGAIN_LEVELS with the
#                    study's prompts (2,048 exact tokens), RATE from the study's best;
#                    PROFILE=1 samples the server with py-spy (a wheel in $WHEELS2) in 20 s
#                    windows all along (results/pyspy/<unix time>.txt, collapsed stacks);
#                    PROBE=1 times a fixed Python loop and reads CPU steal once a second
#                    (scripts/gpu/cpu_probe.py -> results/cpu_probe.txt)
#
# Needs: torch + transformers 5.x (the H200 image has them), the wheels of transformers serve's
# web stack in $WHEELS (see docs/real-engines.md), llmbench's source in ./src. ENGINE=sim runs
# the same stages against llmbench's simulator instead (a CPU dry run of this script).
# LLMBENCH_SRC: the llmbench source to run (default ./src).
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
# faster over its first ~3 minutes in calls 1-2, but 180 s of it did not make it stationary in
# call 4 (docs/real-engines.md); 0: none
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
    export PYTHONPATH="$SITE:${LLMBENCH_SRC:-$PWD/src}"
    PY=python3
else
    PY=${PY:-.venv/bin/python}
    export PYTHONPATH="${LLMBENCH_SRC:-$PWD/src}"
fi
URL="http://127.0.0.1:$PORT"
SERVER=""
LOAD_INPUT=(--input-tokens 512)  # the prompts of the predicted and repeated loads

start_server() {  # $1: extra flags of transformers serve (e.g. --continuous-batching)
    if [ "$ENGINE" = transformers ]; then
        transformers serve "$MODEL" $1 --dtype bfloat16 --host 127.0.0.1 --port "$PORT" \
            > "$RESULTS/serve$2.log" 2>&1 &
    else
        $PY -m llmbench sim serve --preset cloud-warm --port "$PORT" --model "$MODEL" \
            ${SIM_FLAGS:-} > "$RESULTS/serve$2.log" 2>&1 &
    fi
    SERVER=$!
    $PY - "$URL" "$MODEL" "$SERVER" <<'PYEOF' || exit 1
import json, os, sys, time, urllib.request
url, model, pid = sys.argv[1:]
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
        if not os.path.exists(f"/proc/{pid}"):
            sys.exit("the server exited: see its serve*.log")
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

sweeps() {  # what calibration needs: input lengths at c=1, concurrency 1..64
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
}

predicted_loads() {  # loads not measured before: CONCURRENCY_LEVELS, and a Poisson RATE
    for c in ${CONCURRENCY_LEVELS:-12 24}; do
        bench "predicted_c$c" --concurrency "$c" --requests $(( c * 3 )) --warmup "$c" \
            "${LOAD_INPUT[@]}"
    done
    if [ -n "${RATE:-}" ]; then
        bench "predicted_rate" --profile poisson --rate "$RATE" --duration 30 \
            --max-concurrency 128 --warmup 4 "${LOAD_INPUT[@]}"
    fi
    pack predicted
}

sweep_again() {  # concurrency levels, seconds to keep for what follows: has the server moved?
    for c in $1; do
        if [ "$BUDGET" -gt 0 ] && [ $(( SECONDS + $2 + c )) -gt "$BUDGET" ]; then
            echo "concurrency_again_$c and after skipped: ${SECONDS} s of $BUDGET s spent"
            break
        fi
        requests=$(( c * 3 > 16 ? c * 3 : 16 ))
        bench "concurrency_again_$c" --concurrency "$c" --requests "$requests" \
            --warmup "$(( c < 8 ? c : 8 ))" "${LOAD_INPUT[@]}"
    done
    pack sweeps_again
}

capacity_rate() {  # 60 % of the best requests/s the concurrency sweep ($1: its run.json glob) reached
    $PY - "$RESULTS" "${1:-concurrency_*/run.json}" <<'PYEOF'
import json, pathlib, sys
best = 0.0
for path in pathlib.Path(sys.argv[1]).glob(sys.argv[2]):
    run = json.loads(path.read_text())
    best = max(best, run["counts"]["ok"] / run["engine"]["measured"]["duration_s"])
print(f"{0.6 * best:.2f}")
PYEOF
}

text_model() {
    if [ "$ENGINE" = transformers ]; then
        MODEL="$WORK/qwen2-7b-shape"
        python3 scripts/gpu/build_text_model.py "$MODEL" --layers "$LAYERS" || exit 1
        TOKENIZER="$MODEL"
    else
        MODEL=llmbench-sim
        TOKENIZER="$WORK/tokenizer"  # the same BPE, alone: the dry run's exact prompt lengths
        $PY scripts/gpu/build_text_model.py "$TOKENIZER" --tokenizer-only || exit 1
    fi
}

cycle_warm_up() {  # every running-batch size from 64 down to 1 (each closed loop drains)
    for c in 64 32 16 8 4 2 1; do
        bench "cycle_c$c" --concurrency "$c" --requests $(( c * 2 )) --input-tokens 512
    done
    pack cycle
}

run_study() {  # $1: the study's directory name under results/
    local engine=null force=false
    if [ "$ENGINE" = transformers ]; then engine=transformers; force=true; fi
    sed -e "s|@BASE_URL@|$URL/v1|; s|@MODEL@|$MODEL|; s|@TOKENIZER@|$TOKENIZER|" \
        -e "s|@ENGINE@|$engine|; s|@FORCE@|$force|" scripts/gpu/study-gpu.yaml \
        > "$RESULTS/$1.yaml"
    # a copy of the results every minute: a timeout mid-study still brings back the runs so far
    ( while sleep 60; do pack "$1_partial" > /dev/null; done ) &
    local packer=$!
    $PY -m llmbench study "$RESULTS/$1.yaml" --output-dir "$RESULTS/$1" \
        > "$RESULTS/$1.stdout" 2> "$RESULTS/$1.stderr"
    echo "$1: exit $? $(date -u +%T)"
    kill "$packer"; wait "$packer" 2>/dev/null
    rm -f "$OUT/$1_partial.tar.gz"
    pack "$1"
}

profile_server() {  # where the server's threads spend their time, window by window
    local pyspy="$WORK/pyspy/bin/py-spy"
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$WORK/pyspy" \
        "${WHEELS2:-.whl2}"/py_spy-*.whl > /dev/null 2>&1 || { echo "no py-spy wheel"; return; }
    mkdir -p "$RESULTS/pyspy"
    while kill -0 "$SERVER" 2> /dev/null; do
        "$pyspy" record --pid "$SERVER" --subprocesses --duration 20 --rate 20 --nonblocking \
            --threads --idle --format raw --output "$RESULTS/pyspy/$(date +%s).txt" \
            > /dev/null 2>> "$RESULTS/pyspy/errors.log" || break
    done
}

study_reports() {  # $1: the study's directory name: the reports and the ITL time series
    for format in md png; do
        $PY -m llmbench report "$RESULTS/$1" --format "$format" > "$RESULTS/$1.report_$format.log" 2>&1
        echo "report $1 --format $format: exit $?"
    done
    $PY scripts/gpu/itl_modes.py "$RESULTS/$1" > "$RESULTS/$1.itl_modes.txt"
    echo "itl_modes $1: exit $?"
}

if [ "$ENGINE" = transformers ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$RESULTS/gpu.csv"
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' \
        > "$RESULTS/versions.txt"
fi

if [ "$STAGE" != agents ]; then
    text_model
fi
if [ "$STAGE" = sweeps ]; then
    start_server --continuous-batching ""
    warm_up
    sweeps
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
    predicted_loads
    sweep_again "1 2 4 8 16 32" 70  # keep ~70 s for the server without continuous batching
    stop_server
    if [ "$ENGINE" = transformers ]; then
        start_server "" "_static"
        bench static_c4 --concurrency 4 --requests 8 --warmup 1 --input-tokens 512
        bench static_c1 --concurrency 1 --requests 6 --warmup 1 --input-tokens 512
        pack static
    fi
elif [ "$STAGE" = stationary ]; then
    # the prediction test again on a server warmed for minutes (set WARMUP_S, e.g. 180)
    start_server --continuous-batching ""
    warm_up
    sweeps
    RATE=${RATE:-$(capacity_rate)}
    echo "predicted_rate: Poisson $RATE requests/s (60 % of the sweep's best)"
    predicted_loads
    sweep_again "${AGAIN_LEVELS:-8 2 32}" 0
elif [ "$STAGE" = study ]; then
    start_server --continuous-batching ""
    if [ "${PROFILE:-0}" = 1 ]; then profile_server & fi
    if [ "${PROBE:-0}" = 1 ]; then  # the host's CPU speed and steal, once a second
        $PY scripts/gpu/cpu_probe.py "$RESULTS/cpu_probe.txt" &
        PROBE_PID=$!
    fi
    warm_up
    if [ "${WARMUP_CYCLE:-0}" = 1 ]; then cycle_warm_up; fi
    for i in $(seq 1 "${STUDY_RUNS:-1}"); do
        run_study "study_$i"
    done
    if [ "${PREDICTED:-0}" = 1 ]; then  # loads the study did not measure, its prompts
        LOAD_INPUT=(--input-tokens 2048 --tokenizer "hf:$TOKENIZER" --exact-tokens)
        RATE=${RATE:-$(capacity_rate "study_1/*-concurrency-c*/run.json")}
        echo "predicted_rate: Poisson $RATE requests/s (60 % of the study's best)"
        predicted_loads
        sweep_again "${AGAIN_LEVELS:-2 8}" 15
    fi
    stop_server
    if [ -n "${PROBE_PID:-}" ]; then kill "$PROBE_PID"; fi
    for i in $(seq 1 "${STUDY_RUNS:-1}"); do
        study_reports "study_$i"
    done
    $PY scripts/gpu/itl_modes.py "$RESULTS" --json "$RESULTS/itl_modes.json" \
        > "$RESULTS/itl_modes.txt"
    pack study
elif [ "$STAGE" = agents ]; then
    SCREEN=(--images 1 --image-size 1080x2400 --image-format png --input-tokens 64)
    if [ "$ENGINE" = transformers ]; then
        MODEL="$WORK/glm4v-9b-shape"
        python3 scripts/gpu/build_vision_model.py "$MODEL" --layers "${VISION_LAYERS:-40}" \
            || exit 1
    else
        MODEL=llmbench-sim
        SIM_FLAGS="--reply agent"  # the simulator plays the agent (finishes at its third step)
    fi
    start_server --continuous-batching "_vision"
    bench image_warmup --concurrency 1 --requests 3 "${SCREEN[@]}"
    bench image_c1 --concurrency 1 --requests 12 --warmup 1 "${SCREEN[@]}"
    bench image_c4 --concurrency 4 --requests 16 --warmup 4 "${SCREEN[@]}"
    pack images
    AGENT=(--agent-loop scripts/gpu/phone-agent-gpu.yaml)
    bench agent_strip_c1 "${AGENT[@]}"
    bench agent_keep_c1 "${AGENT[@]}" --set agent_loop.history=keep_images
    bench agent_strip_c3 "${AGENT[@]}" --set agent_loop.concurrency=3
    pack agents
    stop_server
    if [ "$ENGINE" = transformers ]; then rm -rf "$MODEL"; fi
    SIM_FLAGS=""
    # the text model: do later turns of a session find their history in a prefix cache?
    text_model
    start_server --continuous-batching "_text"
    warm_up
    for rep in 1 2; do  # alternating which goes first: the server still gets faster
        for mode in $( [ "$rep" = 1 ] && echo "off turn" || echo "turn off" ); do
            bench "sessions_${mode}_r$rep" --sessions 4 --turns 4 --concurrency 1 --warmup 0 \
                --input-tokens 512 --cache-bust "$mode"
        done
    done
    pack sessions
fi
