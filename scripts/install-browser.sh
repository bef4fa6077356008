#!/usr/bin/env bash
# Debian's chromium and chromedriver for the browser tests (the tests drive the system
# browser; nothing is downloaded by a test tool). Skips when already installed.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
chromium --version
