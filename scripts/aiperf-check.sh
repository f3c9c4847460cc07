#!/usr/bin/env bash
# Runs the real aiperf 0.13.0 against `profcmp serve` and checks that profcmp reads its
# artifacts and agrees with profcmp's own load generator (closed loop and a mooncake trace).
#
# aiperf is installed from PyPI into a cached virtualenv (PROFCMP_AIPERF_VENV, default
# ~/.cache/profcmp/aiperf-0.13.0; ~2.5 min the first time, then reused). aiperf cannot reach a
# tokenizer hub here: it gets the project's word-level tokenizer (tests/fixtures/tokenizer/),
# whose token counts equal profcmp serve's. Everything runs on 127.0.0.1.
#
# Usage: scripts/aiperf-check.sh [OUT_DIR]        (needs python3 >= 3.10 with venv, and cargo)
# With AIPERF_CHECK_OPTIONAL=1 (as .ci/run sets it), a failed install from PyPI is a skip, not a
# failure; a disagreement always fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-$root/target/aiperf-check}
venv=${PROFCMP_AIPERF_VENV:-$HOME/.cache/profcmp/aiperf-0.13.0}
rm -rf "$out" && mkdir -p "$out"

if ! "$venv/bin/aiperf" --version 2>/dev/null | grep -qx '0.13.0'; then
    echo "aiperf-check: installing aiperf==0.13.0 into $venv"
    rm -rf "$venv"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check aiperf==0.13.0; }; then
        rm -rf "$venv"
        if [ "${AIPERF_CHECK_OPTIONAL:-}" = 1 ]; then
            echo "aiperf-check: SKIPPED: cannot install aiperf==0.13.0 from PyPI (see the pip output above)"
            exit 0
        fi
        echo "aiperf-check: cannot install aiperf==0.13.0 from PyPI (see the pip output above)"
        exit 1
    fi
fi
echo "aiperf-check: aiperf $("$venv/bin/aiperf" --version)"

cargo build --quiet -p profcmp
profcmp=${CARGO_TARGET_DIR:-$root/target}/debug/profcmp

# The server: Qwen3-32B, 1 prefill TP1 + 1 decode TP1, nominal reality, real time.
"$profcmp" serve --prefill 1:1 --decode 1:1 --port 0 >"$out/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
url=
for _ in $(seq 1 600); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out/serve.log" || true)
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$out/serve.log"; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "aiperf-check: profcmp serve did not start"; cat "$out/serve.log"; exit 1; }
echo "aiperf-check: $(cat "$out/serve.log")"

common=(--url "$url" --model Qwen/Qwen3-32B --ttft 500 --itl 50)
closed=(--concurrency 4 --requests 40 --warmup 4 --isl 512 --osl 32)
trace=(--trace tests/fixtures/aiperf-0.13/mooncake-trace/input-mooncake-small.jsonl)
aiperf=(--loadgen aiperf --aiperf "$venv/bin/aiperf" --tokenizer tests/fixtures/tokenizer)
for run in closed trace; do
    declare -n load=$run
    echo "aiperf-check: $run: profcmp's load generator"
    "$profcmp" loadgen "${common[@]}" "${load[@]}" --out "$out/$run-profcmp"
    echo "aiperf-check: $run: aiperf (artifacts read back by profcmp)"
    "$profcmp" loadgen "${common[@]}" "${load[@]}" "${aiperf[@]}" --out "$out/$run-aiperf"
done

# Agreement: same requests, no errors, p50 TTFT / ITL / latency close.
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
runs = ["closed", "trace"]
# (metric, relative tolerance, absolute tolerance ms)
checks = [("time_to_first_token", 0.15, 5.0), ("inter_token_latency", 0.05, 0.5), ("request_latency", 0.10, 10.0)]
failed_runs = set()
for run in runs:
    mine = json.load(open(f"{out}/{run}-profcmp/profile_export_aiperf.json"))
    theirs = json.load(open(f"{out}/{run}-aiperf/profile_export_aiperf.json"))
    count = lambda s: s["request_count"]["avg"]
    errors = lambda s: (s.get("error_request_count") or {}).get("avg") or 0
    line = f"{run}: requests {count(mine):.0f} vs aiperf {count(theirs):.0f}; errors {errors(mine):.0f} vs {errors(theirs):.0f}"
    if count(mine) != count(theirs) or errors(mine) or errors(theirs):
        failed_runs.add(run)
        line += "  MISMATCH"
    print(line)
    for name, rel, abs_ms in checks:
        a, b = mine[name]["p50"], theirs[name]["p50"]
        ok = abs(a - b) <= rel * b + abs_ms
        if not ok:
            failed_runs.add(run)
        print(f"  {name:<22} p50 profcmp {a:9.2f} ms  aiperf {b:9.2f} ms  ({(a - b) / b * 100:+.1f}%, tolerance {rel * 100:.0f}% + {abs_ms} ms){'' if ok else '  MISMATCH'}")
print("aiperf-check: " + (f"FAILED: {', '.join(sorted(failed_runs))}" if failed_runs else "profcmp and aiperf agree"))
print(f"aiperf-check: {len(runs) - len(failed_runs)} passed, {len(failed_runs)} failed")
sys.exit(1 if failed_runs else 0)
PY
