#!/usr/bin/env bash
# A/B: manifest GET req/s of two swregistry binaries (e.g. a release build of main and of a branch), alternating
# rounds, same wrk shapes, one run.  Usage: bash bench/ab_manifest.sh OLD_BINARY NEW_BINARY [ROUNDS]
set -u
OLD=$1; NEW=$2; ROUNDS=${3:-3}
source "$(dirname "$0")/lib.sh"
cat > /tmp/ab-accept.lua <<'LUA'
wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"
LUA
run() {  # bin label shape...
  local bin=$1 label=$2; shift 2
  rm -rf /tmp/ab-store; $bin serve --address 127.0.0.1:5397 --storage /tmp/ab-store --log-level warning --threads 2 >/dev/null 2>&1 &
  local pid=$!; sleep 0.5; push_sample_manifest 5397
  wrk "$@" -d1s -s /tmp/ab-accept.lua http://127.0.0.1:5397/v2/bench/app/manifests/v1 >/dev/null
  echo "$label $* $(wrk "$@" -d5s -s /tmp/ab-accept.lua http://127.0.0.1:5397/v2/bench/app/manifests/v1 | awk '/Requests\/sec/ {print $2}')"
  kill $pid; wait $pid 2>/dev/null
}
for r in $(seq $ROUNDS); do
  for shape in "-t1 -c50" "-t2 -c200"; do
    if (( r % 2 )); then run $OLD old $shape; run $NEW new $shape; else run $NEW new $shape; run $OLD old $shape; fi
  done
done
