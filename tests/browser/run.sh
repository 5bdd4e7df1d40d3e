#!/usr/bin/env bash
# Browser test of the web console: builds `rapport`, loads a small Bodea data directory with the CLI, starts
# `rapport serve` on a free loopback port, creates a marketer token, and drives the console in headless Debian
# Chromium (console.test.mjs). Screenshots go to tests/browser/artifacts/ (gitignored).
#
# Needs: /usr/bin/chromium (apt-get install chromium) and `npm ci` run here. In CI (CI=true) a missing
# piece is installed; elsewhere it is reported and the script fails. It never skips.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

persons="${RAPPORT_BROWSER_PERSONS:-400}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "browser: installing chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "browser: $chromium is missing; install it with: apt-get install -y chromium" >&2
    exit 1
  fi
fi
if [ ! -d "$here/node_modules/playwright-core" ] || [ "${CI:-}" = "true" ]; then
  echo "browser: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# RAPPORT_BIN: a rapport binary already built (CI passes the one `cargo test --workspace` built, which a
# `cargo build -p rapport` would rebuild with other dependency features).
if [ -n "${RAPPORT_BIN:-}" ]; then
  bin="$(cd "$(dirname "$RAPPORT_BIN")" && pwd)/$(basename "$RAPPORT_BIN")"
  [ -x "$bin" ] || { echo "browser: RAPPORT_BIN=$RAPPORT_BIN is not an executable" >&2; exit 1; }
else
  echo "browser: building rapport"
  nice -n 19 cargo build --locked --quiet -p rapport --bin rapport
  bin="$root/target/debug/rapport"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
echo "browser: loading $persons Bodea people into a fresh data directory"
"$bin" generate bodea --out "$work/exports" --persons "$persons" --seed 7 >/dev/null
"$bin" --data-dir "$data" schema generate-b2b >/dev/null
"$bin" --data-dir "$data" ingest salesforce "$work/exports/salesforce" >/dev/null
"$bin" --data-dir "$data" ingest dynamics "$work/exports/dynamics" >/dev/null
"$bin" --data-dir "$data" ingest marketo "$work/exports/marketo" >/dev/null

# The Bodea audience's definition, as the demo writes it (crates/rapport/src/demo.rs).
pql="$(sed -n 's/^pub const BODEA_PQL: &str = "\(.*\)";$/\1/p' crates/rapport/src/demo.rs | sed 's/\\"/"/g')"
if [ -z "$pql" ]; then echo "browser: cannot read BODEA_PQL from crates/rapport/src/demo.rs" >&2; exit 1; fi
# The expected size, computed by the CLI in its own process, before the server starts.
expected="$("$bin" --data-dir "$data" audience estimate --pql "$pql" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).size))')"
if ! [ "$expected" -gt 0 ] 2>/dev/null; then echo "browser: the CLI's estimate is not a positive count: $expected" >&2; exit 1; fi
echo "browser: the CLI counts $expected people in the Bodea audience"

# The store's batches as the CLI lists them (the home plots and the Sources page are compared with them).
"$bin" --data-dir "$data" batch list --json >"$work/batches.json"
"$bin" --data-dir "$data" status --json >"$work/status.json"

token="$("$bin" --data-dir "$data" token create --name browser-test --role marketer --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).token))')"

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
"$bin" --data-dir "$data" serve --bind "127.0.0.1:$port" --no-scheduler >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  if node -e "fetch('http://127.0.0.1:$port/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then echo "browser: rapport serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; fi
  sleep 0.2
done

mkdir -p "$work/files" "$here/artifacts"
status=0
RAPPORT_URL="http://127.0.0.1:$port" RAPPORT_TOKEN="$token" RAPPORT_PQL="$pql" RAPPORT_EXPECTED="$expected" \
  RAPPORT_BATCHES="$work/batches.json" RAPPORT_STATUS="$work/status.json" RAPPORT_DEST_DIR="$work/files" ARTIFACTS="$here/artifacts" CHROMIUM="$chromium" \
  node "$here/console.test.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "browser: the console test failed; server log:" >&2
  tail -n 50 "$work/serve.log" >&2
fi
exit "$status"
