#!/usr/bin/env bash
# Garbage collection of a large store: time and peak RSS, and the latency of manifest GETs and pushes while an online
# GC runs (p99 must stay within 2x of the idle figure). See BENCHMARKS.md for the figures and bench/README.md.
#
#   bash bench/gc.sh                                   # 10,000 repositories, 100,000 manifests, ~200,000 blobs
#   BENCH_GC_REPOS=500 bash bench/gc.sh                # a quick run
#   SWREGISTRY_BIN=/path/to/swregistry bash bench/gc.sh
#
# The store is written on tmpfs (/dev/shm) by bench/gc_store.py: the figures are CPU and syscall costs, not this
# machine's virtual disk. Two copies: the first is collected online (server running, load on), the second offline.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

REPOS=${BENCH_GC_REPOS:-10000}
MANIFESTS=${BENCH_GC_MANIFESTS:-10}
IDLE=${BENCH_GC_IDLE_SECONDS:-20}
WORK=${BENCH_GC_DIR:-/dev/shm/swr-gc-bench}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

SWREGISTRY_BIN=$(swregistry_bin .build-bench)

rm -rf "$WORK"
mkdir -p "$WORK/control"
log "writing the store: $REPOS repositories x $MANIFESTS manifests"
GEN=$(python3 bench/gc_store.py "$WORK/online" --repos "$REPOS" --manifests "$MANIFESTS")
log "store: $GEN"
log "copying it for the offline run"
cp -a "$WORK/online" "$WORK/offline"

config() { # root -> config file path
    cat > "$WORK/$2.yml" <<YML
http:
  addr: 127.0.0.1:0
storage:
  filesystem:
    rootdirectory: $1
log:
  level: warning
  accesslog:
    disabled: true
gc:
  interval: 0
  grace: 1h
YML
    echo "$WORK/$2.yml"
}

# --- Online: serve, measure idle latency, then collect while the load goes on.
ONLINE_CFG=$(config "$WORK/online" online)
"$SWREGISTRY_BIN" serve --config "$ONLINE_CFG" > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; [[ -n ${LOAD:-} ]] && kill $LOAD 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$WORK/serve.out")
[[ -n $PORT ]] || die "swregistry did not start: $(cat "$WORK/serve.err")"
echo idle > "$WORK/control/phase"
python3 bench/gc_load.py "$PORT" --repos "$REPOS" --manifests "$MANIFESTS" --control "$WORK/control" > "$WORK/load.json" &
LOAD=$!
log "idle load for ${IDLE}s"
sleep "$IDLE"
RSS_BEFORE=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
echo gc > "$WORK/control/phase"
log "online gc (inside the server, over the control socket)"
START=$(date +%s.%N)
"$SWREGISTRY_BIN" gc --config "$ONLINE_CFG" > "$WORK/gc-online.out"
END=$(date +%s.%N)
echo after > "$WORK/control/phase"
sleep 2
touch "$WORK/control/stop"
wait $LOAD
LOAD=
RSS_AFTER=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
stop_pid "$SERVER" TERM 20
trap - EXIT

# --- Offline: the same store, server stopped.
OFFLINE_CFG=$(config "$WORK/offline" offline)
log "offline gc"
/usr/bin/time -v "$SWREGISTRY_BIN" gc --config "$OFFLINE_CFG" > "$WORK/gc-offline.out" 2> "$WORK/gc-offline.time"

python3 - "$WORK" "$START" "$END" "$RSS_BEFORE" "$RSS_AFTER" "$GEN" <<'PY'
import json, re, sys
work, start, end, before, after, gen = sys.argv[1:]
load = json.load(open(f"{work}/load.json"))
t = open(f"{work}/gc-offline.time").read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
summary = lambda f: [l for l in open(f).read().splitlines() if l.strip()][-1]
print("store:", gen)
print(f"online gc: {float(end) - float(start):.1f} s wall; server peak RSS {int(before)/1024:.0f} MiB before, {int(after)/1024:.0f} MiB after")
print("  ", summary(f"{work}/gc-online.out"))
print(f"offline gc: {wall} wall, peak RSS {rss/1024:.0f} MiB")
print("  ", summary(f"{work}/gc-offline.out"))
print("| phase | GET n | GET p50 ms | GET p99 ms | push n | push p50 ms | push p99 ms | errors |")
print("|---|---|---|---|---|---|---|---|")
for phase in ("idle", "gc", "after"):
    p = load.get(phase, {})
    g, u = p.get("get", {}), p.get("push", {})
    print(f"| {phase} | {g.get('n')} | {g.get('p50')} | {g.get('p99')} | {u.get('n')} | {u.get('p50')} | {u.get('p99')} | {g.get('errors', 0) + u.get('errors', 0)} |")
idle, gc = load.get("idle", {}), load.get("gc", {})
for kind in ("get", "push"):
    if kind in idle and kind in gc and idle[kind].get("p99"):
        ratio = gc[kind]["p99"] / idle[kind]["p99"]
        print(f"{kind} p99 during gc / idle: {ratio:.2f}x ({'within' if ratio <= 2 else 'OVER'} the 2x target)")
PY
rm -rf "$WORK"
