#!/usr/bin/env bash
# The benchmark harness (issue 8): Rapport side by side with DuckDB, PostgreSQL and networkx on the same data.
#
#   bench/run.sh [--persons N] [--only NAME[,NAME…]] [--reps K] [--no-write] [--no-postgres]
#
# Builds the release binary (CARGO_TARGET_DIR is respected; RAPPORT_BIN skips it), creates bench/.venv with the pinned peers of
# bench/requirements.txt, then runs bench/harness.py: generate the Bodea exports and the identity edges, load them
# into a fresh Rapport data directory once, run every workload on Rapport and its peers in alternating rounds,
# check that every system gave the same answer (exit status 1 otherwise), print the table, and, unless --no-write,
# write bench/results/latest.json and the table in docs/benchmarks.md. Data lives in bench/data/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
target_dir=${CARGO_TARGET_DIR:-target}

# RAPPORT_BIN: use a rapport binary already built instead of building the release one. CI passes the debug
# binary `cargo test --workspace` built: its run checks the answers, and its timings are ignored.
if [ -n "${RAPPORT_BIN:-}" ]; then
  rapport="$RAPPORT_BIN"
  echo "bench: using $rapport (RAPPORT_BIN); timings of a debug build mean nothing" >&2
else
  echo "bench: cargo build --release -p rapport" >&2
  cargo build --release --locked -p rapport --quiet
  rapport="$target_dir/release/rapport"
fi
[ -x "$rapport" ] || { echo "bench: $rapport was not built" >&2; exit 1; }

venv=bench/.venv
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s bench/requirements.txt "$stamp"; then
  echo "bench: creating $venv and installing bench/requirements.txt" >&2
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
  cp bench/requirements.txt "$stamp"
fi

exec "$venv/bin/python" bench/harness.py --rapport "$(realpath "$rapport")" "$@"
