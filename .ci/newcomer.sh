#!/usr/bin/env bash
# Rehearse the newcomer's path on a fresh clone in a fresh venv, following README.md literally:
# its Quick start set-up command, `tabletalk serve`, /healthz and a demo question, then its test
# command with no database servers reachable: it must exit 0 and say why tests skipped.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/tabletalk-newcomer.XXXXXX)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

readme_line() {  # the first line of README.md's Quick start block that starts with $1
  awk -v want="$1" '/^## Quick start/{q=1} q && /^```/{n++; next} q && n==1 && index($0, want)==1 {print; exit}' "$repo/README.md"
}
setup_cmd="$(readme_line "pip install")"
test_cmd="$(awk '/^## Tests/{t=1} t && /^```/{n++; next} t && n==1 {print; exit}' "$repo/README.md")"
[ -n "$setup_cmd" ] && [ -n "$test_cmd" ] || { echo "newcomer: README has no set-up or test command"; exit 1; }
echo "newcomer: set-up '$setup_cmd', tests '$test_cmd'"

git clone -q "$repo" "$work/tabletalk"
python3 -m venv "$work/venv"
cd "$work/tabletalk"
# shellcheck disable=SC1091
source "$work/venv/bin/activate"
eval "python3 -m $setup_cmd -q --disable-pip-version-check"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TABLETALK_HOME="$work/home" TABLETALK_ADMIN_KEY=newcomer-key tabletalk serve --host 127.0.0.1 --port "$port" \
  >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do grep -q "listening" "$work/serve.log" && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "newcomer: /healthz failed"; cat "$work/serve.log"; exit 1; }
ds=$(curl -sf "http://127.0.0.1:$port/api/v1/datasources" -H "Authorization: Bearer newcomer-key" \
     | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
answer=$(curl -sf "http://127.0.0.1:$port/api/v1/single-turn/q2a" -H "Authorization: Bearer newcomer-key" \
         -d "{\"datasource_id\": \"$ds\", \"question\": \"How many orders are there?\"}")
echo "$answer" | python3 -c 'import json,sys; a=json.load(sys.stdin); assert "400" in a["answer"], a; print("newcomer: demo answered:", a["answer"])'
kill "$server"; wait "$server" 2>/dev/null || true

# No database servers, no browser: those tests must skip with a reason, and the run must pass.
out="$work/pytest.log"
set +e
env -u TABLETALK_REQUIRE_SERVERS \
  TABLETALK_TEST_POSTGRES_URL=postgresql://tt:none@127.0.0.1:9/tt TABLETALK_TEST_MYSQL_URL=mysql://tt:none@127.0.0.1:9/tt \
  TABLETALK_TEST_CHROMIUM=/nonexistent/chromium bash -c "$test_cmd" >"$out" 2>&1
rc=$?
set -e
tail -n 25 "$out"
[ "$rc" -eq 0 ] || { echo "newcomer: the README's test command failed without servers (exit $rc)"; exit 1; }
grep -q "^SKIPPED" "$out" || { echo "newcomer: no test said why it skipped"; exit 1; }
echo "newcomer: ok"
