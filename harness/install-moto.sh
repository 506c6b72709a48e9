#!/usr/bin/env bash
# Installs the pinned moto server that the emulator target starts (and tests/emulator.rs
# drives) into drillbit's private virtualenv: ${DRILLBIT_HOME:-~/.local/share/drillbit}/moto-5.2.5.
# drillbit does the same on first use; installing here first keeps parallel tests from racing.
set -euo pipefail
VERSION=5.2.5
HOME_DIR="${DRILLBIT_HOME:-${XDG_DATA_HOME:+$XDG_DATA_HOME/drillbit}}"
HOME_DIR="${HOME_DIR:-$HOME/.local/share/drillbit}"
DIR="$HOME_DIR/moto-$VERSION"
if [ -f "$DIR/.drillbit-complete" ] && [ -x "$DIR/bin/moto_server" ]; then
  echo "moto $VERSION: $DIR"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
  else
    echo "error: python3 with venv is needed for moto" >&2
    exit 2
  fi
fi
rm -rf "$DIR"
mkdir -p "$DIR"
python3 -m venv "$DIR"
"$DIR/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$VERSION"
echo "$VERSION" > "$DIR/.drillbit-complete"
echo "moto $VERSION installed: $DIR"
