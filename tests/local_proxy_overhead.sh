#!/bin/bash
# Measured by hand (not part of cargo test): bash tests/local_proxy_overhead.sh after cargo build --release; needs nginx.
# Proxy overhead: the same closed-loop load straight at nginx, then through `zerodrop local`'s
# proxy (engine + proxy in one process); CPU seconds per 10k requests from bash's `time`.
set -e
BIN=${BIN:-/work/wt-local/target/release/zerodrop}
D=/tmp/ngxm; rm -rf $D; mkdir -p $D; echo "needs /tmp/ngx/nginx.conf.in and run.sh as in tests/local_real_servers.rs"; cp /tmp/ngx/nginx.conf.in /tmp/ngx/run.sh $D/
sed -i 's#access_log @DIR@/access-@PORT@.log;#access_log off;#' $D/nginx.conf.in
PORT=28080 taskset -c 0 $D/run.sh >/dev/null 2>&1 & NPID=$!
sleep 1
echo "== direct"
TIMEFORMAT='cpu user %U sys %S real %R'
time taskset -c 1 $BIN load --quiet --target http://127.0.0.1:28080/ --rate 5000 --connections 20 --duration 10s --out $D/direct.json | head -3
kill -QUIT $NPID; wait $NPID 2>/dev/null || true
echo "== through the local proxy (1 replica, 10s baseline)"
time taskset -c 1 $BIN local --quiet --rate 5000 --connections 20 --replicas 1 --baseline 10s --settle 0s --stop-signal QUIT --out $D/proxy.json -- taskset -c 0 $D/run.sh | head -3
python3 - <<PY
import json
for n in ("direct","proxy"):
    d=json.load(open("$D/%s.json"%n)); c=d["recorded"]["overall"]["counts"]
    print(n, "ok", c["ok"], "failed", sum(v for k,v in c.items() if k!="ok"))
PY
