#!/usr/bin/env bash
# How much the log grows per denied request: N unsigned `POST /api/jobs` (401 each) through
# one keep-alive connection to a real `poex node` on loopback, with every denial logged (the
# node before its denial budget: deny_log_per_minute = 10^9) and with the default budget.
# Prints log entries and `du -sb HOME/ledger` before and after. docs/node.md quotes it.
#
#   crates/node/tests/deny_growth.sh [POEX_BINARY] [N]     (default target/debug/poex, 2000)
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
poex="${1:-$root/target/debug/poex}"
n="${2:-2000}"
for budget in 1000000000 10; do
  home="$(mktemp -d)"
  "$poex" --home "$home" init >/dev/null
  printf 'deny_log_per_minute = %s\n' "$budget" >"$home/node.toml"
  "$poex" --home "$home" node --listen 127.0.0.1:0 2>"$home/err" >/dev/null &
  pid=$!
  addr=""
  for _ in $(seq 200); do
    addr="$(grep -o 'http://[0-9.:]*' "$home/err" | head -1 | sed 's|http://||')" || true
    [ -n "$addr" ] && break
    sleep 0.05
  done
  python3 - "$addr" "$n" "$home" "$budget" <<'PY'
import http.client, json, subprocess, sys, time
addr, n, home, budget = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
du = lambda: int(subprocess.check_output(["du", "-sb", home + "/ledger"]).split()[0])
c = http.client.HTTPConnection(addr)
def size():
    c.request("GET", "/healthz")
    return json.loads(c.getresponse().read())["log"]["size"]
entries, before, start = size(), du(), time.time()
for _ in range(n):
    c.request("POST", "/api/jobs", body=b"{}", headers={"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 401, r.status
    if r.getheader("connection") == "close":
        c.close()
        c = http.client.HTTPConnection(addr)
took = time.time() - start
grown = du() - before
print(f"deny_log_per_minute={budget}: {n} denied requests in {took:.2f} s ({n / took:.0f}/s): "
      f"{size() - entries} log entries, ledger {grown:+} bytes ({grown // n:+} per request)")
PY
  kill "$pid"
  wait "$pid" || true
  rm -rf "$home"
done
