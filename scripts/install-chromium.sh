#!/usr/bin/env bash
# Make sure a headless-capable Chromium exists, for the dashboard screenshot test
# (tests/integration/test_dashboard_render.py).
#
#   scripts/install-chromium.sh
#
# * /usr/bin/chromium (or chromium, chromium-browser, google-chrome on PATH) exists: nothing to do.
# * Otherwise (Debian/Ubuntu, root): apt-get install chromium, without recommended packages.
# * Otherwise: stop with an error saying what to do.
#
# Safe to run again: a second run only checks. Progress goes to stderr.
set -euo pipefail

log() { printf 'install-chromium: %s\n' "$*" >&2; }
die() { printf 'install-chromium: ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then
    log "using $(command -v "$name")"
    exit 0
  fi
done

command -v apt-get >/dev/null 2>&1 \
  || die "no Chromium and no apt-get: install Chromium (or Google Chrome) by hand, or run the tests without CI=true"
[ "$(id -u)" -eq 0 ] \
  || die "no Chromium, and installing it needs root: run 'sudo $0' (or 'sudo apt-get install chromium')"

log "installing chromium (apt-get; about 100 MB)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends chromium >/dev/null || die "apt-get install chromium failed"
[ -x /usr/bin/chromium ] || die "apt-get installed chromium but /usr/bin/chromium is missing"
log "installed $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
