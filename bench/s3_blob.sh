#!/usr/bin/env bash
# A 1 GiB object PUT and GET on Ceph RGW: through S3Client (libcurl easy handle, SigV4, streamed body from a
# 1 MiB buffer, GET to a discarding callback) vs plain `curl --aws-sigv4` (file in page cache → RGW → /dev/null),
# alternating, side by side, as ratios.  Usage: bash bench/s3_blob.sh [ROUNDS] [BYTES]
# Needs RGW (scripts/services/ceph-rgw.sh start) and a built test bundle (swift build --build-tests).
set -eu
ROUNDS=${1:-3}; BYTES=${2:-1073741824}
export SWREGISTRY_TEST_S3_ENDPOINT=${SWREGISTRY_TEST_S3_ENDPOINT:-http://127.0.0.1:7480}
export SWREGISTRY_TEST_S3_ACCESS_KEY=${SWREGISTRY_TEST_S3_ACCESS_KEY:-swregistry-test}
export SWREGISTRY_TEST_S3_SECRET_KEY=${SWREGISTRY_TEST_S3_SECRET_KEY:-swregistry-test-secret}
export SWREGISTRY_TEST_S3_REGION=${SWREGISTRY_TEST_S3_REGION:-us-east-1}
export SWREGISTRY_TEST_S3_BUCKET=${SWREGISTRY_TEST_S3_BUCKET:-swregistry-test}
export SWREGISTRY_S3_BENCH=1 SWREGISTRY_S3_BENCH_BYTES=$BYTES
cd "$(dirname "$0")/.."
FILE=/tmp/s3bench-$$.bin; trap 'rm -f $FILE' EXIT
python3 -c "
import sys; b=bytes((i*2654435761>>13)&255 for i in range(1<<20)); n=$BYTES
with open('$FILE','wb') as f:
    while n>0: f.write(b[:min(n,len(b))]); n-=len(b)"
cat $FILE > /dev/null
KEY="swtest/bench-curl-$$"
URL="$SWREGISTRY_TEST_S3_ENDPOINT/$SWREGISTRY_TEST_S3_BUCKET/$KEY"
SIG=(--aws-sigv4 "aws:amz:$SWREGISTRY_TEST_S3_REGION:s3" --user "$SWREGISTRY_TEST_S3_ACCESS_KEY:$SWREGISTRY_TEST_S3_SECRET_KEY")
mibs() { python3 -c "print(int($BYTES/1048576/$1))"; }
curl_round() {
  local put get
  put=$(curl -sS -o /dev/null -w '%{time_total}' "${SIG[@]}" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T $FILE "$URL")
  get=$(curl -sS -o /dev/null -w '%{time_total}' "${SIG[@]}" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$URL")
  curl -sS -o /dev/null "${SIG[@]}" -X DELETE -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$URL"
  echo "$(mibs $put) $(mibs $get)"
}
client_round() {
  swift test --skip-build --filter "S3ThroughputBenchmark" 2>&1 | awk '/S3CLIENT_PUT_MIBS/ {p=$2} /S3CLIENT_GET_MIBS/ {g=$2} END {print p, g}'
}
printf "%-6s %14s %14s %14s %14s %8s %8s\n" round curl_put_MiB/s client_put curl_get_MiB/s client_get put_x get_x
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then read cp cg < <(curl_round); read sp sg < <(client_round)
  else read sp sg < <(client_round); read cp cg < <(curl_round); fi
  printf "%-6s %14s %14s %14s %14s %8s %8s\n" "$r" "$cp" "$sp" "$cg" "$sg" \
    "$(python3 -c "print(f'{$sp/$cp:.2f}')")" "$(python3 -c "print(f'{$sg/$cg:.2f}')")"
done
