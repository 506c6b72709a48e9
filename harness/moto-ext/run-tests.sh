#!/usr/bin/env bash
# Runs the pytest suite of drillbit's moto extension with the pinned moto's virtualenv
# (${DRILLBIT_HOME:-~/.local/share/drillbit}/moto-5.2.5, as harness/install-moto.sh makes it).
# Installs pytest into that virtualenv if it lacks it. Extra arguments go to pytest.
set -euo pipefail
VERSION=5.2.5
HOME_DIR="${DRILLBIT_HOME:-${XDG_DATA_HOME:+$XDG_DATA_HOME/drillbit}}"
HOME_DIR="${HOME_DIR:-$HOME/.local/share/drillbit}"
VENV="$HOME_DIR/moto-$VERSION"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "error: no moto $VERSION virtualenv at $VENV (run harness/install-moto.sh)" >&2
  exit 2
fi
if ! "$VENV/bin/python" -c "import pytest" >/dev/null 2>&1; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check pytest
fi
cd "$HERE"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
