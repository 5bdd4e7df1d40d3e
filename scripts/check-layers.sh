#!/usr/bin/env bash
# Checks the crate layering of docs/ARCHITECTURE.md with `cargo tree`: lower layers never depend on upper ones,
# only rapport-store opens databases, only the binary installs a tracing subscriber.
set -euo pipefail
cd "$(dirname "$0")/.."

deps() { # normal (non-dev) dependencies of a crate, one name per line
  cargo tree --locked -p "$1" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u
}

fail=0
check() { # crate, then forbidden dependency names
  local crate=$1; shift
  local have; have=$(deps "$crate")
  for forbidden in "$@"; do
    if grep -qx "$forbidden" <<<"$have"; then
      echo "layering: $crate must not depend on $forbidden" >&2
      fail=1
    fi
  done
}

internal=(rapport-model rapport-schema rapport-store rapport-sources rapport-identity rapport-profile rapport-pql
  rapport-segment rapport-destinations rapport-engine rapport-server rapport-sample rapport)
without() { local skip=$1; for c in "${internal[@]}"; do [ "$c" != "$skip" ] && echo "$c"; done; }

check rapport-model $(without rapport-model) rusqlite tokio-postgres axum
check rapport-pql $(without rapport-pql) rusqlite tokio-postgres axum
check rapport-sample $(without rapport-sample)
check rapport-sources rapport-schema rapport-store rapport-identity rapport-profile rapport-pql rapport-segment \
  rapport-destinations rapport-engine rapport rusqlite axum
check rapport-destinations rapport-schema rapport-store rapport-sources rapport-identity rapport-profile rapport-pql \
  rapport-segment rapport-engine rapport rusqlite axum
check rapport-schema rapport-store rapport-sources rapport-identity rapport-profile rapport-pql rapport-segment \
  rapport-destinations rapport-engine rapport rusqlite axum
check rapport-identity rapport-sources rapport-profile rapport-pql rapport-segment rapport-destinations \
  rapport-engine rapport rusqlite axum
check rapport-profile rapport-sources rapport-pql rapport-segment rapport-destinations rapport-engine rapport rusqlite axum
check rapport-segment rapport-store rapport-sources rapport-destinations rapport-engine rapport rusqlite axum
check rapport-store rapport-sources rapport-identity rapport-profile rapport-pql rapport-segment \
  rapport-destinations rapport-engine rapport axum
# The engine is synchronous: it may reach tokio only through the store's PostgreSQL client and the SFTP client (checked below: no
# direct tokio dependency outside the server and the destinations).
check rapport-engine rapport-server rapport axum
check rapport-server rapport

# Direct dependencies on infrastructure crates, allowed in the crates named (one each but tokio).
direct() { cargo tree --locked -p "$1" -e normal --depth 1 --prefix none --format '{p}' | awk '{print $1}' | sort -u; }
for crate in "${internal[@]}"; do
  have=$(direct "$crate")
  for pair in rusqlite:rapport-store tokio-postgres:rapport-store postgres:rapport-store tracing-subscriber:rapport \
    axum:rapport-server tokio:rapport-server,rapport-destinations; do
    # rapport-destinations runs the SFTP client (russh) on a runtime of its own, behind a blocking call.
    dep=${pair%%:*} owners=${pair#*:}
    if ! grep -qx "$crate" <<<"${owners//,/$'\n'}" && grep -qx "$dep" <<<"$have"; then
      echo "layering: only $owners may depend on $dep directly, not $crate" >&2
      fail=1
    fi
  done
done
[ "$fail" = 0 ] && echo "layering: ok"
exit "$fail"
