# Shared steps of the end-to-end scripts (tests/browser/run.sh, tests/fuzz/run.sh); source it after setting
# `root` (the repository) and `label` (the prefix of messages). Needs python3.
#
#   rapport_bin            sets `bin`: $RAPPORT_BIN (CI passes the binary `cargo test --workspace` built, which
#                          a `cargo build -p rapport` would rebuild with other dependency features), or a build
#   scratch                sets `work` (a temporary folder) and `data` (a data directory in it), removed at exit
#                          with the server
#   load_bodea N SEED      writes N Bodea people's exports into $work/exports and ingests all three systems
#   serve                  starts `rapport serve` on a free loopback port (sets `port`, `server_pid`; log in
#                          $work/serve.log) and waits until GET /health answers

rapport_bin() {
  if [ -n "${RAPPORT_BIN:-}" ]; then
    bin="$(cd "$(dirname "$RAPPORT_BIN")" && pwd)/$(basename "$RAPPORT_BIN")"
    [ -x "$bin" ] || { echo "$label: RAPPORT_BIN=$RAPPORT_BIN is not an executable" >&2; exit 1; }
  else
    echo "$label: building rapport"
    nice -n 19 cargo build --locked --quiet -p rapport --bin rapport
    bin="$root/target/debug/rapport"
  fi
}

server_pid=""
scratch() {
  work="$(mktemp -d)"
  data="$work/data"
  trap scratch_cleanup EXIT
}
scratch_cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}

load_bodea() {
  echo "$label: loading $1 Bodea people into a fresh data directory"
  "$bin" generate bodea --out "$work/exports" --persons "$1" --seed "$2" >/dev/null
  "$bin" --data-dir "$data" schema generate-b2b >/dev/null
  for system in salesforce dynamics marketo; do
    "$bin" --data-dir "$data" ingest "$system" "$work/exports/$system" >/dev/null
  done
}

serve() {
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$bin" --data-dir "$data" serve --bind "127.0.0.1:$port" --no-scheduler >"$work/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health')" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "$label: rapport serve exited:" >&2
      cat "$work/serve.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "$label: rapport serve did not answer GET /health within 60 s" >&2
  exit 1
}
