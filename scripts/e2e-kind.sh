#!/usr/bin/env bash
# The whole thing end to end on a throwaway kind cluster: build the image, load it into the
# cluster, deploy zerodrop's demo-app as a Deployment behind a Service, run `zerodrop manifest
# job` in-cluster — once with one generator and once as an Indexed Job of two — wait for each
# Job, fetch its logs and render the report with `zerodrop report -` / `zerodrop merge -`.
#
#   scripts/e2e-kind.sh               # needs kind, kubectl, docker (or podman), cargo
#   KEEP=1 scripts/e2e-kind.sh        # leave the cluster and namespace for a look around
#
# For users who have a container engine: it is not run in this project's CI (no Docker engine
# there; CI builds and checks the static binary and runs `zerodrop demo` from it instead).
# Outputs land in out/e2e-kind/. Exit code: 0 when both runs passed their gate.
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${CLUSTER:-zerodrop-e2e}
ns=zerodrop-e2e
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
image=zerodrop:$version
out=out/e2e-kind
mkdir -p "$out"

for tool in kind kubectl cargo; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool is needed" >&2; exit 2; }
done

say() { echo "== $*"; }

cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    say "kept: kind cluster $cluster, namespace $ns"
  else
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

say "zerodrop for this machine (renders the reports)"
cargo build --release --locked --bin zerodrop
zerodrop=target/release/zerodrop

say "kind cluster $cluster"
kind get clusters 2>/dev/null | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
kubectl config use-context "kind-$cluster" >/dev/null

say "image $image, loaded into the cluster's nodes"
SKIP_DEMO=1 IMAGE="$image" scripts/build-image.sh
kind load docker-image "$image" --name "$cluster"

say "demo-app Deployment and Service in namespace $ns"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
# The fixed configuration of `zerodrop demo`: graceful shutdown, honest readiness, a preStop
# pause longer than endpoint propagation, no capacity lost during the roll.
kubectl -n "$ns" apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
spec:
  replicas: 3
  selector:
    matchLabels: {app: demo}
  strategy:
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  template:
    metadata:
      labels: {app: demo}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - name: demo
        image: $image
        imagePullPolicy: IfNotPresent
        args: [demo-app, --host, 0.0.0.0, --port, "8080", --shutdown, graceful]
        env:
        - name: ZERODROP_POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: 8080}
          periodSeconds: 1
        lifecycle:
          # The image has no shell: the kubelet's own sleep action (Kubernetes 1.30+).
          preStop: {sleep: {seconds: 5}}
        securityContext:
          runAsNonRoot: true
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
---
apiVersion: v1
kind: Service
metadata:
  name: demo
spec:
  selector: {app: demo}
  ports: [{port: 80, targetPort: 8080}]
YAML
kubectl -n "$ns" rollout status deploy/demo --timeout=180s

status=0
run_job() { # NAME WORKERS
  local name=$1 workers=$2
  say "Job $name: $workers generator(s) restart deploy/demo under load"
  kubectl -n "$ns" delete job "$name" --ignore-not-found --wait=true >/dev/null
  "$zerodrop" manifest job -n "$ns" --name "$name" --image "$image" --workers "$workers" \
    --rate 100 --baseline 10s --settle 10s --rollout-timeout 5m \
    --pod-header x-zerodrop-replica --result-configmap "$name-result" \
    deploy/demo > "$out/$name.yaml"
  kubectl apply -f "$out/$name.yaml"
  kubectl -n "$ns" wait --for=condition=complete "job/$name" --timeout=15m &
  local complete=$!
  kubectl -n "$ns" wait --for=condition=failed "job/$name" --timeout=15m &
  local failed=$!
  wait -n "$complete" "$failed" || true
  kill "$complete" "$failed" 2>/dev/null || true
  kubectl -n "$ns" logs -l "batch.kubernetes.io/job-name=$name" --tail=-1 --prefix > "$out/$name.log"
  local code=0
  if [ "$workers" -gt 1 ]; then
    "$zerodrop" merge "$out/$name.log" \
      --out "$out/$name.json" --html "$out/$name.html" --junit "$out/$name.junit.xml" || code=$?
  else
    "$zerodrop" report - < "$out/$name.log" \
      --out "$out/$name.json" --html "$out/$name.html" --junit "$out/$name.junit.xml" || code=$?
  fi
  echo "e2e-kind: $name exited $code (reports in $out/$name.*)"
  [ "$code" = 0 ] || status=1
}
run_job zerodrop-one 1
run_job zerodrop-two 2
exit "$status"
