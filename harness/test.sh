#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI run it.
# The core needs only the Rust toolchain; targets that need servers (PostgreSQL, moto)
# and the browser check of the HTML reports (Chromium) install them from here.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 2
fi

echo "== dependencies"
# The local target's tests need PostgreSQL server binaries.
./harness/install-postgres.sh
# ... and redis-server, the session store's stand-in.
./harness/install-redis.sh
# tests/external_ha.rs drills HA managers drillbit did not build: pg_auto_failover and
# Patroni with etcd, from Debian's packages.
./harness/install-ha.sh
# The emulator target's tests drive a real moto server.
./harness/install-moto.sh
# tests/html.rs renders the HTML reports in headless Chromium (skip: DRILLBIT_SKIP_BROWSER=1).
if [ "${DRILLBIT_SKIP_BROWSER:-}" != "1" ]; then
  ./harness/install-chromium.sh
fi

echo "== format"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
echo "== scenarios"
# The binary the tests just built: `cargo run` would rebuild the AWS SDK crates with the
# features of a plain build (minutes on 2 cores) for the same program.
"${CARGO_TARGET_DIR:-target}/debug/drillbit" validate scenarios/*.yaml scenarios/troubleshooting/*.yaml scenarios/local/*.yaml
echo "== fis templates (botocore)"
# Every FIS template drillbit makes (shipped scenarios, and one holding every fault kind)
# against botocore's own validation of CreateExperimentTemplate; the moto venv has botocore.
VENV="$(dirname "$(./harness/install-moto.sh | sed -n 's/^moto [^:]*: *//p; s/^moto .* installed: //p' | tail -1)/bin/x")"
"$VENV/python" harness/check-fis-templates.py "${CARGO_TARGET_DIR:-target}/debug/drillbit" \
  scenarios/*.yaml scenarios/troubleshooting/*.yaml scenarios/local/*.yaml tests/fixtures/fis-every-fault.yaml
echo "== moto extension (pytest against boto3)"
./harness/moto-ext/run-tests.sh
echo "all checks passed"
