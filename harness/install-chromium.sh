#!/usr/bin/env bash
# Installs Debian's chromium, which tests/html.rs uses to render the HTML reports headless
# (screenshots and the rendered DOM), when it is missing. Safe to run again.
# Set DRILLBIT_SKIP_BROWSER=1 to skip the browser test instead.
set -euo pipefail
if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; then
  echo "chromium present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: chromium missing; run as root or install Debian's chromium package yourself" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 && echo "chromium installed"
