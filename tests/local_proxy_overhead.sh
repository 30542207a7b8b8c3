#!/bin/bash
# Measured by hand (not part of cargo test): bash tests/local_proxy_overhead.sh after cargo build --release; needs nginx.
# Proxy overhead: the same closed-loop load straight at nginx, then through `zerodrop local`'s
# proxy (engine + proxy in one process); CPU seconds per 10k requests from bash's `time`.
set -e
BIN=${BIN:-/work/wt-local/target/release/zerodrop}
D=$(mktemp -d)
cat > $D/nginx.conf.in <<'CONF'
daemon off;
master_process on;
worker_processes 1;
pid @DIR@/nginx-@PORT@.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path @DIR@/body-@PORT@;
  proxy_temp_path @DIR@/proxy-@PORT@;
  keepalive_timeout 65;
  server {
    listen 127.0.0.1:@PORT@;
    location = /ready { access_log off; return 200 "ready\n"; }
    location / { return 200 "hello\n"; }
  }
}
CONF
cat > $D/run.sh <<'RUN'
#!/bin/sh
# Renders the nginx configuration for this replica's port, then becomes nginx.
dir=$(dirname "$0")
sed "s#@PORT@#$PORT#g; s#@DIR@#$dir#g" "$dir/nginx.conf.in" > "$dir/nginx-$PORT.conf"
exec nginx -e stderr -p "$dir" -c "$dir/nginx-$PORT.conf"
RUN
chmod +x $D/run.sh
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
