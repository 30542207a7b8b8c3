#!/usr/bin/env bash
# Benchmark (not a test): zerodrop against the load generators people use, in one run, against
# one fixed loopback target. Prints one row per tool and setting: achieved rate, CPU seconds
# per 10k requests (user+sys, the tool's own), peak RSS, p99 as each tool reports it, and, where
# `perf stat` works, context switches per request (cs/req; the tool and all its threads).
#
#   scripts/bench.sh                 # zerodrop, oha, wrk, hey
#   WRK2=/path/to/wrk2 scripts/bench.sh   # and wrk2 (build it from its public source yourself)
#   scripts/bench.sh memory          # zerodrop's peak RSS at 10k req/s: 30 s against 120 s
#   scripts/bench.sh grpc            # gRPC: zerodrop's unary calls beside its own HTTP/2
#                                    # requests (and k6's k6/net/grpc when `k6` is on PATH or
#                                    # K6=/path/to/k6), same server, same run
#   scripts/bench.sh sends           # send lateness of zerodrop, wrk2 and oha measured from
#                                    # outside: their traced writes (perf trace) against an
#                                    # even schedule (scripts/send_lateness.py), at RATES
#
# grpc: the target is zerodrop's release demo app (gRPC echo and HTTP/2 on one port, h2c),
# pinned to core 0; GRPC_RATE (default 5000) calls or requests per second for DURATION over
# GRPC_CONNECTIONS (8) HTTP/2 connections. Rows: zd-grpc (zerodrop.demo.v1.Echo/Echo),
# zd-h2 (GET / over --http2), k6-grpc (constant-arrival-rate, one client connection per VU).
#
# Target: nginx from apt, `worker_processes 1; access_log off; return 200`, pinned to core 0.
# Every generator is pinned to core 1. Settings: 5,000 and 20,000 req/s for 10 s with
# keep-alive and 50 connections, and each tool's maximum with 50 connections.
# Environment: DURATION (s, default 10), RATES (default "5000 20000"), CONNECTIONS (50),
# TARGET_CPU (0), GEN_CPU (1), PORT (18090), TOOLS (default "zerodrop oha wrk hey wrk2"),
# OHA (path to oha), RT=1 to run nginx and every generator under SCHED_FIFO (chrt), which keeps
# other processes on a shared machine (compilers, editors) from skewing the comparison.
# ZD_BASE=/path/to/an/older/zerodrop adds rows `zd-base` running that binary beside this tree's,
# each setting back to back: a change's cost is judged against the build before it in one run.
# SEND_WINDOWS="2ms 4ms" adds a row `zd-w2ms`, `zd-w4ms` per rate: zerodrop with that
# --send-window, to compare CPU at the send lateness another tool shows (`sends` measures theirs).
# TOOLS="... floor" adds a row `floor` per rate (and `floor-wX` per SEND_WINDOWS): scripts/floor.c,
# a bare single-threaded C sender making zerodrop's syscalls per wake-up at zerodrop's window and
# nothing else (no runtime, parsing or recording), built here with cc: the least an exact sender
# costs on this machine, so a row above it is the price of the send timing, not of zerodrop.
# MIX=1 adds rows for the same load given as a scenario's `requests`: `zd-mix1`, one check-free
# template (the cost of the mix machinery itself), and `zd-status`, one template with a
# status-only check (the cost of checking).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
RATES=${RATES:-"5000 20000"}
CONNECTIONS=${CONNECTIONS:-50}
TARGET_CPU=${TARGET_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
PORT=${PORT:-18090}
TOOLS=${TOOLS:-"zerodrop oha wrk hey wrk2"}
URL="http://127.0.0.1:${PORT}/"
WORK=$(mktemp -d /tmp/zerodrop-bench.XXXXXX)
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v hey >/dev/null || need_apt+=(hey)
command -v python3 >/dev/null || need_apt+=(python3)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
OHA=${OHA:-$(command -v oha || true)}
[ "${1:-}" = memory ] && TOOLS=zerodrop
[ "${1:-}" = grpc ] && TOOLS=zerodrop
if [ -z "$OHA" ] && [[ " $TOOLS " == *" oha "* ]]; then
  echo "installing oha (cargo install oha --locked)…" >&2
  cargo install oha --locked --root "$HOME/.cache/zerodrop-bench" >/dev/null 2>&1
  OHA="$HOME/.cache/zerodrop-bench/bin/oha"
fi
if [[ " $TOOLS " == *" floor "* ]]; then
  cc -O2 -o "$WORK/floor" scripts/floor.c
fi
# window_us RATE [WINDOW]: the send window in µs, WINDOW (`2ms`, `400us`) or else zerodrop's
# default at RATE (`dispatch_window` in src/load/dispatch.rs).
window_us() {
  python3 - "$@" <<'PY'
import re, sys
rate = float(sys.argv[1])
if len(sys.argv) > 2:
    v, unit = re.fullmatch(r"([\d.]+)(ms|us|µs)", sys.argv[2]).groups()
    print(int(float(v) * (1000 if unit == "ms" else 1)))
else:
    print(int(min(max(400 + (rate - 10000) * 0.16, 400), 2000)))
PY
}
echo "building zerodrop (release)…" >&2
cargo build --release --quiet
ZD=target/release/zerodrop

cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server { listen 127.0.0.1:${PORT} backlog=4096; location / { return 200 "ok\n"; } }
}
NGINX
RT_TARGET=(); RT_GEN=(); PERF_STAT=()
# Context switches per request (the generator's and its threads'), where perf works here.
if perf stat -x, -e context-switches -o /dev/null true 2>/dev/null; then
  PERF_STAT=(perf stat -x, -e context-switches -o "$WORK/perf" --)
fi
if [ "${RT:-0}" = 1 ]; then RT_TARGET=(chrt -f 60); RT_GEN=(chrt -f 50); fi
"${RT_TARGET[@]}" taskset -c "$TARGET_CPU" nginx -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/nginx-error.log"
trap 'kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; rm -rf "$WORK"' EXIT
sleep 0.5
curl -fsS "$URL" >/dev/null || { echo "nginx did not start" >&2; exit 1; }

# run NAME SETTING OUTFILE -- CMD…: runs CMD pinned to the generator core under /usr/bin/time.
run() {
  local name=$1 setting=$2 out=$3; shift 4
  rm -f "$WORK/perf"
  "${RT_GEN[@]}" taskset -c "$GEN_CPU" "${PERF_STAT[@]}" \
    /usr/bin/time -f "%U %S %M" -o "$WORK/time" "$@" >"$out" 2>"$out.err" || true
  python3 - "$name" "$setting" "$out" "$WORK/time" "$DURATION" "$WORK/perf" <<'PY'
import json, os, re, sys
name, setting, out, timef, duration, perff = sys.argv[1:7]
duration = float(duration)
user, sys_, rss_kb = open(timef).read().split()[-3:]
cpu = float(user) + float(sys_)
text = open(out, errors="replace").read()
requests = rate = p99 = None

def secs(value, unit):
    return float(value) * {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

try:
    if name == "zerodrop" or name.startswith("zd-"):
        r = json.load(open(out + ".json"))
        c = r["recorded"]["overall"]["counts"]
        requests = sum(v for k, v in c.items() if k != "dropped_by_generator")
        failed = requests - c["ok"]
        span = (r["load"]["end"] - r["load"]["start"]) / 1e6
        rate = requests / span
        p99 = r["recorded"]["overall"]["latency"]["p99_us"] / 1e6
        late = r["recorded"]["overall"]["send_lateness"]
        extra = "drops=%d lateness_p99=%.3fms max=%.3fms" % (
            c["dropped_by_generator"], late["p99_us"] / 1e3, late["max_us"] / 1e3)
        if failed:
            extra = "FAILED=%d " % failed + extra
    elif name.startswith("floor"):
        f = dict(kv.split("=") for kv in text.split())
        requests = int(f["requests"])
        rate = requests / duration
        extra = "drops=%s lateness_p99=%.3fms max=%.3fms" % (
            f["dropped"], float(f["lateness_p99_us"]) / 1e3, float(f["lateness_max_us"]) / 1e3)
    elif name in ("wrk", "wrk2"):
        m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
        requests = int(m.group(1))
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        m = re.search(r"^\s*99(?:\.000)?%\s+([\d.]+)(\w+)", text, re.M)
        p99 = secs(m.group(1), m.group(2)) if m else None
        extra = ""
    elif name == "oha":
        r = json.loads(text)
        rate = r["summary"]["requestsPerSec"]
        requests = sum(r["statusCodeDistribution"].values()) if r.get("statusCodeDistribution") else rate * duration
        p99 = r["latencyPercentiles"]["p99"]
        extra = ""
    elif name == "k6-grpc":
        r = json.load(open(out + ".json"))
        m = r["metrics"]
        v = lambda k: m.get(k, {}).get("values", m.get(k, {}))  # v0.4x flat, newer nested
        requests = v("iterations").get("count", 0)
        rate = requests / duration
        p99 = v("grpc_req_duration").get("p(99)", 0) / 1e3
        extra = "drops=%d" % v("dropped_iterations").get("count", 0)
        if v("calls_failed").get("count", 0):
            extra = "FAILED=%d " % v("calls_failed")["count"] + extra
    elif name == "hey":
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        m = re.search(r"\[200\]\s+(\d+) responses", text)
        requests = int(m.group(1)) if m else rate * duration
        m = re.search(r"99% in ([\d.]+) secs", text)
        p99 = float(m.group(1)) if m else None
        extra = ""
except Exception as e:  # a tool that failed still gets a row saying so
    extra = "could not read its output: %s" % e
per10k = cpu / requests * 1e4 if requests else float("nan")
if os.path.exists(perff) and requests:
    for line in open(perff):
        f = line.split(",")
        if len(f) > 2 and f[2] == "context-switches" and f[0].isdigit():
            extra += " cs/req=%.2f" % (int(f[0]) / requests)
p99s = "%.3fms" % (p99 * 1e3) if p99 is not None else "n/a"
print("%-9s %-16s %12s %14s %11.1f %12s  %s" % (
    name, setting, "%.0f" % rate if rate else "n/a", "%.4f" % per10k, int(rss_kb) / 1024, p99s, extra))
PY
}

has() { [[ " $TOOLS " == *" $1 "* ]]; }
if [ "${1:-}" = sends ]; then
  # Send timing measured from outside, the same way for every tool: each generator's request
  # writes traced by `perf trace` (which slows every tool: judge timing here, CPU elsewhere).
  perf trace -e write -o /dev/null true >/dev/null 2>&1 \
    || { echo "sends: needs a working 'perf trace' (root, or perf_event_paranoid <= 1)" >&2; exit 2; }
  echo "send lateness against an even schedule, from each tool's traced writes (ms)"
  traced() {
    local name=$1 setting=$2 rate=$3; shift 3
    "${RT_GEN[@]}" taskset -c "$GEN_CPU" perf trace -e write,sendto -o "$WORK/trace" "$@" \
      >"$WORK/out" 2>&1 || true
    printf "%-9s %-14s %s\n" "$name" "$setting" "$(python3 scripts/send_lateness.py "$WORK/trace" "$rate")"
  }
  for rate in $RATES; do
    setting="${rate}/s ${DURATION}s"
    has zerodrop && traced zerodrop "$setting" "$rate" "$ZD" load --target "$URL" --rate "$rate" \
      --duration "${DURATION}s" --connections "$CONNECTIONS" --quiet --out "$WORK/zd.json"
    for window in ${SEND_WINDOWS:-}; do
      traced "zd-w$window" "$setting" "$rate" "$ZD" load --target "$URL" --rate "$rate" \
        --duration "${DURATION}s" --connections "$CONNECTIONS" --send-window "$window" --quiet \
        --out "$WORK/zd.json"
    done
    has wrk2 && [ -n "${WRK2:-}" ] && traced wrk2 "$setting" "$rate" "$WRK2" -t1 \
      -c "$CONNECTIONS" -d "${DURATION}s" -R "$rate" "$URL"
    has oha && [ -n "$OHA" ] && traced oha "$setting" "$rate" "$OHA" "$URL" -z "${DURATION}s" \
      -q "$rate" -c "$CONNECTIONS" --latency-correction --no-tui
  done
  exit 0
fi
printf "%-9s %-16s %12s %14s %11s %12s  %s\n" tool setting "req/s" "CPU-s/10k" "RSS MiB" p99 notes
if [ "${1:-}" = grpc ]; then
  GRPC_RATE=${GRPC_RATE:-5000}
  GRPC_CONNECTIONS=${GRPC_CONNECTIONS:-8}
  GPORT=$((PORT + 1))
  GURL="http://127.0.0.1:${GPORT}"
  # Something else on the port would answer instead of the demo app (and every call fail).
  if curl -s -o /dev/null "$GURL/" 2>/dev/null; then
    echo "port $GPORT is in use: set PORT so that PORT+1 is free" >&2; exit 2
  fi
  "${RT_TARGET[@]}" taskset -c "$TARGET_CPU" "$ZD" demo-app --port "$GPORT" >"$WORK/demo-app.log" 2>&1 &
  echo $! >"$WORK/demo-app.pid"
  trap 'kill "$(cat "$WORK/demo-app.pid")" 2>/dev/null || true; kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  for _ in $(seq 50); do curl -fsS "$GURL/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  kill -0 "$(cat "$WORK/demo-app.pid")" 2>/dev/null || { cat "$WORK/demo-app.log" >&2; exit 1; }
  setting="${GRPC_RATE}/s ${DURATION}s"
  run zd-grpc "$setting" "$WORK/zdg" -- "$ZD" load --target "$GURL" \
    --grpc zerodrop.demo.v1.Echo/Echo --data '{"message":"hello"}' --rate "$GRPC_RATE" \
    --duration "${DURATION}s" --connections "$GRPC_CONNECTIONS" --quiet --out "$WORK/zdg.json"
  run zd-h2 "$setting" "$WORK/zdh" -- "$ZD" load --target "$GURL/" --http2 --rate "$GRPC_RATE" \
    --duration "${DURATION}s" --connections "$GRPC_CONNECTIONS" --quiet --out "$WORK/zdh.json"
  K6=${K6:-$(command -v k6 || true)}
  if [ -n "$K6" ]; then
    cat >"$WORK/k6-grpc.js" <<K6JS
import grpc from 'k6/net/grpc';
import { Counter } from 'k6/metrics';
const failed = new Counter('calls_failed');
const client = new grpc.Client();
client.load(['$PWD/proto'], 'zerodrop/demo/v1/echo.proto');
export const options = { summaryTrendStats: ['avg', 'p(50)', 'p(99)', 'max'],
  scenarios: { calls: { executor: 'constant-arrival-rate', rate: $GRPC_RATE,
  timeUnit: '1s', duration: '${DURATION}s', preAllocatedVUs: $GRPC_CONNECTIONS, maxVUs: $GRPC_CONNECTIONS } } };
export default () => {
  if (__ITER == 0) { client.connect('127.0.0.1:$GPORT', { plaintext: true }); }
  const r = client.invoke('zerodrop.demo.v1.Echo/Echo', { message: 'hello' });
  failed.add(r && r.status === grpc.StatusOK ? 0 : 1);
};
K6JS
    run k6-grpc "$setting" "$WORK/k6g" -- "$K6" run --quiet --summary-export "$WORK/k6g.json" \
      "$WORK/k6-grpc.js"
  else
    echo "k6-grpc   (k6 not found: set K6=/path/to/k6 or put k6 on PATH for its row)"
  fi
  exit 0
fi
if [ "${1:-}" = memory ]; then
  # Flat memory: peak RSS must not grow with the length of the run.
  for d in 30 120; do
    DURATION=$d run zerodrop "10000/s ${d}s" "$WORK/zd" -- "$ZD" load --target "$URL" --rate 10000 \
      --duration "${d}s" --quiet --out "$WORK/zd.json"
  done
  exit 0
fi
[ -n "${ZD_BASE:-}" ] && TOOLS="$TOOLS zd-base"
if [ "${MIX:-0}" = 1 ]; then
  TOOLS="$TOOLS zd-mix1 zd-status"
  printf 'requests:\n  - name: only\n    path: /\n' >"$WORK/mix1.yaml"
  printf 'requests:\n  - name: only\n    path: /\n    checks:\n      - status: 200\n' >"$WORK/status.yaml"
fi
for rate in $RATES; do
  setting="${rate}/s ${DURATION}s"
  per_conn=$(( rate / CONNECTIONS ))
  has zerodrop && run zerodrop "$setting" "$WORK/zd" -- "$ZD" load --target "$URL" --rate "$rate" \
    --duration "${DURATION}s" --connections "$CONNECTIONS" --quiet --out "$WORK/zd.json"
  has zd-base && run zd-base "$setting" "$WORK/zd" -- "$ZD_BASE" load --target "$URL" --rate "$rate" \
    --duration "${DURATION}s" --connections "$CONNECTIONS" --quiet --out "$WORK/zd.json"
  for window in ${SEND_WINDOWS:-}; do
    run "zd-w$window" "$setting" "$WORK/zd" -- "$ZD" load --target "$URL" --rate "$rate" \
      --duration "${DURATION}s" --connections "$CONNECTIONS" --send-window "$window" --quiet \
      --out "$WORK/zd.json"
  done
  has floor && run floor "$setting" "$WORK/floor.out" -- "$WORK/floor" "$PORT" "$rate" \
    "$CONNECTIONS" "$DURATION" "$(window_us "$rate")"
  for window in ${SEND_WINDOWS:-}; do
    has floor && run "floor-w$window" "$setting" "$WORK/floor.out" -- "$WORK/floor" "$PORT" \
      "$rate" "$CONNECTIONS" "$DURATION" "$(window_us "$rate" "$window")"
  done
  for mix in mix1 status; do
    has "zd-$mix" && run "zd-$mix" "$setting" "$WORK/zd" -- "$ZD" load --target "$URL" \
      --scenario "$WORK/$mix.yaml" --rate "$rate" --duration "${DURATION}s" \
      --connections "$CONNECTIONS" --quiet --out "$WORK/zd.json"
  done
  has oha && [ -n "$OHA" ] && run oha "$setting" "$WORK/oha" -- "$OHA" "$URL" -z "${DURATION}s" \
    -q "$rate" -c "$CONNECTIONS" --latency-correction --no-tui --output-format json
  has wrk2 && [ -n "${WRK2:-}" ] && run wrk2 "$setting" "$WORK/wrk2" -- "$WRK2" -t1 -c "$CONNECTIONS" \
    -d "${DURATION}s" -R "$rate" --latency "$URL"
  has hey && run hey "$setting" "$WORK/hey" -- hey -z "${DURATION}s" -c "$CONNECTIONS" -q "$per_conn" "$URL"
done
setting="max c=${CONNECTIONS} ${DURATION}s"
has zerodrop && run zerodrop "$setting" "$WORK/zd" -- "$ZD" load --target "$URL" --max \
  --connections "$CONNECTIONS" --duration "${DURATION}s" --quiet --out "$WORK/zd.json"
has zd-base && run zd-base "$setting" "$WORK/zd" -- "$ZD_BASE" load --target "$URL" --max \
  --connections "$CONNECTIONS" --duration "${DURATION}s" --quiet --out "$WORK/zd.json"
has oha && [ -n "$OHA" ] && run oha "$setting" "$WORK/oha" -- "$OHA" "$URL" -z "${DURATION}s" \
  -c "$CONNECTIONS" --no-tui --output-format json
has wrk && run wrk "$setting" "$WORK/wrk" -- wrk -t1 -c "$CONNECTIONS" -d "${DURATION}s" --latency "$URL"
has hey && run hey "$setting" "$WORK/hey" -- hey -z "${DURATION}s" -c "$CONNECTIONS" "$URL"
exit 0
