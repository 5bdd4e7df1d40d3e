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

label=browser
. "$root/tests/support/rapport.sh"
rapport_bin
scratch
load_bodea "$persons" 7

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

serve

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
