#!/usr/bin/env bash
# Make sure a container engine that SAM CLI can drive (`sam local invoke`, `sam local start-lambda`) exists.
#
#   scripts/container-engine.sh
#
# * A Docker engine answers `docker info`: print the DOCKER_HOST to use (empty when Docker's default applies)
#   and stop here; nothing is installed.
# * Otherwise (Debian, root): install podman/runc/debootstrap when missing, write the project's podman
#   configuration (.local/podman/containers.conf) and build the Lambda python3.11 image
#   localhost/lambda/python:3.11-x86_64 from Debian packages and PyPI wheels when it is not there yet,
#   because no image registry can be reached. Nothing is printed on stdout in that case:
#   scripts/with-container-engine.sh starts the podman API for the duration of a command.
#
# Safe to run again: a re-run with everything in place takes a few seconds. Progress goes to stderr.
# Environment overrides: LAMBDA_IMAGE (image tag), DEBIAN_MIRROR, AWSLAMBDARIC_VERSION, BOTO3_VERSION.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PODMAN_DIR="$ROOT/.local/podman"
CACHE_DIR="$ROOT/.cache/lambda-image"
CONF="$PODMAN_DIR/containers.conf"
IMAGE="${LAMBDA_IMAGE:-localhost/lambda/python:3.11-x86_64}"
SUITE=bookworm                                   # Debian 12: python3 is 3.11, the Lambda runtime's minor version
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
AWSLAMBDARIC_VERSION="${AWSLAMBDARIC_VERSION:-4.2.2}"
BOTO3_VERSION="${BOTO3_VERSION:-1.43.11}"        # same pin as requirements-dev.txt

log() { printf 'container-engine: %s\n' "$*" >&2; }
die() { printf 'container-engine: ERROR: %s\n' "$*" >&2; exit 1; }

# --- 1. an existing Docker engine wins --------------------------------------------------------------------
if command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; then
  log "a Docker engine answers; using it"
  printf '%s\n' "${DOCKER_HOST:-}"
  exit 0
fi

# --- 2. podman from Debian ----------------------------------------------------------------------------------
log "no Docker engine answers; setting up rootful podman instead"
[ "$(id -u)" -eq 0 ] || die "no Docker engine and not root: podman setup needs root (or start a Docker engine)"
command -v apt-get >/dev/null 2>&1 || die "no Docker engine and no apt-get: install podman (or Docker) by hand"

missing=()
for pkg in podman runc debootstrap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi
PATH="$PATH:/usr/sbin:/sbin"   # debootstrap lives in sbin
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null || die "$tool still missing after apt-get"
done

# --- 3. podman configuration, project-local (used through CONTAINERS_CONF) ----------------------------------
mkdir -p "$PODMAN_DIR"
conf_text='# Written by scripts/container-engine.sh; used through CONTAINERS_CONF.
[containers]
# This host denies CAP_SYS_RESOURCE: podman'"'"'s default rlimits (nofile 1048576) make every container
# fail with "setrlimit RLIMIT_NOFILE: Operation not permitted". 1024 is also what Lambda grants.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
# crun (the Debian default) refuses the cgroup v1/v2 hybrid layout found on some hosts; runc copes.
runtime = "runc"
# no systemd running as PID 1
cgroup_manager = "cgroupfs"
events_logger = "file"'
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$conf_text" ]; then
  printf '%s\n' "$conf_text" >"$CONF"
  log "wrote $CONF"
fi
export CONTAINERS_CONF="$CONF"

podman info >/dev/null 2>&1 || die "podman is installed but 'podman info' fails: $(podman info 2>&1 | tail -n 3)"

# --- 4. the Lambda python3.11 image -------------------------------------------------------------------------
if podman image exists "$IMAGE"; then
  log "image $IMAGE present"
  exit 0
fi

log "building $IMAGE (Debian $SUITE minbase + python3 + awslambdaric $AWSLAMBDARIC_VERSION + boto3 $BOTO3_VERSION)"
if ! python3 -m pip --version >/dev/null 2>&1; then
  die "python3 with pip is needed on the host to fetch the runtime's wheels"
fi

mkdir -p "$CACHE_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lambda-image.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

# debootstrap spends about a minute in dpkg, so the finished (trimmed) Debian base is kept as a tarball under
# .cache/: a rebuild (after `podman rmi`, or with new awslambdaric/boto3 pins) unpacks it in seconds.
BASE_TAR="$CACHE_DIR/rootfs-$SUITE-minbase-python3-amd64.tar"
if [ -s "$BASE_TAR" ]; then
  log "unpacking cached Debian base $BASE_TAR"
  mkdir -p "$ROOTFS"
  tar --numeric-owner -xpf "$BASE_TAR" -C "$ROOTFS" || die "cannot unpack $BASE_TAR (delete it to rebuild)"
else
  log "debootstrap $SUITE minbase + python3 from $MIRROR (about a minute)"
  debootstrap --variant=minbase --arch=amd64 --include=python3,ca-certificates "$SUITE" "$ROOTFS" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  # Trim what a function never needs.
  rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/* "$ROOTFS"/usr/share/doc/* \
         "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*
  if tar --numeric-owner -C "$ROOTFS" -cf "$BASE_TAR.part" .; then
    mv "$BASE_TAR.part" "$BASE_TAR"
  else
    rm -f "$BASE_TAR.part"; log "warning: could not cache the Debian base in $BASE_TAR"
  fi
fi

# Lambda's runtime interface client and the SDK the managed runtime ships, as cp311 manylinux wheels.
log "pip install awslambdaric boto3 into /var/runtime"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-conflicts \
  --no-compile --target "$ROOTFS/var/runtime" \
  --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION" "botocore==$BOTO3_VERSION" \
  || die "pip could not fetch awslambdaric/boto3 wheels"

mkdir -p "$ROOTFS/var/task" "$ROOTFS/var/lang/bin" "$ROOTFS/opt" "$ROOTFS/var/rapid"
# The AWS images keep their interpreter in /var/lang/bin; SAM's debugger entrypoints call it by that path.
for name in python3.11 python3 python; do ln -sf /usr/bin/python3.11 "$ROOTFS/var/lang/bin/$name"; done

cat >"$ROOTFS/var/runtime/bootstrap" <<'EOF'
#!/bin/sh
# Start the Python runtime interface client for the handler named in _HANDLER.
export AWS_EXECUTION_ENV=AWS_Lambda_python3.11
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python3.11/site-packages:/opt/python:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
exec /var/lang/bin/python3.11 -c 'import os, sys
from awslambdaric.__main__ import main
main([sys.argv[0], os.environ["_HANDLER"]])'
EOF

cat >"$ROOTFS/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
# Entrypoint with the contract of the public Lambda base images: the only argument is the handler.
# Without AWS_LAMBDA_RUNTIME_API the runtime interface emulator (mounted by SAM CLI) fronts the runtime.
if [ "$#" -ne 1 ]; then
  echo "lambda-entrypoint.sh: expected exactly one argument, the handler" >&2
  exit 142
fi
export _HANDLER="$1"
if [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /var/runtime/bootstrap
fi
for rie in /var/rapid/aws-lambda-rie /usr/local/bin/aws-lambda-rie; do
  if [ -x "$rie" ]; then exec "$rie" /var/runtime/bootstrap; fi
done
echo "lambda-entrypoint.sh: no aws-lambda-rie found in the container" >&2
exit 1
EOF
chmod 0755 "$ROOTFS/var/runtime/bootstrap" "$ROOTFS/lambda-entrypoint.sh"

log "podman import"
tar --numeric-owner -C "$ROOTFS" -c . | podman import --quiet \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV TZ=:/etc/localtime' \
  --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
  --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
  --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
  --change 'WORKDIR /var/task' \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
  - "$IMAGE" >/dev/null || die "podman import failed"

podman image exists "$IMAGE" || die "image $IMAGE missing after import"
log "built $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
