#!/usr/bin/env bash
# llmbench against a real `transformers serve` (issue 18): streams without [DONE], a model list
# that answers 500, fields refused with 422, and --force-length's generation_config.
#
# Needs a GPU machine with torch and transformers (5.x) and the wheels of transformers serve's
# web stack in $WHEELS (pip download fastapi uvicorn openai pydantic orjson, cp312 manylinux).
# Writes each llmbench run and a summary to $OUT (default ./out). A small random-weight Qwen2
# keeps set-up short; what is checked is the protocol, not the model's speed.
# Run on the lent H200 on 2026-12-02 (docs/engines.md has what it showed), with the wheels
# downloaded into .whl (pip download --only-binary=:all: --python-version 3.12 ... fastapi uvicorn
# openai pydantic orjson) and `OUT=/tmp/tsout WHEELS=.whl`.
set -euo pipefail
OUT=${OUT:-out}
WHEELS=${WHEELS:-build/device/wheels}
PORT=${PORT:-8765}
mkdir -p "$OUT"
SITE=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$SITE:$PWD/src"
MODEL=$(mktemp -d)/qwen2-random

python3 - "$MODEL" <<'EOF'
import sys, torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
path = sys.argv[1]
special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
words = [f"w{i} tok{i % 97} the quick brown fox {i * 7919 % 1000}" for i in range(5000)]
tok.train_from_iterator(words, trainers.BpeTrainer(vocab_size=2048, special_tokens=special,
                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                               pad_token="<|endoftext|>", bos_token=None)
fast.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                      "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
                      "assistant\n{% endif %}")
fast.save_pretrained(path)
cfg = Qwen2Config(vocab_size=len(fast), hidden_size=512, intermediate_size=1408,
                  num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                  max_position_embeddings=4096, eos_token_id=fast.eos_token_id,
                  pad_token_id=fast.pad_token_id, bos_token_id=None)
torch.manual_seed(0)
Qwen2ForCausalLM(cfg).to(torch.bfloat16).save_pretrained(path)
print("model", path, "vocab", len(fast))
EOF

transformers serve "$MODEL" --continuous-batching --dtype bfloat16 --host 127.0.0.1 \
    --port "$PORT" > "$OUT/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
URL="http://127.0.0.1:$PORT"
python3 - "$URL" "$MODEL" <<'EOF'
import json, sys, time, urllib.request
url, model = sys.argv[1:]
body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}],
                   "max_tokens": 4}).encode()
for _ in range(180):  # up to 3 minutes
    try:
        req = urllib.request.Request(url + "/v1/chat/completions", body,
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            print("ready:", resp.status); break
    except Exception as exc:
        time.sleep(1)
else:
    sys.exit("transformers serve did not answer")
EOF

curl -s -o /dev/null -w "GET /v1/models -> %{http_code}\n" "$URL/v1/models" | tee "$OUT/models.txt" || true
curl -sN "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\": \"$MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 4, \"stream\": true, \"stream_options\": {\"include_usage\": true}}" \
    > "$OUT/raw_stream.txt" || true

run() {  # name, then llmbench run flags
    local name=$1; shift
    set +e
    python3 -m llmbench run --base-url "$URL" --model "$MODEL" --output-dir "$OUT/$name" "$@" \
        > "$OUT/$name.stdout" 2> "$OUT/$name.stderr"
    echo "$name exit $?" | tee -a "$OUT/summary.txt"
    set -e
}
run plain --requests 32 --concurrency 4 --output-tokens 32 --warmup 0
run force_vllm_fields --requests 32 --concurrency 4 --output-tokens 32 --force-length --engine vllm
run force_transformers --requests 32 --concurrency 4 --output-tokens 32 --force-length --engine transformers
set +e
python3 -m llmbench run --base-url "$URL" --output-dir "$OUT/no_model" --requests 4 \
    > "$OUT/no_model.stdout" 2> "$OUT/no_model.stderr"
echo "no_model exit $?" | tee -a "$OUT/summary.txt"
set -e
python3 - "$OUT" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for name in ("plain", "force_transformers"):
    run = json.loads((out / name / "run.json").read_text())
    c, t, s = run["counts"], run["tokens"]["requested_vs_generated"], run["summary"]
    print(name, "ok", c["ok"], "errors", c["error"], c["by_category"], "no_done", c["no_done"],
          "reconnected", c["reconnected"], "short", t["n_short"], "long", t["n_long"],
          "ttft p50", round(s["ttft_ms"]["p50"], 2), "itl p50", round(s["itl_ms"]["p50"], 2),
          "trust", run["client"]["trust"]["affected"], run["client"]["trust"]["timestamp_delay_ms"])
EOF
