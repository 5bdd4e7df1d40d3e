#!/usr/bin/env bash
# Property-based fuzz run of the REST API against its own OpenAPI document (schemathesis, from PyPI).
#
# Loads a small Bodea data directory with the CLI, creates an admin token, starts `rapport serve` on a free
# loopback port, and lets schemathesis generate requests for every operation of /openapi.json (valid and
# invalid bodies, parameters and paths), checking that no answer is a 5xx, that every answer's status code
# and content type are documented, and that the server never stops answering. Its report goes to
# tests/fuzz/artifacts/ (gitignored); the server's log is printed when something fails.
#
# Needs python3 with venv. schemathesis is installed into tests/fuzz/.venv (pinned in requirements.txt).
# RAPPORT_BIN: a rapport binary already built (CI passes the one `cargo test --workspace` built).
# RAPPORT_FUZZ_EXAMPLES: examples per operation (default 40).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

examples="${RAPPORT_FUZZ_EXAMPLES:-40}"
venv="$here/.venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "fuzz: installing schemathesis into tests/fuzz/.venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

label=fuzz
. "$root/tests/support/rapport.sh"
rapport_bin
scratch
load_bodea 200 11
"$bin" --data-dir "$data" audience create "Bodea sales" \
  --pql 'extendedWorkDetails.departments.includes("Sales")' >/dev/null
mkdir -p "$work/files"
"$bin" --data-dir "$data" destination create fuzz-files \
  --config "{\"type\":\"file\",\"folder\":\"$work/files\",\"format\":\"csv\"}" >/dev/null
# One real person, so that the profile and identity-graph operations reach a profile, not only 404.
member="$("$bin" --data-dir "$data" audience members "Bodea sales" --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["primary"])')"
export RAPPORT_FUZZ_NS="${member%%:*}" RAPPORT_FUZZ_ID="${member#*:}"
token="$("$bin" --data-dir "$data" token create --name fuzz --role admin --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

serve

mkdir -p "$here/artifacts"
status=0
# fuzz CONFIG [RUN OPTIONS...]: one schemathesis run over the served document.
fuzz() {
  local config="$1"
  shift
  "$venv/bin/schemathesis" --config-file "$config" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance \
    --max-examples "$examples" --seed 20261130 --workers 1 \
    --report junit --report-dir "$here/artifacts" "$@"
}
# First pass, every operation but DELETE, with schemathesis.toml pinning the names of existing resources
# (the audience, a dataset, a namespace, the person above) so that operations get past their 404s; then the
# DELETE operations with generated values only. --seed: the same run every time, so a failure reproduces.
echo "fuzz: every operation but DELETE, $examples examples each"
fuzz "$here/schemathesis.toml" --exclude-method DELETE || status=$?
echo "fuzz: DELETE operations, generated values"
printf '' >"$work/empty.toml"
fuzz "$work/empty.toml" --include-method DELETE || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "fuzz: the server stopped during the run" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "fuzz: failed; the server's log follows" >&2
  tail -n 200 "$work/serve.log" >&2
fi
exit "$status"
