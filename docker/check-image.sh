#!/usr/bin/env bash
# Builds the container image and checks it as a user would run it: podman (Debian's) in place
# of Docker, on a base made from Debian's packages because no image registry is reachable here.
# Checks: healthy within a minute, runs as uid 10001, /data private, a report stored,
# TZ honoured, and prints the image size. Used by .ci/run when podman can run containers.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DUPLISTATUS_IMAGE_CACHE:-/var/tmp/duplistatus-ci}
# This machine's kernel refuses the runtime's default rlimits and cgroup v2 handling: runc
# with explicit limits works.
RUN_OPTS=(--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
mkdir -p "$CACHE"

if ! podman image exists localhost/duplistatus-base:trixie; then
  if [ ! -f "$CACHE/trixie-base.tar" ] || [ ! -s "$CACHE/trixie-base.tar" ]; then
    rm -rf "$CACHE/trixie-base.tar"  # not a finished tarball (an interrupted run)
    mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      trixie "$CACHE/trixie-base.part.tar" http://deb.debian.org/debian
    mv "$CACHE/trixie-base.part.tar" "$CACHE/trixie-base.tar"
  fi
  podman import "$CACHE/trixie-base.tar" localhost/duplistatus-base:trixie-plain >/dev/null
  # The build host's extra certificate authorities (e.g. a TLS-inspecting egress proxy).
  ctx=$(mktemp -d)
  cp /usr/local/share/ca-certificates/*.crt "$ctx/" 2>/dev/null || true
  printf 'FROM localhost/duplistatus-base:trixie-plain\nCOPY . /usr/local/share/ca-certificates/\nRUN update-ca-certificates\n' >"$ctx/Containerfile"
  podman build "${RUN_OPTS[@]}" -q -t localhost/duplistatus-base:trixie "$ctx" >/dev/null
  rm -rf "$ctx"
fi

podman build "${RUN_OPTS[@]}" --format docker --network host --build-arg BASE=localhost/duplistatus-base:trixie \
  -t localhost/duplistatus:check . >/dev/null
size=$(podman image inspect localhost/duplistatus:check --format '{{.Size}}')
echo "image localhost/duplistatus:check: $((size / 1024 / 1024)) MiB"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
name=duplistatus-check-$$
podman volume create "$name" >/dev/null
cleanup() { podman rm -f "$name" >/dev/null 2>&1 || true; podman volume rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM
podman run "${RUN_OPTS[@]}" -d --name "$name" --network host -e PORT="$port" \
  -e TZ=Europe/Berlin -e DUPLISTATUS_ADMIN_PASSWORD=container-check-pw -v "$name:/data" \
  localhost/duplistatus:check >/dev/null

start=$(date +%s)
until podman healthcheck run "$name" >/dev/null 2>&1; do
  if [ $(($(date +%s) - start)) -gt 90 ]; then
    echo "not healthy after 90 s"; podman logs "$name" | tail -30; exit 1
  fi
  sleep 1
done
echo "healthy after $(($(date +%s) - start)) s"

[ "$(podman exec "$name" id -u)" = 10001 ] || { echo "not running as uid 10001"; exit 1; }
[ "$(podman exec "$name" stat -c %a /data)" = 700 ] || { echo "/data is not 0700"; exit 1; }
[ "$(podman exec "$name" date +%Z)" = CET ] || [ "$(podman exec "$name" date +%Z)" = CEST ] \
  || { echo "TZ not honoured"; exit 1; }
body=duplistatus/ingest/tests/corpus/payloads/v2.1.0.5_backup_success_json_lekoarts-fixture-anonymized.json
[ -f "$body" ] || body=$(ls duplistatus/ingest/tests/corpus/payloads/*.json | head -n1)
code=$(python3 - "$port" "$body" <<'PY'
import sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/api/upload?server=container-check",
                             data=open(path, "rb").read(), headers={"Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).status)
PY
)
[ "$code" = 200 ] || { echo "upload answered $code"; exit 1; }
python3 - "$port" <<'PY'
import json, sys, urllib.request
summary = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/summary", timeout=10))
assert summary["totalBackupsRuns"] == 1, summary
print("report stored:", summary["totalBackupsRuns"], "run")
PY
echo "container check passed"
