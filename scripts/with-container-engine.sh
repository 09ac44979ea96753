#!/usr/bin/env bash
# Run one command with DOCKER_HOST pointing at a working container engine, e.g.
#
#   scripts/with-container-engine.sh sam local invoke Fn -e event.json --config-env offline
#
# * A Docker engine answers `docker info`: CMD runs against it (DOCKER_HOST left as it is).
# * Otherwise: a private `podman system service` is started on a unix socket under .local/podman/ (configured
#   by .local/podman/containers.conf, see scripts/container-engine.sh, which must have run once), CMD runs
#   with DOCKER_HOST=unix://<that socket>, and the service is stopped when CMD ends, fails or is interrupted.
#   SIGINT/SIGTERM sent to this script are passed on to CMD as SIGTERM (SAM CLI then removes its containers).
#
# SAM_CLI_TELEMETRY=0 is always set, and CONTAINER_ENGINE=docker|podman tells CMD which engine it got (with
# podman, SAM needs the locally built image: `--config-env offline`). The exit status is CMD's.
set -euo pipefail

[ "$#" -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PODMAN_DIR="$ROOT/.local/podman"
export SAM_CLI_TELEMETRY=0

log() { printf 'with-container-engine: %s\n' "$*" >&2; }
die() { printf 'with-container-engine: ERROR: %s\n' "$*" >&2; exit 1; }

if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
  export CONTAINER_ENGINE=docker
  exec "$@"
fi
export CONTAINER_ENGINE=podman

command -v podman >/dev/null 2>&1 || die "no Docker engine answers and podman is not installed: run scripts/container-engine.sh"
[ -f "$PODMAN_DIR/containers.conf" ] || die "$PODMAN_DIR/containers.conf missing: run scripts/container-engine.sh"
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"

# One socket per invocation so that concurrent runs do not stop each other's service. Unix socket paths are
# limited to 107 bytes; fall back to a temporary directory for deeply nested checkouts.
SOCK="$PODMAN_DIR/api-$$.sock"
LOG="$PODMAN_DIR/api-$$.log"
SOCK_DIR=""
if [ "${#SOCK}" -gt 100 ]; then
  SOCK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/podman-api.XXXXXX")"
  SOCK="$SOCK_DIR/api.sock"
fi
rm -f "$SOCK"

SERVICE_PID=""
CHILD_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$CHILD_PID" ] && kill -0 "$CHILD_PID" 2>/dev/null; then
    kill -TERM "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
  fi
  if [ -n "$SERVICE_PID" ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  rm -f "$SOCK"
  [ -z "$SOCK_DIR" ] || rm -rf "$SOCK_DIR"
  # keep the service's log only if CMD failed and the service had something to say
  if [ "$rc" -eq 0 ] || [ ! -s "$LOG" ]; then rm -f "$LOG"; else log "podman service log kept in $LOG"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

podman system service --time=0 "unix://$SOCK" >"$LOG" 2>&1 &
SERVICE_PID=$!

for _ in $(seq 150); do
  [ -S "$SOCK" ] && break
  kill -0 "$SERVICE_PID" 2>/dev/null || die "podman system service exited: $(tail -n 5 "$LOG")"
  sleep 0.1
done
[ -S "$SOCK" ] || die "podman API socket $SOCK did not appear within 15 s: $(tail -n 5 "$LOG")"

export DOCKER_HOST="unix://$SOCK"

# CMD runs as a background child so this shell can react to signals while it waits (a foreground child would
# delay the traps until CMD ends). Keep CMD's stdin (background jobs get /dev/null otherwise). Background
# children of a non-interactive shell ignore SIGINT, hence SIGTERM is what gets passed on.
"$@" <&0 &
CHILD_PID=$!
trap 'kill -TERM "$CHILD_PID" 2>/dev/null || true' INT TERM
rc=0
while :; do
  if wait "$CHILD_PID"; then rc=0; else rc=$?; fi
  kill -0 "$CHILD_PID" 2>/dev/null || break   # wait was only interrupted by a signal: keep waiting
done
CHILD_PID=""
exit "$rc"
